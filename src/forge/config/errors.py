"""ConfigError, and pydantic's validation errors in the words it prints: one line a problem,
each naming its key path, what is expected and what was given."""

from __future__ import annotations

import difflib
import json

from pydantic import BaseModel

from forge.config.sections import ForgeConfig
from forge.errors import EXIT_USAGE, ForgeError


class ConfigError(ForgeError):
    """A config problem a user can fix: every message names the key path and what is expected."""

    exit_code = EXIT_USAGE
    kind = "config"
    key: str | None = None  # the first problem's key path, where forge.config.load located it

    def __init__(
        self,
        problems: list[str],
        source: str = "training-config.json",
        *,
        file_fix: str | None = None,
        line: int | None = None,
        keys: list[str | None] | None = None,
    ):
        self.problems = problems
        self.source = source
        # the key path of each problem ("training.learning_rate"; None: a rule across keys), so that
        # forge.config.load can say whether the file or a --set holds it, and on which line
        self.keys = keys if keys is not None else [None] * len(problems)
        # a problem of the file itself (its JSON syntax, not an object, unreadable): the fix for that,
        # not the keys' (the keys could not be read)
        self.file_fix = file_fix
        super().__init__(self.render(), file_fix or "correct the keys above; `forge schema` documents every key")
        if line is not None:
            self.line = line

    def render(self) -> str:
        lines = [f"{self.source}: {len(self.problems)} problem(s)"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def _fields_at(loc: tuple) -> list[str]:
    """Valid keys of the section at a location, for 'did you mean' hints."""
    model: type[BaseModel] = ForgeConfig
    for part in loc:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None) if field else None
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            break
    names = []
    for name, f in model.model_fields.items():
        names.append(f.alias or name)
    return names


def problem_key(err: dict) -> str | None:
    """The key path of a pydantic error ("training.learning_rate"), list indexes left out; None for
    a rule across sections (ForgeConfig's own validators)."""
    parts = [str(p) for p in err["loc"] if isinstance(p, str)]
    return ".".join(parts) or None


def describe(err: dict) -> str:
    loc = tuple(err["loc"])
    path = ".".join(str(p) for p in loc) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        valid = _fields_at(loc[:-1])
        near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
        hint = f"; did you mean '{near[0]}'?" if near else f"; valid keys here: {', '.join(valid)}"
        return f"{path}: unknown key{hint}"
    msg = err["msg"]
    if not loc and kind == "value_error":
        # a rule across sections (ForgeConfig's validators): its sentence names its keys itself
        return msg.removeprefix("Value error, ")
    got = err.get("input")
    got_s = json.dumps(got) if isinstance(got, (str, int, float, bool, type(None))) else type(got).__name__
    if isinstance(got, (dict, list)):
        try:
            text = json.dumps(got)
        except (TypeError, ValueError):
            text = ""
        got_s = text if text and len(text) <= 80 else got_s
    # only the first letter: a value error's own words keep their case (GGUF, Q8_0, ...)
    return f"{path}: {msg[:1].lower() + msg[1:]} (got {got_s})"
