"""GPU discovery and slots: what CUDA would see, one GPU per trial, no GPU env on CPU machines."""

from __future__ import annotations

import pytest

from hypersearch.local.gpus import (
    GpuSlots,
    discover_gpus,
    gpu_env,
    parse_nvidia_smi_list,
    parse_visible_devices,
    wants_gpu,
)


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        ("0,1,2", ("0", "1", "2")),
        (" 2 , 3 ", ("2", "3")),
        ("", ()),
        ("-1", ()),
        ("0,-1,2", ("0",)),
        ("GPU-8f1c,GPU-77aa", ("GPU-8f1c", "GPU-77aa")),
    ],
)
def test_visible_devices_are_read_like_cuda_reads_them(value: str, ids: tuple[str, ...]) -> None:
    assert parse_visible_devices(value) == ids


def test_nvidia_smi_list_gives_gpu_indices() -> None:
    output = (
        "GPU 0: Tesla K80 (UUID: GPU-1111)\n"
        "GPU 1: Tesla K80 (UUID: GPU-2222)\n"
        "  MIG 1g.5gb Device 0: (UUID: MIG-3333)\n"
    )
    assert parse_nvidia_smi_list(output) == ("0", "1")


def test_cuda_visible_devices_wins_over_nvidia_smi() -> None:
    assert discover_gpus({"CUDA_VISIBLE_DEVICES": "3", "PATH": "/nonexistent"}) == ("3",)


def test_no_nvidia_smi_means_no_gpus() -> None:
    assert discover_gpus({"PATH": "/nonexistent"}) == ()


@pytest.mark.parametrize(
    ("machine_type", "resources", "expected"),
    [
        (None, None, False),
        ("K80", None, True),
        ("cpu", None, False),
        (None, {"limits": {"nvidia.com/gpu": 1}}, True),
        (None, {"requests": {"nvidia.com/gpu": "2"}}, True),
        (None, {"limits": {"nvidia.com/gpu": 0}}, False),
        (None, {"limits": {"cpu": "2"}}, False),
    ],
)
def test_a_trial_wants_a_gpu_for_a_machine_type_or_a_gpu_request(
    machine_type: str | None, resources: dict[str, object] | None, expected: bool
) -> None:
    assert wants_gpu(machine_type, resources) is expected


def test_each_trial_gets_its_own_gpu_and_returns_it() -> None:
    slots = GpuSlots(["0", "1"])
    assert (slots.acquire("a"), slots.acquire("b"), slots.acquire("c")) == ("0", "1", None)
    slots.release("a")
    assert (slots.free, slots.acquire("c")) == (1, "0")


@pytest.mark.parametrize(
    ("gpu", "have", "env"),
    [
        ("1", True, {"CUDA_VISIBLE_DEVICES": "1"}),
        (None, True, {"CUDA_VISIBLE_DEVICES": ""}),
        (None, False, {}),
    ],
)
def test_gpu_env_hides_gpus_from_slotless_trials_only_on_gpu_machines(
    gpu: str | None, have: bool, env: dict[str, str]
) -> None:
    assert gpu_env(gpu, have) == env
