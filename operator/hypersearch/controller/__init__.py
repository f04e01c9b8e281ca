"""The kopf shell: handlers that call one idempotent reconcile()."""
