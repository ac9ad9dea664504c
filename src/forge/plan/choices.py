"""Which values of a config file the user chose, from facts rather than from equality with defaults.

`forge init` writes every key of the template, and `forge plan --write` fills in its own values, so
a value in training-config.json may be forge's (the plan may replace it) or the user's (the plan
keeps it). `.factory/plan.json` (records.plan.PlanRecord) says which is which:

- a value forge wrote (a template default that `forge init` wrote, a value of `forge plan --write`)
  and still there unchanged: forge's;
- a value a flag chose (`forge init --model`, `forge init --example NAME`, `forge plan --set`):
  the user's, with the flag named;
- any other value (edited or added by hand): the user's.

Projects an older forge made (no record, or one that lists only plan --write's values): a value
equal to the template's default counts as forge's, as it always did there, and the first
`forge plan --write` turns that into a complete record. To pin such a value, pass it with
`forge plan --set KEY=VALUE --write` (docs/configuration.md, "Pinning a value").
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from forge.records.plan import PlanRecord

RECORD_NAME = "plan.json"
SET_FLAG = "forge plan --set"


def flatten(d: dict) -> dict[str, Any]:
    """{"model": {"name": x}} -> {"model.name": x}: one level of sections, no `$schema`."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if k.startswith("$"):
            continue
        if isinstance(v, dict):
            out.update({f"{k}.{name}": value for name, value in v.items()})
        else:
            out[k] = v
    return out


def record_path(project, config_file: Path | None = None) -> Path:
    """The record of one config file: plan.json for training-config.json, one of its own for a
    `--config` file (a record of one file says nothing about another)."""
    if config_file is None or Path(config_file).resolve() == project.config_file.resolve():
        return project.factory_dir / RECORD_NAME
    path = Path(config_file).resolve()
    try:
        tag = str(path.relative_to(project.root.resolve())).replace("/", "__")
    except ValueError:
        tag = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    return project.factory_dir / f"plan-{tag}.json"


def read_record(project, config_file: Path | None = None) -> PlanRecord | None:
    """The record of `config_file`; None when there is none (a torn or foreign one only costs the
    memory of what forge wrote: the older rule applies)."""
    from forge.records.base import try_read_record

    found, _ = try_read_record(record_path(project, config_file), PlanRecord)
    return found


def _show(v: Any) -> str:
    import json

    return v if isinstance(v, str) else json.dumps(v)


def user_choices(
    raw: dict, record: PlanRecord | None, overrides: list[str] = (), file_name: str = "training-config.json"
) -> dict[str, str]:
    """section.key -> why it is the user's, for every value the user chose (the file's and --set's)."""
    from forge.config import default_config_dict, parse_override

    written = record.written if record else {}
    chosen = record.chosen if record else {}
    complete = bool(record and record.complete)
    defaults = {} if complete else flatten(default_config_dict())
    out: dict[str, str] = {}
    for key, value in flatten(raw).items():
        if key in chosen:
            out[key] = chosen[key]
        elif key in written:
            if written[key] != value:
                out[key] = f"edited in {file_name} (forge wrote {_show(written[key])})"
        elif complete:
            out[key] = f"in {file_name}, not written by forge"
        elif key not in defaults:
            out[key] = f"in {file_name}, not a key of the template"
        elif defaults[key] != value:
            out[key] = f"in {file_name}, not the template's default ({_show(defaults[key])})"
        # else: an older project's template default, forge's (module docstring)
    for item in overrides:
        parts, _ = parse_override(item)
        out[".".join(parts)] = "--set"
    return out


def legacy_note(record: PlanRecord | None, file_name: str = "training-config.json") -> str | None:
    """What plan says when the older rule decided (None when the record is complete)."""
    if record is not None and record.complete:
        return None
    return (
        f"no record of which values of {file_name} forge wrote (a project of an older forge): values equal "
        "to the template's defaults count as forge's and may be replaced; pin one with "
        "`forge plan --set KEY=VALUE --write` (--write also records the rest)"
    )


def init_record(config: dict, chosen: dict[str, str]) -> PlanRecord:
    """The record `forge init` leaves beside the config it wrote: every value is forge's but those
    a flag chose."""
    flat = flatten(config)
    return PlanRecord(
        written={k: v for k, v in flat.items() if k not in chosen},
        chosen={k: why for k, why in chosen.items() if k in flat},
        complete=True,
    )


def record_after_write(new: dict, yours: dict[str, str]) -> PlanRecord:
    """The record of the file `forge plan --write` just wrote: the user's keys stay theirs (a --set
    now for good), every other value in it is forge's."""
    flat = flatten(new)
    return PlanRecord(
        written={k: v for k, v in flat.items() if k not in yours},
        chosen={k: (SET_FLAG if why == "--set" else why) for k, why in yours.items() if k in flat},
        complete=True,
    )


def choose(record: PlanRecord | None, key: str, why: str) -> PlanRecord:
    """`record` with `key` now the user's (`why`: the flag), e.g. `forge init EXISTING --model X`."""
    if record is None:
        record = PlanRecord()
    written = {k: v for k, v in record.written.items() if k != key}
    chosen = {**record.chosen, key: why}
    return PlanRecord(written=written, chosen=chosen, complete=record.complete)
