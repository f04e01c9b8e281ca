"""The marks of the tests that need PyTorch: opt-in (``make torch``, then ``make test-torch``),
skipped with that reason where torch is not importable, as on a fresh machine."""

from __future__ import annotations

import importlib.util

import pytest

NEEDS_TORCH = [
    pytest.mark.torch,
    pytest.mark.e2e,
    pytest.mark.skipif(
        importlib.util.find_spec("torch") is None,
        reason="PyTorch is not installed: run `make torch` (a large CUDA build) to test the CNN",
    ),
]
