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
  forge.models.templates gives it no trained span): "weight 0 -> not trained". 1 is the default;
  1 on another role, or any other value, is refused; a conversation whose every assistant turn has
  weight 0 has nothing to learn (`no_assistant`).
"""

from __future__ import annotations

import json
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
TOOLS_PREAMBLE = "You have access to the following tools:\n"


@dataclass
class Normalized:
    messages: list[dict[str, str]] | None
    format: str | None = None  # sharegpt | messages | alpaca
    problems: list[tuple[str, str]] = field(default_factory=list)  # (kind, message)
    conversions: list[str] = field(default_factory=list)  # names of the rules applied (one per turn/row)


def short(value: Any, limit: int = 40) -> str:
    """A bounded, never-recursing description of a JSON value for messages."""
    if isinstance(value, str):
        return repr(value if len(value) <= limit else value[:limit] + "...")
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value) if not isinstance(value, int) or abs(value) < 10**20 else "a large number"
    return {"list": "a list", "dict": "an object"}.get(type(value).__name__, type(value).__name__)


def _field(fmt: str) -> str:
    return "conversations" if fmt == "sharegpt" else "messages"


def normalize(obj: Any) -> Normalized:
    """One parsed JSON value -> messages, or the problems that stop it."""
    if not isinstance(obj, dict):
        return Normalized(None, problems=[("not_an_object", f"expected a JSON object, got {short(obj)}")])
    if "conversations" in obj:
        fmt, turns = "sharegpt", obj["conversations"]
    elif "messages" in obj:
        fmt, turns = "messages", obj["messages"]
    elif "instruction" in obj or "output" in obj:
        return _alpaca(obj)
    else:
        keys = ", ".join(short(k, 20) for k in list(obj)[:6]) or "none"
        return Normalized(
            None,
            problems=[("missing_field", f"no 'conversations' (ShareGPT) or 'messages' (OpenAI) field (keys: {keys})")],
        )
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
            if fmt == "messages" and missing == "content" and _calls(turn):
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
        calls = _calls(turn) if fmt == "messages" and role == "assistant" else None
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
        if weight == 0 and role == "assistant":  # rendered as context, never trained (forge.models.templates)
            message["weight"] = 0
            result.conversions.append("weight 0 -> not trained")
        out.append(message)
        src.append((i + 1, src_role))
    if not result.problems:
        _apply_system_and_tools(obj, out, src, result)
    if not result.problems:
        result.problems.extend(check_structure(out, src))
    if not result.problems and "weight 0 -> not trained" in result.conversions:
        if all(m.get("weight") == 0 for m in out if m["role"] == "assistant"):
            result.problems.append(
                ("no_assistant", "every assistant turn has weight 0: there is nothing to learn from")
            )
    if result.problems:
        result.messages = None
        result.problems = _one_per_kind(result.problems)
    return result


def _calls(turn: dict) -> Any:
    """An OpenAI assistant turn's calls: `tool_calls`, or the legacy single `function_call`."""
    calls = turn.get("tool_calls")
    if not calls and isinstance(turn.get("function_call"), dict):
        calls = [turn["function_call"]]
    return calls


def _call(call: Any) -> Any:
    """One call as ShareGPT/glaive writes it: {"name": ..., "arguments": {...}}.

    OpenAI's `{"id", "type": "function", "function": {"name", "arguments": "<JSON string>"}}` loses
    its id and type (a random id is nothing to learn) and its arguments string is decoded where it
    is a JSON object (else kept as written). Anything without a name is kept as it is.
    """
    fn = call.get("function") if isinstance(call, dict) and isinstance(call.get("function"), dict) else call
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        return call
    args = fn.get("arguments", {})
    if isinstance(args, str):
        if not args.strip():
            args = {}
        else:
            try:
                decoded = json.loads(args)
            except (ValueError, RecursionError):
                decoded = None
            if isinstance(decoded, (dict, list)):
                args = decoded
    return {"name": fn["name"], "arguments": args}


def tool_call_text(calls: Any) -> str | None:
    """The calls as the assistant's text, in ShareGPT/glaive's form, so that one conversation trains
    the same target in either format: one call is `{"name": ..., "arguments": {...}}`, several a JSON
    list of them. None when `calls` is neither a list of calls nor one call."""
    if isinstance(calls, dict):
        calls = [calls]
    if not isinstance(calls, list) or not calls:
        return None
    out = [_call(c) for c in calls]
    return json.dumps(out[0] if len(out) == 1 else out, ensure_ascii=False)


def canonical_call(content: str) -> str | None:
    """A tool call's text in one canonical form (keys sorted, no spaces), for duplicate detection:
    the same call written with other spacing, or with its arguments as a JSON string, hashes alike.
    None when `content` is not a call (a JSON object, or list of objects, with a name)."""
    if content.lstrip()[:1] not in ("{", "["):
        return None
    try:
        value = json.loads(content)
    except (ValueError, RecursionError):
        return None
    calls = value if isinstance(value, list) else [value]
    if not calls or not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in calls):
        return None
    norm = [_call(c) for c in calls]
    return json.dumps(norm if isinstance(value, list) else norm[0], sort_keys=True, separators=(",", ":"))


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


def _one_per_kind(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A record's problems, one per kind: the first message, and how many more of that kind."""
    found: dict[str, list[str]] = {}
    for kind, msg in problems:
        found.setdefault(kind, []).append(msg)
    return [(k, m[0] + (f" (and {len(m) - 1} more)" if len(m) > 1 else "")) for k, m in found.items()]


def _apply_system_and_tools(obj: dict, out: list[dict[str, str]], src: list[tuple[int, str]], result: Normalized):
    system = obj.get("system")
    if system is not None and not isinstance(system, str):
        result.problems.append(("bad_type", f"'system' must be a string, got {short(system)}"))
        return
    if system and system.strip():
        if out and out[0]["role"] == "system":
            out[0]["content"] = system + "\n\n" + out[0]["content"]
        else:
            out.insert(0, {"role": "system", "content": system})
            src.insert(0, (0, "system field"))
        result.conversions.append("system field -> system turn")
    elif "system" in obj:  # "", whitespace or null: adds nothing, and is said so
        result.conversions.append("empty system field -> dropped")
    if "tools" not in obj:
        return
    tools = obj["tools"]
    if isinstance(tools, str):
        text = tools.strip()
    elif tools is None or isinstance(tools, (list, dict)):
        text = json.dumps(tools, ensure_ascii=False) if tools else ""
    else:
        result.problems.append(("bad_type", f"'tools' must be a JSON string or a list of schemas, got {short(tools)}"))
        return
    if text in ("", "[]", "{}", "null"):
        result.conversions.append("empty tools field -> dropped")
        return
    block = TOOLS_PREAMBLE + text
    if out and out[0]["role"] == "system":
        out[0]["content"] = out[0]["content"] + "\n\n" + block
    else:
        out.insert(0, {"role": "system", "content": block})
        src.insert(0, (0, "tools field"))
    result.conversions.append("tools field -> system prompt")


def check_structure(messages: list[dict[str, str]], src: list[tuple[int, str]] | None = None) -> list[tuple[str, str]]:
    """Problems with the order of turns (after role normalisation); at most one per kind."""
    roles = [m["role"] for m in messages]
    body_roles = roles[1:] if roles and roles[0] == "system" else roles
    half = len(body_roles) // 2
    if (
        body_roles
        and len(body_roles) % 2 == 0
        and body_roles[0::2].count("user") == half
        and body_roles[1::2].count("assistant") == half
    ):
        return []  # the common case: user/assistant pairs, at most a leading system turn
    if src is None:
        src = [(i + 1, m["role"]) for i, m in enumerate(messages)]
    found: dict[str, list[str]] = {}

    def add(kind: str, msg: str) -> None:
        found.setdefault(kind, []).append(msg)

    def turn(i: int) -> str:
        n, role = src[i]
        return f"turn {n} ({role})" if n else f"the {role}"

    start = 1 if messages and messages[0]["role"] == "system" else 0
    for i in range(start, len(messages)):
        if messages[i]["role"] == "system":
            add("misplaced_system", f"{turn(i)}: a system turn may only come first")
    body = [(i, m["role"]) for i, m in enumerate(messages) if i >= start and m["role"] != "system"]
    if not any(r == "assistant" for _, r in body):
        add("no_assistant", "no assistant turn (gpt/assistant): there is nothing to learn from")
    else:
        if body[0][1] != "user":
            add(
                "not_alternating", f"{turn(body[0][0])} comes before any user turn: a conversation starts with the user"
            )
        if body[-1][1] != "assistant":
            add(
                "last_not_assistant",
                f"the last turn, {turn(body[-1][0])}, is not the assistant's: end each conversation with an answer",
            )
        for (i, a), (j, b) in zip(body, body[1:], strict=False):
            if b == "tool":
                if a not in ("assistant", "tool"):
                    add("not_alternating", f"{turn(j)} does not follow an assistant/function_call turn")
            elif a == b or (a == "tool" and b == "user"):
                add("not_alternating", f"{turn(i)} and {turn(j)} are both {_side(a)} turns: turns must alternate")
    out = []
    for kind, msgs in found.items():
        more = f" (and {len(msgs) - 1} more)" if len(msgs) > 1 else ""
        out.append((kind, msgs[0] + more))
    return out


def _side(role: str) -> str:
    return "user-side" if role in ("user", "tool") else role


def _alpaca(obj: dict[str, Any]) -> Normalized:
    missing = [k for k in ("instruction", "output") if k not in obj]
    if missing:
        return Normalized(None, "alpaca", [("missing_field", f"alpaca row without '{missing[0]}'")])
    instr, inp, out = obj.get("instruction"), obj.get("input"), obj.get("output")
    inp = "" if inp is None else inp
    for name, v in (("instruction", instr), ("input", inp), ("output", out)):
        if not isinstance(v, str):
            return Normalized(None, "alpaca", [("bad_type", f"alpaca '{name}' must be a string, got {short(v)}")])
    if not instr.strip() and not inp.strip():
        return Normalized(None, "alpaca", [("empty_content", "alpaca row with empty 'instruction' and 'input'")])
    if not out.strip():
        return Normalized(None, "alpaca", [("empty_content", "alpaca row with empty 'output'")])
    result = Normalized([], "alpaca")
    messages: list[dict[str, str]] = []
    history = obj.get("history") or []
    if not isinstance(history, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) and x.strip() for x in p) for p in history
    ):
        return Normalized(
            None, "alpaca", [("bad_type", "alpaca 'history' must be a list of [user, assistant] strings")]
        )
    for q, a in history:
        messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    if history:
        result.conversions.append("alpaca history -> turns")
    user = instr.strip() + (f"\n\n{inp.strip()}" if inp.strip() else "")
    messages += [{"role": "user", "content": user.strip()}, {"role": "assistant", "content": out}]
    result.conversions.append("alpaca row -> user/assistant")
    src = [(0, "alpaca")] * len(messages)
    _apply_system_and_tools(obj, messages, src, result)
    if result.problems:
        return Normalized(None, "alpaca", result.problems)
    result.messages = messages
    return result
