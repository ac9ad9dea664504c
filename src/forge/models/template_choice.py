"""Which chat template a model gets, decided from its files before any weights load (torch-free).

`resolve_template` answers dataset.chat_template for a ModelFacts exactly as training will for
the loaded tokenizer (both go through templates.template_for). `marker_refusal` is the refusal
of a named format whose markers are not single tokens of the model: `chat_template=llama-3` on
a Gemma model would train `<|eot_id|>` as eight text tokens and export a model that never stops.
"""

from __future__ import annotations

from typing import Any

from forge.models.chat_formats import FAMILY_BY_MODEL_TYPE, ChatTemplate
from forge.models.templates import _own_jinja, canonical_name, family_by_vocabulary, template_for


def resolve_template(setting: str, facts: Any) -> tuple[ChatTemplate, str]:
    """(template, why) for dataset.chat_template on a model whose files were read (ModelFacts).

    `facts` stands in for the tokenizer (chat_template, bos/eos tokens, single_tokens), so the
    answer is the one training will get from the loaded tokenizer, without loading it.
    """
    key = canonical_name(setting)
    model_type = getattr(facts, "model_type", None)
    template = template_for(key, facts, model_type=model_type)
    if key == "auto":
        if template.name == "tokenizer":
            return template, "auto: the model's own chat template (from its tokenizer files)"
        how = "model_type " + model_type if model_type in FAMILY_BY_MODEL_TYPE else "the markers in its vocabulary"
        return template, f"auto: the tokenizer has no chat template; {template.name}, the family's format by {how}"
    if key == "tokenizer":
        return template, "the tokenizer's own template (set by you)"
    return template, f"{template.name} (set by you)"


def marker_problems(template: ChatTemplate, facts: Any) -> list[str]:
    """Required markers of a named format that are not single tokens of the model's vocabulary.

    Empty when they all are, when the template is the model's own, or when the vocabulary could
    not be read (a tokenizer without tokenizer.json: the check after loading still catches it).
    """
    vocab = getattr(facts, "single_tokens", None)
    if not template.is_named or not vocab:
        return []
    return [m for m in template.required_tokens if m not in vocab]


def marker_refusal(template: ChatTemplate, facts: Any, model: str) -> tuple[str, str] | None:
    """(message, fix) refusing a named format whose markers the model's vocabulary lacks; else None."""
    missing = marker_problems(template, facts)
    if not missing:
        return None
    family = family_by_vocabulary(facts)
    if not family:
        family = FAMILY_BY_MODEL_TYPE.get((getattr(facts, "model_type", None) or "").lower())
    own = bool(_own_jinja(facts))
    message = (
        f"dataset.chat_template {template.name!r}: its markers {', '.join(missing)} are not single tokens of "
        f"{model}'s vocabulary; they would be trained as plain text and the model would never stop at the end "
        "of its turn"
    )
    options = ["auto" + (" (the model's own template)" if own else "")]
    if family and family != template.name:
        options.append(family)
    return message, "set dataset.chat_template to " + " or ".join(options)
