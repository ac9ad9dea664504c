"""One answer about one picture, llama.cpp vs the merged model (llama_cpp imported inside functions).

For a vision-language export with a GGUF and its mmproj, llama.cpp loads both through
llama-cpp-python's mtmd bindings (`llama_cpp.mtmd_cpp`, the library MTMDChatHandler uses) and
answers the question of forge.export.image_reference about its picture, greedy, from the prompt the
merged folder's processor renders (the GGUF carries the same chat template: "GGUF metadata"). It
passes when:
- llama.cpp's prompt is the processor's: the same text token ids around the image, and as many
  image positions as the processor's placeholder tokens;
- top-1 agreement at decisive positions (after the image, through the merged model's answer,
  teacher-forced) meets the type's bound, as in the text check (forge.export.verify NEAR_TIE,
  TOP1_MIN, KQUANT_*);
- llama.cpp's logits follow this picture: their RMS distance from the merged model's for this picture
  is at most SEPARATION of their distance from the merged model's for another picture. A random
  or fine-tuned model alike moves its logits when the picture changes; a wrong projector, or a
  picture llama.cpp decoded differently, lands as far from both.

It is skipped, with the reason and never as passed (`ok: null`, `status: "skipped"`), where
llama-cpp-python cannot run the projector: no llama-cpp-python, no mtmd library in it (a build
with LLAVA_BUILD=OFF), a missing symbol, or a projector type its llama.cpp does not know.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

from forge.export.verify import KQUANT_NEAR_TIE, KQUANT_TOP1_MIN, NEAR_TIE, TOP1_MIN, check

NAME = "llama.cpp image answer vs merged model"
# llama.cpp's logits vs the merged model's (RMS over the vocabulary, mean over positions): at most
# this share of their distance from the merged model's logits for another picture. The tiny VLM
# gives 0.04 at Q8_0 and 1.0 for a perturbed projector.
SEPARATION = {"f32": 0.25, "f16": 0.25, "bf16": 0.25, "q8_0": 0.5}
KQUANT_SEPARATION = 0.75
_SHOWN = 60  # characters of each answer in the detail
_logs: list[str] = []


@ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
def _collect(level: int, text: bytes, user_data: Any) -> None:
    # mtmd and clip log to stderr line by line; kept here (the export prints its own progress), the
    # last ones name why a projector did not load
    _logs.append((text or b"").decode("utf-8", "replace"))
    del _logs[:-50]


def skipped(reason: str) -> dict[str, Any]:
    return {"name": NAME, "ok": None, "status": "skipped", "detail": reason}  # "not checked" (check.export_report)


def load_mtmd() -> Any:
    """llama-cpp-python's mtmd bindings: raises ImportError, OSError or AttributeError where its
    library was not built, cannot load, or lacks a symbol."""
    import llama_cpp.mtmd_cpp as mtmd

    mtmd.mtmd_log_set(_collect, None)
    mtmd.mtmd_helper_log_set(_collect, None)
    return mtmd


def image_answer_check(gguf_path: Path, mmproj_path: Path, gguf_type: str, ref: Any) -> dict[str, Any]:
    """The named check for one GGUF type, or skipped(reason) where mtmd cannot run the projector."""
    try:
        import llama_cpp
    except Exception as e:
        return skipped(f"llama-cpp-python is not installed ({type(e).__name__})")
    try:
        mtmd = load_mtmd()
    except (ImportError, OSError, AttributeError) as e:
        return skipped(f"llama-cpp-python's mtmd library cannot load ({type(e).__name__}: {e})")
    llm = llama_cpp.Llama(
        model_path=str(gguf_path),
        n_ctx=max(64, len(ref.ids) + len(ref.answer) + 8),
        logits_all=True,
        verbose=False,
        seed=0,
        n_threads=2,
    )
    params = mtmd.mtmd_context_params_default()
    params.use_gpu, params.n_threads, params.print_timings, params.warmup = False, 2, False, False
    _logs.clear()
    ctx = mtmd.mtmd_init_from_file(str(mmproj_path).encode(), llm.model, params)
    if not ctx:
        why = " ".join(line.strip() for line in _logs if "rror" in line or "unknown" in line)[-300:]
        del llm
        if "unknown projector type" in why:
            return skipped(f"this llama.cpp does not know the projector: {why}")
        return check(NAME, False, f"llama.cpp cannot load {mmproj_path.name}: {why or 'mtmd_init_from_file failed'}")
    try:
        return _compare(llm, mtmd, ctx, gguf_type, ref)
    except RuntimeError as e:  # mtmd could not decode the picture, tokenize or evaluate the prompt
        return check(NAME, False, str(e))
    finally:
        mtmd.mtmd_free(ctx)
        del llm


def _compare(llm: Any, mtmd: Any, ctx: Any, gguf_type: str, ref: Any) -> dict[str, Any]:
    import numpy as np

    layout, image_at = _eval_prompt(llm, mtmd, ctx, ref)
    # mtmd writes the image's begin/end markers as text and one position per image embedding
    got = [-1 if t is None else t for t in layout]
    want = [-1 if t == ref.image_token_id else t for t in ref.ids]
    if got != want:
        first = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
        return check(
            NAME,
            False,
            f"llama.cpp's prompt differs from the processor's: {len(got)} positions ({got.count(-1)} image) vs "
            f"{len(want)} ({ref.image_tokens} image), first at position {first} "
            f"(llama.cpp {got[first : first + 3]}, processor {want[first : first + 3]}; -1: image)",
            prompt_tokens={"llama_cpp": len(got), "merged": len(want)},
        )
    n_prompt = len(ref.ids)
    answer = _greedy(llm, ref)
    same = 0
    while same < min(len(answer), len(ref.answer)) and answer[same] == ref.answer[same]:
        same += 1
    llm.n_tokens = n_prompt + same  # teacher-force the merged model's answer from where they part
    if ref.answer[same:]:
        llm.eval(ref.answer[same:])
    scores = np.asarray(llm.scores[: n_prompt + len(ref.answer)], dtype=np.float32)
    hf, other = ref.logits.numpy(), ref.other_logits.numpy()
    positions = range(image_at, n_prompt + len(ref.answer) - 1)  # after the image: its logits see it
    margin = NEAR_TIE.get(gguf_type, KQUANT_NEAR_TIE)
    decisive = agree = 0
    first_miss = None
    for pos in positions:
        top2 = np.sort(hf[pos])[-2:]
        if top2[1] - top2[0] >= margin:
            decisive += 1
            hit = int(scores[pos].argmax()) == int(hf[pos].argmax())
            agree += hit
            if not hit and first_miss is None:
                k = pos - n_prompt + 1
                first_miss = f"answer token {k}" if k >= 0 else f"prompt position {pos}, after the image"
    idx = list(positions)
    d_same, d_other, effect = _rms(scores[idx], hf[idx]), _rms(scores[idx], other[idx]), _rms(hf[idx], other[idx])
    ratio = d_same / d_other if d_other > 0 else float("inf")
    rate = agree / decisive if decisive else 1.0
    need = TOP1_MIN.get(gguf_type, 1.0) if gguf_type in NEAR_TIE else KQUANT_TOP1_MIN
    bound = SEPARATION.get(gguf_type, KQUANT_SEPARATION)
    problems = []
    if rate < need:
        problems.append(f"top-1 disagrees at decisive positions ({first_miss})")
    if effect <= 1e-6:
        problems.append(
            "the merged model's logits do not change with the picture (a projector of zeros?): there is no "
            "image path to compare llama.cpp's with"
        )
    elif not ratio <= bound:
        problems.append(
            "llama.cpp's logits do not follow the merged model's for this picture more closely than for "
            "another: the projector, or the image it decoded, is not the merged model's"
        )
    text = llm.detokenize(answer, special=True).decode("utf-8", "replace")
    detail = (
        f"llama.cpp: {_short(text)!r}; merged: {_short(ref.answer_text)!r}; {same}/{len(ref.answer)} answer "
        f"tokens identical; top-1 {rate:.0%} of {decisive} decisive positions (margin ≥ {margin:g}); "
        f"logit RMS to this picture's {d_same:.3g}, to another picture's {d_other:.3g} "
        f"(ratio {ratio:.2f} {'≤' if ratio <= bound else '>'} {bound:g})"
    )
    return check(
        NAME,
        not problems,
        "; ".join(problems) + "; " + detail if problems else detail,
        answers={"llama_cpp": _short(text, 200), "merged": _short(ref.answer_text, 200)},
        identical_answer_tokens=same,
        answer_tokens=len(ref.answer),
        image_tokens=ref.image_tokens,
        decisive_positions=decisive,
        decisive_top1_agreement=rate,
        logit_rms={"this_picture": d_same, "other_picture": d_other, "merged_picture_effect": effect},
        tolerance={"near_tie_margin": margin, "decisive_top1_agreement_min": need, "separation_max": bound},
    )


def _eval_prompt(llm: Any, mtmd: Any, ctx: Any, ref: Any) -> tuple[list[int | None], int]:
    """Tokenize the prompt and the picture with mtmd and evaluate them; (the layout: text ids, None
    at each image position; the first position after the image)."""
    import llama_cpp

    from forge.export.image_reference import picture

    png = picture()
    bitmap = mtmd.mtmd_helper_bitmap_init_from_buf(
        ctx, (ctypes.c_uint8 * len(png)).from_buffer_copy(png), len(png), False
    )
    if not bitmap:
        raise RuntimeError("llama.cpp could not decode the picture")
    chunks = mtmd.mtmd_input_chunks_init()
    try:
        text = mtmd.mtmd_input_text()
        raw = (ref.text_before + mtmd.mtmd_default_marker().decode() + ref.text_after).encode("utf-8")
        text.text, text.text_len, text.add_special, text.parse_special = raw, len(raw), False, True
        rc = mtmd.mtmd_tokenize(ctx, chunks, ctypes.byref(text), (mtmd.mtmd_bitmap_p_ctypes * 1)(bitmap), 1)
        if rc != 0:
            raise RuntimeError(f"mtmd_tokenize failed (code {rc})")
        llm.reset()
        layout: list[int | None] = []
        image_at = 0
        for i in range(mtmd.mtmd_input_chunks_size(chunks)):
            chunk = mtmd.mtmd_input_chunks_get(chunks, i)
            if mtmd.mtmd_input_chunk_get_type(chunk) == mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
                n = ctypes.c_size_t()
                ptr = mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n))
                toks = [int(ptr[j]) for j in range(n.value)]
                layout += toks
                llm.eval(toks)
                continue
            n_tokens = mtmd.mtmd_input_chunk_get_n_tokens(chunk)
            new_past = llama_cpp.llama_pos(0)
            rc = mtmd.mtmd_helper_eval_chunk_single(
                ctx, llm._ctx.ctx, chunk, llm.n_tokens, 0, llm.n_batch, False, ctypes.byref(new_past)
            )
            if rc != 0:
                raise RuntimeError(f"llama.cpp could not evaluate the image (code {rc})")
            layout += [None] * n_tokens
            llm.n_tokens = new_past.value
            image_at = len(layout)
        return layout, image_at
    finally:
        mtmd.mtmd_input_chunks_free(chunks)
        mtmd.mtmd_bitmap_free(bitmap)


def _greedy(llm: Any, ref: Any) -> list[int]:
    """llama.cpp's own greedy answer (the argmax of its logits), as long as the merged model's at most,
    ending at the first end-of-turn id as the merged model's generate does."""
    import numpy as np

    out: list[int] = []
    while len(out) < len(ref.answer):
        tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(tok)
        if tok in ref.eos_ids:
            break
        llm.eval([tok])
    return out


def _rms(a: Any, b: Any) -> float:
    """RMS difference over the vocabulary, averaged over positions."""
    import numpy as np

    return float(np.sqrt(((a - b) ** 2).mean(-1)).mean())


def _short(text: str, n: int = _SHOWN) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
