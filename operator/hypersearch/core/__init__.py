"""The pure core: everything that decides, nothing that does I/O.

Kept import-free on purpose: the sidecar imports ``core.metrics`` and must not pull numpy in.
"""
