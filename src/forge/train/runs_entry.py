"""A `forge train` run's two lines in metrics/runs.jsonl (forge.records.runs), written by rank 0
under the project lock: one once the run holds the lock and has its run_id, one however it ends.

The end line is read from the run's own status (its phase, error and kind, steps and losses, the
same facts the status file holds at the end) and from its stats when it finished, so the list and
the status never disagree about how a run ended.
"""

from __future__ import annotations

import sys

from forge.errors import EXIT_FAIL, EXIT_OK
from forge.runs_log import append


class RunLines:
    """The start line goes out when the run leaves `validating` (it passed its checks), so that a
    refusal, which changes nothing of the project (`extra.refused`), leaves no line either."""

    def __init__(self, recipe):
        from forge.train.run_log import NotifyingStatus

        self.recipe = recipe
        self.result = None
        self.started = False
        self.on = recipe.world.is_main
        if self.on:  # told of every phase change (the progress display is told the same way)
            recipe.status = NotifyingStatus(recipe.status, self._phase)

    def _phase(self, status) -> None:
        if not self.started and status.phase != "validating" and not status.extra.get("refused"):
            self.started = True
            r = self.recipe
            fields = {"resumed_from": status.resumed_from, **_source(r.source)}
            append(r.project.runs_file, event="start", run_id=r.run_id, verb="train", **fields)

    def ended(self, result):
        """Keep the RunResult for the end line; returns it."""
        self.result = result
        return result

    def close(self) -> None:
        """The end line; without a RunResult the run raised (its failure is in its status)."""
        if not self.on:
            return
        try:
            self._end(self.result)
        except Exception:  # noqa: BLE001 - the list is a convenience: it never fails the run it lists
            pass

    def _end(self, result) -> None:
        r = self.recipe
        st = r.status.status
        self._phase(st)  # a run that ended in `validating` without a refusal (an error, a signal) is listed
        if not self.started:
            return
        stats = (result.stats if result is not None else None) or {}
        error = sys.exc_info()[1]
        code = result.exit_code if result is not None else getattr(error, "exit_code", EXIT_FAIL)
        fields = {
            "outcome": st.phase if st.phase in ("done", "failed", "interrupted") else "failed",
            "exit_code": code,
            "error": st.error,
            "error_kind": st.error_kind,
            "resumed_from": st.resumed_from,
            "steps": st.step,
            "total_steps": st.total_steps,
            "final_loss": stats.get("final_loss", st.loss),
            "eval_loss": stats.get("eval_loss", st.eval_loss),
        }
        if code == EXIT_OK and st.phase == "done":
            fields["adapter"] = r.project.rel(r.project.outputs(r.settings.cfg).lora)
        else:
            from forge.train.failures import run_checkpoint

            fields["checkpoint"] = run_checkpoint(r.output_dir, r.project.root)
        # the run_id may have changed since the start line: a --resume with no checkpoint starts anew
        append(r.project.runs_file, event="end", run_id=r.run_id, verb="train", **_source(r.source), **fields)


def _source(source) -> dict:
    """training-stats.json's config_source (file, overrides, sha256) as the lines' three fields."""
    src = source if isinstance(source, dict) else {}
    return {
        "config_file": src.get("file"),
        "config_sha256": src.get("sha256"),
        "overrides": list(src.get("overrides") or []),
    }
