"""DataStats from the project's splits, measured as training will see them.

Token lengths come from the templated examples and the model's real tokenizer where it loads
without a network (built-ins, local folders, the HF cache: tokenizer files only, no weights),
else from characters / 4 plus a few tokens a turn. With the tokenizer, each measured example also
gives the position of its first trained token (`prompt_lengths`), found the way training finds it
(forge.models.renderer.Renderer's assistant spans), so the resolver can refuse the runs that
training would refuse for truncation or a template that renders no assistant turn.

Huge records are cut to forge.data.bound.char_bound(max_seq_length) characters on the way in,
as training cuts them, so measuring never holds a 50 MB example in the tokenizer.

Nothing fails quietly here: a chat template that raises on an example (after the roles are mapped
to the template's, as training maps them) counts it in `template_errors`, and in `no_assistant`,
since training drops it, with the first one's file:line and message in `template_error`; a
tokenizer or template that fails the whole measurement leaves chars/4 estimates and says why in
`measure_error`. `measure_problem` turns both into the checklist's line with its fix.
"""

from __future__ import annotations

import os
from pathlib import Path

from forge.chat_images import images_of
from forge.config import ForgeConfig
from forge.models.facts import ModelFacts
from forge.plan.stats import DataStats

TOKENIZER_SAMPLE = 4000  # examples tokenized for the distribution (the rest scale with it)


def estimate_len(messages: list[dict]) -> int:
    return sum(len(m.get("content", "")) // 4 + 5 for m in messages) + 2


def offline_tokenizer(folder: str):
    """The tokenizer of a model folder, loaded with the hub off (planning never waits on a network)."""
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(folder)
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old


def stats_for(
    conversations: list[list[dict]],
    cfg: ForgeConfig,
    facts: ModelFacts | None,
    tokenizer=None,
    val_conversations: list | None = None,
    **counts,
) -> DataStats:
    """DataStats of the training conversations as training will see them (check, plan, train and
    bench all build theirs here); `counts`: val_examples, longest_chars, longest_line;
    `val_conversations`: their images are counted too."""
    fields = measure(conversations, cfg, facts, tokenizer)
    return DataStats(
        train_examples=len(conversations), **fields, **counts, **image_counts(conversations, val_conversations or [])
    )


def image_counts(*splits) -> dict:
    """images, image_where, max_images of the splits' conversations."""
    out = dict(images=0, image_where=None, max_images=0)
    for convs in splits:
        for i, messages in enumerate(convs):
            n = len(images_of(messages))
            if n:
                out["images"] += n
                out["max_images"] = max(out["max_images"], n)
                out["image_where"] = out["image_where"] or _where(convs, i)
    return out


def measure(conversations: list[list[dict]], cfg: ForgeConfig, facts: ModelFacts | None, tokenizer=None) -> dict:
    """DataStats' measured fields: lengths, prompt_lengths, no_assistant, measured, measured_with and
    the tokenizer's fit to the text (text_chars, text_tokens, unk_tokens)."""
    if not conversations:
        return dict(measured_with="none")
    if tokenizer is None and facts is not None and facts.folder:
        try:
            tokenizer = offline_tokenizer(facts.folder)
        except Exception:
            tokenizer = None
    if tokenizer is None:
        return _estimated(conversations, "chars/4 (tokenizer not available offline)")
    from forge.errors import ForgeError

    try:
        return _with_tokenizer(conversations, cfg, facts, tokenizer)
    except ForgeError as e:  # dataset.chat_template names no usable template: the resolver refuses it
        return _estimated(conversations, f"chars/4 ({e.kind or 'template'} problem)")
    except Exception as e:  # a template or tokenizer problem: said in the result, never swallowed
        from forge.models.jinja_render import template_error_text

        out = _estimated(conversations, f"chars/4 (tokenizer failed: {type(e).__name__})")
        out["measure_error"] = template_error_text(e)
        return out


def _estimated(conversations, how: str) -> dict:
    return dict(lengths=[estimate_len(m) for m in conversations], measured_with=how)


def _where(conversations, i: int) -> str:
    where = getattr(conversations, "where", None)  # forge.data.Conversations knows each one's file:line
    return where(i) if where else f"conversation #{i + 1}"


def _with_tokenizer(conversations, cfg, facts, tok):
    from forge.models.templates import Renderer, template_error_text, template_for

    template = template_for(cfg.dataset.chat_template, tok, model_type=facts.model_type if facts else None)
    renderer = Renderer(template.jinja, tok)
    step = max(1, len(conversations) // TOKENIZER_SAMPLE)
    picked = range(0, len(conversations), step)
    sample = [conversations[i] for i in picked]
    texts, starts = [], []
    no_assistant = errors = 0
    first_error = None
    images = _image_facts(facts, sample)
    for i, messages in zip(picked, sample, strict=True):
        try:
            text, spans = renderer.assistant_spans(messages)
            if images is not None and images_of(messages):  # the image's tokens, as the processor expands it
                text, spans = images.expand(text, spans)
        except Exception as e:  # training refuses this example: count it, name the first
            errors += 1
            first_error = first_error or f"{_where(conversations, i)}: {template_error_text(e)}"
            text, spans = "", []
        texts.append(text)
        starts.append(spans[0][0] if spans else None)
        no_assistant += not spans
    lengths, prompts = _token_counts(tok, texts, starts)
    for k, text in enumerate(texts):
        if not text:  # not rendered: the characters' estimate stands in for its length
            lengths[k] = estimate_len(sample[k])
    if step > 1:  # scale to the whole set, keeping the distribution
        lengths = [lengths[i % len(lengths)] for i in range(len(conversations))]
    name = facts.name if facts else cfg.model.name
    how = f"tokenizer of {name}" + (f" (1 in {step} sampled)" if step > 1 else "")
    return dict(
        lengths=lengths,
        prompt_lengths=prompts,
        no_assistant=no_assistant,
        measured=len(sample),
        measured_with=how,
        template_errors=errors,
        template_error=first_error,
        **_fit(tok, sample[:FIT_SAMPLE]),
    )


def measure_problem(stats: DataStats, cfg: ForgeConfig) -> tuple[str, str, str] | None:
    """(status, detail, fix) for the checklist's "tokenizer fits the data" where measuring with the
    model's tokenizer failed, or its chat template raised on examples; None where it went through.

    "fail" where training would not start (the tokenizer or template fails outright, or more
    examples than training.max_dropped_fraction would be refused); "warn" where training would
    refuse only those examples and train on the rest.
    """
    template = f"dataset.chat_template {cfg.dataset.chat_template!r}"
    family = "the model's family (gemma-3, llama-3, chatml, mistral, phi-3)"
    if stats.measure_error:
        return (
            "fail",
            f"the tokenizer and chat template of {cfg.model.name} fail on {cfg.dataset.path} "
            f"({stats.measure_error}); training would stop there",
            f"set dataset.chat_template to {family}, or check the model folder's tokenizer files",
        )
    if not stats.template_errors:
        return None
    n, measured = stats.template_errors, stats.measured or stats.template_errors
    allowed = cfg.training.max_dropped_fraction
    blocking = n >= measured or n / measured > allowed
    sampled = f" (of {measured} measured)" if measured < stats.train_examples else ""
    detail = (
        f"the chat template ({template}) raises on {n} of {measured} examples{sampled}: training refuses them; "
        f"first {stats.template_error}"
    )
    fix = (
        "fix or drop those conversations (the template's message says what it refuses), or set "
        f"dataset.chat_template to {family}"
    )
    if blocking:
        fix += f"; training.max_dropped_fraction (now {allowed}) allows fewer"
    return ("fail" if blocking else "warn", detail, fix)


def _unk_id(tok, backend) -> int | None:
    """The unknown token's id: the tokenizer's, else its model's (a tokenizer.json whose
    tokenizer_config.json names no unk_token still maps unknown words to it)."""
    unk = getattr(tok, "unk_token_id", None)
    if unk is None and backend is not None:
        name = getattr(backend.model, "unk_token", None)
        unk = backend.token_to_id(name) if isinstance(name, str) else None
    return unk


FIT_SAMPLE = 500  # conversations whose message text the fit check tokenizes


def _fit(tok, sample: list[list[dict]]) -> dict:
    """Characters, tokens and unknown tokens of the messages' own text, without the template (whose
    markers are long strings of one token each and would blur the ratio)."""
    contents = [m["content"] for msgs in sample for m in msgs if isinstance(m.get("content"), str) and m["content"]]
    if not contents:
        return {}
    ids = _ids(tok, contents)
    unk = _unk_id(tok, _fast_backend(tok))
    return dict(
        text_chars=sum(len(c) for c in contents),
        text_tokens=sum(len(x) for x in ids),
        unk_tokens=sum(x.count(unk) for x in ids) if unk is not None else 0,
    )


def _fast_backend(tok):
    """The `tokenizers` object of a fast tokenizer (batch encoding in Rust, char offsets), or None."""
    return getattr(tok, "backend_tokenizer", None) if getattr(tok, "is_fast", False) else None


def _ids(tok, texts: list[str]) -> list[list[int]]:
    backend = _fast_backend(tok)
    if backend is not None:
        return [e.ids for e in backend.encode_batch(texts, add_special_tokens=False)]
    return tok(texts, add_special_tokens=False)["input_ids"]


def _token_counts(tok, texts: list[str], starts: list[int | None]) -> tuple[list[int], list[int | None]]:
    backend = _fast_backend(tok)
    if backend is not None:
        encodings = backend.encode_batch(texts, add_special_tokens=False)
        prompts = [None if s is None else _token_at(e, s) for e, s in zip(encodings, starts, strict=True)]
        return [len(e.ids) for e in encodings], prompts
    lengths = [len(x) for x in _ids(tok, texts)]
    prompts = [
        None if s is None else len(tok(t[:s], add_special_tokens=False)["input_ids"])
        for t, s in zip(texts, starts, strict=True)
    ]
    return lengths, prompts


def _image_facts(facts: ModelFacts | None, sample):
    if facts is None or not any(images_of(m) for m in sample):
        return None
    from forge.models.image_facts import from_folder

    return from_folder(facts.folder)[0]  # None: the resolver refuses the images (forge.plan.images)


def _token_at(encoding, char: int) -> int:
    at = encoding.char_to_token(char)
    return at if at is not None else len(encoding.ids)


def gather_stats(project, cfg: ForgeConfig, facts: ModelFacts | None, tokenizer=None) -> DataStats:
    """DataStats of the project's train (and val) split; empty stats where a split is missing or bad
    (the data checks report those)."""
    from forge.data import DataError, load_split
    from forge.data.bound import char_bound

    bound = char_bound(cfg.model.max_seq_length)
    train_path = project.path(cfg.dataset.path)
    convs, report = [], None
    if Path(train_path).exists():
        try:
            convs, report = load_split(train_path, max_chars=bound, display=cfg.dataset.path)
        except DataError:
            convs = []
    val: list = []
    if cfg.dataset.val_path and project.path(cfg.dataset.val_path).exists():
        try:
            val = load_split(project.path(cfg.dataset.val_path), max_chars=bound, display=cfg.dataset.val_path)[0]
        except DataError:
            val = []
    n_val = len(val)
    return stats_for(
        convs,
        cfg,
        facts,
        tokenizer,
        val_conversations=val,
        val_examples=n_val,
        longest_chars=report.longest_chars if report else 0,
        longest_line=report.longest_line if report else None,
    )
