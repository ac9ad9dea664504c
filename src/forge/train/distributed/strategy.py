"""What the strategy of a World asks of the backend and of the Trainer (torch-free at import).

- ddp: every rank holds the whole model; the Trainer (accelerate) wraps it in DDP.
- fsdp: the model is sharded over the ranks by the libraries' own FSDP: accelerate's, through
  TrainingArguments(fsdp=..., fsdp_config=...) on the hf backend. forge writes no sharding.
"""

from __future__ import annotations


def backend_name(world, requested: str | None, log) -> str | None:
    """Data-parallel runs use the hf backend (DDP/FSDP through the Trainer/accelerate), and say why."""
    if not world.distributed:
        return requested
    if (requested or "auto").lower() in ("auto", "unsloth"):
        log.info(
            "backend %s -> hf for data-parallel training: DDP runs through transformers' Trainer (accelerate); "
            "Unsloth's open-source release does not document multi-GPU DDP, so forge does not rely on it",
            requested or "auto",
        )
    return "hf"


def trainer_kwargs(world) -> dict:
    """TrainingArguments options for the World's strategy (empty on one process)."""
    if not world.distributed:
        return {}
    if world.strategy == "fsdp":
        return fsdp_kwargs()
    # every LoRA parameter takes part in every step: no search for unused ones
    return {"ddp_find_unused_parameters": False}


def fsdp_kwargs() -> dict:
    """accelerate's FSDP2 with per-layer wrapping; the state dict gathered whole for the one PEFT adapter."""
    return {
        "fsdp": "full_shard auto_wrap",
        "fsdp_config": {
            "version": 2,
            "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "state_dict_type": "FULL_STATE_DICT",
            "cpu_ram_efficient_loading": False,
            "reshard_after_forward": True,
        },
    }
