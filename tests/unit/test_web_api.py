"""The Forge Web UI's JSON API, through FastAPI's test client (no browser, no torch)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

pytest.importorskip("httpx")
from fastapi.testclient import TestClient as _TestClient  # noqa: E402

from evaluate_files import write_metrics  # noqa: E402
from forge.files import atomic_write_json  # noqa: E402
from forge.plan.hardware import HardwareInfo  # noqa: E402
from forge.project import Project  # noqa: E402
from forge.status import StatusWriter
from forge.web.app import create_app  # noqa: E402


def TestClient(app, **kw):  # noqa: N802 (stands in for FastAPI's class)
    """FastAPI's client with a loopback Host: the app answers 421 to its default `testserver`."""
    return _TestClient(app, base_url="http://127.0.0.1:7860", **kw)


HW = HardwareInfo(torch_version="2.13.0", problem="no CUDA GPU visible (test)")
DEAD_PID = 2**22 + 4321


def make_project(root: Path) -> Project:
    p = Project.at(root)
    for d in ("data/splits", "metrics", "models", ".factory", "logs"):
        (p.root / d).mkdir(parents=True, exist_ok=True)
    return p


def append_history(p: Project, steps, eval_every: int = 0) -> None:
    with open(p.history_file, "a", encoding="utf-8") as f:
        for s in steps:
            f.write(json.dumps({"step": s, "epoch": s / 100, "loss": 2.0 / s, "learning_rate": 1e-4}) + "\n")
            if eval_every and s % eval_every == 0:
                f.write(json.dumps({"step": s, "eval_loss": 2.5 / s}) + "\n")


@pytest.fixture
def proj(tmp_path) -> Project:
    return make_project(tmp_path / "My Project")


@pytest.fixture
def client(proj) -> TestClient:
    return TestClient(create_app([proj.root], hardware=HW))


def test_projects_ids_are_slugs_or_indexes_never_paths(tmp_path):
    a = make_project(tmp_path / "a" / "run")
    b = make_project(tmp_path / "b" / "run")
    c = TestClient(create_app([a.root, b.root, a.root], hardware=HW))
    got = c.get("/api/projects").json()
    assert [(p["id"], p["index"], p["phase"]) for p in got] == [("run", 0, "idle"), ("run-2", 1, "idle")]
    assert got[1]["path"] == str(b.root)
    assert c.get("/api/projects/run-2/status").status_code == 200
    assert c.get("/api/projects/1/status").status_code == 200
    for bad in ("2", "01", "-1", "..", "%2e%2e", "%2Ftmp", str(a.root).replace("/", "%2F"), "run%2F..%2Frun-2"):
        assert c.get(f"/api/projects/{bad}/status").status_code == 404, bad


def test_status_no_run_running_and_crashed(proj, client):
    st = client.get("/api/projects/0/status").json()
    assert st["exists"] is False and st["effective_phase"] == "idle" and st["progress"] is None

    w = StatusWriter(proj.status_file, pid=os.getpid(), run_id="r1")
    w.phase("training", step=45, total_steps=100, eta_seconds=3725, loss=float("nan"))
    st = client.get("/api/projects/0/status").json()
    assert st["effective_phase"] == "training" and st["step"] == 45 and st["progress"] == 0.45
    assert st["eta_human"] == "1h 02m" and st["loss"] is None  # NaN is not JSON: null
    assert st["crashed"] is False and st["pid_alive"] is True

    data = json.loads(proj.status_file.read_text())
    data.update(pid=DEAD_PID, last_updated="2020-01-01T00:00:00Z")
    atomic_write_json(proj.status_file, data)
    st = client.get("/api/projects/0/status").json()
    assert st["phase"] == "training" and st["effective_phase"] == "crashed" and st["crashed"] and st["final"]
    assert client.get("/api/projects").json()[0]["phase"] == "crashed"


def test_failed_status_carries_error_kind_and_solution(proj, client):
    w = StatusWriter(proj.status_file, pid=os.getpid())
    w.phase("failed", error="CUDA out of memory", error_kind="oom", solution="lower the batch")
    st = client.get("/api/projects/0/status").json()
    assert (st["effective_phase"], st["error"], st["error_kind"], st["solution"]) == (
        "failed",
        "CUDA out of memory",
        "oom",
        "lower the batch",
    )


def test_history_is_incremental(proj, client):
    url = "/api/projects/0/history"
    h = client.get(url).json()
    assert h["records"] == [] and h["last_step"] is None
    append_history(proj, range(1, 11), eval_every=5)
    h = client.get(url).json()
    assert [r["step"] for r in h["records"]] == list(range(1, 11))
    assert h["records"][4]["eval_loss"] == 0.5 and h["records"][4]["loss"] == 0.4  # eval line merged
    gen = h["generation"]

    append_history(proj, range(11, 16))
    with open(proj.history_file, "a") as f:
        f.write('{"step": 16, "loss"')  # a line the writer has not finished
    h = client.get(url, params={"since": 10}).json()
    assert [r["step"] for r in h["records"]] == [11, 12, 13, 14, 15] and h["generation"] == gen
    with open(proj.history_file, "a") as f:
        f.write(": 0.1}\n")
    h = client.get(url, params={"since": 15}).json()
    assert [(r["step"], r["loss"]) for r in h["records"]] == [(16, 0.1)] and h["bad_lines"] == 0

    # a resumed run logs earlier steps again: later records are dropped, clients start over
    append_history(proj, range(14, 18))
    h = client.get(url).json()
    assert [r["step"] for r in h["records"]][-5:] == [13, 14, 15, 16, 17] and h["generation"] > gen

    # a new run replaces the file
    gen = h["generation"]
    proj.history_file.unlink()
    append_history(proj, range(1, 3))
    h = client.get(url).json()
    assert [r["step"] for r in h["records"]] == [1, 2] and h["generation"] > gen


def test_history_reads_only_the_appended_bytes(proj, client):
    append_history(proj, range(1, 101))
    assert client.get("/api/projects/0/history").json()["total_records"] == 100
    # scribble over the first line in place (same inode, same size): a reader that re-parsed the
    # whole file would count a bad line; an incremental one never looks back
    raw = proj.history_file.read_bytes()
    first = raw.index(b"\n")
    with open(proj.history_file, "r+b") as f:
        f.write(b"x" * first)
    append_history(proj, range(101, 103))
    h = client.get("/api/projects/0/history", params={"since": 100}).json()
    assert [r["step"] for r in h["records"]] == [101, 102] and h["bad_lines"] == 0 and h["total_records"] == 102


def test_history_of_10000_steps(proj, client):
    append_history(proj, range(1, 10_001), eval_every=500)
    t = time.perf_counter()
    full = client.get("/api/projects/0/history").json()
    first_s = time.perf_counter() - t
    assert full["total_records"] == 10_000 and full["last_step"] == 10_000
    thin = client.get("/api/projects/0/history", params={"max_points": 500}).json()
    assert thin["downsampled"] and thin["returned"] <= 530
    steps = [r["step"] for r in thin["records"]]
    assert steps[0] == 1 and steps[-1] == 10_000 and steps == sorted(steps)
    assert sum(1 for r in thin["records"] if r["eval_loss"] is not None) == 20  # every eval point kept
    append_history(proj, [10_001])
    t = time.perf_counter()
    inc = client.get("/api/projects/0/history", params={"since": 10_000}).json()
    inc_s = time.perf_counter() - t
    assert [r["step"] for r in inc["records"]] == [10_001]
    print(f"10,000-step history: first read {first_s:.3f}s, incremental {inc_s:.4f}s")


def test_checklists_use_the_given_hardware_and_report_missing_verify(proj, client, monkeypatch):
    monkeypatch.setitem(sys.modules, "forge.check.outputs", None)  # import fails
    c = client.get("/api/projects/0/checklist").json()
    pre = c["pre_training"]
    assert pre["available"] and pre["ready"] is False
    assert set(pre["sections"]) >= {"Data Ready", "Hardware Ready", "Config Ready", "Baseline Done"}
    hw_items = {i["name"]: i for i in pre["sections"]["Hardware Ready"]}
    assert hw_items["PyTorch works"]["status"] == "ok" and "test" in hw_items["GPU available"]["detail"]
    assert c["outputs"]["available"] is False and "unavailable" in c["outputs"]["reason"]


def test_outputs_checklist_from_forge_verify(proj, monkeypatch):
    fake = types.ModuleType("forge.check.outputs")
    fake.run_verify = lambda project: {
        "ready": False,
        "sections": {
            "Required": [{"name": "adapter_config.json", "status": "fail", "detail": "missing", "fix": "forge train"}],
            "Quality": [{"name": "final loss < 1.0", "ok": True, "detail": str(project.root)}],
        },
    }
    monkeypatch.setitem(sys.modules, "forge.check.outputs", fake)
    out = TestClient(create_app([proj.root], hardware=HW)).get("/api/projects/0/checklist").json()["outputs"]
    assert out["available"] and out["ready"] is False
    assert out["sections"]["Required"][0]["status"] == "fail"
    assert out["sections"]["Quality"][0]["status"] == "ok"


def test_metrics_with_gate_and_missing_or_broken_files(proj, client):
    m = client.get("/api/projects/0/metrics").json()
    assert m["baseline"] is None and m["evaluation"] is None and m["gate"] is None and m["problems"] == {}
    # the files as forge baseline / forge evaluate write them (their writers, not a hand-made dict)
    write_metrics(proj, base=(2.0, 7.4, 0.2, 0.0), tuned=(1.5, 4.5, 0.25, 0.0), threshold=0.3)
    proj.training_stats_file.write_text("{broken")
    m = client.get("/api/projects/0/metrics").json()
    assert m["gate"] == {"passed": False, "threshold": 0.3, "relative_improvement": 0.25}
    assert {r["metric"]: r["delta"] for r in m["comparison"]} == {
        "val_loss": -0.5,
        "perplexity": pytest.approx(-2.9),
        "token_f1": pytest.approx(0.05),
        "exact_match": 0.0,
    }
    assert "training-stats.json" in m["problems"] and m["training_stats"] is None
    write_metrics(proj, base=(2.0, 7.4, 0.2, 0.0), tuned=(1.0, 2.7, 0.2, 0.0), threshold=0.3)
    assert client.get("/api/projects/0/metrics").json()["gate"]["passed"] is True


def test_metrics_comparison_shows_the_scores_not_the_bookkeeping(proj, client):
    """The bug: the table listed schema_version and examples (keys both files share), no scores."""
    write_metrics(proj)
    rows = client.get("/api/projects/0/metrics").json()["comparison"]
    assert [(r["metric"], r["label"]) for r in rows] == [
        ("val_loss", "val loss"),
        ("perplexity", "perplexity"),
        ("token_f1", "token F1"),
        ("exact_match", "exact match"),
    ]
    by = {r["metric"]: (r["baseline"], r["evaluation"], r["delta"]) for r in rows}
    assert by["val_loss"] == (2.91, 0.71, pytest.approx(-2.2)) and by["token_f1"] == (0.14, 0.89, pytest.approx(0.75))


def test_metrics_refuses_a_foreign_evaluation_with_the_fix(proj, client):
    write_metrics(proj, tuned=None)
    atomic_write_json(proj.evaluation_file, {"val_loss": 1.0, "gate": "pass"})  # not forge's layout
    m = client.get("/api/projects/0/metrics").json()
    assert m["evaluation"] is None and m["gate"] is None and m["comparison"] == []
    assert "forge evaluate" in m["problems"]["evaluation.json"] and m["baseline"]["val_loss"] == 2.91


def test_history_rows_go_through_the_one_row_parser(proj, client):
    with open(proj.history_file, "w", encoding="utf-8") as f:
        f.write(json.dumps({"global_step": 3, "lr": 1e-4, "train_loss": 1.5, "time": 3.6}) + "\n")  # older spellings
        f.write(json.dumps({"step": 4, "loss": float("nan")}) + "\n")
        f.write(json.dumps({"loss": 1.0}) + "\n")  # no step: skipped, counted
    h = client.get("/api/projects/0/history").json()
    assert [(r["step"], r["loss"], r["learning_rate"]) for r in h["records"]] == [(3, 1.5, 1e-4), (4, None, None)]
    assert h["bad_lines"] == 1


def test_artifacts_with_sizes_and_no_escape(proj, client, tmp_path):
    proj.lora_dir.mkdir(parents=True)
    (proj.lora_dir / "adapter_model.safetensors").write_bytes(b"\0" * 2048)
    proj.quantized_dir.mkdir(parents=True)
    (proj.quantized_dir / "m-q8_0.gguf").write_bytes(b"\0" * 10)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"s" * 99)
    os.symlink(secret, proj.quantized_dir / "link.gguf")
    a = client.get("/api/projects/0/artifacts").json()
    files = {f["path"]: (f["size"], f["kind"]) for f in a["files"]}
    assert files == {
        "models/checkpoints/lora/adapter_model.safetensors": (2048, "lora"),
        "models/quantized/m-q8_0.gguf": (10, "gguf"),
    }
    assert a["total_size"] == 2058 and a["total_human"] == "2.0 KB"


@pytest.fixture
def escape_targets(proj, tmp_path):
    """A file outside the project, reachable through symlinks inside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    os.symlink(outside / "secret.txt", proj.root / "metrics" / "link.txt")
    os.symlink(outside, proj.root / "logs" / "outdir")
    (proj.root / "metrics" / "ok.txt").write_text("fine")
    return outside


BAD_FILE_PATHS = [
    "..%2F..%2Fsecret.txt",
    "..%2f..%2foutside%2fsecret.txt",
    "%2e%2e/%2e%2e/outside/secret.txt",
    "%2e%2e%2f%2e%2e%2foutside%2fsecret.txt",
    "metrics/%2e%2e/%2e%2e/outside/secret.txt",
    "%2Fetc%2Fpasswd",
    "/etc/passwd",
    "%2F%2Fetc%2Fpasswd",
    "..%5C..%5Coutside%5Csecret.txt",
    "metrics%5C..%5C..%5Coutside%5Csecret.txt",
    "metrics/link.txt",
    "logs/outdir/secret.txt",
    "metrics/ok.txt%00.png",
    "metrics",
    "no/such/file",
]


@pytest.mark.parametrize("rel", BAD_FILE_PATHS)
def test_file_route_refuses_escapes(client, escape_targets, rel):
    r = client.get(f"/api/projects/0/files/{rel}")
    assert r.status_code == 404, (rel, r.status_code)
    assert b"secret" not in r.content and b"root:" not in r.content


def test_file_route_serves_project_files(client, escape_targets):
    r = client.get("/api/projects/0/files/metrics/ok.txt")
    assert r.status_code == 200 and r.text == "fine"
    assert client.get("/api/projects/0/files/metrics/./ok.txt").text == "fine"


@pytest.mark.parametrize(
    "url",
    [
        "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/static/%2e%2e/%2e%2e/app.py",
        "/static/%2e%2e%2fapp.py",
        "/static/..%5Capp.py",
        "/api/projects/..%2F..%2F/status",
    ],
)
def test_static_and_ids_refuse_escapes(client, url):
    r = client.get(url)
    assert r.status_code == 404 and b"create_app" not in r.content


def test_safe_project_file_on_literal_paths(proj, escape_targets):
    from forge.web.readers import NotInProject, safe_project_file

    assert safe_project_file(proj.root, "metrics/ok.txt").read_text() == "fine"
    for rel in ("../outside/secret.txt", "metrics/../../outside/secret.txt", str(escape_targets / "secret.txt"),
                "metrics/link.txt", "logs/outdir/secret.txt", "C:/x", "", ".", "metrics/\x00"):  # fmt: skip
        with pytest.raises(NotInProject):
            safe_project_file(proj.root, rel)


def _snapshot(root: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_mtime_ns, st.st_size, st.st_mode)
    out["."] = root.stat().st_mtime_ns
    return out


def test_the_app_never_writes_to_a_project(project, tmp_path):
    """Every GET route, on a project with data, a run, metrics and artifacts: nothing changes."""
    p = project
    append_history(p, range(1, 50), eval_every=10)
    StatusWriter(p.status_file, pid=DEAD_PID).phase("training", step=49, total_steps=100)
    atomic_write_json(p.baseline_file, {"val_loss": 2.0})
    atomic_write_json(p.evaluation_file, {"val_loss": 1.0, "gate": {"passed": True}})
    p.lora_dir.mkdir(parents=True, exist_ok=True)
    (p.lora_dir / "adapter_config.json").write_text("{}")
    p.log_file.parent.mkdir(parents=True, exist_ok=True)
    p.log_file.write_text("step 1\nstep 2\n")
    time.sleep(0.05)
    before = _snapshot(p.root)

    app = create_app([p.root], hardware=HW)
    c = TestClient(app)
    hit = []
    for route in app.routes:
        path = getattr(route, "path", "")
        if (
            "GET" not in getattr(route, "methods", {"GET"})
            or path.startswith("/static")
            or path in ("/docs/oauth2-redirect",)
        ):
            continue
        url = path.replace("{project_id}", "0").replace("{relative:path}", "training-config.json")
        params = {"max_seconds": 0.6} if path.endswith("events") else {}
        r = c.get(url, params=params)
        assert r.status_code == 200, (url, r.status_code)
        hit.append(path)
    c.get("/static/app.js")
    assert {"/api/projects/{project_id}/checklist", "/api/projects/{project_id}/events", "/api/events"} <= set(hit)
    assert _snapshot(p.root) == before


def test_openapi_documents_the_api(client):
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/projects",
        "/api/projects/{project_id}/status",
        "/api/projects/{project_id}/history",
        "/api/projects/{project_id}/checklist",
        "/api/projects/{project_id}/metrics",
        "/api/projects/{project_id}/artifacts",
        "/api/projects/{project_id}/events",
    ):
        assert path in spec["paths"], path
    schemas = spec["components"]["schemas"]
    assert {"StatusOut", "HistoryOut", "ChecklistsOut", "MetricsOut", "ArtifactsOut"} <= set(schemas)
    assert "effective_phase" in schemas["StatusOut"]["properties"]
    assert client.get("/docs").status_code == 200


def test_events_stream_follows_the_status_file(proj):
    app = create_app([proj.root], hardware=HW, poll_seconds=0.1)
    c = TestClient(app)
    w = StatusWriter(proj.status_file, pid=os.getpid())
    w.phase("training", step=1, total_steps=10)

    def later():
        time.sleep(0.5)
        w.update(step=2)
        append_history(proj, [1, 2])

    threading.Thread(target=later).start()
    events = []
    with c.stream("GET", "/api/projects/0/events", params={"max_seconds": 1.5}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    steps = [e["status"]["step"] for e in events]
    assert steps[0] == 1 and steps[-1] == 2 and events[-1]["history_size"] > 0
    assert all(e["project"] == "my-project" for e in events)


def test_index_page_and_static_files(client):
    r = client.get("/")
    assert r.status_code == 200 and 'data-testid="loss-chart"' in r.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", r.text)  # offline: nothing from a CDN
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "EventSource" in js.text
    assert client.get("/static/style.css").status_code == 200


def test_web_process_never_imports_torch(tmp_path):
    """The hardware probe runs in a child process; the server process stays torch-free."""
    code = f"""
import sys
from fastapi.testclient import TestClient
from forge.web.app import create_app
c = TestClient(create_app([{str(tmp_path)!r}]), base_url="http://127.0.0.1")
r = c.get("/api/projects/0/checklist").json()
hw = r["pre_training"]["hardware"]
assert hw and (hw["torch_version"] or hw["problem"]), r
heavy = [m for m in ("torch", "transformers", "peft", "trl", "datasets") if m in sys.modules]
assert not heavy, heavy
print("ok", hw["torch_version"])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


def test_forge_ui_warns_when_bound_beyond_localhost(tmp_path, monkeypatch, capsys):
    import uvicorn

    from forge.commands import ui

    calls = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, *a, **kw: calls.append({"host": self.config.host}))
    monkeypatch.setattr("forge.web.app.HardwareProbe", lambda *a, **k: types.SimpleNamespace(get=lambda wait=None: HW))
    with socket.socket() as s:  # a free port: 7861 may be another test run's or a real `forge ui`'s
        s.bind(("", 0))
        port = s.getsockname()[1]
    assert ui.run([tmp_path], host="127.0.0.1", port=port) == 0
    assert "warning" not in capsys.readouterr().err
    assert ui.run([tmp_path], host="0.0.0.0", port=port) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "0.0.0.0" in err
    assert [c["host"] for c in calls] == ["127.0.0.1", "0.0.0.0"]
    assert ui.is_loopback("localhost") and ui.is_loopback("::1") and not ui.is_loopback("192.168.1.2")
    from forge.errors import UsageError

    with pytest.raises(UsageError):
        ui.run([tmp_path / "missing"])
