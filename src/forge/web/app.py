"""The Forge Web UI: a read-only FastAPI app over one or more project folders.

    create_app([Path("proj-a"), Path("proj-b")])  ->  FastAPI

GET /                 the page (static/index.html, app.js, style.css; no build step, no CDN)
GET /api/...          the JSON API (see /docs, rendered here without a CDN, and /openapi.json)
GET /api/events       server-sent events: every project's status, checked every 0.5 s

The app never writes to a project and never imports torch: the hardware is probed once, in a
child process, when the app is created. It serves only what lies inside a project: every file a
route reads goes through forge.files.resolve_inside, so a symlink out of the project reads as
absent. Requests whose Host is not a loopback name or the bound address get 421 (web/hosts.py),
and no route sends CORS headers: a page from another origin can neither read it nor rebind to it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Optional

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from forge import __version__
from forge.files import resolve_inside
from forge.plan.hardware import HardwareInfo
from forge.web import apidocs, schemas
from forge.web.hosts import HostGuard, HostPolicy
from forge.web.inspect_route import add_inspect_route
from forge.web.metrics import gate_note, metrics_view
from forge.web.readers import (
    NotInProject,
    format_duration,
    human_size,
    list_artifacts,
    safe_project_file,
    status_view,
    tail_lines,
    unreadable_view,
)
from forge.web.registry import HardwareProbe, ProjectEntry, Registry

_log = logging.getLogger("forge.web")
STATIC_DIR = Path(__file__).with_name("static")
POLL_SECONDS = 0.5
# what /history answers for a history file that links out of the project: no records
_NO_HISTORY = {
    "generation": 0,
    "total_records": 0,
    "returned": 0,
    "downsampled": False,
    "last_step": None,
    "bad_lines": 0,
    "records": [],
}


def _inside(root: Path, path: Path) -> bool:
    """Whether a project file the app is about to read resolves inside the project (links included)."""
    try:
        return resolve_inside(root, path.relative_to(root)) is not None
    except ValueError:
        return False


def _status(entry: ProjectEntry) -> dict[str, Any]:
    """The project's status view; a project whose view fails reads as unreadable, so that it
    cannot take the project list, the event stream or the other projects' tabs down with it."""
    try:
        view = status_view(entry.project)
    except Exception as e:  # status_view never raises on file content: this is a bug or a vanished folder
        _log.exception("status of %s", entry.project.root)
        view = unreadable_view(entry.project, e)
    view["eta_human"] = format_duration(view.get("eta_seconds"))
    return view


def create_app(
    project_dirs: list[Path],
    *,
    hardware: Optional[HardwareInfo] = None,
    probe_hardware: bool = True,
    poll_seconds: float = POLL_SECONDS,
    host: str = "127.0.0.1",
) -> FastAPI:
    """The app for these project folders. `hardware` skips the probe (tests, or a caller that knows);
    `host` is the address the server binds, the one non-loopback name requests may carry."""
    registry = Registry([Path(d) for d in project_dirs])
    probe = HardwareProbe(hardware, probe=probe_hardware)
    app = FastAPI(
        title="Forge Web UI",
        version=__version__,
        description="Read-only view of forge projects: status, history, checklists, metrics, artifacts.",
        docs_url=None,  # Swagger UI and ReDoc load from a CDN: /docs below renders the spec offline
        redoc_url=None,
    )
    app.add_middleware(HostGuard, policy=HostPolicy(host))
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

    add_inspect_route(app, entry_or_404)

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
            st = _status(e)
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
        """The status file, with `effective_phase` ('crashed': stale and its writer holds no lock; 'unreadable') and `problems`."""
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
        entry = entry_or_404(project_id)
        p = entry.project
        if not _inside(p.root, p.history_file):
            return JSONResponse({**_NO_HISTORY, "since": since})
        # returned as-is: validating 10,000 records through the response model would cost ~0.5 s
        return JSONResponse(entry.history.since(since, max_points))

    @app.get("/api/projects/{project_id}/checklist", response_model=schemas.ChecklistsOut, tags=["projects"])
    def checklist(project_id: str) -> dict:
        """The pre-training checklist (`forge check`) and the outputs checklist (`forge verify`)."""
        entry = entry_or_404(project_id)
        return {"pre_training": entry.pre_training_checklist(probe), "outputs": entry.outputs_checklist()}

    @app.get("/api/projects/{project_id}/metrics", response_model=schemas.MetricsOut, tags=["projects"])
    def metrics(project_id: str) -> dict:
        """baseline.json, training-stats.json and evaluation.json, with the gate verdict; `metrics_stale` and
        `evaluation_stale` say whether the stats and the evaluation are of the run and the adapter there now."""
        p = entry_or_404(project_id).project
        url = f"/api/projects/{project_id}/files/metrics/loss.png"
        view = metrics_view(p, loss_plot_url=url, hardware=probe.get(wait=0))  # None until the probe answers
        for key, path in (
            ("baseline", p.baseline_file),
            ("training_stats", p.training_stats_file),
            ("evaluation", p.evaluation_file),
        ):
            if path.exists() and not _inside(p.root, path):  # a metrics file linked out: not this project's
                view[key] = None
                view["problems"][path.name] = "links outside the project: not read"
                if key == "training_stats":
                    view["metrics_stale"] = view["metrics_stale_reason"] = None
                if key == "baseline":
                    view["baseline_stale"] = view["baseline_stale_reason"] = None
        if view.get("loss_plot") and not _inside(p.root, p.loss_plot_file):
            view["loss_plot"] = None
        if not _inside(p.root, p.evaluation_file):
            view["gate"], view["comparison"] = None, []
        view["gate_note"] = gate_note(view, p.root)  # of the files as served (none linked out)
        return view

    @app.get("/api/projects/{project_id}/artifacts", response_model=schemas.ArtifactsOut, tags=["projects"])
    def artifacts(project_id: str) -> dict:
        """Files under models/ and the config's output folders, with their sizes."""
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
        inside = _inside(p.root, p.log_file)  # a log linked to a system file is not this project's log
        return {
            "path": p.log_file.relative_to(p.root).as_posix(),
            "exists": inside and p.log_file.is_file(),
            "lines": tail_lines(p.log_file, lines) if inside else [],
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
        p = entry.project
        try:
            hist = p.history_file.stat().st_size if _inside(p.root, p.history_file) else 0
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
                try:
                    snap = await asyncio.to_thread(snapshot, e)
                except Exception as exc:  # one project's failure must not end the stream of the others
                    _log.exception("event snapshot of %s", e.project.root)
                    snap = {
                        "project": e.id,
                        "status": {**unreadable_view(e.project, exc), "eta_human": "—"},
                        "history_size": 0,
                        "files_version": "",
                    }
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

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(apidocs.render(app.openapi()), headers={"Cache-Control": "no-cache"})

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
