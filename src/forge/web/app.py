"""The Forge Web UI: a read-only FastAPI app over one or more project folders.

    create_app([Path("proj-a"), Path("proj-b")])  ->  FastAPI

GET /                 the page (static/index.html, app.js, style.css; no build step, no CDN)
GET /api/...          the JSON API (see /docs and /openapi.json)
GET /api/events       server-sent events: every project's status, checked every 0.5 s

The app never writes to a project and never imports torch: the hardware is probed once, in a
child process, when the app is created.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from pathlib import Path
from typing import Any, Optional

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from forge import __version__
from forge.plan.hardware import HardwareInfo
from forge.web import schemas
from forge.web.readers import (
    NotInProject,
    format_duration,
    gate_verdict,
    human_size,
    list_artifacts,
    read_json,
    safe_project_file,
    status_view,
    tail_lines,
)
from forge.web.registry import HardwareProbe, ProjectEntry, Registry

STATIC_DIR = Path(__file__).with_name("static")
POLL_SECONDS = 0.5


def _status(entry: ProjectEntry) -> dict[str, Any]:
    view = status_view(entry.project)
    view["eta_human"] = format_duration(view.get("eta_seconds"))
    return view


def _comparison(baseline: Any, evaluation: Any) -> list[dict[str, Any]]:
    if not isinstance(baseline, dict) or not isinstance(evaluation, dict):
        return []
    rows = []
    for key, b in baseline.items():
        e = evaluation.get(key)
        if isinstance(b, bool) or isinstance(e, bool) or not isinstance(b, (int, float)):
            continue
        if not isinstance(e, (int, float)) or not all(math.isfinite(x) for x in (b, e)):
            continue
        rows.append({"metric": key, "baseline": b, "evaluation": e, "delta": e - b})
    # evaluation.json may also nest the fine-tuned scores, e.g. {"finetuned": {...}}
    for nested in ("finetuned", "fine_tuned", "model", "scores", "metrics"):
        sub = evaluation.get(nested)
        if isinstance(sub, dict) and not rows:
            return _comparison(baseline, sub)
    return rows


def create_app(
    project_dirs: list[Path],
    *,
    hardware: Optional[HardwareInfo] = None,
    probe_hardware: bool = True,
    poll_seconds: float = POLL_SECONDS,
) -> FastAPI:
    """The app for these project folders. `hardware` skips the probe (tests, or a caller that knows)."""
    registry = Registry([Path(d) for d in project_dirs])
    probe = HardwareProbe(hardware, probe=probe_hardware)
    app = FastAPI(
        title="Forge Web UI",
        version=__version__,
        description="Read-only view of forge projects: status, history, checklists, metrics, artifacts.",
    )
    app.state.registry = registry
    app.state.hardware = probe
    # set by whoever stops the server, so that event streams end at once instead of holding it up
    app.state.stopping = stopping = threading.Event()

    def warm_up() -> None:  # parse the histories now, so the first page load does not wait for it
        for e in registry.entries:
            e.history.refresh()

    threading.Thread(target=warm_up, name="forge-web-warm-up", daemon=True).start()

    def entry_or_404(project_id: str) -> ProjectEntry:
        entry = registry.get(project_id)
        if entry is None:
            raise HTTPException(404, f"no project {project_id!r}")
        return entry

    @app.get("/api/info", response_model=schemas.InfoOut, tags=["projects"])
    def info() -> dict:
        hw = probe.get(wait=0)
        return {
            "version": __version__,
            "projects": len(registry.entries),
            "hardware": hw.to_dict() if hw else None,
        }

    @app.get("/api/projects", response_model=list[schemas.ProjectOut], tags=["projects"])
    def projects() -> list[dict]:
        out = []
        for e in registry.entries:
            st = status_view(e.project)
            out.append(
                {
                    "id": e.id,
                    "index": e.index,
                    "name": e.name,
                    "path": str(e.project.root),
                    "exists": e.project.root.is_dir(),
                    "phase": st["effective_phase"],
                    "step": st["step"],
                    "total_steps": st["total_steps"],
                }
            )
        return out

    @app.get("/api/projects/{project_id}/status", response_model=schemas.StatusOut, tags=["projects"])
    def status(project_id: str) -> dict:
        """The status file, with `effective_phase` ('crashed' for a dead pid and a stale file)."""
        return _status(entry_or_404(project_id))

    @app.get("/api/projects/{project_id}/history", response_model=schemas.HistoryOut, tags=["projects"])
    def history(
        project_id: str,
        since: Optional[int] = Query(None, description="Only records with step > since (incremental polling)."),
        max_points: Optional[int] = Query(
            None, ge=2, le=100_000, description="Thin the train points to about this many (eval points are kept)."
        ),
    ) -> JSONResponse:
        """Lines of metrics/training-history.jsonl; the file is read incrementally, once per new byte."""
        # returned as-is: validating 10,000 records through the response model would cost ~0.5 s
        return JSONResponse(entry_or_404(project_id).history.since(since, max_points))

    @app.get("/api/projects/{project_id}/checklist", response_model=schemas.ChecklistsOut, tags=["projects"])
    def checklist(project_id: str) -> dict:
        """The pre-training checklist (`forge check`) and the outputs checklist (`forge verify`)."""
        entry = entry_or_404(project_id)
        return {"pre_training": entry.pre_training_checklist(probe), "outputs": entry.outputs_checklist()}

    @app.get("/api/projects/{project_id}/metrics", response_model=schemas.MetricsOut, tags=["projects"])
    def metrics(project_id: str) -> dict:
        """baseline.json, training-stats.json and evaluation.json, with the gate verdict."""
        p = entry_or_404(project_id).project
        problems: dict[str, str] = {}
        docs: dict[str, Any] = {}
        for key, path in (
            ("baseline", p.baseline_file),
            ("training_stats", p.training_stats_file),
            ("evaluation", p.evaluation_file),
        ):
            data, why = read_json(path)
            if why:
                problems[path.name] = why
            elif data is not None and not isinstance(data, dict):
                problems[path.name] = "not a JSON object"
                data = None
            docs[key] = data
        return {
            **docs,
            "gate": gate_verdict(docs["evaluation"]),
            "comparison": _comparison(docs["baseline"], docs["evaluation"]),
            "problems": problems,
            "loss_plot": f"/api/projects/{project_id}/files/metrics/loss.png" if p.loss_plot_file.is_file() else None,
        }

    @app.get("/api/projects/{project_id}/artifacts", response_model=schemas.ArtifactsOut, tags=["projects"])
    def artifacts(project_id: str) -> dict:
        """Files under models/ with their sizes."""
        files = list_artifacts(entry_or_404(project_id).project)
        by_kind: dict[str, int] = {}
        for f in files:
            f["size_human"] = human_size(f["size"])
            by_kind[f["kind"]] = by_kind.get(f["kind"], 0) + f["size"]
        total = sum(f["size"] for f in files)
        return {"files": files, "total_size": total, "total_human": human_size(total), "by_kind": by_kind}

    @app.get("/api/projects/{project_id}/log", response_model=schemas.LogOut, tags=["projects"])
    def log(project_id: str, lines: int = Query(200, ge=1, le=5000)) -> dict:
        """The last lines of logs/training.log."""
        p = entry_or_404(project_id).project
        return {
            "path": p.log_file.relative_to(p.root).as_posix(),
            "exists": p.log_file.is_file(),
            "lines": tail_lines(p.log_file, lines),
        }

    @app.get("/api/projects/{project_id}/files/{relative:path}", tags=["files"])
    def project_file(project_id: str, relative: str) -> FileResponse:
        """One file of the project (e.g. metrics/loss.png). Anything outside the project is a 404."""
        entry = entry_or_404(project_id)
        try:
            path = safe_project_file(entry.project.root, relative)
        except NotInProject:
            raise HTTPException(404, "not found") from None
        return FileResponse(path)

    def snapshot(entry: ProjectEntry) -> dict[str, Any]:
        try:
            hist = entry.project.history_file.stat().st_size
        except OSError:
            hist = 0
        return {
            "project": entry.id,
            "status": _status(entry),
            "history_size": hist,
            "files_version": entry.files_version(),
        }

    async def event_stream(request: Request, entries: list[ProjectEntry], max_seconds: float):
        yield "retry: 1000\n\n"
        last: dict[str, str] = {}
        started = last_beat = time.monotonic()
        while True:
            for e in entries:
                snap = await asyncio.to_thread(snapshot, e)
                key = json.dumps({k: v for k, v in snap.items() if k != "status"}) + json.dumps(
                    {k: v for k, v in snap["status"].items() if k != "age_seconds"}, sort_keys=True, default=str
                )
                if last.get(e.id) != key:
                    last[e.id] = key
                    yield f"event: status\ndata: {json.dumps(snap, default=str)}\n\n"
            now = time.monotonic()
            if now - started >= max_seconds:
                return
            if now - last_beat > 15:
                last_beat = now
                yield ": keep-alive\n\n"
            if stopping.is_set() or await request.is_disconnected():
                return
            await asyncio.sleep(poll_seconds)

    sse_doc = "Server-sent events: `event: status` with {project, status, history_size, files_version}, sent when any of them changes (checked every 0.5 s). The stream ends after max_seconds; EventSource reconnects by itself."

    def sse(request: Request, entries: list[ProjectEntry], max_seconds: float) -> StreamingResponse:
        return StreamingResponse(
            event_stream(request, entries, max_seconds),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get("/api/events", tags=["live"], description=sse_doc)
    def events(request: Request, max_seconds: float = Query(300, gt=0, le=3600)) -> StreamingResponse:
        return sse(request, registry.entries, max_seconds)

    @app.get("/api/projects/{project_id}/events", tags=["live"], description=sse_doc)
    def project_events(
        request: Request, project_id: str, max_seconds: float = Query(300, gt=0, le=3600)
    ) -> StreamingResponse:
        return sse(request, [entry_or_404(project_id)], max_seconds)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
