"""`forge train --resume` sets aside, never deletes, a checkpoint a user may want back.

QA (issue 28): with one file of outputs/checkpoint-25 removed, `forge train --resume` logged
"deleted checkpoint checkpoint-25 (newer than the resume point)": the user's newest checkpoint,
one `cp` away from whole again, was gone. It now goes to outputs/set-aside/ and the log says where.
"""

from __future__ import annotations

import logging

from test_security_checkpoints import make_checkpoint

from forge.train.previous_run import PreviousRun
from forge.train.resume import start_point


class _Log(logging.Logger):
    def __init__(self):
        super().__init__("test")
        self.lines: list[str] = []

    def _log(self, level, msg, args, *a, **k):  # every level, formatted
        self.lines.append(msg % args if args else msg)


def _resume(out, history, force=False):
    log = _Log()
    sp = start_point(
        out, history, resume=True, force=force, fp={}, log=log, is_main=True, previous=PreviousRun(out, history)
    )
    return sp, "\n".join(log.lines)


def test_a_damaged_newest_checkpoint_is_set_aside_whole_and_named(tmp_path):
    out, history = tmp_path / "outputs", tmp_path / "metrics" / "training-history.jsonl"
    make_checkpoint(out, 20)
    damaged = make_checkpoint(out, 25)
    (damaged / "optimizer.pt").unlink()  # one file removed
    before = sorted(p.name for p in damaged.iterdir())
    sp, said = _resume(out, history)
    assert sp.checkpoint.step == 20
    aside = out / "set-aside" / "checkpoint-25"
    assert sorted(p.name for p in aside.iterdir()) == before  # nothing in it deleted
    assert not damaged.exists() and "deleted checkpoint" not in said
    assert "set aside checkpoint checkpoint-25" in said and str(aside) in said


def test_a_second_one_of_the_same_name_does_not_replace_the_first(tmp_path):
    out, history = tmp_path / "outputs", tmp_path / "metrics" / "training-history.jsonl"
    make_checkpoint(out, 20)
    make_checkpoint(out, 25)
    (out / "checkpoint-20" / "scheduler.pt").write_bytes(b"")  # damaged: 25 is newest valid
    (out / "checkpoint-25" / "rng_state.pth").unlink()  # both damaged now: --resume --force starts over
    _resume(out, history, force=True)
    make_checkpoint(out, 25)
    (out / "checkpoint-25" / "optimizer.pt").write_bytes(b"")
    _resume(out, history, force=True)
    names = sorted(p.name for p in (out / "set-aside").iterdir())
    assert names == ["checkpoint-20", "checkpoint-25", "checkpoint-25.2"], names
