"""Exit codes and the errors a user can act on (each carries its fix).

0 done or ready; 1 failed or not ready, which includes an output of an earlier step that is
missing or damaged (no adapter for evaluate or export: run `forge train`); 2 bad usage, config or
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
