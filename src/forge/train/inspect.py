"""One example as training sees it (`forge inspect`, the web UI's Inspect section).

The example goes through the very functions training uses: the split's loader (forge.data), the
chat template installed as the backend installs it, and forge.train.dataset.tokenize_conversations
with the processor's image facts, so the ids and labels shown are the ids and labels trained (a
test holds them to the training collator's). Torch-free: only the tokenizer loads (offline).

The view is a list of segments: runs of tokens that are all trained, all untrained, or one
image's tokens (collapsed to a count); special tokens are named. The counts are of the truncated
example; `full_tokens` is the length before truncation, and `cut_at` where it was cut.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from forge.chat_images import images_of
from forge.errors import EXIT_USAGE, ForgeError
from forge.project import Project

IGNORE = -100
SPLITS = ("train", "val")


@dataclass
class Segment:
    kind: str  # trained | untrained | image
    text: str  # decoded text (an image: "<image: N tokens>")
    tokens: int
    start: int  # index of its first token


@dataclass
class InspectView:
    split: str
    example: int  # 1-based, in the split's usable conversations
    examples: int  # how many the split holds
    where: str  # file:line
    model: str
    template: str
    max_seq_length: int
    input_ids: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    token_type_ids: list[int] | None = None
    tokens: list[str] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    trained: int = 0
    untrained: int = 0  # untrained tokens that are not an image's
    image_tokens: int = 0  # every token of the image blocks (boi, soft tokens, eoi): never trained
    tokens_per_image: int | None = None
    images: list[str] = field(default_factory=list)  # project-relative paths (or "data:..." URIs)
    full_tokens: int = 0  # before truncation
    cut_at: int | None = None  # the token truncation cuts at; None when it fits
    dropped: str | None = None  # why training drops this example (no trained token left)
    specials: list[str] = field(default_factory=list)  # the special tokens it holds (named in the view)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def inspect_example(project: Project, cfg: Any, split: str = "train", example: int = 1) -> InspectView:
    """The view of conversation `example` (1-based) of `split`; ForgeError (exit 2) for bad input."""
    from forge.data import DataError, load_split
    from forge.data.bound import char_bound
    from forge.models.facts import read_facts
    from forge.plan.measure import offline_tokenizer
    from forge.train.dataset import tokenize_conversations

    if split not in SPLITS:
        raise ForgeError(f"unknown split {split!r}", "use --split train or --split val", exit_code=EXIT_USAGE)
    rel = cfg.dataset.path if split == "train" else cfg.dataset.val_path
    if not rel:
        raise ForgeError("dataset.val_path is null: there is no val split", "use --split train", exit_code=EXIT_USAGE)
    path = project.path(rel)
    if not path.is_file():
        raise ForgeError(f"{rel} not found", "run the format step (or forge init --example)", exit_code=EXIT_USAGE)
    max_len = cfg.model.max_seq_length
    try:
        convs, _ = load_split(path, max_chars=char_bound(max_len), display=rel)
    except DataError as e:
        raise ForgeError(e.message, e.fix or "fix the lines named", exit_code=EXIT_USAGE, kind="data") from None
    if not 1 <= example <= len(convs):
        raise ForgeError(
            f"{rel} holds {len(convs)} conversation(s); there is no example {example}",
            f"use --example 1 to {len(convs)}",
            exit_code=EXIT_USAGE,
        )
    facts = read_facts(cfg.model.name)
    if not facts.folder:
        raise ForgeError(f"{cfg.model.name} is not on disk: {facts.problem}", "download it first", exit_code=EXIT_USAGE)
    tokenizer = offline_tokenizer(facts.folder)
    template = _install_template(cfg, tokenizer)
    one = [convs[example - 1]]
    images = _image_facts(cfg, one)
    where = convs.where(example - 1)
    kept, report = tokenize_conversations(one, tokenizer, max_len, images=images, where=lambda i: where)
    full, _ = tokenize_conversations(one, tokenizer, 1 << 30, images=images, where=lambda i: where)
    view = InspectView(split, example, len(convs), where, cfg.model.name, template, max_len)
    view.tokens_per_image = images.tokens_per_image if images else None
    view.images = [_shown(project, r) for r in images_of(one[0])]
    if full:
        view.full_tokens = len(full[0]["input_ids"])
    if not kept:
        view.dropped = report.reason() if report.reasons else "no trained token"
        if report.first_error:
            view.dropped = report.first_error
        return view
    ex = kept[0]
    view.input_ids, view.labels = list(ex["input_ids"]), list(ex["labels"])
    view.token_type_ids = list(ex["token_type_ids"]) if "token_type_ids" in ex else None
    view.cut_at = len(view.input_ids) if view.full_tokens > len(view.input_ids) else None
    view.tokens = tokenizer.convert_ids_to_tokens(view.input_ids)
    decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    special = set(tokenizer.all_special_ids) | {i for i, t in decoder.items() if getattr(t, "special", False)}
    view.specials = sorted({view.tokens[k] for k, i in enumerate(view.input_ids) if i in special})
    image_ids = _image_ids(images, tokenizer)
    view.segments = _segments(view, tokenizer, image_ids)
    view.image_tokens = sum(1 for i in view.input_ids if i in image_ids)
    view.trained = sum(1 for lab in view.labels if lab != IGNORE)
    view.untrained = len(view.input_ids) - view.trained - view.image_tokens
    return view


def _install_template(cfg: Any, tokenizer: Any) -> str:
    from forge.models.templates import apply_chat_template, template_for

    template = template_for(cfg.dataset.chat_template, tokenizer)
    apply_chat_template(tokenizer, template)  # as the backends install it before tokenizing
    return template.name


def _image_facts(cfg: Any, convs: list):
    if not any(images_of(m) for m in convs):
        return None
    from forge.models.facts import model_folder
    from forge.models.image_facts import from_folder

    facts, why = from_folder(model_folder(cfg.model.name)[0])
    if facts is None:
        raise ForgeError(f"this example holds images, and {why}", "use a vision-language model", exit_code=EXIT_USAGE)
    return facts


def _image_ids(images: Any, tokenizer: Any) -> set[int]:
    if images is None:
        return set()
    from forge.train.image_tokens import ImageIds

    return ImageIds(images, tokenizer).all


def _shown(project: Project, ref: str) -> str:
    if ref.startswith("data:"):
        return ref[:40] + "..."
    try:
        from pathlib import Path

        return str(Path(ref).relative_to(project.root))
    except ValueError:
        return ref


def _segments(view: InspectView, tokenizer: Any, image_ids: set[int]) -> list[Segment]:
    ids, labels = view.input_ids, view.labels
    out: list[Segment] = []
    k = 0
    while k < len(ids):
        if ids[k] in image_ids:
            j = k
            while j < len(ids) and ids[j] in image_ids:
                j += 1
            out.append(Segment("image", f"<image: {j - k} tokens>", j - k, k))
            k = j
            continue
        trained = labels[k] != IGNORE
        j = k
        while j < len(ids) and ids[j] not in image_ids and (labels[j] != IGNORE) == trained:
            j += 1
        text = tokenizer.decode(ids[k:j], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        out.append(Segment("trained" if trained else "untrained", text, j - k, k))
        k = j
    return out
