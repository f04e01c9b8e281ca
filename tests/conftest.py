"""Fixtures every test directory shares.

The control-plane fixtures are registered here, once, so that the integration and end-to-end
tests share one session-scoped plane (one `e2e/testplane up` per run) instead of each module
that imports them getting its own copy.
"""

from integration.kueue import gpu_queue
from integration.plane import kueue_plane, namespace, testplane

__all__ = ["gpu_queue", "kueue_plane", "namespace", "testplane"]
