"""Ollama's prompt rendering, emulated in Python for the Modelfile tests (no Go on CI's machine).

`ollama_render(go, messages)` does what Ollama does with a Modelfile TEMPLATE that reads
`.Messages` (ollama/template/template.go, Execute): `collate` first (consecutive messages of one
role, tool results excepted, joined a blank line apart; the system texts also gathered into
`.System`), then Go's text/template on {System, Messages}. The emulated text/template is the
subset the Go twins in forge.export.modelfile use, with Go's semantics: `{{-`/`-}}` trim all
adjacent white space; if / else if / else / range (with `$i, $m :=`) / end; `:=` declares in the
enclosing block, `=` assigns the nearest declared variable (Go >= 1.11); `and`/`or` return an
argument and stop early; eq (with several operands), ne, not, len, slice, index, printf (%s, %d,
%v); Go's truth (false, 0, "", empty slice). Anything else raises, so a twin that starts using
more must grow the emulator (and tests/unit/test_modelfile_twins.py checks it against real Go
where a `go` binary is on PATH).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


def collate(messages: list[dict]) -> tuple[str, list[dict]]:
    """Ollama's collate: (the system texts joined, the messages with consecutive same-role non-tool
    messages joined by a blank line)."""
    system, out = [], []
    for m in messages:
        if m["role"] == "system":
            system.append(m["content"])
        if out and out[-1]["role"] == m["role"] and m["role"] != "tool":
            out[-1] = {**out[-1], "content": out[-1]["content"] + "\n\n" + m["content"]}
        else:
            out.append(dict(m))
    return "\n\n".join(system), out


def ollama_render(go: str, messages: list[dict]) -> str:
    system, collated = collate(messages)
    data = {"System": system, "Messages": [{"Role": m["role"], "Content": m["content"]} for m in collated]}
    return render(go, data)


# --- text/template ---------------------------------------------------------------------------

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)


@dataclass
class _Node:
    kind: str  # text | out | set | assign | if | range
    text: str = ""
    pipe: list = field(default_factory=list)
    name: str = ""
    names: tuple = ()
    branches: list = field(default_factory=list)  # if: [(pipe or None, body)]; range: [(pipe, body)]


def _lex_pipe(src: str) -> list:
    tokens, i = [], 0
    while i < len(src):
        c = src[i]
        if c.isspace():
            i += 1
        elif c in "()":
            tokens.append(c)
            i += 1
        elif c == '"':
            j, buf = i + 1, []
            while src[j] != '"':
                if src[j] == "\\":
                    buf.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}[src[j + 1]])
                    j += 2
                else:
                    buf.append(src[j])
                    j += 1
            tokens.append(("str", "".join(buf)))
            i = j + 1
        else:
            m = re.match(r"[^\s()]+", src[i:])
            tokens.append(("word", m.group(0)))
            i += m.end()
    return tokens


def _parse(go: str) -> list[_Node]:
    pieces: list = []  # text strings and action strings, whitespace trimming applied
    pos = 0
    for m in _ACTION.finditer(go):
        text = go[pos : m.start()]
        if m.group(1):
            text = text.rstrip(" \t\r\n")
        if pieces and pieces[-1][0] == "act" and pieces[-1][2]:
            text = text.lstrip(" \t\r\n")
        pieces.append(("text", text))
        pieces.append(("act", m.group(2).strip(), bool(m.group(3))))
        pos = m.end()
    tail = go[pos:]
    if pieces and pieces[-1][2]:
        tail = tail.lstrip(" \t\r\n")
    pieces.append(("text", tail))
    it = iter(pieces)

    def block(stop: tuple[str, ...]) -> tuple[list[_Node], str]:
        body: list[_Node] = []
        for p in it:
            if p[0] == "text":
                if p[1]:
                    body.append(_Node("text", text=p[1]))
                continue
            act = p[1]
            word = act.split(None, 1)[0] if act else ""
            if word in ("end", "else"):
                if word not in stop and not (word == "else" and "else" in stop):
                    raise ValueError(f"unexpected {act!r}")
                return body, act
            if word == "if":
                body.append(_if(act[2:].strip()))
            elif word == "range":
                body.append(_range(act[5:].strip()))
            elif (m := re.match(r"^(\$\w*)\s*(:?=)\s*(.*)$", act, re.S)) and not act.startswith("$."):
                body.append(
                    _Node("set" if m.group(2) == ":=" else "assign", name=m.group(1), pipe=_lex_pipe(m.group(3)))
                )
            else:
                body.append(_Node("out", pipe=_lex_pipe(act)))
        if stop:
            raise ValueError("missing {{ end }}")
        return body, ""

    def _if(cond: str) -> _Node:
        node = _Node("if")
        while True:
            body, closer = block(("end", "else"))
            node.branches.append((_lex_pipe(cond) if cond is not None else None, body))
            if closer == "end":
                return node
            rest = closer[4:].strip()
            if rest.startswith("if "):
                cond = rest[3:].strip()
            elif rest == "":
                cond = None
            else:
                raise ValueError(f"unsupported {closer!r}")

    def _range(spec: str) -> _Node:
        m = re.match(r"^(?:(\$\w+)\s*(?:,\s*(\$\w+))?\s*:=\s*)?(.*)$", spec, re.S)
        names = tuple(n for n in (m.group(1), m.group(2)) if n)
        body, closer = block(("end",))
        if closer != "end":
            raise ValueError("range with else is not emulated")
        return _Node("range", names=names, pipe=_lex_pipe(m.group(3)), branches=[(None, body)])

    body, _ = block(())
    return body


def _truth(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v != 0
    return v is not None and v not in ("", [], {})


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


class _Scope:
    def __init__(self, root: Any):
        self.frames: list[dict] = [{"$": root}]

    def get(self, name: str) -> Any:
        for f in reversed(self.frames):
            if name in f:
                return f[name]
        raise NameError(f"undefined variable {name}")

    def assign(self, name: str, value: Any) -> None:
        for f in reversed(self.frames):
            if name in f:
                f[name] = value
                return
        raise NameError(f"undefined variable {name}")


def _field(value: Any, names: list[str]) -> Any:
    for n in names:
        if not isinstance(value, dict):
            raise TypeError(f"can't evaluate field {n} in {value!r}")
        value = value.get(n)
    return value


def _printf(fmt: str, *args: Any) -> str:
    out, args_it = [], iter(args)
    parts = re.split(r"(%[sdv%])", fmt)
    for p in parts:
        if p == "%%":
            out.append("%")
        elif p in ("%s", "%d", "%v"):
            out.append(_fmt(next(args_it)))
        else:
            out.append(p)
    return "".join(out)


class _Eval:
    def __init__(self, scope: _Scope):
        self.scope = scope

    def operand(self, tok: Any, dot: Any) -> Any:
        if tok[0] == "str":
            return tok[1]
        w = tok[1]
        if w == "true":
            return True
        if w == "false":
            return False
        if re.fullmatch(r"-?\d+", w):
            return int(w)
        if w == ".":
            return dot
        if w.startswith("."):
            return _field(dot, w[1:].split("."))
        if w.startswith("$"):
            var, *fields = w.split(".")
            return _field(self.scope.get(var), fields)
        raise ValueError(f"not an operand: {w}")

    def pipe(self, tokens: list, dot: Any) -> Any:
        value, rest = self.command(tokens, dot)
        if rest:
            raise ValueError(f"trailing tokens {rest}")
        return value

    def command(self, tokens: list, dot: Any) -> tuple[Any, list]:
        """Evaluate one command (a function call or an operand) up to a ')' or the end."""
        args, i = [], 0
        while i < len(tokens) and tokens[i] != ")":
            if tokens[i] == "(":
                depth, j = 1, i + 1
                while depth:
                    depth += {"(": 1, ")": -1}.get(tokens[j], 0) if isinstance(tokens[j], str) else 0
                    j += 1
                args.append(("val", tokens[i + 1 : j - 1]))
                i = j
            else:
                args.append(("tok", tokens[i]))
                i += 1
        return self.call(args, dot), tokens[i:]

    def value(self, a: Any, dot: Any) -> Any:
        return self.pipe(a[1], dot) if a[0] == "val" else self.operand(a[1], dot)

    def call(self, args: list, dot: Any) -> Any:
        head = args[0]
        fn = head[1][1] if head[0] == "tok" and head[1][0] == "word" else None
        if fn in ("and", "or"):
            v = None
            for a in args[1:]:
                v = self.value(a, dot)
                if _truth(v) != (fn == "and"):
                    return v
            return v
        vals = [self.value(a, dot) for a in args[1:]]
        if fn == "eq":
            return any(vals[0] == v for v in vals[1:])
        if fn == "ne":
            return vals[0] != vals[1]
        if fn == "not":
            return not _truth(vals[0])
        if fn == "len":
            return len(vals[0])
        if fn == "slice":
            return vals[0][vals[1] : vals[2]] if len(vals) > 2 else vals[0][vals[1] :]
        if fn == "index":
            return vals[0][vals[1]]
        if fn == "printf":
            return _printf(vals[0], *vals[1:])
        if len(args) == 1:
            return self.value(head, dot)
        raise ValueError(f"function {fn!r} is not emulated")


def render(go: str, data: Any) -> str:
    scope = _Scope(data)
    ev = _Eval(scope)
    out: list[str] = []

    def run(body: list[_Node], dot: Any) -> None:
        for n in body:
            if n.kind == "text":
                out.append(n.text)
            elif n.kind == "out":
                out.append(_fmt(ev.pipe(n.pipe, dot)))
            elif n.kind == "set":
                scope.frames[-1][n.name] = ev.pipe(n.pipe, dot)
            elif n.kind == "assign":
                scope.assign(n.name, ev.pipe(n.pipe, dot))
            elif n.kind == "if":
                for cond, branch in n.branches:
                    if cond is None or _truth(ev.pipe(cond, dot)):
                        scope.frames.append({})
                        run(branch, dot)
                        scope.frames.pop()
                        break
            elif n.kind == "range":
                items = ev.pipe(n.pipe, dot) or []
                for i, item in enumerate(items):
                    frame: dict = {}
                    if len(n.names) == 1:
                        frame[n.names[0]] = item
                    elif len(n.names) == 2:
                        frame[n.names[0]], frame[n.names[1]] = i, item
                    scope.frames.append(frame)
                    run(n.branches[0][1], item)
                    scope.frames.pop()

    run(_parse(go), data)
    return "".join(out)
