"""Line-numbered validation report of a dataset file (torch-free).

PLACEHOLDER (foundation): the data-validation work makes this streaming, complete and tested.
The interface (DataReport fields, validate_file, validate_splits) is what other modules rely on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from forge.data.reader import DataError, load_conversations


@dataclass
class Problem:
    line: int
    kind: str
    message: str

    def render(self, path: Path | str) -> str:
        return f"{path}:{self.line}: {self.message}"


@dataclass
class DataReport:
    path: str
    exists: bool = True
    format: str | None = None  # sharegpt | messages | alpaca | mixed
    rows: int = 0  # records read (non-blank lines / array items)
    valid: int = 0  # records usable for training
    problems: list[Problem] = field(default_factory=list)  # capped list, in file order
    counts: dict[str, int] = field(default_factory=dict)  # problem kind -> how many
    conversions: dict[str, int] = field(default_factory=dict)  # rule -> how many turns/rows converted
    duplicates: int = 0  # records identical to an earlier one in the same file
    leaked: int = 0  # (val only) records that also appear in train
    fatal: str | None = None  # a problem with the whole file (missing, not UTF-8, ...)

    @property
    def ok(self) -> bool:
        return self.exists and self.fatal is None and self.valid > 0 and not self.counts

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d

    def summary(self) -> str:
        if not self.exists:
            return f"{self.path}: missing"
        if self.fatal:
            return f"{self.path}: {self.fatal}"
        bad = sum(self.counts.values())
        return f"{self.path}: {self.rows} rows, {self.valid} valid, {bad} problem(s)"


def validate_file(path: Path, max_listed: int = 50) -> DataReport:
    path = Path(path)
    report = DataReport(str(path))
    if not path.exists():
        report.exists = False
        return report
    try:
        convs = load_conversations(path)
    except DataError as e:
        report.fatal = str(e)
        return report
    report.rows = report.valid = len(convs)
    report.format = "sharegpt"
    return report


def validate_splits(train_path: Path, val_path: Path | None) -> tuple[DataReport, DataReport | None]:
    train = validate_file(train_path)
    val = validate_file(val_path) if val_path is not None else None
    return train, val
