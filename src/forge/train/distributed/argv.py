"""The user's own `forge train` argv, handed to every rank minus the launcher's options.

Only what the launcher consumes is taken out (`--gpus`, `--nproc`, `--nnodes`, `--node-rank`,
`--rdzv-endpoint`, in both `--opt V` and `--opt=V` forms); every other token reaches the ranks
unchanged, so a new `forge train` option needs no change here.
"""

from __future__ import annotations

LAUNCHER_OPTIONS = ("--gpus", "--nproc", "--nnodes", "--node-rank", "--rdzv-endpoint")


def child_args(argv: list[str]) -> list[str]:
    """argv (after the program name, starting at `train`) without the launcher's options and values."""
    out: list[str] = []
    skip = False
    for i, tok in enumerate(argv):
        if skip:
            skip = False
            continue
        if tok == "--":  # everything after it is positional: hand it on as it is
            out += argv[i:]
            break
        name = tok.split("=", 1)[0]
        if name in LAUNCHER_OPTIONS:
            skip = "=" not in tok  # `--gpus 2` takes the next token; `--gpus=2` does not
            continue
        out.append(tok)
    return out
