"""The launcher's last word: the ranks' files and rank 0's status -> the run's final status and exit code.

torchrun says only that some rank failed. Rank 0 writes the status; a rank other than 0 leaves its
error in .factory/dist/; rank 0 leaves its exit code there. The launcher that holds rank 0 puts a
failing rank's error into the status, or marks a run whose rank 0 died without a final status.
"""

from __future__ import annotations

import signal

import forge.train.distributed.ranks as ranks
from forge.errors import EXIT_FAIL, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM
from forge.status import RESUME_FIX


def _after(iso: str, t: float) -> bool:
    from forge.clock import parse_time

    when = parse_time(iso)
    return when is not None and when.timestamp() >= int(t) - 1


def _signal_code(got: list[int]) -> int:
    return EXIT_SIGINT if got and got[0] == signal.SIGINT else EXIT_SIGTERM


def outcome(project, rc: int, got: list[int], started: float, *, write_status: bool = True) -> int:
    """The exit code of the launch; with write_status, the final status of a run rank 0 could not finish."""
    from forge.clock import utcnow
    from forge.status import Status, StatusWriter, read_status

    st = read_status(project.status_file)
    errors = ranks.rank_errors(project)
    # rank 0 of this launch wrote the status: its pid is the one in rank-0.pid (cleared at launch).
    # Not started_at: a resumed run keeps the started_at of the run it continues.
    rank0 = ranks.rank_pids(project).get(0)
    if rank0 is not None:
        ours = st.run_id is not None and st.pid == rank0
    else:
        ours = bool(st.started_at and st.run_id is not None and _after(st.last_updated or st.started_at, started))

    if not ours and not write_status:
        # a node without rank 0 and without its status (no shared folder): torchrun's word, and ours
        return _signal_code(got) if got else (EXIT_FAIL if rc else EXIT_OK)

    def writer() -> StatusWriter:
        w = StatusWriter(project.status_file)
        w.status = st if ours else Status(started_at=utcnow())
        return w

    if ours and st.phase == "failed" and any(e.get("error") == st.error for e in errors):
        errors = []  # every rank refused the same thing (data, config, resume): rank 0's status says it
    if errors:
        first = errors[0]
        msg = f"rank {first['rank']} failed: {first['error']}"
        if ours and st.error and st.phase == "failed":
            msg += f" (rank 0: {st.error})"
        if write_status:
            kind = first.get("error_kind") or "internal"
            writer().phase("failed", error=msg, error_kind=kind, solution=first.get("solution"))
        return EXIT_FAIL
    if not ours or st.running:
        if got:
            if write_status:
                msg = "stopped by a signal; resume from the newest complete checkpoint"
                writer().phase("interrupted", message=msg, signal=signal.Signals(got[0]).name)
            return _signal_code(got)
        if write_status:
            # a rank killed or crashed mid-run: what --resume is for, once there is a checkpoint
            saved = bool(ours and (st.checkpoint_at or st.resumed_from))
            again = RESUME_FIX if saved else "rerun `forge train` (the run saved no checkpoint to resume from)"
            writer().phase(
                "failed",
                error=f"torchrun exited with {rc} and rank 0 left no final status",
                error_kind="internal",
                solution=f"see logs/training.log and the ranks' output above for why a rank died; then {again}",
            )
        return EXIT_FAIL
    if st.phase == "done":
        return EXIT_OK
    if st.phase == "interrupted":
        return _signal_code(got)
    if st.phase == "failed":
        code = ranks.read_exit(project)  # rank 0's own code (2 for bad usage, config or data; 1 otherwise)
        return EXIT_FAIL if code is None else code
    return EXIT_FAIL if rc else EXIT_OK
