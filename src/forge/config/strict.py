"""Strict types for the config file: `"r": "8"`, `"learning_rate": "1e-4"`, `"fp16": "yes"` are refused.

pydantic's lax mode turns such strings into numbers and booleans in silence, so a file that a
person quoted by mistake (or a tool wrote as text) trained with values nobody checked: "yes" is
true, but so is "on", and "1e-4" only by luck of the parser. The file is JSON, which has numbers
and booleans of its own, so each key must hold the JSON type it documents.

`--set key=value` is different: the command line gives strings, which forge.config.overrides reads
as JSON where they parse; a value given there keeps the lax reading it always had (`--set
training.fp16=yes` still works). So the strict pass judges every key except those --set gave.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from forge.config.errors import describe_all, problem_key
from forge.config.sections import ForgeConfig

# the type errors strict mode adds over lax mode: what lax would have converted in silence
_STRICT_ONLY = {
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
}


def _given_by_set(key: str | None, set_keys: set[str]) -> bool:
    return key is not None and any(key == k or key.startswith(k + ".") or k.startswith(key + ".") for k in set_keys)


def loose_values(data: dict, skip: set[str]) -> tuple[list[str], list[str | None]]:
    """(problems, keys) of values in `data` that only lax mode accepts; `skip`: keys not to judge
    (those --set gave, and those lax mode refused already, in its own words)."""
    try:
        ForgeConfig.model_validate(data, strict=True)
    except ValidationError as e:
        errors = e.errors()
    else:
        return [], []
    by_key: dict[str | None, list[dict]] = {}
    for err in errors:
        by_key.setdefault(problem_key(err), []).append(err)
    problems: list[str] = []
    keys: list[str | None] = []
    for key, errs in by_key.items():
        if key is None or _given_by_set(key, skip) or not any(err["type"] in _STRICT_ONLY for err in errs):
            continue
        strict_type = next(err["type"] for err in errs if err["type"] in _STRICT_ONLY)
        # one line for the key: a union's members merged (describe_all), else the type it takes
        merged = describe_all(errs)[0][0].rpartition(" (got ")[0] if len(errs) > 1 else ""
        text = merged or f"{key}: expected {_STRICT_ONLY[strict_type]}"
        got = errs[0].get("input")
        if isinstance(got, str):
            unquoted = _unquoted(got)
            text += f", not the string {json.dumps(got)}" + (f"; write {unquoted} without quotes" if unquoted else "")
        else:
            text += f" (got {json.dumps(got) if isinstance(got, (int, float, bool)) else type(got).__name__})"
        problems.append(text)
        keys.append(key)
    return problems, keys


def _unquoted(text: str) -> str | None:
    """The JSON the string would be without its quotes, where that is a number or a boolean."""
    word = text.strip().lower()
    if word in ("yes", "on"):
        return "true"
    if word in ("no", "off"):
        return "false"
    try:
        value = json.loads(text.strip())
    except ValueError:
        return None
    return text.strip() if isinstance(value, (int, float, bool)) else None
