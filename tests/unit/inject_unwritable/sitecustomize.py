"""Test-only: put on PYTHONPATH of a forge subprocess with FORGE_TEST_UNWRITABLE="ERRNO:FOLDER" (e.g.
"EROFS:/tmp/p") to make every write under FOLDER fail as a read-only mount (EROFS), a full disk
(ENOSPC) or another user's folder (EACCES) does; FOLDER may be a pattern (fnmatch) of the files
that fail, e.g. ".../.training-config.json.*" for the atomic writer's temporary file. chmod does not stop root, and tests may run as
root; this stops everyone, from outside forge (production code carries no test hook)."""

import builtins
import errno
import fnmatch
import io
import os

_spec = os.environ.get("FORGE_TEST_UNWRITABLE", "")
if ":" in _spec:
    _name, _folder = _spec.split(":", 1)
    _code = getattr(errno, _name)
    _root = os.path.realpath(_folder)
    _WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def _under(path) -> bool:
        try:
            p = os.path.realpath(os.fsdecode(path))
        except TypeError:  # a file descriptor
            return False
        return p == _root or p.startswith(_root + os.sep) or fnmatch.fnmatch(p, _folder)

    def _refuse(path):
        raise OSError(_code, os.strerror(_code), os.fsdecode(path))

    def _guard(real, writes=lambda *a, **k: True, exists_ok=False):
        def guarded(path, *args, **kwargs):
            if _under(path) and writes(*args, **kwargs) and not (exists_ok and os.path.lexists(path)):
                _refuse(path)
            return real(path, *args, **kwargs)

        return guarded

    os.open = _guard(os.open, lambda flags, *a, **k: bool(flags & _WRITE))
    os.mkdir = _guard(os.mkdir, exists_ok=True)  # an existing folder: EEXIST, as the kernel answers
    for _fn in ("unlink", "remove", "rmdir", "replace", "rename", "chmod", "utime"):
        setattr(os, _fn, _guard(getattr(os, _fn)))
    _real_open = builtins.open

    def _open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and set(mode) & set("wax+") and _under(file):
            _refuse(file)
        return _real_open(file, mode, *args, **kwargs)

    builtins.open = io.open = _open
