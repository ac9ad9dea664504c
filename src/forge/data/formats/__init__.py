"""Record formats -> one canonical form: a list of {"role", "content"} messages (torch-free).

Roles after normalisation: system, user, assistant, tool. The stated conversion rules (each
conversion of a valid record is counted in the data report under the name in quotes):

- ShareGPT `from`: human/user -> user; gpt/assistant/model/chatgpt/bing -> assistant; system -> system.
- Tool calling. ShareGPT `function_call` -> an assistant turn whose content is the call's JSON, as
  written (the model learns to emit the call): "function_call turn -> assistant". ShareGPT
  `observation`, OpenAI `tool` / legacy `function` -> a `tool` turn (context the model reads, never
  learns to write): "observation turn -> tool", "tool turn -> tool". An OpenAI assistant turn with
  `tool_calls` (or the legacy `function_call`) -> assistant text: its text (if any), a newline, then
  the calls in ShareGPT/glaive's form (`{"name": ..., "arguments": {...}}`, several as a list; ids
  and types dropped, an arguments string decoded), so both formats train the same target:
  "tool_calls -> assistant text". A tool turn must follow an assistant turn (the call) or another
  tool turn (several results).
- A `tools` field (a JSON string or a list of schemas) -> the system prompt: "You have access to the
  following tools:" and the schema JSON, appended to the first system turn or as a new one:
  "tools field -> system prompt". An empty one ("", "[]", [], null) is dropped:
  "empty tools field -> dropped".
- A top-level `system` string (LLaMA-Factory's ShareGPT and Alpaca) -> a leading system turn:
  "system field -> system turn".
- Alpaca (`instruction`/`input`/`output`): user = instruction, blank line, input (when present);
  assistant = output; an optional `history` of [user, assistant] pairs goes before them:
  "alpaca row -> user/assistant", "alpaca history -> turns".
- Content given as a list of parts (OpenAI style, in either format) -> the text parts joined by
  newlines: "content parts -> text". A part that is not text (an image, audio) is refused: training
  data stays text.
- OpenAI `developer` -> system.
- An empty top-level `system` ("", whitespace, null) adds nothing: "empty system field -> dropped".
- A turn's `weight` (ShareGPT as axolotl writes it, OpenAI as its fine-tuning API does): 0 on an
  assistant turn keeps it as context but trains none of it (the message carries `"weight": 0`;
  forge.models.renderer gives it no trained span): "weight 0 -> not trained". 1 is the default;
  1 on another role, or any other value, is refused; a conversation whose every assistant turn has
  weight 0 has nothing to learn (`no_assistant`).

normalize (here) tells the format apart; each format's reader, and what they share, has a module:
sharegpt_openai.py (ShareGPT and OpenAI messages), alpaca.py, system_and_tools.py (the top-level
`system` and `tools` fields), tool_calls.py, turn_order.py (who may follow whom), normalized.py
(the result, and the wording of quoted values).
"""

from __future__ import annotations

from typing import Any

from forge.data.formats.alpaca import read_alpaca
from forge.data.formats.normalized import Normalized, short
from forge.data.formats.sharegpt_openai import OPENAI_ROLES, SHAREGPT_ROLES, TOOL_CONVERSIONS, read_turns
from forge.data.formats.system_and_tools import TOOLS_PREAMBLE
from forge.data.formats.tool_calls import canonical_call, tool_call_text
from forge.data.formats.turn_order import check_structure

__all__ = [
    "OPENAI_ROLES",
    "SHAREGPT_ROLES",
    "TOOLS_PREAMBLE",
    "TOOL_CONVERSIONS",
    "Normalized",
    "canonical_call",
    "check_structure",
    "normalize",
    "short",
    "tool_call_text",
]


def normalize(obj: Any) -> Normalized:
    """One parsed JSON value -> messages, or the problems that stop it."""
    if not isinstance(obj, dict):
        return Normalized(None, problems=[("not_an_object", f"expected a JSON object, got {short(obj)}")])
    if "conversations" in obj:
        fmt, turns = "sharegpt", obj["conversations"]
    elif "messages" in obj:
        fmt, turns = "messages", obj["messages"]
    elif "instruction" in obj or "output" in obj:
        return read_alpaca(obj)
    else:
        keys = ", ".join(short(k, 20) for k in list(obj)[:6]) or "none"
        return Normalized(
            None,
            problems=[("missing_field", f"no 'conversations' (ShareGPT) or 'messages' (OpenAI) field (keys: {keys})")],
        )
    return read_turns(obj, fmt, turns)
