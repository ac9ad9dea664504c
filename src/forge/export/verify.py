"""What an export proves before it keeps its files (torch and llama.cpp imported inside functions).

Each check is a dict: name, ok, detail, the measured numbers and the tolerance it was held to.
- Merge: logits of the merged model vs base + adapter (unmerged), teacher-forced over a few val
  prompts: the in-memory float32 merge, and the saved 16-bit model loaded back by
  AutoModelForCausalLM.
- GGUF metadata: read back with gguf.GGUFReader: chat template, EOS / end-of-turn ids, stop tokens.
- GGUF tensors: weights the converter copies unchanged (embeddings, v/o projections, MLP; the
  first, middle and last layers),
  dequantised and compared with the merged model's (relative RMS error per type).
- llama.cpp (when llama-cpp-python is installed): the prompt tokenizes to the same ids as with the
  HF tokenizer; greedy continuations and teacher-forced top-1 agreement vs the merged model.
  Positions where the merged model's top-2 logits are closer than a type's noise margin are
  "near ties": a different pick there is rounding, not a broken file, so they are counted apart.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

GREEDY_CHECK = "llama.cpp greedy decoding vs merged model"  # export --evaluate defers it for k-quants

# Merge in float32: only summation order differs from base + adapter.
MERGE_ATOL = 1e-3
# Saved 16-bit model vs base + adapter (float32): one rounding of every weight to 16 bits.
SAVED_RTOL = {"bfloat16": 0.05, "float16": 0.01}  # of the reference logits' max |value|
SAVED_TOP1_MIN = 0.9
# GGUF tensors vs merged weights: relative RMS error ||gguf - merged|| / ||merged||. Rounding alone
# gives ~0.006 for Q8_0 and ~0.05 for Q4_K on real weights (gemma-3-270m: 0.007 at Q8_0); a wrong or
# misplaced tensor gives ~1.
TENSOR_RRMSE = {
    "f32": 1e-6,
    "f16": 1e-3,
    "bf16": 1e-6,
    "q8_0": 2e-2,
    "q6_k": 5e-2,
    "q5_k_m": 8e-2,
    "q5_k_s": 8e-2,
    "q4_k_m": 0.15,
    "q4_k_s": 0.15,
    "q3_k_m": 0.25,
    "q2_k": 0.4,
}
# llama.cpp vs merged model: logit margin under which a top-1 difference is a near tie, and the
# share of decisive positions that must agree (1.0: every one)
NEAR_TIE = {"f32": 1e-3, "f16": 0.02, "bf16": 0.02, "q8_0": 0.05}
KQUANT_NEAR_TIE = 0.1
KQUANT_TOP1_MIN = 0.8
# Q8_0 rounds every weight, so a real model's logits move by a few hundredths to tenths: the real
# Gemma 3 270M of the demo flipped 1 of 48 decisive positions (margin 0.05) on regenerated data
# while its val loss held. One flip in twenty stays a pass; a wrong tensor flips far more.
TOP1_MIN = {"q8_0": 0.95}
CONTINUATION_TOKENS = 16
_COPIED = re.compile(r"(embed_tokens|self_attn\.(v_proj|o_proj)|mlp\.(gate_proj|up_proj|down_proj))\.weight$")
_COPIED_VISION = re.compile(r"(self_attn\.(v_proj|out_proj)|mlp\.(fc1|fc2))\.weight$")


def check(name: str, ok: bool, detail: str, **numbers: Any) -> dict[str, Any]:
    return {"name": name, "ok": bool(ok), "detail": detail, **numbers}


# --- prompts and HF reference -------------------------------------------------------------------


def prompt_ids(tokenizer, conversations: list[list[dict]], chat_template: str, n: int = 3) -> list[list[int]]:
    """Token ids of the first `n` val conversations up to their first assistant turn, templated."""
    from forge.models.renderer import Renderer

    prompts: list[list[int]] = []
    for conv in conversations:
        head = []
        for m in conv:
            if m.get("role") == "assistant":
                break
            head.append({"role": m["role"], "content": m["content"]})
        if not any(m["role"] == "user" for m in head):
            continue
        # as training renders it: a system turn folded into the user's where the template has no system role
        text = Renderer(chat_template, tokenizer).render(head, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        prompts.append(ids[-256:])
        if len(prompts) >= n:
            break
    return prompts


def logits(model, prompts: list[list[int]]) -> list[Any]:
    """float32 logits at every position of each prompt."""
    import torch

    out = []
    device = next(model.parameters()).device
    with torch.no_grad():
        for ids in prompts:
            x = torch.tensor([ids], device=device)
            out.append(model(input_ids=x).logits[0].float().cpu())
    return out


def greedy(model, prompts: list[list[int]], eos_ids: list[int], n_new: int = CONTINUATION_TOKENS) -> list[list[int]]:
    import torch

    from forge.models.greedy import greedy_args

    device = next(model.parameters()).device
    outs = []
    with torch.no_grad():
        for ids in prompts:
            x = torch.tensor([ids], device=device)
            y = model.generate(
                input_ids=x,
                attention_mask=torch.ones_like(x),
                **greedy_args(n_new, eos_ids[0], eos_ids),
            )
            outs.append(y[0, len(ids) :].tolist())
    return outs


def compare_logits(
    name: str,
    ref: list[Any],
    got: list[Any],
    *,
    atol: float | None = None,
    rtol: float | None = None,
    top1_min: float = 1.0,
    tolerance_text: str = "",
) -> dict[str, Any]:
    import torch

    max_abs = 0.0
    scale = 0.0
    agree = total = 0
    finite = True
    for r, g in zip(ref, got, strict=False):
        finite = finite and bool(torch.isfinite(r).all() and torch.isfinite(g).all())
        max_abs = max(max_abs, float((r - g).abs().max()))
        scale = max(scale, float(r.abs().max()))
        agree += int((r.argmax(-1) == g.argmax(-1)).sum())
        total += r.shape[0]
    bound = (atol or 0.0) + (rtol or 0.0) * scale
    rate = agree / total if total else 0.0
    ok = finite and max_abs <= bound and rate >= top1_min
    if not finite:
        detail = "logits hold NaN or infinite values"
    elif max_abs > bound:
        detail = f"max |Δlogit| {max_abs:.3g} exceeds the tolerance {bound:.3g}"
    elif rate < top1_min:
        detail = f"top-1 agreement {rate:.1%} is below {top1_min:.0%}"
    else:
        detail = f"max |Δlogit| {max_abs:.3g} ≤ {bound:.3g}; top-1 agreement {rate:.1%} over {total} positions"
    return check(
        name,
        ok,
        detail,
        max_abs_diff=max_abs,
        logit_scale=scale,
        top1_agreement=rate,
        positions=total,
        tolerance={"max_abs_diff": bound, "top1_agreement_min": top1_min, "rule": tolerance_text},
    )


def adapter_effect(base_logits: list[Any], ref_logits: list[Any]) -> dict[str, Any]:
    diff = max(float((a - b).abs().max()) for a, b in zip(base_logits, ref_logits, strict=False))
    ok = diff > 0
    return check(
        "adapter changes the model",
        ok,
        f"max |Δlogit| base vs base+adapter: {diff:.3g}"
        if ok
        else "base and base+adapter give identical logits: the adapter is empty (all LoRA B weights zero) or was not applied",
        max_abs_diff=diff,
    )


# --- GGUF -----------------------------------------------------------------------------------------


def gguf_metadata_check(
    meta: dict[str, Any],
    *,
    chat_template: str,
    eos_id: int | None,
    eot_id: int | None,
    stop_strings: list[str],
    vocab: dict[str, int],
) -> dict[str, Any]:
    problems = []
    got_template = meta.get("tokenizer.chat_template")
    if got_template != chat_template:
        problems.append(
            "tokenizer.chat_template differs from the template trained with"
            if got_template
            else "tokenizer.chat_template is missing"
        )
    if eos_id is not None and meta.get("tokenizer.ggml.eos_token_id") != eos_id:
        problems.append(f"eos_token_id is {meta.get('tokenizer.ggml.eos_token_id')}, expected {eos_id}")
    if eot_id is not None and eot_id != eos_id and meta.get("tokenizer.ggml.eot_token_id") != eot_id:
        problems.append(f"eot_token_id is {meta.get('tokenizer.ggml.eot_token_id')}, expected {eot_id}")
    tokens = meta.get("tokenizer.ggml.tokens") or []
    for s in stop_strings:
        tid = vocab.get(s)
        if tid is not None and (tid >= len(tokens) or tokens[tid] != s):
            problems.append(f"stop token {s!r} (id {tid}) is not at the same id in the GGUF vocabulary")
    if tokens and len(tokens) < len(vocab):
        problems.append(f"the GGUF vocabulary has {len(tokens)} tokens, the tokenizer {len(vocab)}")
    return check(
        "GGUF metadata",
        not problems,
        "; ".join(problems)
        or f"chat template, eos {eos_id}, end-of-turn {eot_id} and stop tokens {', '.join(stop_strings)} read back",
        eos_token_id=meta.get("tokenizer.ggml.eos_token_id"),
        eot_token_id=meta.get("tokenizer.ggml.eot_token_id"),
        chat_template_matches=got_template == chat_template,
        architecture=meta.get("general.architecture"),
    )


def gguf_tensor_check(
    path: Path, merged_dir: Path, gguf_type: str, *, mmproj: bool = False, reader: Any = None
) -> dict[str, Any]:
    """Tensors the converter copies unchanged, GGUF vs merged safetensors, paired by the converter's
    own naming (its class's filter_tensors and gguf's tensor map), whatever the checkpoint layout.
    reader: the file's forge.export.gguf.open_gguf, when the caller has one open already."""
    import numpy as np
    from safetensors import safe_open

    from forge.export.gguf import gguf_names, read_tensors

    copied = _COPIED_VISION if mmproj else _COPIED
    keys: dict[str, Path] = {}
    for file in sorted(merged_dir.glob("*.safetensors")):
        with safe_open(str(file), "pt") as f:
            keys.update({k: file for k in f.keys() if copied.search(k)})
    names = gguf_names(merged_dir, _sampled(list(keys)), mmproj=mmproj)
    pairs = {gname: (keys[hf], hf) for hf, gname in names.items()}
    got = read_tensors(path, list(pairs), reader=reader)
    worst, worst_name = 0.0, None
    for gname, arr in got.items():
        file, key = pairs[gname]
        with safe_open(str(file), "pt") as f:
            ref = f.get_tensor(key).float().numpy()
        if arr.shape != ref.shape:
            if arr.size == ref.size:
                arr = arr.reshape(ref.shape)
            else:
                return check(
                    "GGUF tensors vs merged weights", False, f"{gname}: shape {arr.shape} vs merged {ref.shape}"
                )
        err = float(np.linalg.norm(arr - ref) / max(np.linalg.norm(ref), 1e-12))
        if not np.isfinite(err) or err > worst or worst_name is None:
            worst, worst_name = err, gname
    tol = TENSOR_RRMSE.get(gguf_type, 0.4)
    ok = bool(got) and worst <= tol
    if ok:
        detail = f"{len(got)} tensors compared; worst relative RMS error {worst:.3g} ({worst_name}) ≤ {tol:g}"
    elif got:
        detail = f"worst relative RMS error {worst:.3g} in {worst_name} exceeds {tol:g}"
    else:
        detail = (
            f"no tensors compared: {len(keys)} merged tensors of the copied kinds, {len(names)} named by the "
            f"converter, {len(pairs)} looked up, none found in {path.name}"
        )
    return check(
        "GGUF tensors vs merged weights",
        ok,
        detail,
        tensors=len(got),
        worst_relative_rmse=worst,
        tolerance={"relative_rmse": tol},
    )


def _sampled(keys: list[str]) -> list[str]:
    """Tensors outside the layer stack, and those of the first, middle and last layers: a misplaced or
    misnamed tensor shows in any layer, and dequantising every layer of a 27B model would take minutes."""
    layer = re.compile(r"\.layers\.(\d+)\.")
    ids = sorted({int(m.group(1)) for k in keys if (m := layer.search(k))})
    keep = {ids[0], ids[len(ids) // 2], ids[-1]} if ids else set()
    return [k for k in keys if not (m := layer.search(k)) or int(m.group(1)) in keep]


def llama_cpp_check(
    path: Path,
    gguf_type: str,
    *,
    prompts: list[list[int]],
    prompt_texts: list[str],
    hf_continuations: list[list[int]],
    hf_logits: list[Any],
    eos_ids: list[int],
    stop_ids: list[int],
) -> list[dict[str, Any]]:
    """Load the GGUF in llama.cpp and compare tokenization and greedy decoding with the merged model."""
    import llama_cpp
    import numpy as np

    n_ctx = max(len(p) + len(c) for p, c in zip(prompts, hf_continuations, strict=False)) + 8
    llm = llama_cpp.Llama(
        model_path=str(path), n_ctx=max(64, n_ctx), logits_all=True, verbose=False, seed=0, n_threads=2
    )
    checks = []
    # tokenizer: the templated prompt text must give the HF ids
    mism = []
    for text, ids in zip(prompt_texts, prompts, strict=False):
        got = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        if got != ids:
            mism.append(f"{len(ids)} HF ids vs {len(got)} llama.cpp ids")
    checks.append(
        check(
            "llama.cpp tokenizer",
            not mism,
            "; ".join(mism) or f"{len(prompts)} templated prompts tokenize to the same ids",
        )
    )
    # end-of-generation: llama.cpp must stop at the template's end-of-turn token
    vocab = getattr(llm._model, "vocab", None)
    eog = {}
    if vocab is not None and hasattr(llama_cpp, "llama_vocab_is_eog"):
        eog = {t: bool(llama_cpp.llama_vocab_is_eog(vocab, t)) for t in stop_ids}
    missing = [t for t in eos_ids[:1] if eog and not eog.get(t, True)]
    checks.append(
        check(
            "llama.cpp stops at end of turn",
            not missing,
            f"end-of-turn token {missing[0]} is not an end-of-generation token in llama.cpp"
            if missing
            else f"end-of-generation in llama.cpp: {eog or 'not checked (API missing)'}",
            end_of_generation={str(k): v for k, v in eog.items()},
        )
    )
    # teacher-forced top-1 agreement and free-running greedy continuation
    margin = NEAR_TIE.get(gguf_type, KQUANT_NEAR_TIE)
    agree = decisive = decisive_agree = total = 0
    max_diff = 0.0
    exact = 0
    first_fail = None
    for k, (ids, cont, ref) in enumerate(zip(prompts, hf_continuations, hf_logits, strict=False)):
        seq = ids + cont
        llm.reset()
        llm.eval(seq)
        scores = np.asarray(llm.scores[: len(seq)], dtype=np.float32)
        ref_np = ref.numpy()
        max_diff = max(max_diff, float(np.abs(scores - ref_np).max()))
        for pos in range(len(ids) - 1, len(seq) - 1):
            top2 = np.sort(ref_np[pos])[-2:]
            is_decisive = bool((top2[1] - top2[0]) >= margin)
            hit = int(scores[pos].argmax()) == int(ref_np[pos].argmax())
            total += 1
            agree += int(hit)
            decisive += is_decisive
            decisive_agree += is_decisive and hit
            if is_decisive and not hit and first_fail is None:
                first_fail = f"prompt {k}, continuation token {pos - len(ids) + 1}"
        got = []
        for tok in llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0, reset=True):
            got.append(int(tok))
            if len(got) >= len(cont) or tok in eos_ids:
                break
        exact += got == cont
    rate = agree / total if total else 0.0
    drate = decisive_agree / decisive if decisive else 1.0
    need = TOP1_MIN.get(gguf_type, 1.0) if gguf_type in NEAR_TIE else KQUANT_TOP1_MIN
    ok = drate >= need
    detail = (
        f"greedy continuations identical for {exact}/{len(prompts)} prompts; top-1 agreement {rate:.1%} "
        f"({drate:.1%} of {decisive} decisive positions, margin ≥ {margin:g}); max |Δlogit| {max_diff:.3g}"
    )
    if not ok:
        detail = f"top-1 disagrees at decisive positions ({first_fail}); " + detail
    checks.append(
        check(
            GREEDY_CHECK,
            ok,
            detail,
            continuations_identical=exact,
            prompts=len(prompts),
            top1_agreement=rate,
            decisive_positions=decisive,
            decisive_top1_agreement=drate,
            max_abs_logit_diff=max_diff,
            tolerance={"near_tie_margin": margin, "decisive_top1_agreement_min": need},
        )
    )
    del llm
    return checks
