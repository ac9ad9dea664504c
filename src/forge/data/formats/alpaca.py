"""Alpaca records (`instruction`/`input`/`output`, an optional `history`) -> messages (torch-free)."""

from __future__ import annotations

from typing import Any

from forge.data.formats.normalized import Normalized, short
from forge.data.formats.system_and_tools import apply_system_and_tools


def read_alpaca(obj: dict[str, Any]) -> Normalized:
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
    apply_system_and_tools(obj, messages, src, result)
    if result.problems:
        return Normalized(None, "alpaca", result.problems)
    result.messages = messages
    return result
