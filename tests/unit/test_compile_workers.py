"""Unsloth drops Inductor to one compile worker when NVIDIA_VISIBLE_DEVICES pins GPUs and
CUDA_VISIBLE_DEVICES is unset; forge names the same GPUs so the workers stay (compile_workers.py)."""

import pytest

from forge.train.backends.compile_workers import keep_parallel_compile, pinned_gpu_count


@pytest.mark.parametrize(
    "value, count",
    [("", 0), ("all", 0), ("ALL", 0), ("none", 0), ("void", 0), ("0", 1), ("GPU-1a2b", 1), ("0,1", 2), ("1, 3 ,", 2)],
)
def test_pinned_gpu_count(value, count):
    assert pinned_gpu_count({"NVIDIA_VISIBLE_DEVICES": value}) == count


def test_unset_is_not_pinned():
    assert pinned_gpu_count({}) == 0


def test_pinned_gpus_are_named_from_zero_and_the_change_is_said():
    env = {"NVIDIA_VISIBLE_DEVICES": "GPU-aaa,GPU-bbb"}
    note = keep_parallel_compile(env, visible_gpus=lambda: 2)
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert "CUDA_VISIBLE_DEVICES=0,1" in note and "FORGE_COMPILE_WORKERS=1" in note


@pytest.mark.parametrize(
    "extra",
    [
        {"CUDA_VISIBLE_DEVICES": "1"},  # the user's own choice of GPU
        {"CUDA_VISIBLE_DEVICES": ""},  # even an empty one: it hides every GPU on purpose
        {"TORCHINDUCTOR_COMPILE_THREADS": "4"},
        {"UNSLOTH_FORCE_SINGLE_COMPILE_WORKER": "1"},
        {"UNSLOTH_FORCE_SINGLE_COMPILE_WORKER": "0"},  # the user opted out of Unsloth's rule already
        {"FORGE_COMPILE_WORKERS": "1"},
    ],
)
def test_a_users_setting_wins(extra):
    env = {"NVIDIA_VISIBLE_DEVICES": "0", **extra}
    before = dict(env)
    assert keep_parallel_compile(env, visible_gpus=lambda: 1) == ""
    assert env == before


@pytest.mark.parametrize("value", ["", "all", "void"])
def test_nothing_changes_where_no_gpu_is_pinned(value):
    env = {"NVIDIA_VISIBLE_DEVICES": value}
    assert keep_parallel_compile(env, visible_gpus=lambda: 1) == ""
    assert "CUDA_VISIBLE_DEVICES" not in env


@pytest.mark.parametrize("seen", [4, 0, -1])
def test_outside_a_container_the_pin_means_nothing_and_no_gpu_is_hidden(seen):
    # NVIDIA_VISIBLE_DEVICES=1 on a bare host with 4 GPUs: naming GPU 0 alone would hide three
    env = {"NVIDIA_VISIBLE_DEVICES": "1"}
    assert keep_parallel_compile(env, visible_gpus=lambda: seen) == ""
    assert "CUDA_VISIBLE_DEVICES" not in env
