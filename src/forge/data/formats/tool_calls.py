"""Tool calls as assistant text: OpenAI's `tool_calls` in ShareGPT/glaive's form, so that both
formats train the same target, and one canonical form of a call for duplicate detection."""

from __future__ import annotations

import json
from typing import Any


def calls_of(turn: dict) -> Any:
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
