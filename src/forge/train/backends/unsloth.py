"""The Unsloth backend: Unsloth's fast kernels under the same recipe, callback and outputs (torch).

Unsloth patches transformers, TRL and PEFT when it is imported, and warns (or misbehaves) if they
were imported before it. So `import unsloth` happens in this backend's constructor, which
`select_backend` calls before anything in the recipe imports transformers, and nowhere else.

What differs from the hf backend:
- loading: `FastLanguageModel.from_pretrained` (text models) or `FastModel.from_pretrained`
  (models with a vision tower, e.g. Gemma 3 4B+), with the config's load_in_4bit, dtype and
  max_seq_length;
- LoRA: `get_peft_model` with every LoRA key of the config; the finetune_vision / language /
  attention / mlp switches go to FastModel as they are, and for text models they select the
  target modules (attention: q/k/v/o, mlp: gate/up/down);
- gradient checkpointing is Unsloth's own ("unsloth": offloaded to host memory), set through
  get_peft_model, so the trainer's own flag stays off;
- images (Gemma 3 4B+): FastModel (FastVisionModel) loads the model and its processor,
  FastVisionModel.for_training before the trainer, and forge's VisionCollator with the processor
  (forge.train.backends.vision_inputs), as on the hf backend; packing is off for such data;
- packing works without FlashAttention: Unsloth's attention dispatch runs packed rows per segment
  (varlen / per-segment SDPA), so examples never attend to each other and padding-free is exact.

Masking: forge's tokenizer pass (forge.train.dataset) already made the labels (-100 outside the
assistant turns, markers from forge.models.templates for the template in use), so no second masking pass
(`train_on_responses_only`) runs here: the same examples train the same tokens on either backend.
"""

from __future__ import annotations

import os

from forge.errors import EXIT_USAGE, ForgeError
from forge.train.backends import TrainPlan
from forge.train.backends.compile_workers import keep_parallel_compile
from forge.train.backends.hf import HFBackend
from forge.train.backends.packed_shape import attention_of, fixed_packed_length
from forge.train.backends.packed_shape import note as shape_note
from forge.train.backends.vision_inputs import vision_inputs

_COMPILE_NOTE = ""  # what keep_parallel_compile changed, for the run's notes


def import_unsloth():
    """Import Unsloth first; a clear ForgeError (exit 2) when it cannot run here."""
    from forge.plan.backend_choice import unsloth_reason_here

    reason = unsloth_reason_here()
    if reason:
        raise ForgeError(
            f"--backend unsloth cannot run here: {reason}",
            "use --backend hf (transformers+PEFT+TRL), or run on a machine with an NVIDIA GPU and Unsloth installed",
            exit_code=EXIT_USAGE,
            kind="backend",
        )
    os.environ.setdefault("UNSLOTH_DISABLE_STATISTICS", "1")  # no network call home
    os.environ.setdefault("HF_HUB_ENABLE_HF_TRANSFER", "0")
    global _COMPILE_NOTE
    # before the import: Unsloth decides its compile worker count while it is imported
    _COMPILE_NOTE = keep_parallel_compile() or _COMPILE_NOTE
    try:
        import unsloth  # noqa: F401  (must come before transformers / trl / peft)
    except Exception as e:  # Unsloth raises NotImplementedError/ImportError/RuntimeError on unsupported setups
        raise ForgeError(
            f"--backend unsloth cannot run here: importing Unsloth failed: {type(e).__name__}: {e}",
            "use --backend hf, or fix the Unsloth installation (pip install 'factory-forge[unsloth]')",
            exit_code=EXIT_USAGE,
            kind="backend",
        ) from e
    return unsloth


def attention_for(path) -> tuple[str | None, str]:
    """The attention forge asks Unsloth for, with the reason, or (None, "") for Unsloth's own pick.

    Unsloth picks by itself unless FORGE_ATTENTION names an implementation (sdpa, eager,
    flex_attention, ...). What was measured for Gemma 3 on the lent H200 (torch 2.11, Unsloth
    2026.10.9, 2026-12-01; docs/gpu-validation.md) is why this is a switch and not a default:
    - Unsloth's own choice, flex_attention, sat in Inductor compiling its block-mask kernels and
      reached no training step of the 4B-it shape in 200 s; with torch.compile off, flex ran its
      unfused fallback and ran out of 139 GB;
    - sdpa (which Unsloth turns into its "fast eager" Gemma 3 attention, in float32) reached its
      first step after 79 s with the per-block compile off, at 9,385 tokens/s, well under the
      26,126 that issue 18 reports through the CLI on the default path;
    so a short run may want FORGE_ATTENTION=sdpa with UNSLOTH_BLOCK_COMPILE=0, a long one not.
    `path` is the model folder, for the family named in the note.
    """
    import os

    from forge.models.facts import model_config

    choice = os.environ.get("FORGE_ATTENTION", "").strip()
    if not choice:
        return None, ""
    family = (model_config(path) or {}).get("model_type") or "this model"
    return choice, f"attention: {choice} for {family}, as FORGE_ATTENTION asks (unset, Unsloth picks)"


class UnslothBackend(HFBackend):
    name = "unsloth"

    def __init__(self, cfg, log, output_dir):
        import_unsloth()  # before the parent or the recipe import anything of transformers
        super().__init__(cfg, log, output_dir)
        if _COMPILE_NOTE:
            self.note(_COMPILE_NOTE)
        from forge.train.backends.unsloth_varlen import enable_torch_varlen

        varlen = enable_torch_varlen()
        if varlen:
            self.note(varlen)
        from forge.train.backends.flex_masks import build_flex_masks_eagerly

        masks = build_flex_masks_eagerly()  # after Unsloth's import, which wraps the same builder
        if masks:
            self.note(masks)

    # ---------------------------------------------------------------- load
    def load(self):
        import torch
        from unsloth import FastLanguageModel, FastModel

        from forge.models.facts import has_vision
        from forge.models.loader import resolve_model_path
        from forge.models.templates import apply_chat_template, template_for

        m = self.cfg.model
        path = resolve_model_path(m.name)
        vision = has_vision(path)
        loader = FastModel if vision else FastLanguageModel
        dtype = getattr(torch, m.dtype) if m.dtype else None  # None: Unsloth picks bf16 where supported
        precision = {"load_in_4bit": m.load_in_4bit}
        if m.load_in_fp8:
            self._check_fp8(path)
            # Unsloth's own switch (row-wise torchao FP8); 4-bit off (the config made sure it was not asked)
            precision = {"load_in_4bit": False, "load_in_fp8": True}
            dtype = torch.bfloat16  # the LoRA over the FP8 weights trains in bf16 (config refuses others)
        attention, why = attention_for(path)
        if attention:
            precision["attn_implementation"] = attention
            self.note(why)
        model, tokenizer = loader.from_pretrained(
            model_name=path,
            max_seq_length=m.max_seq_length,
            dtype=dtype,
            full_finetuning=False,
            trust_remote_code=m.trust_remote_code,
            **precision,
        )
        tok = getattr(tokenizer, "tokenizer", tokenizer)  # FastModel returns a processor for VLMs
        if hasattr(tokenizer, "image_processor"):  # kept for data with images (forge.train.backends.vision_inputs)
            self.processor = tokenizer
        if tok.pad_token is None:
            vocab = tok.get_vocab()
            pad = next((t for t in ("<|finetune_right_pad_id|>", "<pad>", "<|pad|>") if t in vocab), None)
            tok.pad_token = pad or tok.unk_token or tok.eos_token
        template = template_for(self.cfg.dataset.chat_template, tok)
        apply_chat_template(tok, template)
        self.template = template

        from forge.train.lora_targets import for_model

        lora = self.cfg.lora
        # the same modules as on the hf backend: for a VLM a regex of full names, which FastModel takes
        # as it is (a leaf list would go through its own finetune_* filter)
        chosen = for_model(model, lora)
        for note in chosen.notes:
            self.note(note)
        targets = chosen.spec
        kwargs = dict(
            r=lora.r,
            lora_alpha=lora.lora_alpha,
            lora_dropout=lora.lora_dropout,
            bias=lora.bias,
            target_modules=targets,
            use_gradient_checkpointing=lora.use_gradient_checkpointing,
            random_state=lora.random_state,
            use_rslora=lora.use_rslora,
        )
        if vision:
            kwargs.update(
                finetune_vision_layers=lora.finetune_vision_layers,
                finetune_language_layers=lora.finetune_language_layers,
                finetune_attention_modules=lora.finetune_attention_modules,
                finetune_mlp_modules=lora.finetune_mlp_modules,
            )
        model = loader.get_peft_model(model, **kwargs)
        if m.fp8_matmul:  # after Unsloth's patches, which it puts back where they read the weights
            from forge.train.fp8_weight import apply

            self.note(apply(model))
        self._freeze_towers(model)
        _name_configured_base(model, path)
        self.attention = attention_of(model)  # what Unsloth chose, read back: the packed shape depends on it
        trainable, total = model.get_nb_trainable_parameters()
        self.log.info(
            "Unsloth %s: %s, %s weights, LoRA r=%d on %s (%s of %s parameters trainable), checkpointing %r",
            loader.__name__,
            m.name,
            "FP8" if (m.load_in_fp8 or m.fp8_matmul) else ("4-bit" if m.load_in_4bit else "16-bit"),
            lora.r,
            _wrapped(model),
            trainable,
            total,
            lora.use_gradient_checkpointing,
        )
        return model, tok

    # ---------------------------------------------------------------- plan
    def plan(self, n_train: int, n_val: int) -> TrainPlan:
        import torch

        t = self.cfg.training
        total, per_epoch = self.steps(n_train)
        eval_steps, save_steps = self.cadences(total, n_val > 0)
        fp16, bf16 = bool(t.fp16), bool(t.bf16)
        if t.fp16 is None and t.bf16 is None:
            bf16 = torch.cuda.is_bf16_supported()
            fp16 = not bf16
        if t.packing:
            self.note("packing: padding-free rows; attention stays inside each example")
            length = self._fixed_packed_length()
            if length:
                m = self.cfg.model
                self.note(shape_note(length, t.per_device_train_batch_size, m.max_seq_length, self.attention))
        return TrainPlan(
            total_steps=total,
            steps_per_epoch=per_epoch,
            eval_steps=eval_steps,
            save_steps=save_steps,
            optim=t.optim,
            fp16=fp16,
            bf16=bf16,
            # Unsloth's checkpointing is set by get_peft_model; the Trainer's flag would add a second layer
            gradient_checkpointing=False,
            packing=bool(t.packing),
            device="cuda",
            notes=list(self.notes),
        )

    # ---------------------------------------------------------------- trainer
    def make_trainer(self, model, tokenizer, train_ds, eval_ds, plan: TrainPlan, callbacks: list):
        from trl import SFTTrainer  # Unsloth's patched SFTTrainer (unsloth was imported first)

        from forge.train.distributed import World
        from forge.train.guards import guarded

        images = self.has_images(train_ds) or self.has_images(eval_ds)
        args = self.sft_config(plan, images)
        # from the settings as they are now: an OOM retry with fewer rows rebuilds the trainer
        args.pad_to_multiple_of = self._fixed_packed_length() if plan.packing and not images else None
        vision = {}
        if images:
            # Unsloth's vision path: FastVisionModel.for_training, the processor FastModel loaded, and
            # forge's collator in place of UnslothVisionDataCollator (that one re-templates and re-masks
            # the messages: forge's labels, which `forge inspect` shows, must train as they are)
            from unsloth import FastVisionModel

            FastVisionModel.for_training(model)
            vision = vision_inputs(self, model, tokenizer)
            args.dataset_text_field = ""
        # fsdp: Unsloth's native FSDP2 shards in the Trainer; this class gathers the one adapter
        trainer_cls = World.current().trainer_class(guarded(SFTTrainer))
        return trainer_cls(
            model=model,
            args=args,
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            processing_class=vision.pop("processing_class", tokenizer),
            callbacks=callbacks,
            **vision,
        )

    def _fixed_packed_length(self) -> int | None:
        t, m = self.cfg.training, self.cfg.model
        return fixed_packed_length(
            getattr(self, "attention", None), bool(t.packing), t.per_device_train_batch_size, m.max_seq_length
        )

    def _check_fp8(self, path) -> None:
        import torch

        from forge.models.facts import stored_dtype
        from forge.plan.fp8 import fp8_refusal

        major, minor = torch.cuda.get_device_capability()
        refusal = fp8_refusal(
            self.name, f"{major}.{minor}", torch.cuda.get_device_name(), stored_dtype(path), self.cfg.model.name
        )
        if refusal:
            raise refusal
        self.note("FP8 base weights (row-wise e4m3, torchao) under bf16 LoRA: Unsloth load_in_fp8")


def _name_configured_base(model, path: str) -> None:
    """Point the adapter at the model forge was asked for (model.name, resolved), whatever Unsloth
    loaded in its place.

    Unsloth loads a stand-in: for FP8 a copy it quantised into a private cache folder, for 4-bit
    on a hub id its pre-quantised `...-bnb-4bit` repository. PEFT would record the stand-in as
    `base_model_name_or_path`; export and evaluate read that field (forge.models.adapter_base)
    and must find model.name there, whose 16-bit weights are what a merge goes into.
    """
    for peft_cfg in getattr(model, "peft_config", {}).values():
        peft_cfg.base_model_name_or_path = path


def _wrapped(model) -> str:
    """The layers LoRA wrapped, as their leaf names and a count: the target given to Unsloth can be a
    regex naming every layer (the vision tower left out), thousands of characters in the log."""
    names = [n for n, mod in model.named_modules() if hasattr(mod, "lora_A")]
    return f"{','.join(sorted({n.rsplit('.', 1)[-1] for n in names}))} ({len(names)} layers)"
