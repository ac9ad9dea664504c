"""The (instruction, response) marker strings Unsloth's `train_on_responses_only` wants, derived by
rendering probe conversations through the template, never hard-coded per family (torch-free)."""

from __future__ import annotations

from typing import Any

from forge.errors import EXIT_USAGE, ForgeError
from forge.models.chat_formats import ChatTemplate
from forge.models.jinja_render import probe_end_of_turn, render, special_tokens


def response_markers(template: ChatTemplate | str, tokenizer: Any = None) -> tuple[str, str]:
    """(instruction_part, response_part) for Unsloth's `train_on_responses_only`, derived by rendering.

    response_part is the generation prompt (e.g. '<start_of_turn>model\\n'); for templates without
    one (mistral) it is the text between the user's content and the assistant's. instruction_part
    is the text that opens a later user turn, after the previous assistant turn's end.
    """
    jinja = template.jinja if isinstance(template, ChatTemplate) else template
    try:
        return _markers(jinja, special_tokens(tokenizer))
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
        end = probe_end_of_turn(jinja, sp) or ""
        at = text.index(a1) + len(a1)
        at = text.index(end, at) + len(end) if end and end in text[at:] else at
        instruction = text[at : text.index(u2)]
    if not instruction.strip() or not response.strip():
        raise ValueError(f"empty marker (instruction {instruction!r}, response {response!r})")
    return instruction, response
