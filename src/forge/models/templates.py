"""Chat templates by name: which one a name (or `auto`) means, and installing one on a tokenizer
(torch-free). The rest of what masking and export need to know about templates has a module each,
re-exported here so that `forge.models.templates` stays the one import:

    forge.models.chat_formats      the named formats (Jinja written for forge from each family's
                                   documented turn format), ALIASES, FAMILY_BY_MODEL_TYPE
    forge.models.jinja_render      render with transformers' Jinja settings; the end-of-turn probe
    forge.models.template_roles    role_support, adapt_messages: tool/system turns a template lacks
    forge.models.renderer          Renderer: the trained character spans of a conversation
    forge.models.response_markers  the markers Unsloth's train_on_responses_only wants

`auto` (the default) follows the model: its tokenizer's own template where it has one, else its
family's format (by config.json's model_type, or by the markers its vocabulary holds).
forge.models.template_choice says which template a model gets, and refuses a named format whose
markers its vocabulary lacks, before any weights load.
"""

from __future__ import annotations

import difflib
from typing import Any

from forge.errors import EXIT_USAGE, ForgeError
from forge.models.chat_formats import ALIASES, FAMILY_BY_MODEL_TYPE, TEMPLATES, ChatTemplate
from forge.models.jinja_render import probe_end_of_turn, render, special_tokens, template_error_text
from forge.models.renderer import Renderer
from forge.models.response_markers import response_markers
from forge.models.template_roles import RoleSupport, adapt_messages, role_support

__all__ = [
    "ALIASES",
    "FAMILY_BY_MODEL_TYPE",
    "NAMES",
    "TEMPLATES",
    "ChatTemplate",
    "Renderer",
    "RoleSupport",
    "adapt_messages",
    "apply_chat_template",
    "canonical_name",
    "family_by_vocabulary",
    "render",
    "renderer_for",
    "response_markers",
    "role_support",
    "template_error_text",
    "template_for",
]

NAMES = sorted([*TEMPLATES, *ALIASES, "tokenizer", "auto"])


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
    end = probe_end_of_turn(jinja, special_tokens(tokenizer))
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
