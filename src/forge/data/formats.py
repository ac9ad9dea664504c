"""Record formats -> one canonical form: a list of {"role", "content"} messages.

Roles after normalisation: system, user, assistant, tool. The stated conversion rules:
- ShareGPT `from`: human/user -> user; gpt/assistant/model/chatgpt/bing -> assistant; system -> system.
- Tool calling (ShareGPT `function_call`, `observation`; OpenAI `tool`): a `function_call` turn is an
  assistant turn whose content is the call's JSON (the model learns to emit the call); an
  `observation` / `tool` turn becomes a user-side `tool` turn, merged into the following user
  context by templates that have no tool role. Each conversion is counted in the data report.
- Alpaca (`instruction`/`input`/`output`): user = instruction + blank line + input (when present),
  assistant = output; counted as converted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "system": "system",
    "function_call": "assistant",
    "observation": "tool",
    "tool": "tool",
}
OPENAI_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "tool": "tool", "model": "assistant"}
TOOL_SOURCE_ROLES = {"function_call", "observation", "tool"}


@dataclass
class Normalized:
    messages: list[dict[str, str]] | None
    format: str | None = None  # sharegpt | messages | alpaca
    problems: list[tuple[str, str]] = field(default_factory=list)  # (kind, message)
    conversions: list[str] = field(default_factory=list)  # e.g. "function_call->assistant"


def _turns(obj: dict[str, Any]) -> tuple[str, Any] | None:
    if "conversations" in obj:
        return "sharegpt", obj["conversations"]
    if "messages" in obj:
        return "messages", obj["messages"]
    return None


def normalize(obj: Any) -> Normalized:
    """One parsed JSON value -> messages, or the problems that stop it."""
    if not isinstance(obj, dict):
        return Normalized(None, problems=[("not_an_object", f"expected a JSON object, got {type(obj).__name__}")])
    if {"instruction", "output"} <= obj.keys():
        return _alpaca(obj)
    found = _turns(obj)
    if found is None:
        keys = ", ".join(sorted(obj)[:6]) or "none"
        return Normalized(
            None,
            problems=[("missing_field", f"no 'conversations' (ShareGPT) or 'messages' (OpenAI) field (keys: {keys})")],
        )
    fmt, turns = found
    if not isinstance(turns, list):
        return Normalized(None, fmt, [("bad_type", f"'{_field(fmt)}' must be a list of turns")])
    if not turns:
        return Normalized(None, fmt, [("empty_conversation", f"'{_field(fmt)}' is empty")])
    role_key, content_key, table = (
        ("from", "value", SHAREGPT_ROLES) if fmt == "sharegpt" else ("role", "content", OPENAI_ROLES)
    )
    out: list[dict[str, str]] = []
    result = Normalized(out, fmt)
    for i, turn in enumerate(turns):
        where = f"turn {i + 1}"
        if not isinstance(turn, dict):
            result.problems.append(("bad_type", f"{where}: expected an object with '{role_key}' and '{content_key}'"))
            continue
        if role_key not in turn or content_key not in turn:
            missing = role_key if role_key not in turn else content_key
            hint = ""
            if fmt == "sharegpt" and "role" in turn:
                hint = " (this looks like OpenAI 'messages'; rename the list to 'messages' or the keys to from/value)"
            elif fmt == "messages" and "from" in turn:
                hint = " (this looks like ShareGPT; rename the list to 'conversations' or the keys to role/content)"
            result.problems.append(("missing_field", f"{where}: missing '{missing}'{hint}"))
            continue
        raw_role, content = turn[role_key], turn[content_key]
        if not isinstance(raw_role, str) or raw_role.strip().lower() not in table:
            known = ", ".join(sorted(table))
            result.problems.append(("unknown_role", f"{where}: unknown role {raw_role!r} (known: {known})"))
            continue
        src = raw_role.strip().lower()
        role = table[src]
        if not isinstance(content, str):
            if content is None or isinstance(content, (list, dict)):
                # OpenAI assistant turns with tool_calls and no text, or multimodal parts
                text = _flatten_content(content, turn)
                if text is None:
                    result.problems.append(("bad_type", f"{where}: '{content_key}' must be a string"))
                    continue
                content = text
            else:
                result.problems.append(("bad_type", f"{where}: '{content_key}' must be a string"))
                continue
        if not content.strip():
            result.problems.append(("empty_content", f"{where} ({src}): empty '{content_key}'"))
            continue
        if src in TOOL_SOURCE_ROLES:
            result.conversions.append(f"{src}->{role}")
        out.append({"role": role, "content": content})
    if result.problems:
        result.messages = None
        return result
    result.problems.extend(check_structure(out))
    if result.problems:
        result.messages = None
    return result


def _flatten_content(content: Any, turn: dict) -> str | None:
    import json

    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "\n".join(parts) if parts else None
    if content is None and turn.get("tool_calls"):
        return json.dumps(turn["tool_calls"], ensure_ascii=False)
    return None


def _field(fmt: str) -> str:
    return "conversations" if fmt == "sharegpt" else "messages"


def check_structure(messages: list[dict[str, str]]) -> list[tuple[str, str]]:
    """Problems with the order of turns (after role normalisation)."""
    problems: list[tuple[str, str]] = []
    body = messages
    if body and body[0]["role"] == "system":
        body = body[1:]
    if any(m["role"] == "system" for m in body):
        problems.append(("misplaced_system", "a system turn may only come first"))
    if not any(m["role"] == "assistant" for m in body):
        problems.append(("no_assistant", "no assistant turn: there is nothing to learn from"))
        return problems
    if body and body[0]["role"] == "assistant":
        problems.append(("not_alternating", "the conversation starts with the assistant, not the user"))
    if body and body[-1]["role"] != "assistant":
        problems.append(("last_not_assistant", f"the last turn is the {body[-1]['role']}'s, not the assistant's"))
    # user/tool turns are the 'prompt side'; two assistant turns in a row, or two user turns in a row,
    # break alternation (tool results may follow an assistant call and precede another assistant turn).
    prev = None
    for i, m in enumerate(body):
        side = "assistant" if m["role"] == "assistant" else ("user" if m["role"] == "user" else "tool")
        if prev is not None and side == prev and side != "tool":
            problems.append(("not_alternating", f"turns {i} and {i + 1} are both {side} turns"))
            break
        prev = side
    return problems


def _alpaca(obj: dict[str, Any]) -> Normalized:
    instr, inp, out = obj.get("instruction"), obj.get("input", ""), obj.get("output")
    if not isinstance(instr, str) or not isinstance(out, str) or not isinstance(inp or "", str):
        return Normalized(None, "alpaca", [("bad_type", "alpaca fields instruction/input/output must be strings")])
    if not instr.strip() and not (inp or "").strip():
        return Normalized(None, "alpaca", [("empty_content", "alpaca row with empty instruction and input")])
    if not out.strip():
        return Normalized(None, "alpaca", [("empty_content", "alpaca row with empty output")])
    user = instr.strip() + (f"\n\n{inp.strip()}" if (inp or "").strip() else "")
    messages = []
    if isinstance(obj.get("system"), str) and obj["system"].strip():
        messages.append({"role": "system", "content": obj["system"]})
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": out}]
    return Normalized(messages, "alpaca", conversions=["alpaca->messages"])
