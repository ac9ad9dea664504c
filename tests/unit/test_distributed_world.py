"""The World: one object per process that the recipe asks (torch-free)."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from forge.config import ForgeConfig
from forge.train.distributed import World

RANK1 = {
    "WORLD_SIZE": "4",
    "RANK": "3",
    "LOCAL_RANK": "1",
    "LOCAL_WORLD_SIZE": "2",
    "GROUP_RANK": "1",
    "FORGE_DIST_CHILD": "1",
    "FORGE_DIST_STRATEGY": "fsdp",
}


def test_from_env_reads_torchrun_and_the_launcher():
    w = World.from_env(RANK1)
    assert (w.rank, w.local_rank, w.world_size, w.node_rank, w.nnodes) == (3, 1, 4, 1, 2)
    assert w.strategy == "fsdp" and w.launched and w.distributed and not w.is_main
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.rank = 0  # type: ignore[misc]


def test_one_process_is_main_and_single():
    w = World.from_env({})
    assert w.is_main and not w.distributed and not w.launched and w.strategy == "single"
    assert World.from_env({"WORLD_SIZE": "x", "RANK": ""}).world_size == 1  # junk reads as one process
    assert World.from_env({"WORLD_SIZE": "2", "FORGE_DIST_STRATEGY": "nope"}).strategy == "ddp"


def test_divide_keeps_the_global_batch():
    cfg = ForgeConfig.model_validate({"training": {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 4}})
    for size in (1, 2, 4, 8):
        w = World.from_env({"WORLD_SIZE": str(size)})
        one = w.divide(cfg)
        assert w.global_batch(one) == 8, size
    assert World.from_env({"WORLD_SIZE": "2"}).divide(cfg).training.gradient_accumulation_steps == 2


def test_rank_other_than_0_writes_nothing(tmp_path):
    w = World.from_env(RANK1)
    calls = []
    assert w.main_only(lambda x: calls.append(x))(1) is None and calls == []
    writer = w.status_writer(tmp_path / "status.json", running=True, phase="validating")
    writer.phase("training", step=3)
    assert writer.status.step == 3 and not (tmp_path / "status.json").exists()
    main = World.from_env({})
    main.status_writer(tmp_path / "status.json", running=True).phase("training")
    assert (tmp_path / "status.json").exists()
    assert main.main_only(lambda x: x * 2)(2) == 4


def test_agree_and_barrier_without_a_process_group():
    w = World.from_env({})
    assert w.agree_to_stop(True) is True and w.agree_to_stop(False) is False
    w.barrier()


def test_strategy_options_for_the_trainer():
    assert World.from_env({}).trainer_kwargs() == {}
    assert World.from_env({"WORLD_SIZE": "2"}).trainer_kwargs() == {"ddp_find_unused_parameters": False}
    fsdp = World.from_env({"WORLD_SIZE": "2", "FORGE_DIST_STRATEGY": "fsdp"}).trainer_kwargs()
    assert fsdp["fsdp"] is True and fsdp["fsdp_config"]["version"] == 2  # FSDP2


def test_backend_name_data_parallel_is_hf():
    log = logging.getLogger("test.world")
    assert World.from_env({}).backend_name("unsloth", log) == "unsloth"
    assert World.from_env({"WORLD_SIZE": "2"}).backend_name(None, log) == "hf"


def test_a_checkpoint_resumes_only_under_its_own_strategy(tmp_path):
    """FSDP keeps the optimizer in accelerate's optimizer.bin, DDP in optimizer.pt: the Trainer reads only
    its own kind and would go on with a fresh optimizer, so the other kind is refused with the fix."""
    ddp_ckpt, fsdp_ckpt = tmp_path / "checkpoint-2", tmp_path / "checkpoint-4"
    ddp_ckpt.mkdir()
    (ddp_ckpt / "optimizer.pt").write_bytes(b"x")
    fsdp_ckpt.mkdir()
    (fsdp_ckpt / "optimizer.bin").write_bytes(b"x")
    one = World.from_env({})
    ddp = World.from_env({"WORLD_SIZE": "2"})
    fsdp = World.from_env({"WORLD_SIZE": "2", "FORGE_DIST_STRATEGY": "fsdp"})
    assert one.checkpoint_problem(ddp_ckpt) is None and ddp.checkpoint_problem(ddp_ckpt) is None
    assert fsdp.checkpoint_problem(fsdp_ckpt) is None
    assert "--strategy fsdp" in one.checkpoint_problem(fsdp_ckpt)
    assert "--strategy fsdp" in ddp.checkpoint_problem(fsdp_ckpt)
    assert "without --strategy fsdp" in fsdp.checkpoint_problem(ddp_ckpt)


def test_fsdp_on_gpus_goes_through_unsloths_native_fsdp2(monkeypatch):
    """Not runnable here (no machine with several GPUs is lent): the wiring, checked piece by piece."""
    import sys

    from forge.plan import backend_choice
    from forge.train.distributed.launch import LaunchPlan, rank_env

    log = logging.getLogger("test.world")
    fsdp = World.from_env({"WORLD_SIZE": "2", "FORGE_DIST_STRATEGY": "fsdp"})
    assert rank_env(LaunchPlan(2, "nccl", "fsdp"), {})["UNSLOTH_FSDP2"] == "1"
    assert "UNSLOTH_FSDP2" not in rank_env(LaunchPlan(2, "gloo", "fsdp"), {})  # CPU: accelerate's FSDP2
    assert "UNSLOTH_FSDP2" not in rank_env(LaunchPlan(2, "nccl", "ddp"), {})
    assert rank_env(LaunchPlan(2, "gloo", "ddp"), {})["FORGE_DIST_STRATEGY"] == "ddp"
    assert rank_env(LaunchPlan(2, "gloo", "ddp"), {"CUDA_VISIBLE_DEVICES": "0"})["CUDA_VISIBLE_DEVICES"] == ""
    assert rank_env(LaunchPlan(2, "nccl", "ddp"), {"CUDA_VISIBLE_DEVICES": "0,1"})["CUDA_VISIBLE_DEVICES"] == "0,1"

    monkeypatch.setattr(backend_choice, "unsloth_reason_here", lambda: None)
    assert fsdp.backend_name(None, log) == "unsloth" and fsdp.backend_name("hf", log) == "hf"
    assert World.from_env({"WORLD_SIZE": "2"}).backend_name(None, log) == "hf"  # ddp: as before
    monkeypatch.setattr(backend_choice, "unsloth_reason_here", lambda: "no GPU")
    assert fsdp.backend_name("unsloth", log) == "hf"

    monkeypatch.setitem(sys.modules, "unsloth", object())  # the Unsloth backend runs in this process
    assert fsdp.trainer_kwargs() == {}  # Unsloth would step aside for accelerate's options
