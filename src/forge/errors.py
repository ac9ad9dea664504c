"""Exit codes and the errors a user can act on (each carries its fix).

0 done or ready; 1 failed or not ready, which includes an output of an earlier step that is
missing or damaged (no adapter for evaluate or export: run `forge train`) and a project folder
that cannot be written (read-only, full, no permission: `unwritable_error`); 2 bad usage, config or
data, which includes a config that contradicts the outputs it names (an adapter trained on another
base than model.name); 3 the evaluate gate failed; 130 / 143 interrupted.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_GATE = 3
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class ForgeError(Exception):
    """An expected failure: printed as `error` + `fix`, no traceback."""

    exit_code = EXIT_FAIL
    kind = "internal"  # the status contract's word for a failure of no documented class (forge.status.ERROR_KINDS)

    file: str | None = None  # the file at fault, where one is (`--json` error answers carry it)
    line: int | None = None  # its line

    def __init__(
        self,
        message: str,
        fix: str | None = None,
        *,
        exit_code: int | None = None,
        kind: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.fix = fix
        if exit_code is not None:
            self.exit_code = exit_code
        if kind is not None:
            self.kind = kind
        if file is not None:
            self.file = str(file)
        if line is not None:
            self.line = line


class UsageError(ForgeError):
    exit_code = EXIT_USAGE
    kind = "usage"


# the errors of a folder forge cannot write (a read-only mount, a full disk or quota, no permission):
# any writing verb meets them first at the project lock or the atomic writer, and the command line
# turns them into one error naming the folder and its fix (exit 1: the environment, not the input)
_UNWRITABLE = {
    "EROFS": ("is on a read-only file system", "not_writable"),
    "ENOSPC": ("has no space left on its disk", "disk_full"),
    "EDQUOT": ("is over its disk quota", "disk_full"),
    "EACCES": ("is not writable by this user (permission denied)", "not_writable"),
    "EPERM": ("is not writable by this user (operation not permitted)", "not_writable"),
}


def unwritable_error(e: BaseException) -> ForgeError | None:
    """The ForgeError for an OSError (or one it was raised from) that says a folder cannot be
    written, naming the nearest existing folder and the fix; None for any other exception."""
    import errno
    import os
    from pathlib import Path

    seen, x = set(), e
    while x is not None and id(x) not in seen:
        seen.add(id(x))
        code = errno.errorcode.get(x.errno, "") if isinstance(x, OSError) and x.errno else ""
        if code in _UNWRITABLE:
            what, kind = _UNWRITABLE[code]
            target = Path(os.fsdecode(x.filename)) if x.filename else None
            folder = target
            while folder is not None and not folder.is_dir() and folder.parent != folder:
                folder = folder.parent
            name = str(folder) if folder is not None else "the project folder"
            if kind == "disk_full":
                fix = (
                    f"free space on the disk of {name} (old checkpoints in outputs/, merged models, GGUF files) "
                    "or move the project to a larger disk, then run the command again"
                )
            elif code == "EROFS":
                fix = (
                    f"remount the file system of {name} read-write, or copy the project to a writable folder and run the command "
                    "there; the readers (check, status, verify, ui) work on a read-only project"
                )
            else:
                fix = f"give this user write access to {name} (chown or chmod u+w), or run forge as its owner"
            writing = f" ({target})" if target is not None and target != folder else ""
            return ForgeError(f"cannot write {name}{writing}: it {what}", fix, exit_code=EXIT_FAIL, kind=kind)
        x = x.__cause__ or x.__context__
    return None
