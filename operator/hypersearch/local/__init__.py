"""The one-machine shell: trials as subprocesses, a crash-safe journal, the search loop."""
