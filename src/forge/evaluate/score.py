"""Scoring a model on the val split: what `forge baseline` and `forge evaluate` measure.

Two kinds of score, on the same examples for every model:
- val loss: the mean cross-entropy per trained token, over the whole val split, with exactly the
  masking training uses (forge.train.dataset.tokenize_conversations: assistant turns only, the
  same chat template, the same max_seq_length), and its perplexity exp(loss). Token-weighted, so
  a long answer counts by its length, as it does in the training loss.
- generations: on a fixed, evenly spaced sample of the val split (evaluation.generation_samples),
  the prompt up to the last assistant turn is completed greedily (max_new_tokens) and compared
  with the reference answer: token F1 (SQuAD-style: lower-case, punctuation and articles removed,
  bag-of-words overlap) and exact match of the normalised texts.

The text helpers and the sample choice are pure; torch is imported inside the functions that
run a model.
"""

from __future__ import annotations

import math
import re
import string
import time
from collections import Counter
from typing import Any

from forge.chat_images import IMAGE_MARK
from forge.errors import EXIT_USAGE, ForgeError
from forge.progress_lines import report

LOSS_BATCH = 8
GEN_BATCH = 16

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


# --- pure helpers -------------------------------------------------------------------------------


def normalize_answer(text: str) -> str:
    text = text.lower().translate(_PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not pred and not ref:
        return 1.0
    if not pred or not ref:
        return 0.0
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def sample_indices(n: int, k: int) -> list[int]:
    """k indices spread evenly over range(n) (all of them when k >= n); deterministic."""
    if k <= 0 or n <= 0:
        return []
    if k >= n:
        return list(range(n))
    return sorted({(i * n) // k for i in range(k)})


def split_prompt(messages: list[dict]) -> tuple[list[dict], str] | None:
    """(messages before the last assistant turn, that turn's text); None without an assistant turn."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] == "assistant":
            return messages[:i], messages[i]["content"]
    return None


# --- model scoring (torch) ----------------------------------------------------------------------


def prepare_tokenizer(model: Any, tokenizer: Any, chat_template: str) -> str:
    """Install the config's chat template as training does; generation stops at the end of a turn.

    Returns the template's name (for the metrics file).
    """
    from forge.models.templates import apply_chat_template, template_for

    template = template_for(chat_template, tokenizer)
    stop_ids = apply_chat_template(tokenizer, template)
    if stop_ids:
        model.generation_config.eos_token_id = stop_ids
    if tokenizer.pad_token_id is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return template.name


def val_loss(model: Any, examples: list[dict], batch_size: int = LOSS_BATCH, image_processor: Any = None) -> dict:
    """Token-weighted mean cross-entropy over the trained (label != -100) tokens of `examples`
    (with their images' pixels where they hold images: forge.evaluate.score_images)."""
    import torch

    from forge.evaluate.score_images import batch_pixels

    device = next(model.parameters()).device
    order = sorted(range(len(examples)), key=lambda i: len(examples[i]["input_ids"]))  # less padding
    total_nll, total_tokens = 0.0, 0
    model.eval()
    with torch.inference_mode():
        for lo in range(0, len(order), batch_size):
            report(what="val loss", step=lo, total=len(order), unit="example")  # forge.progress_lines
            batch = [examples[i] for i in order[lo : lo + batch_size]]
            width = max(len(e["input_ids"]) for e in batch)
            ids = torch.zeros((len(batch), width), dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, e in enumerate(batch):
                n = len(e["input_ids"])
                ids[r, :n] = torch.tensor(e["input_ids"])
                labels[r, :n] = torch.tensor(e["labels"])
                mask[r, :n] = 1
            ids, labels, mask = ids.to(device), labels.to(device), mask.to(device)
            # only the positions that predict a trained token need logits (the vocabulary is large)
            hidden = _last_hidden(model, ids, mask, **batch_pixels(batch, image_processor, device))
            shift_labels = labels[:, 1:]
            keep = shift_labels != -100
            h = hidden[:, :-1][keep]
            logits = model.get_output_embeddings()(h).float()
            logits = _soft_cap(model, logits)
            nll = torch.nn.functional.cross_entropy(logits, shift_labels[keep], reduction="sum")
            total_nll += float(nll)
            total_tokens += int(keep.sum())
    loss = total_nll / total_tokens if total_tokens else float("nan")
    return {
        "val_loss": round(loss, 6),
        "perplexity": round(math.exp(loss), 4) if math.isfinite(loss) and loss < 50 else None,
        "val_tokens_scored": total_tokens,
    }


def _last_hidden(model: Any, ids: Any, mask: Any, **images: Any) -> Any:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if "pixel_values" in images:  # in the weights' dtype (a bf16 model on a GPU)
        dtype = next(p for p in base.parameters() if p.is_floating_point()).dtype
        images["pixel_values"] = images["pixel_values"].to(dtype)
    out = base.model(input_ids=ids, attention_mask=mask, **images)
    return out.last_hidden_state


def _soft_cap(model: Any, logits: Any) -> Any:
    cap = getattr(getattr(model, "config", None), "final_logit_softcapping", None)
    if cap:
        import torch

        logits = torch.tanh(logits / cap) * cap
    return logits


TEMPLATE_FIX = (
    "fix or drop that val conversation (the template's message says what it refuses), or set "
    "dataset.chat_template to the model's family (gemma-3, llama-3, chatml, mistral, phi-3)"
)


def template_refusal(where: str, error: str) -> ForgeError:
    """The chat template fails on a val conversation: exit 2, with its line, the message and the fix."""
    return ForgeError(
        f"{where}: the chat template fails on this val conversation ({error}); it cannot be scored",
        fix=TEMPLATE_FIX,
        exit_code=EXIT_USAGE,
        kind="template_mismatch",
    )


def prompt_texts(tokenizer: Any, prompts: list[list[dict]], where: list[str] | None = None) -> list[str]:
    """The prompts rendered as training renders them (forge.models.renderer.Renderer: tool and
    system turns mapped to the template's roles), each ending in the generation prompt; a template
    that still raises is a ForgeError naming the prompt's `where` (its val file:line)."""
    from forge.models.templates import renderer_for, template_error_text

    renderer = renderer_for(tokenizer, what="the val prompts")
    texts = []
    for k, p in enumerate(prompts):
        try:
            texts.append(renderer.render(p, add_generation_prompt=True))
        except Exception as e:
            raise template_refusal(where[k] if where else f"val prompt #{k + 1}", template_error_text(e)) from None
    return texts


def generate_answers(
    model: Any,
    tokenizer: Any,
    prompts: list[list[dict]],
    max_new_tokens: int,
    batch_size: int = GEN_BATCH,
    where: list[str] | None = None,
    images: Any = None,
    image_processor: Any = None,
) -> list[str]:
    """Greedy completions of chat prompts (left-padded batches), decoded without special tokens.
    `where`: each prompt's val file:line, for the error when the template fails on one."""
    import torch

    from forge.models.greedy import greedy_args

    device = next(model.parameters()).device
    texts = prompt_texts(tokenizer, prompts, where)
    stops = stop_token_ids(model, tokenizer)
    if images is not None:  # prompts with pictures are completed one by one, with their pixels
        from forge.chat_images import images_of
        from forge.evaluate.score_images import generate_one

        return [
            generate_one(model, tokenizer, t, images_of(p), images, image_processor, max_new_tokens, stops)
            if images_of(p)
            else generate_answers(model, tokenizer, [p], max_new_tokens, where=where and [where[k]])[0]
            for k, (t, p) in enumerate(zip(texts, prompts, strict=True))
        ]
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    answers: list[str] = []
    model.eval()
    try:
        with torch.inference_mode():
            for lo in range(0, len(texts), batch_size):
                report(what="generation", step=lo, total=len(texts), unit="answer")
                enc = tokenizer(
                    texts[lo : lo + batch_size], return_tensors="pt", padding=True, add_special_tokens=False
                )
                enc = {k: v.to(device) for k, v in enc.items()}
                out = model.generate(**enc, **greedy_args(max_new_tokens, tokenizer.pad_token_id, stops))
                new = out[:, enc["input_ids"].shape[1] :]
                answers += [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = old_side
    return answers


def stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """The end-of-turn ids, and every special (control) token: an answer ends where plain text ends.

    A briefly fine-tuned base model may close its turn with a neighbour of the end-of-turn token
    (Gemma 3 270M after 20 steps writes `<unused10>`, then `model` and a new turn); the answer it
    meant is the text before that token, which is what gets scored.
    """
    eos = model.generation_config.eos_token_id
    ids = list(eos) if isinstance(eos, (list, tuple)) else ([eos] if eos is not None else [])
    ids += list(getattr(tokenizer, "all_special_ids", []) or [])
    decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    ids += [i for i, tok in decoder.items() if getattr(tok, "special", False)]
    return sorted(set(int(i) for i in ids if i is not None))


def score_model(
    model: Any,
    tokenizer: Any,
    conversations: list[list[dict]],
    *,
    max_seq_length: int,
    generation_samples: int,
    max_new_tokens: int,
    images: Any = None,
    image_processor: Any = None,
) -> dict:
    """All scores of one model on the val conversations (the template is already installed);
    `images`, `image_processor`: the model's, where the conversations hold images."""
    return score_parts(
        tokenizer,
        conversations,
        loss=lambda examples: val_loss(model, examples, image_processor=image_processor),
        generate=lambda prompts, where: generate_answers(
            model,
            tokenizer,
            prompts,
            max_new_tokens,
            where=where,
            images=images,
            image_processor=image_processor,
        ),
        max_seq_length=max_seq_length,
        generation_samples=generation_samples,
        images=images,
    )


def score_parts(
    tokenizer: Any,
    conversations: list[list[dict]],
    *,
    loss: Any,
    generate: Any,
    max_seq_length: int,
    generation_samples: int,
    images: Any = None,
) -> dict:
    """The scores of any scorer: `loss(examples)` (examples tokenized with training's masking by
    `tokenizer`, whose template is installed) and `generate(prompts, where)` (greedy answers).
    The same examples and the same sample for every model: transformers and llama.cpp alike."""
    from forge.train.dataset import tokenize_conversations

    t0 = time.monotonic()
    examples, report = tokenize_conversations(conversations, tokenizer, max_seq_length, images=images)
    if report.template_errors:  # scored the same way whichever examples the generation sample picks
        where, _, error = (report.first_error or "val: ").partition(": ")
        raise template_refusal(where, error)
    scores: dict[str, Any] = {
        "examples": len(conversations),
        "examples_scored": len(examples),
        "examples_dropped": report.dropped,
        "examples_truncated": report.truncated,
    }
    scores.update(loss(examples))
    scores["val_tokens_total"] = sum(len(e["input_ids"]) for e in examples)
    t1 = time.monotonic()
    picked = generation_sample(conversations, generation_samples)
    samples: list[dict] = []
    if picked:
        where = getattr(conversations, "where", None)
        lines = [where(i) if where else f"val conversation #{i + 1}" for i, _, _ in picked]
        answers = generate([p for _, p, _ in picked], lines)
        for (i, prompt, ref), ans in zip(picked, answers, strict=True):
            samples.append(
                {
                    "index": i,
                    "prompt": prompt[-1]["content"].replace(IMAGE_MARK, "<image>"),
                    "reference": ref,
                    "generated": ans,
                    "token_f1": round(token_f1(ans, ref), 4),
                    "exact_match": exact_match(ans, ref),
                }
            )
        scores["token_f1"] = round(sum(s["token_f1"] for s in samples) / len(samples), 4)
        scores["exact_match"] = round(sum(s["exact_match"] for s in samples) / len(samples), 4)
    else:
        scores["token_f1"] = scores["exact_match"] = None
    scores["tool_calls"], scores["tool_call_samples"] = _tool_calls(
        conversations, picked, samples, generate, k=generation_samples
    )
    scores["generation_samples"] = len(samples)
    scores["seconds"] = {"loss": round(t1 - t0, 2), "generation": round(time.monotonic() - t1, 2)}
    scores["samples"] = samples
    return scores


def generation_sample(conversations: list[list[dict]], k: int) -> list[tuple[int, list[dict], str]]:
    """(index, prompt messages, reference answer) of the fixed generation sample: every scorer's."""
    picked = []
    for i in sample_indices(len(conversations), k):
        split = split_prompt(conversations[i])
        if split is not None and split[0]:
            picked.append((i, *split))
    return picked


def _tool_calls(conversations: Any, picked: list, samples: list[dict], generate: Any, *, k: int) -> tuple:
    """(tool-call scores or None, their samples): forge.evaluate.toolcalls, on the prompts up to each
    sampled conversation's last tool call; the F1 sample's answers reused where the prompts agree."""
    from forge.evaluate.toolcalls import tool_call_sample, tool_call_scores

    calls = tool_call_sample(conversations, sample_indices(len(conversations), k))
    if not calls:
        return None, []
    known = {(i, len(p)): s["generated"] for (i, p, _), s in zip(picked, samples, strict=True)}
    todo = [(i, p) for i, p, _ in calls if (i, len(p)) not in known]
    if todo:
        where = getattr(conversations, "where", None)
        lines = [where(i) if where else f"val conversation #{i + 1}" for i, _ in todo]
        for (i, p), answer in zip(todo, generate([p for _, p in todo], lines), strict=True):
            known[(i, len(p))] = answer
    out = [{"index": i, "reference": ref, "generated": known[(i, len(p))]} for i, p, ref in calls]
    return tool_call_scores(out), out
