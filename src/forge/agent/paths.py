"""Every path a client names lies under the server's --root (torch-free).

A client of `forge mcp` may be a model acting on text it read anywhere: it must not make forge read
or write outside the folder the user served. A path is refused when it is absolute outside the
root, has a `..` component (even one that would come back inside: nothing needs it), or leads out
of the root through a symbolic link (its real path is checked, as the web UI checks the files it
serves: forge.files.resolve_inside). A relative path is read from the root.
"""

from __future__ import annotations

from pathlib import Path

from forge.errors import EXIT_USAGE, ForgeError


class OutsideRoot(ForgeError):
    exit_code = EXIT_USAGE
    kind = "outside_root"


def confine(root: Path, value: str | Path | None, what: str = "directory") -> Path:
    """The real path `value` names under `root` (None or "": the root itself), or OutsideRoot."""
    root = Path(root).resolve()
    text = "" if value is None else str(value)
    if "\x00" in text:
        raise _refusal(root, text, what, "it holds a NUL byte")
    raw = Path(text) if text else Path(".")
    if ".." in raw.parts:
        raise _refusal(root, text, what, "it has a `..` component")
    path = raw if raw.is_absolute() else root / raw
    try:
        real = path.resolve()
    except (OSError, RuntimeError) as e:  # a link loop
        raise _refusal(root, text, what, f"it cannot be resolved ({e})") from None
    if real != root and root not in real.parents:
        why = (
            "a symbolic link in it leads out of the root"
            if _inside(path.absolute(), root)
            else "it lies outside the root"
        )
        raise _refusal(root, text, what, why)
    return real


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _refusal(root: Path, value: str, what: str, why: str) -> OutsideRoot:
    return OutsideRoot(
        f"{what} {value!r} is refused ({why}): forge mcp serves only what lies under its root {root}",
        f"name a folder under {root} (relative to it), or restart the server with `forge mcp --root` over the folder",
        file=value,
    )
