"""Exit codes and the errors a user can act on (each carries its fix)."""

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

    def __init__(self, message: str, fix: str | None = None, *, exit_code: int | None = None, kind: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix
        if exit_code is not None:
            self.exit_code = exit_code
        if kind is not None:
            self.kind = kind


class UsageError(ForgeError):
    exit_code = EXIT_USAGE
    kind = "usage"
