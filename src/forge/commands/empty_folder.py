"""`forge VERB ""`: an empty project folder argument, refused before the parser reads it."""

from __future__ import annotations

from forge.errors import ForgeError


def empty_folder_argument(args: list[str]) -> ForgeError | None:
    """`forge VERB ""` (an unset shell variable, `forge init "$DIR"`): the parser reads "" as the
    current folder, where init would scaffold a project; refused instead, with exit 2."""
    if len(args) < 2 or args[0].startswith("-") or args[1] != "":
        return None
    return ForgeError(
        f'forge {args[0]}: the project folder is an empty string ("")',
        f'name the folder, e.g. `forge {args[0]} .` for the current one (an unset shell variable gives "")',
        exit_code=2,
        kind="usage",
    )
