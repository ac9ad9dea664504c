"""ShareGPT (`conversations` of from/value) and OpenAI (`messages` of role/content) records: one
reader for both, as they differ only in their key names and role tables (torch-free)."""

from __future__ import annotations

from typing import Any

from forge.data.formats.normalized import Normalized, one_per_kind, short
from forge.data.formats.system_and_tools import apply_system_and_tools
from forge.data.formats.tool_calls import calls_of, tool_call_text
from forge.data.formats.turn_order import check_structure

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
OPENAI_ROLES = {
    "user": "user",
    "assistant": "assistant",
    "model": "assistant",
    "system": "system",
    "developer": "system",
    "tool": "tool",
    "function": "tool",
}
# source role -> conversion name (counted when a valid record contains it)
TOOL_CONVERSIONS = {
    "function_call": "function_call turn -> assistant",
    "observation": "observation turn -> tool",
    "tool": "tool turn -> tool",
    "function": "tool turn -> tool",
}


def _field(fmt: str) -> str:
    return "conversations" if fmt == "sharegpt" else "messages"


def read_turns(obj: dict, fmt: str, turns: Any) -> Normalized:
    """The turns of a ShareGPT (`fmt` "sharegpt") or OpenAI ("messages") record -> messages."""
    if not isinstance(turns, list):
        return Normalized(None, fmt, [("bad_type", f"'{_field(fmt)}' must be a list of turns, got {short(turns)}")])
    if not turns:
        return Normalized(None, fmt, [("empty_conversation", f"'{_field(fmt)}' is empty")])
    role_key, content_key, table = (
        ("from", "value", SHAREGPT_ROLES) if fmt == "sharegpt" else ("role", "content", OPENAI_ROLES)
    )
    out: list[dict[str, str]] = []
    src: list[tuple[int, str]] = []  # (turn number in the file, source role) for each message
    result = Normalized(out, fmt)
    for i, turn in enumerate(turns):
        where = f"turn {i + 1}"
        if not isinstance(turn, dict):
            result.problems.append(
                ("bad_type", f"{where}: expected an object with '{role_key}' and '{content_key}', got {short(turn)}")
            )
            continue
        if role_key not in turn or content_key not in turn:
            missing = role_key if role_key not in turn else content_key
            if fmt == "messages" and missing == "content" and calls_of(turn):
                pass  # an assistant tool call without text: handled below
            else:
                hint = ""
                if fmt == "sharegpt" and "role" in turn:
                    hint = (
                        " (this looks like OpenAI 'messages': rename the list to 'messages' or the keys to from/value)"
                    )
                elif fmt == "messages" and "from" in turn:
                    hint = " (this looks like ShareGPT: rename the list to 'conversations' or the keys to role/content)"
                result.problems.append(("missing_field", f"{where}: missing '{missing}'{hint}"))
                continue
        raw_role, content = turn.get(role_key), turn.get(content_key)
        src_role = raw_role if isinstance(raw_role, str) and raw_role in table else None  # common case, no copies
        if src_role is None and isinstance(raw_role, str):
            src_role = raw_role.strip().lower()
        if src_role not in table:
            known = ", ".join(sorted(table))
            result.problems.append(("unknown_role", f"{where}: unknown role {short(raw_role)} (known: {known})"))
            continue
        role = table[src_role]
        weight = turn.get("weight", 1)
        if weight not in (0, 1):
            result.problems.append(("bad_type", f"{where}: 'weight' must be 0 or 1, got {short(weight)}"))
            continue
        if weight == 1 and "weight" in turn and role != "assistant":
            result.problems.append(
                (
                    "bad_type",
                    f"{where} ({src_role}): 'weight' 1 on a {role} turn: only assistant turns are trained "
                    "(drop the key, or set it to 0)",
                )
            )
            continue
        calls = calls_of(turn) if fmt == "messages" and role == "assistant" else None
        if calls:
            text = content if isinstance(content, str) else ""
            call_text = tool_call_text(calls)
            if call_text is None:
                result.problems.append(
                    ("bad_type", f"{where}: 'tool_calls' must be a list of calls, got {short(calls)}")
                )
                continue
            content = (text.strip() + "\n" + call_text) if text.strip() else call_text
            result.conversions.append("tool_calls -> assistant text")
        elif isinstance(content, list):
            media = _media_part(content)
            if media:
                result.problems.append(
                    (
                        "bad_type",
                        f"{where}: '{content_key}' holds {media} part: training data stays text (forge trains on "
                        "text conversations; images go to the exported model's processor at inference), so drop "
                        "the part or describe it in words",
                    )
                )
                continue
            parts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
            if not parts:
                result.problems.append(("bad_type", f"{where}: '{content_key}' is a list without text parts"))
                continue
            content = "\n".join(parts)
            result.conversions.append("content parts -> text")
        if not isinstance(content, str):
            result.problems.append(("bad_type", f"{where}: '{content_key}' must be a string, got {short(content)}"))
            continue
        if not content or content.isspace():
            result.problems.append(("empty_content", f"{where} ({src_role}): empty '{content_key}'"))
            continue
        if src_role in TOOL_CONVERSIONS:
            result.conversions.append(TOOL_CONVERSIONS[src_role])
        message = {"role": role, "content": content}
        if weight == 0 and role == "assistant":  # rendered as context, never trained (forge.models.renderer)
            message["weight"] = 0
            result.conversions.append("weight 0 -> not trained")
        out.append(message)
        src.append((i + 1, src_role))
    if not result.problems:
        apply_system_and_tools(obj, out, src, result)
    if not result.problems:
        result.problems.extend(check_structure(out, src))
    if not result.problems and "weight 0 -> not trained" in result.conversions:
        if all(m.get("weight") == 0 for m in out if m["role"] == "assistant"):
            result.problems.append(
                ("no_assistant", "every assistant turn has weight 0: there is nothing to learn from")
            )
    if result.problems:
        result.messages = None
        result.problems = one_per_kind(result.problems)
    return result


def _media_part(parts: list) -> str | None:
    """'an image' (or the part's type) when a content list holds anything but text parts."""
    for p in parts:
        if not isinstance(p, dict):
            continue
        kind = p.get("type")
        if kind in (None, "text", "input_text", "output_text") and not ({"image", "image_url"} & p.keys()):
            continue
        kind = kind if isinstance(kind, str) else "image"
        return "an image" if "image" in kind else f"a {kind!r}"
    return None
