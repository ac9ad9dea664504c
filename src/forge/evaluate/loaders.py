"""One loader for every artifact, shared by `forge evaluate` and `forge chat` (torch and llama.cpp
imported inside the functions).

`load_artifact(cfg, artifact)` returns a Loaded: the HF tokenizer with training's chat template
installed (the text and token ids training produced, whatever template the artifact carries), and
three functions over it:
- loss(examples): val loss over examples tokenized with training's masking (forge.train.dataset);
- generate(prompts, where, max_new_tokens): greedy answers, each stopped by the artifact's own stop
  tokens (the generation config's end-of-turn ids for transformers; for a GGUF, what llama.cpp
  treats as end of generation, `llama_vocab_is_eog`, and any control token, as the transformers
  path stops at any special token);
- close().
adapter: the base model with the adapter on it (as `forge evaluate` always scored it); merged: the
merged folder through transformers (AutoModelForCausalLM, as vLLM loads it); gguf: the file through
llama.cpp (llama-cpp-python), whose batched evaluation of the whole sequence gives the
log-probabilities of the loss (logits at the trained positions only: gguf_nll), one llama.cpp context
per pass sized to the longest sequence.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from forge.evaluate.artifacts import Artifact, need_llama_cpp


@dataclass
class Loaded:
    artifact: Artifact
    tokenizer: Any
    template: Any  # forge.models.templates.ChatTemplate: training's
    loss: Callable[[list[dict]], dict]
    generate: Callable[[list[list[dict]], list[str] | None, int], list[str]]
    precision: str
    device: str
    stops: str  # the stop tokens, in words
    extra: dict[str, Any] = field(default_factory=dict)  # the model / llama.cpp objects
    close: Callable[[], None] = lambda: None


def training_tokenizer(cfg: Any, folder: str | None = None) -> tuple[Any, Any, list[int]]:
    """(tokenizer, training's ChatTemplate, stop ids): the base model's template choice, as training
    made it, installed on the tokenizer of `folder` (default: the base model's)."""
    from transformers import AutoTokenizer

    from forge.models.loader import resolve_model_path
    from forge.models.templates import apply_chat_template, template_for

    base_path = resolve_model_path(cfg.model.name)
    base_tok = AutoTokenizer.from_pretrained(base_path)
    template = template_for(cfg.dataset.chat_template, base_tok)
    tok = base_tok if folder is None else AutoTokenizer.from_pretrained(folder)
    stop_ids = apply_chat_template(tok, template)
    if tok.pad_token is None:
        tok.pad_token = tok.unk_token or tok.eos_token
    return tok, template, stop_ids


def load_artifact(cfg: Any, artifact: Artifact) -> Loaded:
    if artifact.kind == "gguf":
        return _load_gguf(cfg, artifact)
    return _load_hf(cfg, artifact)


def _load_hf(cfg: Any, artifact: Artifact) -> Loaded:
    from forge.evaluate.baseline import loaded_precision
    from forge.evaluate.score import generate_answers, val_loss
    from forge.models.loader import load_model_and_tokenizer

    if artifact.kind == "merged":
        # the merged folder as vLLM and transformers load it; weights in the precision the base
        # model is scored in (float32 on CPU), so that only the merge and its 16-bit save differ
        model, _ = load_model_and_tokenizer(cfg.model.model_copy(update={"name": str(artifact.path)}))
        tokenizer, template, stop_ids = training_tokenizer(cfg, str(artifact.path))
    else:
        from forge.evaluate.baseline import apply_adapter

        model, _ = load_model_and_tokenizer(cfg.model)
        model = apply_adapter(model, artifact.path, cfg.model.name)
        tokenizer, template, stop_ids = training_tokenizer(cfg)
    if stop_ids:
        model.generation_config.eos_token_id = stop_ids
    if tokenizer.pad_token_id is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    stops = ", ".join(tokenizer.convert_ids_to_tokens(stop_ids)) or "eos"
    return Loaded(
        artifact,
        tokenizer,
        template,
        loss=lambda examples: val_loss(model, examples),
        generate=lambda prompts, where, n: generate_answers(model, tokenizer, prompts, n, where=where),
        precision=loaded_precision(model),
        device=str(next(model.parameters()).device),
        stops=f"{stops} and every special token",
        extra={"model": model},
    )


def _load_gguf(cfg: Any, artifact: Artifact) -> Loaded:
    llama_cpp = need_llama_cpp()
    tokenizer, template, _ = training_tokenizer(cfg)
    threads = max(1, os.cpu_count() or 1)

    def open_llama(n_ctx: int):
        n_ctx = max(64, -(-n_ctx // 64) * 64)
        return llama_cpp.Llama(
            model_path=str(artifact.path),
            n_ctx=n_ctx,
            n_batch=min(n_ctx, 512),
            n_ubatch=min(n_ctx, 512),
            n_threads=threads,
            n_threads_batch=threads,
            seed=0,
            verbose=False,
        )

    def loss(examples: list[dict]) -> dict:
        if not examples:
            return {"val_loss": None, "perplexity": None, "val_tokens_scored": 0}
        llm = open_llama(max(len(e["input_ids"]) for e in examples))
        try:
            total_nll, total = gguf_nll(llama_cpp, llm, examples)
        finally:
            llm.close()
        loss_v = total_nll / total if total else float("nan")
        return {
            "val_loss": round(loss_v, 6),
            "perplexity": round(math.exp(loss_v), 4) if math.isfinite(loss_v) and loss_v < 50 else None,
            "val_tokens_scored": total,
        }

    def generate(prompts: list[list[dict]], where: list[str] | None, max_new_tokens: int) -> list[str]:
        from forge.evaluate.score import prompt_texts

        ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in prompt_texts(tokenizer, prompts, where)]
        if not ids:
            return []
        llm = open_llama(max(len(i) for i in ids) + max_new_tokens + 8)
        try:
            return [tokenizer.decode(gguf_greedy(llama_cpp, llm, p, max_new_tokens), skip_special_tokens=True).strip()
                    for p in ids]  # fmt: skip
        finally:
            llm.close()

    return Loaded(
        artifact,
        tokenizer,
        template,
        loss=loss,
        generate=generate,
        precision=f"gguf {artifact.gguf_type}",
        device="cpu (llama.cpp)",
        stops="the GGUF's end-of-generation tokens (llama.cpp's llama_vocab_is_eog) and every control token",
        extra={"open_llama": open_llama, "llama_cpp": llama_cpp},
    )


def gguf_nll(llama_cpp: Any, llm: Any, examples: list[dict]) -> tuple[float, int]:
    """(summed negative log-likelihood, tokens) of the trained tokens (label != -100): each example
    evaluated in one batched llama.cpp pass over its whole sequence (a llama_batch of n_batch tokens
    at most), with logits requested only at the positions that predict a trained token (the batch's
    per-token `logits` flags), as the transformers path runs its output layer only there: for a
    262k-word vocabulary the output layer is most of the work, and `logits_all` computed and copied
    out all of them at every position, prompts included."""
    import numpy as np

    n_batch, n_vocab = int(llm.n_batch), int(llm.n_vocab())
    batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
    memory = llama_cpp.llama_get_memory(llm.ctx)
    total_nll, total = 0.0, 0
    try:
        for e in examples:
            ids, labels = list(e["input_ids"]), e["labels"]
            wanted = [p < len(ids) - 1 and labels[p + 1] != -100 for p in range(len(ids))]
            if not any(wanted):
                continue
            llama_cpp.llama_memory_clear(memory, True)
            for start in range(0, len(ids), n_batch):
                chunk = range(start, min(len(ids), start + n_batch))
                batch.n_tokens = len(chunk)
                for i, p in enumerate(chunk):
                    batch.token[i], batch.pos[i], batch.n_seq_id[i] = ids[p], p, 1
                    batch.seq_id[i][0] = 0
                    batch.logits[i] = wanted[p]
                rc = llama_cpp.llama_decode(llm.ctx, batch)
                if rc != 0:
                    raise RuntimeError(f"llama_decode returned {rc}")
                pos = [p for p in chunk if wanted[p]]
                if not pos:
                    continue
                # the flagged positions' logits, contiguous in batch order (llama_get_logits)
                out = np.ctypeslib.as_array(llama_cpp.llama_get_logits(llm.ctx), shape=(len(pos) * n_vocab,))
                rows = out.reshape(len(pos), n_vocab).astype(np.float64)
                targets = np.asarray([labels[p + 1] for p in pos])
                top = rows.max(axis=1)
                lse = top + np.log(np.exp(rows - top[:, None]).sum(axis=1))
                total_nll += float((lse - rows[np.arange(len(pos)), targets]).sum())
                total += len(pos)
    finally:
        llama_cpp.llama_batch_free(batch)
    return total_nll, total


def gguf_greedy(llama_cpp: Any, llm: Any, prompt: list[int], max_new_tokens: int) -> list[int]:
    """Greedy tokens after `prompt`, up to the GGUF's first end-of-generation or control token."""
    vocab = llm._model.vocab
    is_eog = getattr(llama_cpp, "llama_vocab_is_eog", None)
    is_control = getattr(llama_cpp, "llama_vocab_is_control", None)
    out: list[int] = []
    if max_new_tokens <= 0:
        return out
    for tok in llm.generate(prompt, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0, reset=True):
        tok = int(tok)
        if tok == llm.token_eos() or (is_eog and is_eog(vocab, tok)) or (is_control and is_control(vocab, tok)):
            break
        out.append(tok)
        if len(out) >= max_new_tokens:
            break
    return out
