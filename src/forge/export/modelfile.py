"""The Ollama Modelfile written next to the GGUF files (pure: no torch).

Ollama renders prompts with Go templates, not Jinja, so each chat template forge trains with has a
hand-written Go twin here that produces the same text as forge.models.templates for the same messages,
as training rendered them (forge.models.template_roles): the system text folded into the first turn
for gemma-3 and mistral; tool turns as `ipython` for llama-3, as `<tool_response>` in a user turn for
chatml, as user turns for phi-3; for gemma-3 and mistral, which have no tool role, tool results as
user turns, joined (with a user turn that follows one) a blank line apart, as adapt_messages does
and as the exported Jinja does through its role-mapping prelude (forge.export.template_choice).

What a Go twin cannot do: `trim` message contents as the Jinja templates do (Go's text/template and
Ollama's functions have no trim), so only contents without surrounding white space render alike;
and undo Ollama's `collate`, which joins consecutive messages of one role (tool results excepted)
before the template sees them (forge's data checks refuse such conversations for training).
BOS is not written by the Go template because llama.cpp adds it when tokenizing
(`tokenizer.ggml.add_bos_token`). A last assistant message is left open (no end-of-turn), which is
how Ollama continues a prefill. tests/unit/test_modelfile_twins.py renders every twin as Ollama does
and compares it with the Jinja.
"""

from __future__ import annotations

import json
from pathlib import Path

_LAST = "{{- $last := eq (len (slice $.Messages $i)) 1 }}"


def _go(text: str) -> str:
    """`text` as a Go template action that writes it (a quoted Go string: no white-space trimming
    question, \\n written as an escape)."""
    return "{{ " + json.dumps(text) + " }}"


def _joining_twin(
    user_open: str, user_close: str, model_open: str, model_close: str, gen: str, sys_before_model: bool
) -> str:
    """The Go twin of a template without a tool role (gemma-3, mistral), with training's mapping
    (forge.models.template_roles.adapt_messages) written out: a tool result is a user turn, and a
    tool result (or a user turn after one) that follows a user turn joins it, a blank line apart.
    So a user turn is closed only when the next message is known. A system message first is put
    before the first turn's text (gemma-3: whichever role; mistral: a user turn's only); a system
    message elsewhere is a user turn of its own, as the Jinja renders it."""
    return (
        '{{- $sys := "" }}{{- $first := true }}{{- $open := false }}{{- $user := false }}{{- $joined := false }}\n'
        "{{- range $i, $m := .Messages }}\n" + _LAST + "\n"
        '{{- if and (eq $i 0) (eq $m.Role "system") }}{{ $sys = printf "%s\\n\\n" $m.Content }}\n'
        '{{- else if and $user (or (eq $m.Role "tool") (and $joined (eq $m.Role "user"))) }}'
        + _go("\n\n")
        + "{{ $m.Content }}{{ $joined = true }}\n"
        "{{- else }}\n"
        "{{- if $open }}" + _go(user_close) + "{{ end }}\n"
        '{{- if eq $m.Role "assistant" }}'
        + _go(model_open)
        + ("{{ if $first }}{{ $sys }}{{ end }}" if sys_before_model else "")
        + "{{ $m.Content }}{{ if not $last }}"
        + _go(model_close)
        + "{{ end }}{{ $open = false }}{{ $user = false }}{{ $joined = false }}\n"
        "{{- else }}"
        + _go(user_open)
        + '{{ if $first }}{{ $sys }}{{ end }}{{ $m.Content }}{{ $open = true }}{{ $user = ne $m.Role "system" }}'
        '{{ $joined = eq $m.Role "tool" }}\n'
        "{{- end }}{{ $first = false }}\n"
        "{{- end }}\n"
        "{{- if and $last $open }}" + _go(user_close + gen) + "{{ end }}\n"
        "{{- end }}"
    )


GO_TEMPLATES: dict[str, str] = {
    "gemma-3": _joining_twin(
        "<start_of_turn>user\n",
        "<end_of_turn>\n",
        "<start_of_turn>model\n",
        "<end_of_turn>\n",
        "<start_of_turn>model\n",
        True,
    ),
    "llama-3": (
        "{{- range $i, $m := .Messages }}\n" + _LAST + "<|start_header_id|>"
        '{{ if eq $m.Role "tool" }}ipython{{ else }}{{ $m.Role }}{{ end }}<|end_header_id|>\n\n'
        '{{ $m.Content }}{{ if not (and $last (eq $m.Role "assistant")) }}<|eot_id|>{{ end }}\n'
        '{{- if and $last (ne $m.Role "assistant") }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ end }}\n'
        "{{- end }}"
    ),
    "chatml": (
        "{{- range $i, $m := .Messages }}\n" + _LAST + "\n"
        '{{- if eq $m.Role "tool" }}<|im_start|>user\n<tool_response>\n{{ $m.Content }}\n</tool_response><|im_end|>\n'
        "{{ else }}<|im_start|>{{ $m.Role }}\n"
        '{{ $m.Content }}{{ if not (and $last (eq $m.Role "assistant")) }}<|im_end|>\n{{ end }}{{ end }}\n'
        '{{- if and $last (ne $m.Role "assistant") }}<|im_start|>assistant\n{{ end }}\n'
        "{{- end }}"
    ),
    "mistral": _joining_twin("[INST] ", " [/INST]", " ", "</s>", "", False),
    "phi-3": (
        "{{- range $i, $m := .Messages }}\n"
        + _LAST
        + '<|{{ if eq $m.Role "tool" }}user{{ else }}{{ $m.Role }}{{ end }}|>\n'
        '{{ $m.Content }}{{ if not (and $last (eq $m.Role "assistant")) }}<|end|>\n{{ end }}'
        '{{ if and $last (ne $m.Role "assistant") }}<|assistant|>\n{{ end }}\n'
        "{{- end }}"
    ),
}


def go_template(template_name: str) -> str | None:
    """The Go twin of a forge chat template, or None for a custom ('tokenizer') template."""
    return GO_TEMPLATES.get(template_name)


def render_modelfile(
    gguf_file: str,
    template_name: str,
    stop_strings: list[str] | tuple[str, ...],
    projector: str | None = None,
) -> str:
    """Modelfile text: FROM the GGUF beside it (and the vision projector: Ollama takes a second FROM),
    TEMPLATE, and one PARAMETER stop per stop string."""
    lines = [
        "# Written by `forge export`. Use: ollama create NAME -f Modelfile",
        f"FROM ./{Path(gguf_file).name}",
    ]
    if projector:
        lines.append(f"FROM ./{Path(projector).name}")
    go = go_template(template_name)
    if go is None:
        lines.append(
            "# No TEMPLATE: none of forge's Go templates renders this model's chat template (system and tool"
            " turns included) as training did. Without one, Ollama picks a built-in template whose Jinja is"
            " nearly the GGUF's tokenizer.chat_template, else sends the raw prompt: add a TEMPLATE that"
            " renders like the chat template before `ollama create`."
        )
    else:
        lines.append(f'TEMPLATE """{go}"""')
    for stop in stop_strings:
        lines.append(f"PARAMETER stop {_quote(stop)}")
    return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
