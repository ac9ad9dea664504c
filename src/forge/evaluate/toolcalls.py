"""Tool-call scores of generated answers (pure): token F1 alone says little about a tool-calling model.

The sample: for each conversation of the generation sample (forge.evaluate.score.sample_indices),
the prompt up to its last assistant turn that is a tool call (glaive's conversations call a tool
mid-way and end with a text answer, so the F1 sample's last turn is rarely one); where that is the
last turn, the F1 sample's answer is reused rather than generated again.
A sample counts when its reference answer is a tool call, the text forge trains for one
(forge.data.formats.tool_calls: `{"name": ..., "arguments": {...}}`, or a JSON list of them; glaive's
`function_call` turns and OpenAI's `tool_calls` both become that text). For those samples:
- valid_json: the generated answer parses as JSON (after stripping whitespace and a Markdown code fence);
- name_match: it is a call (or list of calls) naming the same functions, in order;
- arguments_match: and every call's arguments equal the reference's exactly (as JSON values: key
  order and spacing do not matter; an arguments string holding JSON is decoded first, as training did).
Each is a share of the tool-call samples, in [0, 1]; no tool-call sample: None (not measured).
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


def parse_calls(text: str) -> tuple[bool, list[dict] | None]:
    """(is valid JSON, the calls as [{"name", "arguments"}] or None when it is JSON but not calls)."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    if body[:1] not in ("{", "["):
        return False, None
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return False, None
    items = value if isinstance(value, list) else [value]
    calls = []
    for item in items:
        fn = item.get("function") if isinstance(item, dict) and isinstance(item.get("function"), dict) else item
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            return True, None
        args = fn.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except (ValueError, RecursionError):
                pass
        calls.append({"name": fn["name"], "arguments": args})
    return True, calls or None


def is_tool_call(reference: str) -> bool:
    return parse_calls(reference)[1] is not None


def score_call(generated: str, reference: str) -> dict[str, float] | None:
    """One sample's three scores (0.0 / 1.0); None when the reference is not a tool call."""
    _, want = parse_calls(reference)
    if want is None:
        return None
    valid, got = parse_calls(generated)
    names = got is not None and [c["name"] for c in got] == [c["name"] for c in want]
    args = names and all(g["arguments"] == w["arguments"] for g, w in zip(got, want, strict=True))
    return {"valid_json": float(valid), "name_match": float(names), "arguments_match": float(args)}


def tool_call_scores(samples: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The shares over the samples whose reference is a tool call; None when there are none.
    Each such sample gets its own scores under "tool_call"."""
    scored = []
    for s in samples:
        one = score_call(s.get("generated", ""), s.get("reference", ""))
        if one is not None:
            s["tool_call"] = one
            scored.append(one)
    if not scored:
        return None
    n = len(scored)
    return {
        "samples": n,
        **{k: round(sum(x[k] for x in scored) / n, 4) for k in ("valid_json", "name_match", "arguments_match")},
    }


def tool_call_sample(conversations: Any, indices: list[int]) -> list[tuple[int, list[dict], str]]:
    """(index, prompt, reference call) for each conversation in `indices` that has an assistant turn
    that is a tool call: the prompt runs up to the last such turn."""
    out = []
    for i in indices:
        messages = conversations[i]
        for j in range(len(messages) - 1, 0, -1):
            m = messages[j]
            if m.get("role") == "assistant" and isinstance(m.get("content"), str) and is_tool_call(m["content"]):
                out.append((i, messages[:j], m["content"]))
                break
    return out
