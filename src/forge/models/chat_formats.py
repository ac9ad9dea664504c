"""The chat formats forge knows by name: Jinja written for forge from each family's documented turn
format, with what export and generation must know (stop strings, end-of-turn, the literal tokens).

`required_tokens` are the markers that must be single tokens of a model's vocabulary for the
format to suit it: a marker tokenized as plain text (eight ordinary tokens for `<|eot_id|>`)
trains a model that never stops at the end of its turn. Mistral's `[INST]` markers are text in
the original Mistral tokenizer, so that format requires none of its own (its end is the eos).
"""

from __future__ import annotations

from dataclasses import dataclass, field

GEMMA3 = r"""{{- bos_token if bos_token else '' -}}
{%- set ns = namespace(sys='') -%}
{%- set msgs = messages -%}
{%- if messages and messages[0]['role'] == 'system' -%}
  {%- set ns.sys = (messages[0]['content'] | trim) ~ '\n\n' -%}
  {%- set msgs = messages[1:] -%}
{%- endif -%}
{%- for m in msgs -%}
  {{- '<start_of_turn>' ~ ('model' if m['role'] == 'assistant' else 'user') ~ '\n' -}}
  {{- (ns.sys if loop.first else '') ~ (m['content'] | trim) ~ '<end_of_turn>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<start_of_turn>model\n' -}}{%- endif -%}"""

LLAMA3 = r"""{{- bos_token if bos_token else '' -}}
{%- for m in messages -%}
  {{- '<|start_header_id|>' ~ ('ipython' if m['role'] == 'tool' else m['role']) ~ '<|end_header_id|>\n\n' -}}
  {{- (m['content'] | trim) ~ '<|eot_id|>' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}{%- endif -%}"""

CHATML = r"""{%- for m in messages -%}
  {%- if m['role'] == 'tool' -%}
    {{- '<|im_start|>user\n<tool_response>\n' ~ m['content'] ~ '\n</tool_response><|im_end|>\n' -}}
  {%- else -%}
    {{- '<|im_start|>' ~ m['role'] ~ '\n' ~ m['content'] ~ '<|im_end|>\n' -}}
  {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}"""

# Mistral has no generation prompt: the assistant's text follows `[/INST]` directly.
MISTRAL = r"""{{- bos_token if bos_token else '' -}}
{%- set ns = namespace(sys='') -%}
{%- set msgs = messages -%}
{%- if messages and messages[0]['role'] == 'system' -%}
  {%- set ns.sys = (messages[0]['content'] | trim) ~ '\n\n' -%}
  {%- set msgs = messages[1:] -%}
{%- endif -%}
{%- for m in msgs -%}
  {%- if m['role'] == 'assistant' -%}
    {{- ' ' ~ (m['content'] | trim) ~ (eos_token if eos_token else '</s>') -}}
  {%- else -%}
    {{- '[INST] ' ~ (ns.sys if loop.first else '') ~ (m['content'] | trim) ~ ' [/INST]' -}}
  {%- endif -%}
{%- endfor -%}"""

PHI3 = r"""{%- for m in messages -%}
  {%- set role = 'user' if m['role'] == 'tool' else m['role'] -%}
  {{- '<|' ~ role ~ '|>\n' ~ (m['content'] | trim) ~ '<|end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|assistant|>\n' -}}{%- endif -%}"""


@dataclass(frozen=True)
class ChatTemplate:
    """A chat template and what export/generation must know about it."""

    name: str
    jinja: str
    stop_strings: tuple[str, ...]  # where generation must stop (Ollama `stop`, llama.cpp antiprompts)
    eos_token: str | None  # the end-of-turn token that should be the tokenizer's eos, if it is one token
    special_tokens: tuple[str, ...] = field(default=())  # the literal tokens the format uses
    required_tokens: tuple[str, ...] = field(default=())  # markers that must be single tokens of the model

    @property
    def is_named(self) -> bool:
        """One of forge's own formats (not a model's own template)."""
        return self.name in TEMPLATES


TEMPLATES: dict[str, ChatTemplate] = {
    t.name: t
    for t in [
        ChatTemplate(
            "gemma-3",
            GEMMA3,
            ("<end_of_turn>", "<eos>"),
            "<end_of_turn>",
            ("<bos>", "<start_of_turn>", "<end_of_turn>"),
            ("<start_of_turn>", "<end_of_turn>"),
        ),
        ChatTemplate(
            "llama-3",
            LLAMA3,
            ("<|eot_id|>", "<|end_of_text|>", "<|eom_id|>"),
            "<|eot_id|>",
            ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
            ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
        ),
        ChatTemplate(
            "chatml",
            CHATML,
            ("<|im_end|>", "<|endoftext|>"),
            "<|im_end|>",
            ("<|im_start|>", "<|im_end|>"),
            ("<|im_start|>", "<|im_end|>"),
        ),
        ChatTemplate("mistral", MISTRAL, ("</s>",), "</s>", ("[INST]", "[/INST]")),
        ChatTemplate(
            "phi-3",
            PHI3,
            ("<|end|>", "<|endoftext|>"),
            "<|end|>",
            ("<|user|>", "<|assistant|>", "<|end|>"),
            ("<|user|>", "<|assistant|>", "<|end|>"),
        ),
    ]
}
ALIASES = {
    "gemma3": "gemma-3",
    "gemma": "gemma-3",
    "gemma-3-it": "gemma-3",
    "llama3": "llama-3",
    "llama-3.1": "llama-3",
    "llama-31": "llama-3",
    "llama-3.2": "llama-3",
    "qwen": "chatml",
    "qwen2.5": "chatml",
    "qwen-2.5": "chatml",
    "qwen2": "chatml",
    "qwen-2": "chatml",
    "phi3": "phi-3",
    "phi-3.5": "phi-3",
}

# config.json's model_type -> the family's format, for `auto` when the tokenizer carries no template
FAMILY_BY_MODEL_TYPE = {
    "gemma": "gemma-3",
    "gemma2": "gemma-3",
    "gemma3": "gemma-3",
    "gemma3_text": "gemma-3",
    "llama": "llama-3",
    "qwen2": "chatml",
    "qwen2_moe": "chatml",
    "qwen3": "chatml",
    "qwen3_moe": "chatml",
    "qwen2_vl": "chatml",
    "qwen2_5_vl": "chatml",
    "mistral": "mistral",
    "mixtral": "mistral",
    "phi3": "phi-3",
}
