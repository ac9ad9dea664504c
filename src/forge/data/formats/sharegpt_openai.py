"""ShareGPT (`conversations` of from/value) and OpenAI (`messages` of role/content) records: one
reader for both, as they differ only in their key names and role tables (torch-free)."""

from __future__ import annotations

from typing import Any

from forge.data.formats.images import content_from_parts, misplaced, place_images
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
        images: list[str] = []
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
            text, refs, bad = content_from_parts(content)
            if bad:
                result.problems.append(("bad_type", f"{where}: '{content_key}' holds {bad}"))
                continue
            content = text
            result.conversions.append("content parts -> text" + (" and images" if refs else ""))
            if refs:
                images = refs
        if not isinstance(content, str):
            result.problems.append(("bad_type", f"{where}: '{content_key}' must be a string, got {short(content)}"))
            continue
        if not images and (not content or content.isspace()):
            result.problems.append(("empty_content", f"{where} ({src_role}): empty '{content_key}'"))
            continue
        if src_role in TOOL_CONVERSIONS:
            result.conversions.append(TOOL_CONVERSIONS[src_role])
        message: dict = {"role": role, "content": content}
        if images:
            message["images"] = images
        if weight == 0 and role == "assistant":  # rendered as context, never trained (forge.models.renderer)
            message["weight"] = 0
            result.conversions.append("weight 0 -> not trained")
        out.append(message)
        src.append((i + 1, src_role))
    if not result.problems and "images" in obj:  # ShareGPT's <image> placeholders and its images list
        if any(m.get("images") for m in out):
            result.problems.append(("bad_type", "give images either as content parts or as 'images' with <image>"))
        elif bad_images := place_images(out, obj["images"]):
            result.problems.append(bad_images)
    if not result.problems and (bad_place := misplaced(out)):
        result.problems.append(bad_place)
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
