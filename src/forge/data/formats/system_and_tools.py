"""A record's top-level `system` and `tools` fields -> its system turn (every format has them)."""

from __future__ import annotations

import json

from forge.data.formats.normalized import Normalized, short

TOOLS_PREAMBLE = "You have access to the following tools:\n"


def apply_system_and_tools(obj: dict, out: list[dict[str, str]], src: list[tuple[int, str]], result: Normalized):
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
