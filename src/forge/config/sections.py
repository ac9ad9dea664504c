"""The sections of training-config.json, as pydantic models: what each key means and accepts.

Every key of the original Unsloth template keeps its name, meaning and default so that existing
files load unchanged; keys forge adds live in the section they belong to. Unknown keys are errors
(extra="forbid"), which forge.config.errors turns into a hint naming the nearest valid key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from forge.config.gguf_types import CONFIG_KEY, GGUFTypesError, parse_gguf_types, types_text
from forge.config.trainer_names import (
    EVAL_SCHEDULERS,
    OPTIMIZERS,
    SCHEDULERS,
    TRACKER_WORDS,
    TRACKERS,
    check_name,
    scheduler_kwargs_problems,
    tracker_list,
)

DEFAULT_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

Auto = Literal["auto"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _path_given(v: str | None, info) -> str | None:
    # "" is the project folder itself: save.lora_path "" swapped the adapter in as the project
    # folder and deleted everything in it; a folder key that is off is spelt null
    if isinstance(v, str) and not v.strip():
        off = "" if info.field_name in ("path", "lora_path", "output_dir") else "; null turns it off"
        raise ValueError(f"empty: name a path (relative to the project folder){off}")
    return v


class ModelSection(_Section):
    name: str = Field(
        "unsloth/gemma-3-4b-it",
        description="Base model: a Hugging Face hub id, a local folder, or a built-in "
        "(builtin:tiny-llama, builtin:tiny-gemma3, builtin:gemma-3-270m).",
    )
    max_seq_length: int = Field(
        2048, ge=16, description="Longest tokenized example, in tokens; longer ones are truncated (and counted)."
    )
    load_in_4bit: bool = Field(True, description="Load the base weights in 4-bit (QLoRA). GPU (bitsandbytes) only.")
    load_in_fp8: bool = Field(
        False,
        description="Hold the frozen base weights in FP8 (row-wise, torchao) and train bf16 LoRA over them: "
        "faster matrix products on Hopper (H100/H200) and newer. Unsloth backend only; replaces load_in_4bit.",
    )
    fp8_matmul: bool = Field(
        False,
        description="Run the frozen base weights' forward and input-gradient products as real FP8 products "
        "(e4m3, one scale per row, weights quantised once at load); LoRA and everything trainable stay bf16. "
        "NVIDIA Hopper (H100/H200) or newer, either backend; memory as bf16; replaces load_in_4bit.",
    )
    dtype: Literal["float16", "bfloat16", "float32", None] = Field(
        None, description="Compute dtype; null picks bfloat16 where the GPU supports it, else float16 (float32 on CPU)."
    )
    trust_remote_code: bool = Field(
        False, description="Run code shipped with the model repository. Off unless you trust the repository."
    )

    @field_validator("name")
    @classmethod
    def _name_given(cls, v: str) -> str:
        # an empty name would fail only at load time, deep in transformers; say it here, by key
        if not v.strip():
            raise ValueError("empty: name a hub id, a local folder, or a built-in (builtin:tiny-llama, ...)")
        return v

    @model_validator(mode="after")
    def _fp8_replaces_4bit(self):
        # FP8 and 4-bit are two ways of holding the same frozen weights, so asking for FP8 replaces
        # 4-bit. `load_in_4bit: true` is the original template's default, which `forge init` writes
        # into every project; as for the plan (forge.commands.plan.explicit_from_files), a file value
        # equal to the default is not a choice, so it must not turn `--set model.load_in_fp8=true`
        # into an error
        if (self.load_in_fp8 or self.fp8_matmul) and self.load_in_4bit:
            object.__setattr__(self, "load_in_4bit", False)  # no re-validation loop (validate_assignment)
        if self.load_in_fp8 and self.fp8_matmul:
            raise ValueError(
                "load_in_fp8 (Unsloth's FP8 LoRA) and fp8_matmul (forge's FP8 base products) are two ways of "
                "holding the same frozen weights: set one of them to false"
            )
        if self.fp8_matmul and self.dtype not in (None, "bfloat16"):
            raise ValueError(
                f"fp8_matmul computes in bfloat16, but dtype is {self.dtype}: "
                "set model.dtype to bfloat16 (or leave it null), or set model.fp8_matmul to false"
            )
        if self.load_in_fp8 and self.dtype not in (None, "bfloat16"):
            # torchao's row-wise FP8 quantises from bf16 weights, and the LoRA over them trains in bf16
            raise ValueError(
                f"load_in_fp8 needs bfloat16 weights, but dtype is {self.dtype}: "
                "set model.dtype to bfloat16 (or leave it null), or set model.load_in_fp8 to false"
            )
        return self


class LoraSection(_Section):
    r: int = Field(8, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(16, ge=1, description="LoRA scaling numerator (scale = lora_alpha / r).")
    lora_dropout: float = Field(0, ge=0, lt=1, description="Dropout on the LoRA input.")
    bias: Literal["none", "all", "lora_only"] = Field("none", description="Which biases are trained.")
    target_modules: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TARGET_MODULES),
        description="Names of the linear layers that get LoRA adapters.",
    )
    use_gradient_checkpointing: Union[bool, Literal["unsloth"]] = Field(
        "unsloth",
        description='Recompute activations in the backward pass to save memory; "unsloth" is Unsloth\'s '
        "offloaded variant (plain checkpointing on the hf backend).",
    )
    random_state: int = Field(3407, description="Seed for the LoRA weight initialisation.")
    use_rslora: bool = Field(False, description="Rank-stabilised LoRA scaling (lora_alpha / sqrt(r)).")
    finetune_vision_layers: bool = Field(
        False, description="Adapt the vision tower of a vision-language model (both backends)."
    )
    finetune_language_layers: bool = Field(True, description="Adapt the language model (both backends).")
    finetune_attention_modules: bool = Field(True, description="Adapt the attention projections (both backends).")
    finetune_mlp_modules: bool = Field(True, description="Adapt the MLP projections (both backends).")


class TrainingSection(_Section):
    per_device_train_batch_size: int = Field(2, ge=1, description="Micro-batch: examples per device per step.")
    gradient_accumulation_steps: int = Field(4, ge=1, description="Micro-batches accumulated per optimizer step.")
    # finite: json.loads and --set read Infinity, which trained forever or into NaN
    num_train_epochs: float = Field(3, gt=0, allow_inf_nan=False, description="Passes over the training split.")
    learning_rate: float = Field(2e-4, gt=0, allow_inf_nan=False, description="Peak learning rate.")
    warmup_steps: int = Field(5, ge=0, description="Linear warm-up steps.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps (overrides epochs).")
    fp16: bool | None = Field(None, description="Train in float16 mixed precision; null decides from the hardware.")
    bf16: bool | None = Field(None, description="Train in bfloat16 mixed precision; null decides from the hardware.")
    logging_steps: int = Field(1, ge=1, description="Write status and history every this many steps.")
    optim: str = Field("adamw_8bit", description="Optimizer name as transformers knows it (adamw_8bit needs a GPU).")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    lr_scheduler_type: str = Field("linear", description="Learning-rate schedule (linear, cosine, constant, ...).")
    lr_scheduler_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        validate_default=True,  # {} is checked against the schedule too: cosine_with_min_lr needs a key
        description="Arguments of the learning-rate schedule, as transformers' lr_scheduler_kwargs: "
        'cosine_with_min_lr and cosine_warmup_with_min_lr need min_lr or min_lr_rate (e.g. {"min_lr_rate": 0.1}), '
        'warmup_stable_decay needs num_decay_steps (e.g. {"num_decay_steps": 100}); cosine takes num_cycles, '
        "polynomial lr_end and power, reduce_lr_on_plateau factor, patience, ...; linear and constant take none.",
    )
    seed: int = Field(3407, description="Seed for data order and dropout.")
    output_dir: str = Field("outputs", description="Where resumable trainer checkpoints go.")
    # forge additions
    backend: Literal["auto", "unsloth", "hf"] = Field(
        "auto", description="auto: Unsloth where it imports and CUDA is present, else transformers+PEFT+TRL."
    )
    # ge=1 on the int alone (as dataset.min_samples): 0 used to turn eval off without a word, and a
    # negative cadence ran evals; "off" is spelt null, so that nobody turns it off by accident
    eval_steps: Union[Annotated[int, Field(ge=1)], Auto, None] = Field(
        "auto",
        description='Evaluate on the val split every N steps (N >= 1); "auto" gives about ten evals per run; '
        "null: never.",
    )
    save_steps: Union[Annotated[int, Field(ge=1)], Auto] = Field(
        "auto", description='Save a resumable checkpoint every N steps (N >= 1); "auto" follows the eval cadence.'
    )
    save_total_limit: int = Field(3, ge=1, description="Complete checkpoints kept in output_dir.")
    per_device_eval_batch_size: int | None = Field(None, ge=1, description="Eval micro-batch; null: the train one.")
    packing: bool = Field(
        False, description="Pack several examples into one sequence (padding-free); masking stays per example."
    )
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    report_to: Union[str, list[str]] = Field(
        "none", description="Experiment trackers passed to the trainer: none, tensorboard, wandb, mlflow."
    )
    oom_retries: int = Field(3, ge=0, description="Halve the micro-batch and resume this many times on CUDA OOM.")
    max_dropped_fraction: float = Field(
        0.5, ge=0, le=1, description="Refuse to train if more than this share of examples keep no trained token."
    )
    eval_samples: Union[int, Auto, None] = Field(
        "auto",
        description='Val examples scored at each eval; "auto" sizes eval with the val split and the step so that '
        "evals cost about a tenth of training time (a large val is sampled, deterministically); null: all of val.",
    )
    vram_budget_gb: float | None = Field(
        None,
        gt=0,
        description="Plan and check against this many GB of GPU memory instead of the whole card (a shared GPU, "
        "or a smaller target card); `forge plan --vram-gb N` sets it for one plan.",
    )

    @field_validator("bf16")
    @classmethod
    def _one_mixed_precision(cls, v, info):
        # transformers' TrainingArguments raises on both once the model has loaded (and the CPU path
        # dropped both without a word): said here, by key (bf16 comes after fp16, so fp16 is read)
        if v and info.data.get("fp16"):
            raise ValueError(
                "fp16 is true as well: choose one (bf16 on Ampere and newer GPUs, fp16 on older ones), "
                "or leave both null to decide from the hardware"
            )
        return v

    _output_dir_given = field_validator("output_dir")(_path_given)

    @field_validator("eval_samples", mode="before")
    @classmethod
    def _samples_positive(cls, v):
        # 0 and negative counts were taken (and `true` as 1): say what the key takes
        if isinstance(v, bool) or (isinstance(v, (int, float)) and v < 1):
            raise ValueError('must be a number of val examples of 1 or more, "auto", or null (all of val)')
        return v

    @field_validator("eval_steps", "save_steps", mode="before")
    @classmethod
    def _cadence_positive(cls, v, info):
        # before the union: one sentence with the fix, not one error per member of the union
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 1:
            off = "; null turns eval off" if info.field_name == "eval_steps" else ""
            raise ValueError(f'must be a number of steps of 1 or more, or "auto"{off}')
        return v

    # the Trainer checks these names only once the model has loaded: say it here, by key
    @field_validator("optim")
    @classmethod
    def _known_optim(cls, v: str) -> str:
        return check_name(v, OPTIMIZERS, "an optimizer")

    @field_validator("lr_scheduler_type")
    @classmethod
    def _known_scheduler(cls, v: str) -> str:
        return check_name(v, SCHEDULERS, "a learning-rate schedule")

    @field_validator("lr_scheduler_kwargs")
    @classmethod
    def _scheduler_kwargs(cls, v: dict[str, Any], info) -> dict[str, Any]:
        # what get_scheduler raises on once the model has loaded, said here by key (an unknown
        # lr_scheduler_type is its own error: nothing to check these against)
        name = info.data.get("lr_scheduler_type")
        if name is None:
            return v
        problems = scheduler_kwargs_problems(name, v, info.data.get("learning_rate"))
        if problems:
            raise ValueError("; ".join(problems))
        return v

    @field_validator("report_to")
    @classmethod
    def _known_trackers(cls, v):
        # whether each one is installed is the resolver's question (forge.plan.environment):
        # the same file is valid on a machine that has wandb
        names = tracker_list(v)
        for name in names:
            check_name(name, (*TRACKER_WORDS, *TRACKERS), "a tracker")
        words = [n for n in names if n in TRACKER_WORDS]
        if words and len(names) > 1:
            # the Trainer takes "none" / "all" alone only (a list holding one fails after the model loaded)
            raise ValueError(f"{words[0]!r} stands alone: give report_to as {words[0]!r}, or a list of trackers")
        return v


class DatasetSection(_Section):
    path: str = Field("data/splits/train.jsonl", description="Training split (ShareGPT or messages; JSONL or JSON).")
    val_path: str | None = Field("data/splits/val.jsonl", description="Validation split; null: no eval.")
    chat_template: str = Field(
        "auto",
        description="Chat template: auto (the model's own, from its tokenizer files; else its family's by "
        "model_type), gemma-3, llama-3, chatml, qwen-2.5, mistral, phi-3, or 'tokenizer' for the tokenizer's own. "
        "A named one whose markers are not single tokens of the model is refused before training.",
    )
    # ge=1 on the int alone: pydantic cannot compare "auto" with 1 (a TypeError, not a ValidationError)
    min_samples: Union[Annotated[int, Field(ge=1)], Auto] = Field(
        "auto",
        description='Fewest usable training conversations check and train accept; "auto": 100 (the original '
        "checklist), 1 for the tiny random test models (builtin:tiny-llama, builtin:tiny-gemma3).",
    )
    # deprecated: read so that existing files load, passed nowhere (tokenization runs in-process)
    num_proc: int = Field(2, ge=1, description="Deprecated and ignored (kept so existing files load).")

    _paths_given = field_validator("path", "val_path")(_path_given)


class SaveSection(_Section):
    lora_path: str = Field("models/checkpoints/lora", description="Where the final LoRA adapter goes.")
    merged_path: str | None = Field(None, description="If set, also save the merged 16-bit model there.")
    gguf_path: str | None = Field(None, description="If set, also export GGUF files there.")
    gguf_quantization: str = Field(
        "Q8_0",
        description=f"GGUF types to export to save.gguf_path, comma separated, any case; any of: {types_text()}.",
    )

    _paths_given = field_validator("lora_path", "merged_path", "gguf_path")(_path_given)

    @field_validator("gguf_quantization")
    @classmethod
    def _known_gguf_types(cls, v: str) -> str:
        # the parser `forge export --gguf` uses (one rule, one wording): a typo here used to
        # surface only after the whole run had trained, and an empty list exported no GGUF silently
        try:
            parse_gguf_types(v, where=CONFIG_KEY)
        except GGUFTypesError as e:
            raise ValueError(f"{e.problem}; fix: {e.fix}") from None
        return v


class EvaluationSection(_Section):
    gate_threshold: float = Field(
        0.05,
        ge=0,
        lt=1,
        allow_inf_nan=False,
        description="The gate: relative drop of val loss vs baseline needed to pass (0.05 = 5%; below 1, "
        "as a drop of 100% or more cannot happen).",
    )
    generation_samples: int = Field(16, ge=0, description="Val examples scored by greedy generation.")
    max_new_tokens: int = Field(128, ge=1, description="Token budget of each scored generation.")


class ForgeConfig(_Section):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, title="forge training-config.json")

    schema_: str | None = Field(None, alias="$schema", description="JSON Schema of this file (for editors).")
    model: ModelSection = Field(default_factory=ModelSection, description="The base model and how it is loaded.")
    lora: LoraSection = Field(default_factory=LoraSection, description="LoRA adapter settings.")
    training: TrainingSection = Field(default_factory=TrainingSection, description="Trainer settings.")
    dataset: DatasetSection = Field(default_factory=DatasetSection, description="Where the data is, how it is read.")
    save: SaveSection = Field(default_factory=SaveSection, description="What is saved where at the end.")
    evaluation: EvaluationSection = Field(
        default_factory=EvaluationSection, description="Baseline/evaluate settings and the gate."
    )

    @model_validator(mode="after")
    def _eval_schedule_has_eval(self):
        # the Trainer refuses these without an eval strategy, once the model has loaded
        name = self.training.lr_scheduler_type
        if name not in EVAL_SCHEDULERS:
            return self
        if self.training.eval_steps is None:
            off, fix = "training.eval_steps is null", 'set training.eval_steps to "auto" or a number of steps'
        elif self.dataset.val_path is None:
            off, fix = "dataset.val_path is null", "set dataset.val_path to a val split"
        else:
            return self
        raise ValueError(
            f"training.lr_scheduler_type {name} adjusts the learning rate from the eval loss, but {off} (no "
            f"eval): {fix}, or choose a schedule that needs no eval (linear, cosine, ...)"
        )

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=False)

    def effective_batch(self) -> int:
        t = self.training
        return t.per_device_train_batch_size * t.gradient_accumulation_steps
