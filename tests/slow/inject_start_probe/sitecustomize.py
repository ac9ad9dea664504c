"""Test-only: put on PYTHONPATH of a `forge train` subprocess with FORGE_TEST_STOP_AT_START=1 to end
it with exit 99 once train has decided where the run starts (forge.train.resume.start_point):
past every refusal of the command line, the config, the data and the checkpoints, before any model
loads. tests/slow/test_hints_accepted.py runs each printed hint so, to see that forge accepts it."""

import os

if os.environ.get("FORGE_TEST_STOP_AT_START") == "1":
    import forge.train.resume as _resume

    _real = _resume.start_point

    def start_point(*args, **kwargs):
        _real(*args, **kwargs)
        raise SystemExit(99)  # accepted: training would start here

    _resume.start_point = start_point
