"""A project forge cannot write (a read-only mount, a full disk, a folder of another user).

QA (issue 28): on a read-only mount, `forge train --force`, `train --resume`, `plan --write`,
`baseline`, `evaluate`, `export --merged` and `init` each ended with a 70-line traceback of
`OSError: [Errno 30] Read-only file system: '.../.factory/train.lock'`, exit 1, and with --json
nothing on stdout. Each now gives one error naming the folder and the fix, exit 1, and the JSON
error object. The writes are refused from outside forge (tests/unit/inject_unwritable), since root,
which tests may run as, ignores chmod; one test uses a real read-only bind mount where it can.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import forge

INJECT = Path(__file__).resolve().parent / "inject_unwritable"
SRC = Path(forge.__file__).resolve().parents[1]  # the forge under test (PYTHONPATH)


def _forge(*args: str, unwritable: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(INJECT), str(SRC)]), "COLUMNS": "200"}
    env.pop("FORGE_TEST_UNWRITABLE", None)
    if unwritable:
        env["FORGE_TEST_UNWRITABLE"] = unwritable
    return subprocess.run(
        [sys.executable, "-m", "forge", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ro") / "proj"
    res = _forge("init", str(root), "--example", "support", "--model", "builtin:tiny-llama")
    assert res.returncode == 0, res.stderr
    return root


def _one_error(res: subprocess.CompletedProcess, folder: Path, json_out: bool) -> dict | None:
    assert res.returncode == 1, (res.returncode, res.stdout[-2000:], res.stderr[-3000:])
    assert "Traceback" not in res.stderr and "OSError" not in res.stderr, res.stderr[-3000:]
    err = " ".join(res.stderr.split())
    assert err.count("error:") == 1 and f"cannot write {folder}" in err and "fix:" in err, err
    if not json_out:
        return None
    doc = json.loads(res.stdout)
    assert doc["ok"] is False and doc["exit_code"] == 1 and str(folder) in doc["error"] and doc["fix"]
    return doc


WRITERS = [
    ("EROFS", ["train", "{p}", "--force", "--json"]),
    ("ENOSPC", ["train", "{p}", "--resume", "--json"]),
    ("EACCES", ["train", "{p}"]),
    ("EROFS", ["baseline", "{p}", "--json"]),
    ("ENOSPC", ["evaluate", "{p}", "--json"]),
    ("EACCES", ["export", "{p}", "--merged", "--json"]),
    ("EROFS", ["init", "{p}", "--example", "support"]),
]


@pytest.mark.parametrize("code, argv", WRITERS, ids=[f"{c}-{' '.join(a[:1] + a[2:3])}" for c, a in WRITERS])
def test_every_writing_verb_gives_one_error_naming_the_folder(example, code, argv):
    res = _forge(*[a.format(p=example) for a in argv], unwritable=f"{code}:{example}")
    doc = _one_error(res, example, "--json" in argv)  # the lock in .factory/, or init's files
    fix = " ".join(res.stderr.split())
    want = {"EROFS": "read-write", "ENOSPC": "free space", "EACCES": "write access"}[code]
    assert want in fix
    if doc is not None:
        assert doc["kind"] == ("disk_full" if code == "ENOSPC" else "not_writable")


def test_a_new_project_in_a_read_only_folder(tmp_path):
    res = _forge("init", str(tmp_path / "new"), unwritable=f"EROFS:{tmp_path}")
    _one_error(res, tmp_path, json_out=False)
    res = _forge("demo", str(tmp_path / "demo"), "--quick", "--json", unwritable=f"EROFS:{tmp_path}")
    _one_error(res, tmp_path, json_out=True)


def test_a_write_after_the_lock_names_the_file_not_its_temporary_name(example):
    """A full disk at the atomic writer (plan --write's training-config.json), past the lock (plan
    --write takes it like the verbs above)."""
    res = _forge("plan", str(example), "--write", "--json", unwritable=f"ENOSPC:{example}/.training-config.json.*")
    doc = _one_error(res, example, json_out=True)
    assert f"{example / 'training-config.json'}" in doc["error"] and ".tmp" not in doc["error"]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="a bind mount needs root")
def test_a_real_read_only_mount(example, tmp_path):
    ro = tmp_path / "ro"
    shutil.copytree(example, ro)
    if subprocess.run(["mount", "--bind", "-o", "ro", str(ro), str(ro)], capture_output=True).returncode != 0:
        pytest.skip("mount --bind refused here")
    try:
        _one_error(_forge("baseline", str(ro), "--json"), ro / ".factory", json_out=True)
        assert _forge("status", str(ro)).returncode == 0  # a reader still answers
    finally:
        subprocess.run(["umount", str(ro)], check=True)


def test_the_rule_names_the_nearest_folder_and_leaves_other_errors_alone(tmp_path):
    from forge.errors import unwritable_error

    e = unwritable_error(OSError(errno.EROFS, "Read-only file system", str(tmp_path / "a" / "b.json")))
    assert e is not None and e.exit_code == 1 and f"cannot write {tmp_path} " in e.message
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("saving failed") from inner
    except RuntimeError as outer:
        assert unwritable_error(outer).kind == "disk_full"
    assert unwritable_error(FileNotFoundError(errno.ENOENT, "x", "y")) is None
    assert unwritable_error(ValueError("no")) is None
