"""The GGUF types forge exports, and the one parser of a list of them (no torch, no forge.export).

    parse_gguf_types("Q8_0, q4_k_m", where=CLI_OPTION)  ->  ["q8_0", "q4_k_m"]

Two places take a list from the user: `save.gguf_quantization` in training-config.json (checked
when the config loads, so that a typo is refused before a run trains rather than after it) and
`forge export --gguf`. Both go through `parse_gguf_types`, so they accept the same types and
refuse the same lists, in the same words; `where` names the key or the option in the message and
in the fix. A spec that names no type (`""`, `","`) is an error in both places: it is not "no
GGUF", which it used to become silently (for that, give no --gguf, or leave save.gguf_path unset).

The error is a GGUFTypesError, a usage error (exit 2) as the CLI raises it; the config validator
turns it into an error of its key (forge.config.ConfigError, kind "config", exit 2 as well).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from forge.errors import EXIT_USAGE, ForgeError

# written by llama.cpp's converter in pure Python: type -> gguf.LlamaFileType member name
CONVERTER_TYPES = {"f32": "ALL_F32", "f16": "MOSTLY_F16", "bf16": "MOSTLY_BF16", "q8_0": "MOSTLY_Q8_0"}
# made from an f16 GGUF by llama.cpp's quantizer: type -> llama_ftype (include/llama.h)
KQUANT_FTYPES = {
    "q2_k": 10,
    "q3_k_m": 12,
    "q4_k_s": 14,
    "q4_k_m": 15,
    "q5_k_s": 16,
    "q5_k_m": 17,
    "q6_k": 18,
}
# every type `forge export` writes, in the order people read them
GGUF_TYPES = (*CONVERTER_TYPES, *KQUANT_FTYPES)

CLI_OPTION = "--gguf"
CONFIG_KEY = "save.gguf_quantization"


class GGUFTypesError(ForgeError):
    """A list of GGUF types that cannot be exported. `message` names the key or option; `problem`
    is the same without it (the config's messages put the key path in front themselves)."""

    exit_code = EXIT_USAGE
    kind = "usage"

    def __init__(self, problem: str, fix: str, where: str, spec: str):
        self.problem, self.where = problem, where
        super().__init__(f"{where} {spec!r}: {problem}", fix)


def types_text() -> str:
    """'f32, f16, ...': the accepted types, as messages, help texts and the schema list them."""
    return ", ".join(GGUF_TYPES)


def _fixes(where: str) -> tuple[str, str]:
    """(fix for an unknown type, fix for a spec that names none), in the terms of `where`."""
    if where.startswith("--"):
        examples = f"e.g. {where} q8_0 or {where} q8_0,q4_k_m"
        return (
            f"use any of: {types_text()}; {examples}",
            f"name one or more, {examples} (any of: {types_text()}); for no GGUF files, leave out {where}",
        )
    examples = 'e.g. "Q8_0" or "Q8_0,Q4_K_M"'
    section = where.rsplit(".", 1)[0] + "." if "." in where else ""
    return (
        f"set {where} to any of: {types_text()} (comma separated, any case); {examples}",
        f"set {where} to one or more, {examples} (any of: {types_text()}); "
        f"for no GGUF files, leave {section}gguf_path unset (and this key out)",
    )


def parse_gguf_types(spec: str | Sequence[str], where: str = CLI_OPTION) -> list[str]:
    """'Q8_0, q4_k_m' (or a list of names) -> ['q8_0', 'q4_k_m']: lower case, unique, in order.

    Raises GGUFTypesError for an unknown type (naming the nearest known one) and for a spec that
    names no type at all. `where` is the key or option the spec came from, as the user writes it
    (CONFIG_KEY, CLI_OPTION)."""
    items = spec.split(",") if isinstance(spec, str) else [str(s) for s in spec]
    shown = spec if isinstance(spec, str) else ",".join(items)
    unknown_fix, empty_fix = _fixes(where)
    out: list[str] = []
    for raw in items:
        t = raw.strip().lower()
        if not t:
            continue
        if t not in GGUF_TYPES:
            near = difflib.get_close_matches(t, GGUF_TYPES, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise GGUFTypesError(f"unknown GGUF type {raw.strip()!r}{hint}", unknown_fix, where, shown)
        if t not in out:
            out.append(t)
    if not out:
        raise GGUFTypesError("names no GGUF type", empty_fix, where, shown)
    return out
