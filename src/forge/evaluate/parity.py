"""Template parity: does the artifact's own chat template render the prompts as training did?

llama.cpp and Ollama render a chat with the template a GGUF carries (`tokenizer.chat_template`);
vLLM and transformers with the merged folder's. Where that template renders another text than
training's, the model sees prompts it was never trained on: answers run on or come out garbled,
and no score on training's own rendering shows it. So, for every prompt of the generation sample:
- training's text: forge.models.renderer.Renderer of the config's template (what scoring renders);
- the GGUF's: its metadata template rendered as llama-cpp-python renders it (its own
  Jinja2ChatFormatter, with the GGUF's bos / eos token texts, add_generation_prompt);
- the merged folder's: its tokenizer's `apply_chat_template(..., add_generation_prompt=True)`.
Both get the conversation as training's template sees it (forge.models.template_roles: tool turns
as user turns where the template has no tool role, the documented mapping a client applies too).
The first difference is shown: the example's val line, the character offset, both texts around it.
"""

from __future__ import annotations

from typing import Any, Callable

from forge.records.evaluate_artifacts import TemplateParity

CONTEXT = 30  # characters shown before the first difference


def first_difference(trained: str, shipped: str) -> int | None:
    """The offset of the first differing character; None when the texts are equal."""
    if trained == shipped:
        return None
    n = min(len(trained), len(shipped))
    return next((i for i in range(n) if trained[i] != shipped[i]), n)


def compare(
    source: str,
    items: list[tuple[str, list[dict], str]],
    render: Callable[[list[dict]], str],
) -> TemplateParity:
    """items: (where, messages as training's template sees them, training's text)."""
    if not items:
        return TemplateParity(ok=True, source=source, prompts=0, detail="no prompts in the generation sample")
    for where, messages, trained in items:
        try:
            shipped = render(messages)
        except Exception as e:
            from forge.models.jinja_render import template_error_text

            return TemplateParity(
                ok=False,
                source=source,
                prompts=len(items),
                detail=f"{where}: the artifact's template fails where training's renders ({template_error_text(e)})",
            )
        at = first_difference(trained, shipped)
        if at is not None:
            lo = max(0, at - CONTEXT)
            return TemplateParity(
                ok=False,
                source=source,
                prompts=len(items),
                detail=(
                    f"{where}: the prompt differs from training's at character {at}: training "
                    f"{trained[lo : at + CONTEXT]!r}, artifact {shipped[lo : at + CONTEXT]!r}"
                ),
            )
    return TemplateParity(
        ok=True, source=source, prompts=len(items), detail=f"{len(items)} prompts render as training rendered them"
    )


def sample_items(tokenizer: Any, conversations: Any, k: int) -> list[tuple[str, list[dict], str]]:
    """(where, adapted messages, training's prompt text) for the generation sample's prompts."""
    from forge.evaluate.score import generation_sample
    from forge.models.templates import renderer_for

    renderer = renderer_for(tokenizer, what="the val prompts")
    where = getattr(conversations, "where", None)
    items = []
    for i, prompt, _ in generation_sample(conversations, k):
        try:
            text = renderer.render(prompt, add_generation_prompt=True)
        except Exception:  # scoring names this conversation's template error itself
            continue
        items.append((where(i) if where else f"val conversation #{i + 1}", renderer.adapt(prompt), text))
    return items


def gguf_parity(model: Any, items: list[tuple[str, list[dict], str]]) -> TemplateParity:
    """The GGUF's metadata template, rendered as llama-cpp-python's Llama renders a chat with it.
    `model`: forge.evaluate.artifacts.gguf_vocab of the file."""
    source = "GGUF metadata tokenizer.chat_template"
    jinja = (model.metadata() or {}).get("tokenizer.chat_template")
    if not jinja:
        return TemplateParity(
            ok=False,
            source=source,
            prompts=len(items),
            detail="the GGUF has no tokenizer.chat_template: llama.cpp and Ollama fall back to another template",
        )
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def text(token_id: int) -> str:  # as Llama.__init__ names them for its chat handler
        return model.token_get_text(token_id) if token_id != -1 else ""

    formatter = Jinja2ChatFormatter(
        template=jinja, eos_token=text(model.token_eos()), bos_token=text(model.token_bos()), add_generation_prompt=True
    )
    return compare(source, items, lambda messages: formatter(messages=messages).prompt)


def merged_parity(folder: str, items: list[tuple[str, list[dict], str]]) -> TemplateParity:
    """The merged folder's own template, as transformers (and vLLM) apply it."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    source = "the merged folder's chat template (tokenizer, as vLLM applies it)"
    if not getattr(tok, "chat_template", None):
        return TemplateParity(
            ok=False, source=source, prompts=len(items), detail="the merged folder has no chat template"
        )
    return compare(
        source, items, lambda messages: tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    )
