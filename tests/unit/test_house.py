"""Issue 27: the house stays one way. Every module's imports in src/forge and bench are read (package
__init__s, `from . import x`, relative imports and imports inside functions included): no circle,
no private name (`_x`) imported from another folder, and no source file over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 400


def _modules() -> dict[str, Path]:
    """Every module name in src/forge and bench -> its file (a package is its __init__.py)."""
    found = {}
    for base, top in ((ROOT / "src", "forge"), (ROOT, "bench")):
        for path in sorted((base / top).rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _absolute(name: str, node: ast.ImportFrom) -> str:
    """The module a relative `from .x import y` names, read from the importing module's name."""
    if not node.level:
        return node.module or ""
    is_package = MODULES[name].name == "__init__.py"
    base = name.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def _with_packages(target: str, importer: str) -> set[str]:
    """Importing a.b.c runs a/__init__ and a/b/__init__ first: each is an edge too, except the
    importer's own packages (already being imported when it runs)."""
    parts = target.split(".")
    names = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    own = {".".join(importer.split(".")[:i]) for i in range(1, importer.count(".") + 1)}
    return {n for n in names if n in MODULES and n not in own and n != importer}


def imports(name: str) -> list[tuple[str, str, int]]:
    """(module imported, name taken from it or "", line) for each import in the file: inside
    functions too (a deferred import only hides a circle until the call) and under TYPE_CHECKING."""
    out = []
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, "", node.lineno) for a in node.names]
            continue
        module = _absolute(name, node)
        for alias in node.names:
            sub = f"{module}.{alias.name}"
            out.append((sub, "", node.lineno) if sub in MODULES else (module, alias.name, node.lineno))
    return out


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name in MODULES:
        edges[name] = set()
        for target, _, _ in imports(name):
            edges[name] |= _with_packages(target, name)
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _folder(name: str) -> str:
    """The folder a module sits in (a package's __init__ sits in its own folder)."""
    return str(MODULES[name].parent)


def private_crossings() -> list[str]:
    """`from a.b import _x` where a.b's folder is not the importer's: a private name is its module's own."""
    bad = []
    for name in MODULES:
        for target, taken, line in imports(name):
            private = taken.startswith("_") and not taken.endswith("__")  # __version__ is public
            if target in MODULES and private and _folder(target) != _folder(name):
                bad.append(f"{MODULES[name].relative_to(ROOT)}:{line}: {taken} from {target}")
    return bad


def test_no_import_circle_in_src_or_bench():
    assert circles(graph()) == []


def test_no_private_name_imported_across_a_folder():
    assert private_crossings() == []


def test_no_source_file_over_400_lines():
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]
    long = {
        str(p.relative_to(ROOT)): n for p in files if (n := len(p.read_text(encoding="utf-8").splitlines())) > LIMIT
    }
    assert long == {}


def test_the_walker_sees_each_kind_of_circle(tmp_path, monkeypatch):
    # the test must be able to fail: a circle through `from . import x`, one through a package's
    # __init__, a relative import, one hidden in a function and a private name taken from another folder are all found
    pkg = tmp_path / "forge"
    (pkg / "a").mkdir(parents=True)
    (pkg / "b").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("from forge.a.one import ONE\n")
    (pkg / "a" / "one.py").write_text("from forge.b.two import _TWO\nONE = 1\n")
    (pkg / "b" / "__init__.py").write_text("")
    (pkg / "b" / "two.py").write_text("from ..a import one\n_TWO = 2\n")
    (pkg / "b" / "three.py").write_text("from . import four\n")
    (pkg / "b" / "four.py").write_text("from forge.b import three\n")
    (pkg / "b" / "five.py").write_text("def later():\n    from forge.b.six import SIX\n")
    (pkg / "b" / "six.py").write_text("from forge.b.five import later\nSIX = 6\n")
    found = {}
    for path in pkg.rglob("*.py"):
        parts = list(path.relative_to(tmp_path).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    monkeypatch.setitem(globals(), "MODULES", found)
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert circles(graph()) == [
        ["forge.a", "forge.a.one", "forge.b.two"],
        ["forge.b.five", "forge.b.six"],
        ["forge.b.four", "forge.b.three"],
    ]
    assert private_crossings() == ["forge/a/one.py:1: _TWO from forge.b.two"]
