"""The hf backend: transformers + PEFT + TRL's SFTTrainer, on CPU or any GPU (torch).

Used wherever Unsloth cannot run. It maps the original config's Unsloth-flavoured defaults to
what plain transformers can do on this hardware (adamw_8bit needs bitsandbytes and CUDA; "unsloth"
gradient checkpointing is Unsloth's own), and says so in the log.
"""

from __future__ import annotations

import importlib.util

from forge.train.backends import Backend, TrainPlan, cuda_available
from forge.train.backends.vision_inputs import vision_inputs
from forge.train.distributed import World

# Optimizers that need bitsandbytes (and so CUDA).
_BNB_OPTIMS = ("8bit", "paged", "bnb")


class HFBackend(Backend):
    name = "hf"

    def __init__(self, cfg, log, output_dir):
        super().__init__(cfg, log, output_dir)
        self.cuda = cuda_available()
        self.device = "cuda" if self.cuda else "cpu"
        world = World.current()
        if self.cuda and world.distributed:  # data-parallel: each rank loads onto its own GPU
            import torch

            torch.cuda.set_device(world.local_rank)
            self.device = f"cuda:{world.local_rank}"

    # ---------------------------------------------------------------- load
    def _dtype(self):
        import torch

        if not self.cuda:
            return torch.float32  # CPU kernels for half types are slow or missing; tiny models fit anyway
        if self.cfg.model.dtype:
            return getattr(torch, self.cfg.model.dtype)
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    def load(self):
        import torch
        from peft import LoraConfig, get_peft_model

        from forge.models.loader import load_model_and_tokenizer
        from forge.models.templates import apply_chat_template, template_for

        model_cfg = self.cfg.model
        if model_cfg.load_in_4bit and not (self.cuda and importlib.util.find_spec("bitsandbytes")):
            self.note("load_in_4bit needs CUDA and bitsandbytes: loading the full-precision weights instead")
            model_cfg = model_cfg.model_copy(update={"load_in_4bit": False})
        model, tokenizer = load_model_and_tokenizer(model_cfg, dtype=self._dtype(), device=self.device)
        template = template_for(self.cfg.dataset.chat_template, tokenizer)
        apply_chat_template(tokenizer, template)

        lora = self.cfg.lora
        from forge.train.lora_targets import for_model

        # the names and the finetune_* switches, as check judged them from the headers (and the
        # same on the Unsloth backend): a name that is not a linear layer is refused by name
        chosen = for_model(model, lora)
        for note in chosen.notes:
            self.note(note)
        torch.manual_seed(lora.random_state)  # LoRA A matrices are initialised from the global RNG
        peft_config = LoraConfig(
            r=lora.r,
            lora_alpha=lora.lora_alpha,
            lora_dropout=lora.lora_dropout,
            bias=lora.bias,
            target_modules=chosen.spec,
            use_rslora=lora.use_rslora,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, peft_config)
        if self.cfg.model.fp8_matmul:  # refused before loading where no FP8 GPU is (forge.plan.fp8)
            from forge.train.fp8_weight import apply

            self.note(apply(model))
        self._freeze_towers(model)
        trainable, total = model.get_nb_trainable_parameters()
        leaves = chosen.spec if isinstance(chosen.spec, list) else sorted({n.rsplit(".", 1)[-1] for n in chosen.names})
        self.log.info("LoRA r=%d on %s: %s of %s parameters trainable", lora.r, ",".join(leaves), trainable, total)
        return model, tokenizer

    # ---------------------------------------------------------------- plan
    def plan(self, n_train: int, n_val: int) -> TrainPlan:
        t = self.cfg.training
        total, per_epoch = self.steps(n_train)
        eval_steps, save_steps = self.cadences(total, n_val > 0)

        optim = t.optim
        if any(k in optim for k in _BNB_OPTIMS) and not (self.cuda and importlib.util.find_spec("bitsandbytes")):
            optim = "adamw_torch"
            self.note(f"optim {t.optim} needs bitsandbytes on CUDA: using adamw_torch")

        fp16, bf16 = bool(t.fp16), bool(t.bf16)
        if not self.cuda:
            if fp16 or bf16:
                self.note("fp16/bf16 mixed precision is GPU-only: training in float32 on the CPU")
            fp16 = bf16 = False
        elif t.fp16 is None and t.bf16 is None:
            import torch

            bf16 = torch.cuda.is_bf16_supported()
            fp16 = not bf16
            self.note(f"mixed precision from the hardware: {'bf16' if bf16 else 'fp16'}")

        gc = self.cfg.lora.use_gradient_checkpointing
        if gc == "unsloth":
            gc = self.cuda  # Unsloth's offloaded variant -> plain checkpointing on GPU; on CPU memory is not the limit
            self.note(
                "use_gradient_checkpointing 'unsloth' -> "
                + ("plain gradient checkpointing" if gc else "off on the CPU (it only trades speed for GPU memory)")
            )

        packing = bool(t.packing)
        if packing and not self._flash_attention():
            packing = False
            self.note(
                "packing is off: padding-free packing keeps examples apart only with FlashAttention "
                "(not available here), and forge will not let packed examples attend to each other"
            )
        return TrainPlan(
            total_steps=total,
            steps_per_epoch=per_epoch,
            eval_steps=eval_steps,
            save_steps=save_steps,
            optim=optim,
            fp16=fp16,
            bf16=bf16,
            gradient_checkpointing=bool(gc),
            packing=packing,
            device=self.device,
            notes=list(self.notes),
        )

    def _flash_attention(self) -> bool:
        return self.cuda and importlib.util.find_spec("flash_attn") is not None

    # ---------------------------------------------------------------- trainer
    def sft_config(self, plan: TrainPlan, images: bool = False):
        from trl import SFTConfig

        t = self.cfg.training
        return SFTConfig(
            output_dir=str(self.output_dir),
            per_device_train_batch_size=t.per_device_train_batch_size,
            per_device_eval_batch_size=t.per_device_eval_batch_size or t.per_device_train_batch_size,
            gradient_accumulation_steps=t.gradient_accumulation_steps,
            num_train_epochs=t.num_train_epochs,
            max_steps=t.max_steps or -1,
            learning_rate=t.learning_rate,
            warmup_steps=t.warmup_steps,
            weight_decay=t.weight_decay,
            lr_scheduler_type=t.lr_scheduler_type,
            lr_scheduler_kwargs=dict(t.lr_scheduler_kwargs) or None,  # checked by forge.config against the schedule
            optim=plan.optim,
            max_grad_norm=t.max_grad_norm,
            seed=t.seed,
            data_seed=t.seed,
            fp16=plan.fp16,
            bf16=plan.bf16,
            use_cpu=not self.cuda,
            gradient_checkpointing=plan.gradient_checkpointing,
            logging_strategy="steps",
            logging_steps=t.logging_steps,
            # forge's guard stops on a non-finite loss; the Trainer's filter would hide it instead
            logging_nan_inf_filter=False,
            include_num_input_tokens_seen="non_padding",
            eval_strategy="steps" if plan.eval_steps else "no",
            eval_steps=plan.eval_steps,
            save_strategy="steps",
            save_steps=plan.save_steps,
            save_total_limit=t.save_total_limit,
            report_to=t.report_to,
            disable_tqdm=True,
            dataloader_num_workers=0,
            **World.current().trainer_kwargs(),  # data-parallel: DDP or FSDP options (forge.train.distributed)
            # the examples are tokenized and masked by forge: labels are used as they are
            max_length=self.cfg.model.max_seq_length,
            packing=plan.packing and not images,  # TRL packs no image examples (the resolver said so)
            padding_free=plan.packing and not images,
            completion_only_loss=False,
            assistant_only_loss=False,
            dataset_num_proc=None,
            # with images TRL keeps only its own vision columns; forge's ids, labels and image paths stay
            **({"remove_unused_columns": False, "dataset_kwargs": {"skip_prepare_dataset": True}} if images else {}),
        )

    def make_trainer(self, model, tokenizer, train_ds, eval_ds, plan: TrainPlan, callbacks: list):
        from trl import SFTTrainer

        from forge.train.guards import guarded

        if plan.gradient_checkpointing:
            model.enable_input_require_grads()  # LoRA on frozen embeddings needs grads flowing into checkpoints
        self._align_special_tokens(model, tokenizer)
        trainer_cls = World.current().trainer_class(guarded(SFTTrainer))  # fsdp: shards, saves one adapter
        images = self.has_images(train_ds) or self.has_images(eval_ds)
        vision = vision_inputs(self, model, tokenizer) if images else {}
        return trainer_cls(
            model=model,
            args=self.sft_config(plan, images),
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            processing_class=vision.pop("processing_class", tokenizer),
            callbacks=callbacks,
            **vision,
        )

    def _align_special_tokens(self, model, tokenizer) -> None:
        """Align the model's EOS/BOS/PAD ids with the tokenizer's before the trainer does it.

        The Trainer does the same on construction and prints a warning about it on the console; doing
        it here says, once and in forge's log, which ids changed (the chat template's end-of-turn
        token usually becomes an EOS, so generation stops at the end of a turn).
        """
        import logging

        try:
            from transformers.trainer_utils import align_special_tokens
        except ImportError:  # older transformers: the Trainer aligns (or not) by itself
            return
        keys = ("eos_token_id", "bos_token_id", "pad_token_id")
        before = {k: getattr(model.config, k, None) for k in keys}
        quiet = logging.getLogger("transformers.trainer_utils")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            align_special_tokens(model, tokenizer)
        finally:
            quiet.setLevel(level)
        changed = {k: getattr(model.config, k, None) for k in keys if getattr(model.config, k, None) != before[k]}
        if changed:
            self.note(f"model config aligned with the tokenizer's special tokens: {changed}")

    # ---------------------------------------------------------------- save
    def save_adapter(self, model, tokenizer, path) -> None:
        model.save_pretrained(str(path), safe_serialization=True)
        tokenizer.save_pretrained(str(path))
