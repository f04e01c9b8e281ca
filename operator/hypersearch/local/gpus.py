"""GPU slots on this machine: which GPUs exist and which trial holds which.

Discovery reads ``CUDA_VISIBLE_DEVICES`` when it is set (the user already chose), else asks
``nvidia-smi -L``; no nvidia-smi means no GPUs. ``GpuSlots`` hands each running trial its own GPU
id and takes it back when the trial ends.

This module must NOT decide how many trials run: the loop derives the cap from what is here and
passes it to the engine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence

_SMI_LINE = re.compile(r"^GPU (\d+):")
_SMI_TIMEOUT_S = 10.0
_NO_GPU_MACHINE_TYPES = frozenset({"", "cpu", "none"})


def parse_visible_devices(value: str) -> tuple[str, ...]:
    """Split a ``CUDA_VISIBLE_DEVICES`` value the way CUDA reads it.

    CUDA stops at the first invalid entry; ``-1`` (or an empty value) hides every GPU.
    """
    ids: list[str] = []
    for raw in value.split(","):
        item = raw.strip()
        if not item or item.startswith("-"):
            break
        ids.append(item)
    return tuple(ids)


def parse_nvidia_smi_list(output: str) -> tuple[str, ...]:
    """GPU indices from ``nvidia-smi -L`` output (``GPU 0: Tesla K80 (UUID: ...)`` lines)."""
    ids: list[str] = []
    for line in output.splitlines():
        match = _SMI_LINE.match(line.strip())
        if match:
            ids.append(match.group(1))
    return tuple(ids)


def discover_gpus(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The GPU ids trials may use, in order; empty on a CPU-only machine."""
    env = os.environ if environ is None else environ
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return parse_visible_devices(visible)
    smi = shutil.which("nvidia-smi", path=env.get("PATH"))
    if smi is None:
        return ()
    try:
        result = subprocess.run(
            [smi, "-L"], capture_output=True, text=True, timeout=_SMI_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ()
    if result.returncode != 0:
        return ()
    return parse_nvidia_smi_list(result.stdout)


def wants_gpu(machine_type: str | None, resources: Mapping[str, object] | None = None) -> bool:
    """Whether a trial asks for a GPU: a machine type other than ``cpu``, or a container that
    requests or limits ``nvidia.com/gpu`` to a positive amount."""
    if machine_type is not None and machine_type.strip().lower() not in _NO_GPU_MACHINE_TYPES:
        return True
    for section in ("limits", "requests"):
        amounts = (resources or {}).get(section)
        if isinstance(amounts, Mapping):
            amount = amounts.get("nvidia.com/gpu")
            try:
                if amount is not None and float(str(amount)) > 0:
                    return True
            except ValueError:
                continue
    return False


class GpuSlots:
    """Which GPU each running trial holds; a trial holds at most one."""

    def __init__(self, gpu_ids: Sequence[str]) -> None:
        self._free: list[str] = list(gpu_ids)
        self._held: dict[str, str] = {}
        self.total = len(gpu_ids)

    @property
    def free(self) -> int:
        return len(self._free)

    def acquire(self, trial: str) -> str | None:
        """Give ``trial`` a free GPU id, or None when all are held (or there are none)."""
        if trial in self._held:
            return self._held[trial]
        if not self._free:
            return None
        gpu = self._free.pop(0)
        self._held[trial] = gpu
        return gpu

    def release(self, trial: str) -> None:
        """Return the GPU ``trial`` held, if any."""
        gpu = self._held.pop(trial, None)
        if gpu is not None:
            self._free.append(gpu)
            self._free.sort(key=_gpu_sort_key)


def _gpu_sort_key(gpu: str) -> tuple[int, str]:
    return (int(gpu), "") if gpu.isdigit() else (1 << 30, gpu)


def gpu_env(gpu: str | None, have_gpus: bool) -> dict[str, str]:
    """The environment a trial gets for its slot.

    On a machine with GPUs a trial without a slot gets ``CUDA_VISIBLE_DEVICES=""`` so it cannot
    crowd onto another trial's GPU; on a CPU-only machine nothing is set.
    """
    if not have_gpus:
        return {}
    return {"CUDA_VISIBLE_DEVICES": gpu if gpu is not None else ""}
