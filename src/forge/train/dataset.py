"""Conversations -> token ids with labels on the assistant turns only (torch-free apart from the tokenizer).

How the labels are found, for any chat template: `forge.models.renderer.Renderer.assistant_spans`
renders prefixes of the conversation and yields the character spans of every assistant turn
(content + end-of-turn marker). The whole conversation is then tokenized once, in batches, with
offset mapping, and a token is trained when its characters overlap a span. Tokenizing the full
text once (instead of each prefix) keeps the ids exactly those the model sees, whether or not the
tokenizer is prefix-consistent, and costs one fast batched call. Tokenizers without offsets
(slow, Python ones) tokenize span by span instead.

Nothing is silent: truncated examples are counted, and examples left with no trained token are
dropped and counted, with the reason, before any model step. A conversation the chat template
raises on (after forge.models.template_roles maps its roles to the template's) is refused and counted
with its file:line (when the conversations come from forge.data.load_split) and the template's
message.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from forge.chat_images import images_of
from forge.errors import EXIT_USAGE, ForgeError
from forge.models.image_facts import ImageFacts
from forge.models.templates import renderer_for, template_error_text
from forge.train.image_tokens import ImageIds

IGNORE = -100
BATCH = 512
KEEP_INDICES = 5


@dataclass
class DropReport:
    total: int = 0
    kept: int = 0
    truncated: int = 0
    dropped_no_trained_tokens: int = 0
    max_seq_length: int = 0
    total_tokens: int = 0  # of the kept examples, after truncation
    trained_tokens: int = 0
    image_tokens: int = 0  # the images' soft tokens, in the kept examples (never trained)
    # why examples were dropped: no_assistant_render | truncated_away | template_error
    reasons: dict[str, int] = field(default_factory=dict)
    dropped_indices: list[int] = field(default_factory=list)  # the first few, 0-based
    dropped_lines: list[str] = field(default_factory=list)  # ... where they are: "data/splits/train.jsonl:12"
    first_error: str | None = None  # "path:line: TemplateError: ..." of the first template error
    error_lines: list[str] = field(default_factory=list)  # the first few template errors, path:line: message
    min_first_trained_token: int | None = None  # earliest assistant start among truncated-away examples
    boundary_merges: int = 0  # assistant turns whose first token also holds prompt text
    roles_mapped: int = 0  # conversations whose tool/system turns were mapped to the template's roles
    role_mapping: str = ""  # how, in words (forge.models.template_roles.RoleSupport.mapping)

    @property
    def dropped(self) -> int:
        return self.dropped_no_trained_tokens

    @property
    def template_errors(self) -> int:
        return self.reasons.get("template_error", 0)

    def _drop(self, index: int, reason: str) -> None:
        self.dropped_no_trained_tokens += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        if len(self.dropped_indices) < KEEP_INDICES:
            self.dropped_indices.append(index)
            where = getattr(self, "_where", None)  # set by tokenize_conversations where lines are known
            if where is not None:
                self.dropped_lines.append(where(index))

    def _dropped_where(self) -> str:
        """The first dropped examples, by file:line where known (else by number), and "..." for more."""
        if len(self.dropped_lines) == len(self.dropped_indices) and self.dropped_lines:
            named = ", ".join(self.dropped_lines)
        else:
            named = "conversations #" + ", #".join(str(i + 1) for i in self.dropped_indices)
        return named + (", ..." if self.dropped > len(self.dropped_indices) else "")

    def summary(self) -> str:
        text = (
            f"{self.kept}/{self.total} examples kept, {self.total_tokens} tokens ({self.trained_tokens} trained); "
            f"{self.truncated} truncated at {self.max_seq_length} tokens"
        )
        if self.dropped:
            text += f"; {self.dropped} dropped with no trained token ({self.reason()}; {self._dropped_where()})"
        if self.boundary_merges:
            text += f"; {self.boundary_merges} assistant turns begin inside a token shared with the prompt"
        if self.roles_mapped:
            text += f"; in {self.roles_mapped} conversations {self.role_mapping}"
        return text

    def drop_line(self, split: str = "train") -> str | None:
        """One line for the console where examples were dropped (None where none were)."""
        if not self.dropped:
            return None
        kinds = ", ".join(f"{k} x{v}" for k, v in sorted(self.reasons.items()))
        text = f"{split} split: {self.dropped} of {self.total} examples dropped with no trained token ({kinds})"
        if self.first_error:
            text += f"; first: {self.first_error}"
        return text

    def reason(self) -> str:
        if not self.reasons:
            return "no examples" if not self.total else "none dropped"
        main = max(self.reasons, key=self.reasons.get)
        if main == "truncated_away":
            return f"every assistant turn starts after token {self.max_seq_length}: raise model.max_seq_length" + (
                f" (the earliest starts at token {self.min_first_trained_token})"
                if self.min_first_trained_token is not None
                else ""
            )
        if main == "template_error":
            return f"the chat template fails on {self.template_errors} conversation(s), first {self.first_error}"
        return "the chat template renders no assistant turns: dataset.chat_template does not match the model"

    def check(self, max_dropped_fraction: float) -> None:
        """Refuse (exit 2) when all examples, or more than the allowed share, keep no trained token."""
        if self.total == 0:
            raise ForgeError(
                "the training split holds no conversations", fix="check dataset.path", exit_code=EXIT_USAGE, kind="data"
            )
        if self.kept and self.dropped / self.total <= max_dropped_fraction:
            return
        share = "all" if not self.kept else f"{self.dropped}/{self.total}"
        fixes = {
            "truncated_away": "raise model.max_seq_length, or shorten the prompts (system text) of these examples",
            "template_error": "fix or drop the conversations named (the template's message says what it "
            "refuses), or pick the chat template of the model's family in dataset.chat_template",
            "no_assistant_render": "set dataset.chat_template to the model's family (gemma-3, llama-3, chatml, "
            "mistral, phi-3) or 'tokenizer'",
        }
        main = max(self.reasons, key=self.reasons.get) if self.reasons else "no_assistant_render"
        raise ForgeError(
            f"{share} examples would keep no trained (assistant) token after templating and truncation "
            f"({self._dropped_where()}): {self.reason()}",
            fix=fixes[main] + f"; or raise training.max_dropped_fraction (now {max_dropped_fraction})",
            exit_code=EXIT_USAGE,
            kind="template_mismatch",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "kept": self.kept,
            "truncated": self.truncated,
            "dropped_no_trained_tokens": self.dropped,
            "reasons": dict(self.reasons),
            "dropped_indices": list(self.dropped_indices),
            "dropped_lines": list(self.dropped_lines),
            "template_errors": self.template_errors,
            "first_error": self.first_error,
            "error_lines": list(self.error_lines),
            "roles_mapped": self.roles_mapped,
            "max_seq_length": self.max_seq_length,
            "total_tokens": self.total_tokens,
            "trained_tokens": self.trained_tokens,
            "image_tokens": self.image_tokens,
            "boundary_merges": self.boundary_merges,
        }


def tokenize_conversations(
    conversations: list[list[dict]],
    tokenizer: Any,
    max_seq_length: int,
    *,
    chat_template: str | None = None,
    where: Callable[[int], str] | None = None,
    images: ImageFacts | None = None,
) -> tuple[list[dict], DropReport]:
    """Messages lists -> examples {input_ids, labels, attention_mask} and the DropReport.

    The template is the tokenizer's (install one first with forge.models.templates.apply_chat_template),
    or `chat_template` (a Jinja string) when given. `where(i)` names conversation i in messages
    ("data/splits/train.jsonl:12"); by default the conversations' own `where` (forge.data.load_split's
    Conversations), else "conversation #i+1". `images`: the processor's image facts, for
    conversations with images (forge.models.image_facts): the template's image placeholders are
    expanded to the processor's tokens before tokenizing, and each example keeps its "images".
    """
    renderer = renderer_for(tokenizer, chat_template)
    where = where or getattr(conversations, "where", None)
    report = DropReport(total=len(conversations), max_seq_length=max_seq_length)
    report._where = where
    report.role_mapping = "; ".join(renderer.roles.mapping())
    examples: list[dict] = []
    image_ids = ImageIds(images, tokenizer) if images is not None else None
    for lo in range(0, len(conversations), BATCH):
        rendered: list[tuple[int, str, list[tuple[int, int]]]] = []
        refs: dict[int, list[str]] = {}
        for i, messages in enumerate(conversations[lo : lo + BATCH], start=lo):
            if report.role_mapping and renderer.adapt(messages) is not messages:
                report.roles_mapped += 1
            try:
                text, spans = renderer.assistant_spans(messages)
                if found := images_of(messages):
                    text, spans = _expanded(images, text, spans, found)
                    refs[i] = found
            except Exception as e:  # a template that raises even on the mapped roles (a message of its own)
                line = f"{where(i) if where else f'conversation #{i + 1}'}: {template_error_text(e)}"
                report.first_error = report.first_error or line
                if len(report.error_lines) < KEEP_INDICES:
                    report.error_lines.append(line)
                report._drop(i, "template_error")
                continue
            if not spans:
                report._drop(i, "no_assistant_render")
                continue
            rendered.append((i, text, spans))
        for (i, _, _), ids, labels in zip(rendered, *_tokenize(tokenizer, rendered, report), strict=True):
            kept = len(examples)
            _keep(examples, report, i, ids, labels, max_seq_length)
            if i in refs and len(examples) > kept:
                _with_images(examples, report, i, image_ids, refs[i])
    report.kept = len(examples)
    del report._where  # the report is plain data once done (it must not hold the conversations)
    return examples, report


def _expanded(images: ImageFacts | None, text: str, spans: list, found: list[str]) -> tuple[str, list]:
    """The rendered text with each image placeholder expanded as the processor expands it."""
    if images is None:
        raise ValueError(f"{len(found)} image(s) in a conversation, and the model has no image processor")
    if images.count(text) != len(found):
        raise ValueError(
            f"the chat template wrote {images.count(text)} image placeholder(s) {images.placeholder!r} for "
            f"{len(found)} image(s): use the model's own template (dataset.chat_template 'auto' or 'tokenizer')"
        )
    return images.expand(text, spans)


def _with_images(examples: list, report: DropReport, i: int, image_ids: ImageIds, refs: list[str]) -> None:
    ex = examples.pop()
    done = image_ids.finish(ex, refs)
    report.total_tokens -= len(ex["input_ids"])
    report.trained_tokens -= len(ex["labels"]) - ex["labels"].count(IGNORE)
    if done is None:
        report._drop(i, "truncated_away")
        return
    report.total_tokens += len(done["input_ids"])
    report.trained_tokens += len(done["labels"]) - done["labels"].count(IGNORE)
    report.image_tokens += sum(done["token_type_ids"])
    examples.append(done)


def _tokenize(tokenizer: Any, rendered: list, report: DropReport) -> tuple[list[list[int]], list[list[int]]]:
    if not rendered:
        return [], []
    backend = getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None
    if backend is not None:
        # the Rust tokenizer directly: batched, and without transformers' per-example conversion
        encodings = backend.encode_batch([t for _, t, _ in rendered], add_special_tokens=False)
        all_ids = [e.ids for e in encodings]
        all_labels = [
            _labels_from_encoding(e, ids, spans, report)
            for e, ids, (_, _, spans) in zip(encodings, all_ids, rendered, strict=True)
        ]
        return all_ids, all_labels
    all_ids, all_labels = [], []
    for _, text, spans in rendered:  # no offsets: tokenize the pieces between span edges
        ids: list[int] = []
        labels: list[int] = []
        cuts = [0, *[p for s in spans for p in s], len(text)]
        for k in range(len(cuts) - 1):
            piece = tokenizer(text[cuts[k] : cuts[k + 1]], add_special_tokens=False)["input_ids"]
            ids += piece
            labels += piece if k % 2 else [IGNORE] * len(piece)
        all_ids.append(ids)
        all_labels.append(labels)
    return all_ids, all_labels


def _labels_from_encoding(encoding: Any, ids: list[int], spans: list[tuple[int, int]], report: DropReport) -> list[int]:
    """Tokens overlapping a span are trained; the Rust side maps characters to tokens.

    A first token that starts before its span merged prompt text with the answer (the token ids
    are not prefix-consistent at that boundary); it is trained, and counted as a boundary merge.
    """
    labels = [IGNORE] * len(ids)
    for a, b in spans:
        first, last = encoding.char_to_token(a), encoding.char_to_token(b - 1)
        if first is None or last is None:  # a character no token covers (a normalizer dropped it)
            return _labels_from_offsets(ids, encoding.offsets, spans)
        if encoding.token_to_chars(first)[0] < a:
            report.boundary_merges += 1
        labels[first : last + 1] = ids[first : last + 1]
    return labels


def _labels_from_offsets(ids: list[int], offsets: list, spans: list[tuple[int, int]]) -> list[int]:
    labels = [IGNORE] * len(ids)
    ends = [e for _, e in offsets]
    starts = [s for s, _ in offsets]
    for a, b in spans:
        first = bisect_right(ends, a)  # first token ending after the span starts
        last = bisect_left(starts, b)  # first token starting at/after the span ends
        labels[first:last] = ids[first:last]
    return labels


def _keep(examples: list, report: DropReport, i: int, ids: list[int], labels: list[int], max_len: int) -> None:
    if len(ids) > max_len:
        report.truncated += 1
        first = next((k for k, lab in enumerate(labels) if lab != IGNORE), None)
        ids, labels = ids[:max_len], labels[:max_len]
        if first is not None and first >= max_len:
            report._drop(i, "truncated_away")
            m = report.min_first_trained_token
            report.min_first_trained_token = first if m is None else min(m, first)
            return
    trained = len(labels) - labels.count(IGNORE)
    if not trained:
        report._drop(i, "no_assistant_render")
        return
    report.total_tokens += len(ids)
    report.trained_tokens += trained
    examples.append({"input_ids": ids, "labels": labels, "attention_mask": [1] * len(ids)})


def render_masked_example(example: dict, tokenizer: Any, mark: tuple[str, str] = ("«", "»")) -> str:
    """One example as text with the trained spans wrapped in «», for logs/training.log. A run of one
    token repeated (an image's 256 placeholders) reads `<image_soft_token>×256`, not 256 copies."""
    ids, labels = example["input_ids"], example["labels"]
    out, k = [], 0
    while k < len(ids):
        trained = labels[k] != IGNORE
        j = k
        while j < len(ids) and (labels[j] != IGNORE) == trained:
            j += 1
        text = "".join(_decode_runs(ids[k:j], tokenizer))
        out.append(f"{mark[0]}{text}{mark[1]}" if trained else text)
        k = j
    return "".join(out)


def _decode_runs(ids: list, tokenizer: Any, least: int = 8):
    start, k = 0, 0
    while k < len(ids):
        j = k
        while j < len(ids) and ids[j] == ids[k]:
            j += 1
        if j - k >= least:
            if start < k:
                yield _decode(ids[start:k], tokenizer)
            yield f"{_decode(ids[k : k + 1], tokenizer)}×{j - k}"
            start = j
        k = j
    if start < len(ids):
        yield _decode(ids[start:], tokenizer)


def _decode(ids: list, tokenizer: Any) -> str:
    return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
