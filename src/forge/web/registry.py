"""The projects one `forge ui` shows, and what it caches about them (all read-only, torch-free).

Ids are slugs of the folder names (deduplicated with -2, -3, ...); a project's index works too.
Nothing a client sends is ever used as a path except through readers.safe_project_file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from forge.clock import utcnow
from forge.hints import name_folder
from forge.plan.hardware import HardwareInfo
from forge.project import Project
from forge.web.readers import HistoryReader

CHECKLIST_TTL_SECONDS = 30.0


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "project"


def _stat_sig(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class HardwareProbe:
    """Probe the hardware once, in a child process, so the web process never imports torch.

    The answer arrives in the background; checklist requests wait for it (up to `timeout`).
    """

    def __init__(self, hardware: HardwareInfo | None = None, probe: bool = True, timeout: float = 120.0):
        self._info = hardware
        self._done = threading.Event()
        self.timeout = timeout
        if hardware is not None:
            self._done.set()
        elif not probe:
            self._info = HardwareInfo(problem="hardware not probed (the UI was started without a probe)")
            self._done.set()
        else:
            threading.Thread(target=self._run, name="forge-hardware-probe", daemon=True).start()

    def _run(self) -> None:
        code = "import json; from forge.plan.hardware import probe; print(json.dumps(probe().to_dict()))"
        src = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])))
        try:
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, timeout=self.timeout, env=env
            )
            if out.returncode != 0:
                raise RuntimeError((out.stderr or out.stdout).strip().splitlines()[-1:] or ["probe failed"])
            self._info = HardwareInfo.from_dict(json.loads(out.stdout.strip().splitlines()[-1]))
        except Exception as e:  # any failure still leaves an answer the checklist can show
            self._info = HardwareInfo(problem=f"hardware probe failed: {e}")
        finally:
            self._done.set()

    @property
    def ready(self) -> bool:
        return self._done.is_set()

    def get(self, wait: float | None = None) -> HardwareInfo | None:
        self._done.wait(self.timeout if wait is None else wait)
        return self._info if self._done.is_set() else None


def _to_plain(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    return obj


def normalise_checklist(raw: Any, root: Path | None = None) -> dict[str, Any]:
    """A checklist from forge.check.before or forge.check.outputs -> {ready, sections: {name: [items]}, ...};
    with `root`, the fixes' command hints name that project folder, absolute (forge.hints)."""
    # forge's own Checklist gives its record (forge.records.checklists), the --json layout; the
    # tolerant reading below is for stand-ins (tests, a replaced forge.check.outputs)
    data = raw.record().to_data() if hasattr(raw, "record") else _to_plain(raw)
    if not isinstance(data, dict):
        return {"available": False, "reason": f"unexpected result {type(raw).__name__}"}
    sections: dict[str, list[dict]] = {}
    raw_sections = data.get("sections")
    if isinstance(raw_sections, dict):
        for name, items in raw_sections.items():
            sections[str(name)] = [_to_plain(i) for i in items or [] if isinstance(_to_plain(i), dict)]
    elif isinstance(raw_sections, list):  # [{"name": ..., "items": [...]}]
        for sec in raw_sections:
            sec = _to_plain(sec)
            if isinstance(sec, dict):
                items = [_to_plain(i) for i in sec.get("items") or []]
                sections[str(sec.get("name") or sec.get("section") or "")] = [i for i in items if isinstance(i, dict)]
    items = data.get("items") or data.get("checks")
    if not sections and isinstance(items, list):
        for i in items:
            i = _to_plain(i)
            if isinstance(i, dict):
                sections.setdefault(str(i.get("section") or "Checks"), []).append(i)
    for name, items in sections.items():
        for i in items:
            i.setdefault("section", name)
            i.setdefault("name", str(i.get("title") or i.get("check") or ""))
            status = i.get("status")
            if isinstance(status, bool) or status is None:
                ok = i.get("ok", i.get("passed", status))
                i["status"] = "ok" if ok else ("warn" if i.get("optional") else "fail")
            i["detail"] = str(i.get("detail") or i.get("message") or "")
            if isinstance(i.get("fix"), str):
                i["fix"] = name_folder(i["fix"], root, absolute=True)
    ready = data.get("ready", data.get("ok", data.get("passed")))
    if ready is None and sections:
        ready = not any(i.get("status") == "fail" for items in sections.values() for i in items)
    return {
        "available": True,
        "ready": bool(ready) if ready is not None else None,
        "sections": sections,
        "hardware": data.get("hardware"),
        "data": data.get("data"),
    }


class ProjectEntry:
    def __init__(self, index: int, slug: str, project: Project):
        self.index = index
        self.id = slug
        self.project = project
        self.name = project.root.name or str(project.root)
        self.history = HistoryReader(project.history_file)
        self._lock = threading.Lock()
        self._pre: tuple[Any, float, dict] | None = None
        self._out: tuple[Any, float, dict] | None = None

    # a cheap fingerprint of the files the checklists, metrics and artifacts depend on
    def inputs_signature(self) -> tuple:
        p = self.project
        return tuple(
            _stat_sig(x)
            for x in (p.config_file, p.train_file, p.val_file, p.train_file.parent, p.baseline_file, p.metrics_dir)
        )

    def outputs_signature(self) -> tuple:
        from forge.config.verb_config import reader_config

        p = self.project
        out = p.outputs(reader_config(p))  # the folders the outputs checklist checks (forge.config.verb_config)
        paths = [
            p.training_stats_file,
            p.evaluation_file,
            p.baseline_file,
            p.export_report_file,
            p.loss_plot_file,
            out.lora,
            out.lora / "adapter_model.safetensors",
            out.lora / "adapter_config.json",
            out.merged,
            out.gguf,
            p.root / "models",
            p.root / "models" / "checkpoints",
        ]
        return tuple(_stat_sig(x) for x in paths)

    def files_version(self) -> str:
        return str(hash((self.inputs_signature(), self.outputs_signature())) & 0xFFFFFFFF)

    def pre_training_checklist(self, hardware: HardwareProbe) -> dict[str, Any]:
        sig = self.inputs_signature()
        with self._lock:
            if self._pre and self._pre[0] == sig and time.monotonic() - self._pre[1] < CHECKLIST_TTL_SECONDS:
                return self._pre[2]
        hw = hardware.get()
        if hw is None:
            return {"available": False, "reason": "the hardware probe is still running; try again in a moment"}
        try:
            from forge.check.before import run_checklist

            result = normalise_checklist(run_checklist(self.project, hardware=hw), self.project.root)
        except Exception as e:  # a broken config or data file must not take the page down
            result = {"available": False, "reason": f"{type(e).__name__}: {e}"}
        result["checked_at"] = utcnow()
        with self._lock:
            self._pre = (sig, time.monotonic(), result)
        return result

    def outputs_checklist(self) -> dict[str, Any]:
        # the quality checks read the history and the status too; they are part of the cache key,
        # but not of files_version (that would make every page refetch the checklist at every step)
        p = self.project
        sig = (self.outputs_signature(), _stat_sig(p.history_file), _stat_sig(p.status_file))
        with self._lock:
            if self._out and self._out[0] == sig and time.monotonic() - self._out[1] < CHECKLIST_TTL_SECONDS:
                return self._out[2]
        result = run_outputs_checklist(self.project)
        result["checked_at"] = utcnow()
        with self._lock:
            self._out = (sig, time.monotonic(), result)
        return result


def run_outputs_checklist(project: Project) -> dict[str, Any]:
    """The outputs checklist from forge.check.outputs, imported lazily: 'unavailable' when it is missing."""
    import importlib

    try:
        # import_module reads sys.modules, so a test can stand a fake module in for forge.check.outputs
        verify_mod = importlib.import_module("forge.check.outputs")
        fn = verify_mod.run_verify
    except Exception as e:
        return {"available": False, "reason": f"the outputs checklist is unavailable (forge.check.outputs: {e})"}
    try:
        return normalise_checklist(fn(project), project.root)
    except Exception as e:
        return {"available": False, "reason": f"{type(e).__name__}: {e}"}


class Registry:
    def __init__(self, project_dirs: list[Path]):
        self.entries: list[ProjectEntry] = []
        self._by_id: dict[str, ProjectEntry] = {}
        seen: set[Path] = set()
        for d in project_dirs or [Path(".")]:
            project = Project.at(d)
            if project.root in seen:
                continue
            seen.add(project.root)
            base = slugify(project.root.name)
            slug, n = base, 2
            while slug in self._by_id or slug.isdigit():
                slug, n = f"{base}-{n}", n + 1
            entry = ProjectEntry(len(self.entries), slug, project)
            self.entries.append(entry)
            self._by_id[slug] = entry

    def get(self, project_id: str) -> ProjectEntry | None:
        entry = self._by_id.get(project_id)
        if entry is None and project_id.isdigit() and project_id == str(int(project_id)):
            i = int(project_id)
            entry = self.entries[i] if i < len(self.entries) else None
        return entry
