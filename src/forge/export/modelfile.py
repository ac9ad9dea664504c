"""The Ollama Modelfile written next to the GGUF files (pure: no torch).

Ollama renders prompts with Go templates, not Jinja, so each chat template forge trains with has a
hand-written Go twin here that produces the same text as forge.models.templates for the same messages
(system text folded into the first user turn for gemma-3 and mistral; tool turns as `ipython` for
llama-3, as `<tool_response>` in a user turn for chatml). Two differences: the Jinja templates
`trim` message contents and Go's text/template has no trim; and BOS is not written by the Go
template because llama.cpp adds it when tokenizing (`tokenizer.ggml.add_bos_token`).
A last assistant message is left open (no end-of-turn), which is how Ollama continues a prefill.
"""

from __future__ import annotations

from pathlib import Path

_LAST = "{{- $last := eq (len (slice $.Messages $i)) 1 }}"

GO_TEMPLATES: dict[str, str] = {
    "gemma-3": (
        '{{- $sys := "" }}{{- range .Messages }}{{- if eq .Role "system" }}{{- $sys = printf "%s\\n\\n" .Content }}'
        "{{- end }}{{- end }}\n"
        "{{- $first := true }}\n"
        "{{- range $i, $m := .Messages }}\n" + _LAST + "\n"
        '{{- if eq $m.Role "assistant" }}<start_of_turn>model\n'
        "{{ if $first }}{{ $sys }}{{ end }}{{ $m.Content }}{{ if not $last }}<end_of_turn>\n{{ end }}\n"
        '{{- else if ne $m.Role "system" }}<start_of_turn>user\n'
        "{{ if $first }}{{ $sys }}{{ end }}{{ $m.Content }}<end_of_turn>\n"
        "{{ if $last }}<start_of_turn>model\n{{ end }}\n"
        "{{- end }}\n"
        '{{- if ne $m.Role "system" }}{{ $first = false }}{{ end }}\n'
        "{{- end }}"
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
    "mistral": (
        '{{- $sys := "" }}{{- range .Messages }}{{- if eq .Role "system" }}{{- $sys = printf "%s\\n\\n" .Content }}'
        "{{- end }}{{- end }}\n"
        "{{- $first := true }}\n"
        "{{- range $i, $m := .Messages }}\n" + _LAST + "\n"
        '{{- if eq $m.Role "assistant" }} {{ $m.Content }}{{ if not $last }}</s>{{ end }}\n'
        '{{- else if ne $m.Role "system" }}[INST] {{ if $first }}{{ $sys }}{{ end }}{{ $m.Content }} [/INST]\n'
        "{{- end }}\n"
        '{{- if ne $m.Role "system" }}{{ $first = false }}{{ end }}\n'
        "{{- end }}"
    ),
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
            "# No Go template is known for this custom chat template: Ollama falls back to the GGUF's"
            " tokenizer.chat_template. Add a TEMPLATE here if its output differs."
        )
    else:
        lines.append(f'TEMPLATE """{go}"""')
    for stop in stop_strings:
        lines.append(f"PARAMETER stop {_quote(stop)}")
    return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
