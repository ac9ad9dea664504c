"""Chat templates rendered as transformers renders them (torch-free).

The same Jinja settings transformers uses (trim_blocks, lstrip_blocks, a sandbox, its filters and
globals), so `tokenizer.apply_chat_template` and `render` give identical text; and the probe of the
text a template writes after an assistant turn, which masking and stop strings build on.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any


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


def special_tokens(tokenizer: Any) -> dict[str, str]:
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


def probe_end_of_turn(jinja: str, special: dict[str, str]) -> str | None:
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


def template_error_text(e: BaseException, limit: int = 300) -> str:
    """An exception from rendering a template, in one bounded line: `TemplateError: <its message>`."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:limit] + ('...' if len(text) > limit else '')}"
