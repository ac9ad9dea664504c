"""Chat templates by name, and everything masking and export need to know about them (torch-free).

The named formats (Jinja written for forge from each family's documented turn format) live in
forge.models.chat_formats. They are rendered with the same Jinja settings transformers uses (trim_blocks, lstrip_blocks, a sandbox), so
`tokenizer.apply_chat_template` and `render` give identical text.

Roles: forge normalises every dataset to system/user/assistant/tool (forge.data.formats). The rule
for tool turns: a template whose family has a tool-result role uses it (llama-3's `ipython`,
Qwen/ChatML's `<tool_response>` inside a user turn); a template without one renders the tool turn
as a user turn, because a tool result is context the model reads, never text it learns to write.
Families without a system role (gemma, mistral) prepend the system text to the first user turn.

The same rule holds for any template, a model's own included: `role_support` renders two tiny
probe conversations once per template and says whether it has a tool role (it names the role
'tool' and renders a tool turn's content without raising) and a system role (it renders the
system text). Where it lacks one, `adapt_messages` maps the turns the documented way before the
template sees them: tool results become user turns (consecutive results, one user turn), the
system text goes before the first user turn. Gemma 3's official template, which raises on any
role but user/assistant in turn, thus renders tool-calling data as forge's gemma-3 format does.
Every renderer (training, measuring, scoring) goes through `Renderer`, so they all map alike.
An assistant turn with `weight` 0 (forge.data.formats) is rendered but not trained: no span.

Masking never hard-codes a family's markers: `assistant_spans` finds the trained text by rendering
conversation prefixes, and `response_markers` derives the marker strings that Unsloth's
`train_on_responses_only` wants by rendering a probe conversation.

`auto` (the default) follows the model: its tokenizer's own template where it has one, else its
family's format (by config.json's model_type, or by the markers its vocabulary holds).
forge.models.template_choice says which template a model gets, and refuses a named format whose
markers its vocabulary lacks, before any weights load.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from forge.errors import EXIT_USAGE, ForgeError
from forge.models.chat_formats import ALIASES, FAMILY_BY_MODEL_TYPE, TEMPLATES, ChatTemplate

__all__ = ["ALIASES", "TEMPLATES", "ChatTemplate", "FAMILY_BY_MODEL_TYPE", "template_for"]

NAMES = sorted([*TEMPLATES, *ALIASES, "tokenizer", "auto"])
_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use sentinels around assistant contents (marked_spans)


def canonical_name(name: str) -> str:
    key = name.strip().lower()
    if key in ("tokenizer", "auto") or key in TEMPLATES:
        return key
    if key in ALIASES:
        return ALIASES[key]
    near = difflib.get_close_matches(key, NAMES, n=1)
    raise ForgeError(
        f"dataset.chat_template: unknown template {name!r}" + (f" (did you mean {near[0]!r}?)" if near else ""),
        fix=f"use one of: {', '.join(NAMES)}",
        exit_code=EXIT_USAGE,
        kind="config",
    )


def _own_jinja(tokenizer: Any) -> str | None:
    jinja = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
    if isinstance(jinja, dict):  # multi-template tokenizers: the default one
        jinja = jinja.get("default")
    return jinja or None


def renderer_for(tokenizer: Any, chat_template: str | None = None, what: str = "") -> Renderer:
    """The Renderer of `chat_template`, else of the tokenizer's own template (a multi-template
    tokenizer's default one): what training and scoring render with. ForgeError where there is
    none; `what` says what it was wanted for, in the message."""
    jinja = chat_template or _own_jinja(tokenizer)
    if not jinja:
        raise ForgeError(
            "the tokenizer has no chat template" + (f" to render {what}" if what else ""),
            fix="set dataset.chat_template to the model's family",
            exit_code=EXIT_USAGE,
            kind="template_mismatch",
        )
    return Renderer(jinja, tokenizer)


def family_by_vocabulary(tokenizer: Any) -> str | None:
    """The named format whose required markers are all single tokens of this tokenizer."""
    vocab = _vocabulary(tokenizer)
    if not vocab:
        return None
    for name, t in TEMPLATES.items():
        if t.required_tokens and all(m in vocab for m in t.required_tokens):
            return name
    return None


def _vocabulary(tokenizer: Any) -> set[str] | frozenset[str]:
    """Tokens never split: a ModelFacts' `single_tokens`, or a loaded tokenizer's vocabulary."""
    single = getattr(tokenizer, "single_tokens", None)
    if single is not None:
        return single
    get_vocab = getattr(tokenizer, "get_vocab", None)
    return set(get_vocab()) if callable(get_vocab) else set()


def template_for(name: str, tokenizer: Any = None, model_type: str | None = None) -> ChatTemplate:
    """The named template; `tokenizer` keeps the tokenizer's own (its stop strings derived by a probe).

    `auto` takes the tokenizer's own template where it has one, else the family's format by
    `model_type` or, failing that, by which family's markers the vocabulary holds.
    """
    key = canonical_name(name)
    if key == "auto":
        if _own_jinja(tokenizer):
            key = "tokenizer"
        else:
            family = FAMILY_BY_MODEL_TYPE.get((model_type or "").lower()) or family_by_vocabulary(tokenizer)
            if family is None:
                raise ForgeError(
                    "dataset.chat_template is 'auto' but the model's tokenizer has no chat template and its "
                    f"family ({model_type or 'unknown model_type'}) has no known format",
                    fix="set dataset.chat_template to one of: " + ", ".join(TEMPLATES),
                    exit_code=EXIT_USAGE,
                    kind="template_mismatch",
                )
            return TEMPLATES[family]
    if key != "tokenizer":
        return TEMPLATES[key]
    jinja = _own_jinja(tokenizer)
    if not jinja:
        raise ForgeError(
            "dataset.chat_template is 'tokenizer' but the model's tokenizer has no chat template",
            fix="set dataset.chat_template to the model family's template (gemma-3, llama-3, chatml, mistral, phi-3)",
            exit_code=EXIT_USAGE,
            kind="template_mismatch",
        )
    eos = getattr(tokenizer, "eos_token", None)
    end = _probe_end_of_turn(jinja, _special_tokens(tokenizer))
    stops = tuple(dict.fromkeys(s for s in (end, eos) if s))
    return ChatTemplate("tokenizer", jinja, stops, end or eos)


def apply_chat_template(tokenizer: Any, template: ChatTemplate) -> list[int]:
    """Install `template` on `tokenizer`; return the stop token ids found in its vocabulary.

    The end-of-turn token becomes the tokenizer's eos when it is a single known token, so that
    generation from the saved tokenizer stops at the end of the assistant's turn (as the instruct
    releases of each family do). Callers should also put the returned ids into
    `model.generation_config.eos_token_id`.
    """
    tokenizer.chat_template = template.jinja
    vocab = tokenizer.get_vocab()
    if template.eos_token and template.eos_token in vocab and tokenizer.eos_token != template.eos_token:
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token  # keep a pad token distinct from the new eos
        tokenizer.eos_token = template.eos_token
    ids = [vocab[s] for s in (*template.stop_strings, tokenizer.eos_token) if s and s in vocab]
    return list(dict.fromkeys(ids))


# --- rendering ---------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _compile(jinja: str):
    # The settings transformers uses, so the text is the same as tokenizer.apply_chat_template's.
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    class Generation(jinja2.ext.Extension):
        # {% generation %} (transformers' assistant-mask tag) renders its body as plain text here
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.Scope(body).set_lineno(lineno)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[Generation, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(jinja)


def _special_tokens(tokenizer: Any) -> dict[str, str]:
    if tokenizer is None:
        return {}
    out = {}
    for key in ("bos_token", "eos_token", "pad_token", "unk_token"):
        value = getattr(tokenizer, key, None)
        if isinstance(value, str):
            out[key] = value
    return out


def render(
    jinja: str, messages: list[dict], add_generation_prompt: bool = False, special: dict[str, str] | None = None
) -> str:
    return _compile(jinja).render(messages=messages, add_generation_prompt=add_generation_prompt, **(special or {}))


# --- roles a template supports ----------------------------------------------------------------


@dataclass(frozen=True)
class RoleSupport:
    """Which of forge's roles a template renders as themselves (else adapt_messages maps them)."""

    tool: bool = True  # a tool-result role: the template names 'tool' and renders the turn's content
    system: bool = True  # the template renders a leading system turn's text

    def mapping(self) -> list[str]:
        """What adapt_messages does for this template, in words (for logs); empty when nothing."""
        out = []
        if not self.tool:
            out.append("tool turns are rendered as user turns (the template has no tool role)")
        if not self.system:
            out.append("the system text is put before the first user turn (the template has no system role)")
        return out


_TOOL_ROLE = re.compile(r"""(['"])tool\1""")  # the template names the role: == 'tool', in ['tool', ...]
_PROBE_TOOL = "Zq5 probe tool result"
_PROBE_SYSTEM = "Zq7 probe system text"


@lru_cache(maxsize=32)
def role_support(jinja: str, special: tuple[tuple[str, str], ...] = ()) -> RoleSupport:
    """Render a probe conversation per role, once per template: does the template take a tool turn
    (and name the role) and a system turn, showing their text? A template that raises on one, or
    silently leaves its text out, lacks that role."""
    sp = dict(special)
    q, a = {"role": "user", "content": "Zq1 probe question"}, {"role": "assistant", "content": "Zq2 probe answer"}

    def shows(messages: list[dict], needle: str) -> bool:
        try:
            return needle in render(jinja, messages, False, sp)
        except Exception:  # the template refuses the role (raise_exception) or cannot render it
            return False

    tool = bool(_TOOL_ROLE.search(jinja)) and shows(
        [q, a, {"role": "tool", "content": _PROBE_TOOL}, {"role": "assistant", "content": "Zq6 probe reply"}],
        _PROBE_TOOL,
    )
    system = shows([{"role": "system", "content": _PROBE_SYSTEM}, q, a], _PROBE_SYSTEM)
    return RoleSupport(tool=tool, system=system)


def adapt_messages(messages: list[dict], roles: RoleSupport) -> list[dict]:
    """The conversation in the roles the template has (the same list when nothing changes).

    Without a tool role, a tool turn becomes a user turn; results that follow one another (or a
    user turn) are joined into one user turn, a blank line apart, so templates that insist on
    alternating user/assistant turns accept them. Without a system role, the system text goes
    before the first user turn's, a blank line apart. Idempotent; assistant turns are never touched.
    """
    map_tool = not roles.tool and any(m["role"] == "tool" for m in messages)
    fold = not roles.system and bool(messages) and messages[0]["role"] == "system"
    if not map_tool and not fold:
        return messages
    out: list[dict] = []
    joined = False  # out[-1] is a user turn made from a tool result: a following user turn joins it
    for m in messages:
        is_tool = m["role"] == "tool" and map_tool
        if is_tool or (joined and m["role"] == "user"):
            if out and out[-1]["role"] == "user":
                out[-1] = {**out[-1], "content": out[-1]["content"] + "\n\n" + m["content"]}
            else:
                out.append({"role": "user", "content": m["content"]})
            joined = True
            continue
        joined = False
        out.append(m)
    if fold:
        system, rest = out[0], out[1:]
        if rest and rest[0]["role"] == "user":
            first = rest[0]
            out = [{**first, "content": system["content"].strip() + "\n\n" + first["content"]}, *rest[1:]]
        else:
            out = [{"role": "user", "content": system["content"]}, *rest]
    return out


def template_error_text(e: BaseException, limit: int = 300) -> str:
    """An exception from rendering a template, in one bounded line: `TemplateError: <its message>`."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:limit] + ('...' if len(text) > limit else '')}"


def _trained(m: dict) -> bool:
    """An assistant turn the model learns (a `weight` of 0 renders it as context only)."""
    return m.get("weight", 1) != 0


class Renderer:
    """Renders one template with one tokenizer's special tokens; finds the trained character spans.

    Every method first maps the conversation to the roles the template has (adapt_messages).
    """

    def __init__(self, jinja: str, tokenizer: Any = None):
        self.jinja = jinja
        self.special = _special_tokens(tokenizer)
        self.end_of_turn = _probe_end_of_turn(jinja, self.special)
        self.roles = role_support(jinja, tuple(sorted(self.special.items())))

    def adapt(self, messages: list[dict]) -> list[dict]:
        return adapt_messages(messages, self.roles)

    def render(self, messages: list[dict], add_generation_prompt: bool = False) -> str:
        return self._render(self.adapt(messages), add_generation_prompt)

    def _render(self, messages: list[dict], add_generation_prompt: bool = False) -> str:
        return render(self.jinja, messages, add_generation_prompt, self.special)

    def assistant_spans(self, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
        """The full text and the [start, end) character spans the model is trained on.

        The definition is `prefix_spans`; `marked_spans` gets the same answer in two renders
        instead of two per assistant turn, and is used whenever it can vouch for its result.
        """
        messages = self.adapt(messages)
        fast = self.marked_spans(messages)
        return fast if fast is not None else self.prefix_spans(messages)

    def marked_spans(self, messages: list[dict]) -> tuple[str, list[tuple[int, int]]] | None:
        """Render once with each assistant content wrapped in private-use sentinels.

        Trusted only if removing the sentinels gives exactly the plain render and every pair is
        found in order; otherwise None (the template transforms content: use the prefix method).
        The span runs from the content to just after the template's end-of-turn marker.
        """
        if not self.end_of_turn:
            return None
        messages = self.adapt(messages)
        marked = []
        for m in messages:
            c = m["content"]
            if m["role"] == "assistant":
                if _OPEN in c or _CLOSE in c:
                    return None
                core = c.strip()
                lead = c[: len(c) - len(c.lstrip())]
                c = lead + _OPEN + core + _CLOSE + c[len(lead) + len(core) :]
            marked.append({**m, "content": c})
        text = self._render(marked)
        parts = text.split(_OPEN)
        assistants = [m for m in messages if m["role"] == "assistant"]
        n_assistant = len(assistants)
        if len(parts) != n_assistant + 1 or text.count(_CLOSE) != n_assistant:
            return None
        full, spans = parts[0], []
        for part in parts[1:]:
            core, sep, rest = part.partition(_CLOSE)
            if not sep:
                return None
            start = len(full)
            full += core + rest
            end = start + len(core) + len(rest) - len(rest.lstrip())  # untrimmed trailing space is written too
            if not full.startswith(self.end_of_turn, end):
                return None
            spans.append((start, end + len(self.end_of_turn)))
        if full != self._render(messages):
            return None
        return full, [span for span, m in zip(spans, assistants, strict=True) if _trained(m)]

    def prefix_spans(self, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
        """The spans by definition: for each assistant turn i, A = render(messages[:i], generation
        prompt), B = render(messages[:i+1]); the text B adds to A is what the model writes (its
        content and end-of-turn marker). Leading text before the content (a header some template
        emits without a generation prompt) and trailing whitespace are not trained. Where a
        template is not prefix-consistent (A is not a prefix of B, or B not of the full text), the
        content is found by search instead.
        """
        messages = self.adapt(messages)
        full = self._render(messages)
        spans: list[tuple[int, int]] = []
        cursor = 0
        for i, m in enumerate(messages):
            if m["role"] != "assistant":
                continue
            before = self._render(messages[:i], add_generation_prompt=True)
            upto = full if i == len(messages) - 1 else self._render(messages[: i + 1])
            if upto.startswith(before) and full.startswith(upto) and len(upto) > len(before):
                span = _trim_span(upto, len(before), len(upto), m["content"])
            else:
                span = self._search_span(full, cursor, m["content"])
            if span and span[1] > span[0]:
                if _trained(m):
                    spans.append(span)
                cursor = span[1]
        return full, spans

    def _search_span(self, full: str, cursor: int, content: str) -> tuple[int, int] | None:
        needle = content.strip()
        start = full.find(needle, cursor) if needle else -1
        if start < 0:
            return None
        end = start + len(needle)
        if self.end_of_turn and full.startswith(self.end_of_turn, end):
            end += len(self.end_of_turn)
        return start, end


def _trim_span(text: str, start: int, end: int, content: str) -> tuple[int, int]:
    seg = text[start:end]
    needle = content.strip()
    at = seg.find(needle) if needle else -1
    if at < 0 and needle:
        at = seg.find(needle[:32])
    if at < 0:
        at = len(seg) - len(seg.lstrip())
    return start + at, start + len(seg.rstrip())


def _probe_end_of_turn(jinja: str, special: dict[str, str]) -> str | None:
    """The text a template puts right after an assistant turn's content (e.g. '<end_of_turn>')."""
    probe = "Zq9 probe reply"
    try:
        msgs = [{"role": "user", "content": "Zq8 probe question"}, {"role": "assistant", "content": probe}]
        text = render(jinja, msgs, False, special)
    except Exception:
        return None
    at = text.rfind(probe)
    if at < 0:
        return None
    tail = text[at + len(probe) :].strip()
    return tail or None


def response_markers(template: ChatTemplate | str, tokenizer: Any = None) -> tuple[str, str]:
    """(instruction_part, response_part) for Unsloth's `train_on_responses_only`, derived by rendering.

    response_part is the generation prompt (e.g. '<start_of_turn>model\\n'); for templates without
    one (mistral) it is the text between the user's content and the assistant's. instruction_part
    is the text that opens a later user turn, after the previous assistant turn's end.
    """
    jinja = template.jinja if isinstance(template, ChatTemplate) else template
    try:
        return _markers(jinja, _special_tokens(tokenizer))
    except Exception as e:  # a template that refuses the probe conversation, or hides its turns
        raise ForgeError(
            f"could not derive the response markers from the chat template ({type(e).__name__}: {e})",
            fix="set dataset.chat_template to the model's family (gemma-3, llama-3, chatml, mistral, phi-3)",
            exit_code=EXIT_USAGE,
            kind="template_mismatch",
        ) from e


def _markers(jinja: str, sp: dict[str, str]) -> tuple[str, str]:
    u1, a1, u2 = "Zq1 first question", "Zq2 first answer", "Zq3 second question"
    one = [{"role": "user", "content": u1}]
    bare = render(jinja, one, False, sp)
    response = render(jinja, one, True, sp)[len(bare) :]
    if not response.strip():
        text = render(jinja, [*one, {"role": "assistant", "content": a1}], False, sp)
        response = text[text.index(u1) + len(u1) : text.index(a1)].strip()
    two = [*one, {"role": "assistant", "content": a1}]
    after_a1 = render(jinja, two, False, sp)
    text = render(jinja, [*two, {"role": "user", "content": u2}], False, sp)
    instruction = text[len(after_a1) : text.index(u2)] if text.startswith(after_a1) else ""
    if not instruction.strip():  # not prefix-consistent: cut after the first answer's end instead
        end = _probe_end_of_turn(jinja, sp) or ""
        at = text.index(a1) + len(a1)
        at = text.index(end, at) + len(end) if end and end in text[at:] else at
        instruction = text[at : text.index(u2)]
    if not instruction.strip() or not response.strip():
        raise ValueError(f"empty marker (instruction {instruction!r}, response {response!r})")
    return instruction, response
