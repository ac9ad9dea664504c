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


def _field_loc(loc: tuple) -> tuple[tuple, tuple]:
    """(the key path, the rest) of a pydantic location: past a key that is not a section come list
    indexes and, for a union such as eval_steps (int | "auto" | null), the member pydantic tried
    ("constrained-int", "literal['auto']"), which is no key of the file."""
    model: type[BaseModel] | None = ForgeConfig
    for i, part in enumerate(loc):
        fields = model.model_fields if model is not None else {}
        field = fields.get(str(part)) or next((f for f in fields.values() if f.alias == part), None)
        if field is None:
            return loc[:i], loc[i:]
        ann = field.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        if model is None:
            return loc[: i + 1], loc[i + 1 :]
    return loc, ()


def _nullable(key: tuple) -> bool:
    import types
    import typing

    model: type[BaseModel] = ForgeConfig
    for part in key[:-1]:
        model = model.model_fields[str(part)].annotation
    ann = model.model_fields[str(key[-1])].annotation
    return typing.get_origin(ann) in (typing.Union, types.UnionType) and type(None) in typing.get_args(ann)


def problem_key(err: dict) -> str | None:
    """The key path of a pydantic error ("training.learning_rate"), list indexes and union members
    left out; None for a rule across sections (ForgeConfig's own validators)."""
    if err["type"] == "extra_forbidden":  # the unknown key itself ("training.learnig_rate")
        return ".".join(str(p) for p in err["loc"] if isinstance(p, str)) or None
    key, _ = _field_loc(tuple(err["loc"]))
    return ".".join(str(p) for p in key) or None


# what each union member pydantic names accepts, in a user's words
_MEMBERS = {"int": "a whole number", "constrained-int": "a whole number (1 or more)", "str": "a string"}
_MEMBERS |= {"list[str]": "a list of strings", "bool": "true or false", "float": "a number"}


def _member(tag: str) -> str:
    if tag.startswith("literal["):
        return tag.removeprefix("literal[").removesuffix("]").replace("'", '"')
    return _MEMBERS.get(tag, tag)


def describe_all(errors: list[dict]) -> tuple[list[str], list[str | None]]:
    """(problems, their keys): one line a problem. A value no member of a union accepts is one
    problem naming what the key takes ('training.eval_steps: expected a whole number (1 or more) or
    "auto" (got "abc")'), not one line per member with pydantic's internal names."""
    problems: list[str] = []
    keys: list[str | None] = []
    unions: dict[tuple, int] = {}  # key path -> index of its problem
    for err in errors:
        key, rest = _field_loc(tuple(err["loc"]))
        tag = rest[0] if rest and isinstance(rest[0], str) and key and err["type"] != "extra_forbidden" else None
        if tag is None:
            problems.append(describe(err))
            keys.append(problem_key(err))
            continue
        name = ".".join(str(p) for p in key)
        if key in unions:
            i = unions[key]
            problems[i] = problems[i].replace(" (got ", f" or {_member(tag)} (got ", 1)
            continue
        unions[key] = len(problems)
        got = describe({**err, "loc": key, "type": "union", "msg": "x"}).rpartition(" (got ")[2]
        problems.append(f"{name}: expected {_member(tag)} (got {got}")
        keys.append(name)
    for key, i in unions.items():  # pydantic names no member for null; the key's own type says
        if _nullable(key):
            problems[i] = problems[i].replace(" (got ", " or null (got ", 1)
    return problems, keys


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
