"""The versioned record every project file is built from, and the one way to read and write it.

Versioning rule: `SCHEMA_VERSION` of a record class is the newest layout forge writes. A file with
no `schema_version` (written before records existed) or an older one is read when its class lists
a migration for it in `_migrate`, else refused with a RecordError whose fix says how to remake it.
A file from a newer forge is refused the same way: guessing at a layout we do not know is how
readers went wrong before. Unknown keys are kept (`extra="allow"`): a newer minor addition must
not make an older reader fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from forge.errors import ForgeError
from forge.files import atomic_write_json

R = TypeVar("R", bound="Record")


class RecordError(ForgeError):
    """A project file that exists but cannot be read as the record it should be."""

    kind = "record"


class Record(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    SCHEMA_VERSION: ClassVar[int] = 1
    # how to remake the file when it is refused, e.g. "rerun `forge baseline`"
    REMAKE: ClassVar[str] = "remake it with the forge verb that writes it"

    schema_version: int = 1

    def __init__(self, **data: Any):
        data.setdefault("schema_version", type(self).SCHEMA_VERSION)
        super().__init__(**data)

    @classmethod
    def _migrate(cls, data: dict, version: int) -> dict | None:
        """Turn an older layout into the current one; None when `version` cannot be read."""
        return data if version == cls.SCHEMA_VERSION else None

    @classmethod
    def from_data(cls: type[R], data: Any, source: str = "") -> R:
        where = f"{source}: " if source else ""
        if not isinstance(data, dict):
            raise RecordError(f"{where}not a JSON object", cls.REMAKE, file=source or None)
        version = data.get("schema_version", 0)
        if not isinstance(version, int):
            raise RecordError(f"{where}schema_version {version!r} is not a number", cls.REMAKE, file=source or None)
        if version > cls.SCHEMA_VERSION:
            raise RecordError(
                f"{where}written by a newer forge (schema_version {version}; this forge reads up to "
                f"{cls.SCHEMA_VERSION})",
                "upgrade forge (pip install -U factory-forge), or " + cls.REMAKE,
                file=source or None,
            )
        migrated = cls._migrate(dict(data), version)
        if migrated is None:
            raise RecordError(
                f"{where}schema_version {version} is no longer read (this forge reads {cls.SCHEMA_VERSION})",
                cls.REMAKE,
                file=source or None,
            )
        migrated["schema_version"] = cls.SCHEMA_VERSION
        try:
            return cls.model_validate(migrated)
        except ValidationError as e:
            first = e.errors()[0]
            key = ".".join(str(p) for p in first.get("loc", ())) or "?"
            raise RecordError(f"{where}{key}: {first.get('msg')}", cls.REMAKE, file=source or None) from None

    def to_data(self) -> dict:
        return self.model_dump(mode="json")


def write_record(path: Path, record: Record) -> None:
    atomic_write_json(path, record.to_data())


def read_record(path: Path, cls: type[R]) -> R:
    """The record in `path`; RecordError (with the fix) when it is missing, torn or foreign."""
    try:
        # utf-8-sig: a record saved again by an editor that adds a BOM still reads
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RecordError(f"{path}: not found", cls.REMAKE, file=str(path)) from None
    except UnicodeDecodeError as e:  # a ValueError, not an OSError: it went up as a traceback
        raise RecordError(
            f"{path}: not UTF-8 (byte 0x{e.object[e.start]:02x} at offset {e.start})", cls.REMAKE, file=str(path)
        ) from None
    try:
        data = json.loads(text)
    except ValueError as e:
        line = getattr(e, "lineno", None)  # a JSONDecodeError's line
        raise RecordError(f"{path}: not valid JSON ({e})", cls.REMAKE, file=str(path), line=line) from None
    return cls.from_data(data, str(path))


def try_read_record(path: Path, cls: type[R]) -> tuple[R | None, str | None]:
    """(record, None), (None, None) when the file is absent, or (None, the reason it was refused)."""
    if not path.is_file():
        return None, None
    try:
        return read_record(path, cls), None
    except RecordError as e:
        return None, f"{e.message}; fix: {e.fix}" if e.fix else e.message
    except OSError as e:
        return None, f"{path}: {e.strerror or e}"
