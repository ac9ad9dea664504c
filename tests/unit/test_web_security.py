"""The Forge Web UI serves only what it should (issue 17): files inside the project, to pages of
its own origin, offline docs, and `forge ui` says where it really listens (no torch, no browser)."""

from __future__ import annotations

import json
import re
import socket
import types

import pytest

pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from forge.files import atomic_write_json  # noqa: E402
from forge.plan.hardware import HardwareInfo  # noqa: E402
from forge.project import Project  # noqa: E402
from forge.status import StatusWriter  # noqa: E402
from forge.web.app import create_app  # noqa: E402
from forge.web.hosts import HostPolicy, host_name  # noqa: E402

HW = HardwareInfo(torch_version="2.13.0", problem="no CUDA GPU visible (test)")
LOCAL = "http://127.0.0.1:7860"
SECRET = "root:x:0:0:secret-outside-the-project"


@pytest.fixture
def proj(tmp_path) -> Project:
    p = Project.at(tmp_path / "proj")
    for d in ("data/splits", "metrics", "models/checkpoints/lora", ".factory", "logs"):
        (p.root / d).mkdir(parents=True, exist_ok=True)
    return p


@pytest.fixture
def outside(tmp_path):
    """A file outside the project (a stand-in for /etc/passwd), as text and as JSON."""
    text = tmp_path / "system.txt"
    text.write_text(SECRET + "\n")
    doc = tmp_path / "system.json"
    doc.write_text(json.dumps({"step": 7, "loss": 0.1, "phase": "training", "secret": SECRET}) + "\n")
    return text, doc


def client(p: Project, **kw) -> TestClient:
    return TestClient(create_app([p.root], hardware=HW, **kw), base_url=LOCAL)


def test_log_status_history_metrics_and_files_do_not_follow_links_out(proj, outside):
    text, doc = outside
    proj.log_file.symlink_to(text)
    proj.status_file.symlink_to(doc)
    proj.history_file.symlink_to(doc)
    proj.baseline_file.symlink_to(doc)
    proj.evaluation_file.symlink_to(doc)
    proj.training_stats_file.symlink_to(doc)
    proj.train_file.symlink_to(text)
    (proj.lora_dir / "adapter_model.safetensors").symlink_to(text)
    c = client(proj)

    log = c.get("/api/projects/0/log").json()
    assert log["lines"] == [] and log["exists"] is False
    st = c.get("/api/projects/0/status").json()
    assert st["exists"] is False and st["step"] == 0 and st["phase"] != "training"
    hist = c.get("/api/projects/0/history").json()
    assert hist["records"] == [] and hist["last_step"] is None
    m = c.get("/api/projects/0/metrics").json()
    assert m["baseline"] is None and m["evaluation"] is None and m["training_stats"] is None
    assert {n: "outside" in w for n, w in m["problems"].items()} == {
        "baseline.json": True,
        "evaluation.json": True,
        "training-stats.json": True,
    }
    for rel in ("data/splits/train.jsonl", "logs/training.log", "metrics/baseline.json"):
        assert c.get(f"/api/projects/0/files/{rel}").status_code == 404, rel
    assert "adapter_model.safetensors" not in json.dumps(c.get("/api/projects/0/artifacts").json())
    with c.stream("GET", "/api/projects/0/events", params={"max_seconds": 0.3}) as r:
        body = "".join(r.iter_text())
    assert SECRET not in body and '"history_size": 0' in body
    every = [c.get(u).text for u in ("/api/projects/0/log", "/api/projects/0/status", "/api/projects/0/metrics")]
    assert not any(SECRET in t for t in every)


def test_links_inside_the_project_are_still_served(proj):
    real = proj.root / "logs" / "run-1.log"
    real.write_text("step 1\n")
    proj.log_file.symlink_to(real)
    StatusWriter(proj.status_file).phase("training", step=3, total_steps=10)
    c = client(proj)
    assert c.get("/api/projects/0/log").json()["lines"] == ["step 1"]
    assert c.get("/api/projects/0/status").json()["step"] == 3
    assert c.get("/api/projects/0/files/logs/training.log").text == "step 1\n"


@pytest.mark.parametrize(
    "url",
    ["/", "/static/app.js", "/docs", "/openapi.json", "/api/projects", "/api/projects/0/files/data/splits/train.jsonl"],
)
def test_a_foreign_host_is_refused_421(proj, url):
    proj.train_file.write_text('{"conversations": []}\n')
    c = client(proj)
    assert c.get(url).status_code == 200, url
    r = c.get(url, headers={"Host": "evil.example:7860"})
    assert r.status_code == 421 and "conversations" not in r.text


def test_a_foreign_host_gets_no_event_stream(proj):
    StatusWriter(proj.status_file).phase("training", step=1, total_steps=10)
    c = client(proj)
    for url in ("/api/events", "/api/projects/0/events"):
        r = c.get(url, params={"max_seconds": 0.2}, headers={"Host": "rebind.evil.example"})
        assert r.status_code == 421 and "event:" not in r.text
    with c.stream("GET", "/api/events", params={"max_seconds": 0.2}) as r:  # its own origin still streams
        assert r.status_code == 200 and "event: status" in "".join(r.iter_text())


def test_loopback_names_and_the_bound_address_are_allowed(proj):
    c = client(proj)
    for host in ("localhost:7860", "127.0.0.1", "[::1]:7860", "127.0.0.2:80", "app.localhost"):
        assert c.get("/api/projects", headers={"Host": host}).status_code == 200, host
    lan = client(proj, host="192.168.1.5")
    assert lan.get("/api/projects", headers={"Host": "192.168.1.5:7860"}).status_code == 200
    assert lan.get("/api/projects", headers={"Host": "192.168.1.6:7860"}).status_code == 421
    wild = HostPolicy("0.0.0.0")
    assert wild.allows("10.1.2.3:7860") and wild.allows(socket.gethostname()) and not wild.allows("evil.example")
    assert not HostPolicy("127.0.0.1").allows(None) and host_name("[::1]:80") == "::1"


def test_no_cors_headers_even_when_asked(proj):
    c = client(proj)
    r = c.get("/api/projects", headers={"Origin": "http://evil.example"})
    assert r.status_code == 200
    assert not [h for h in r.headers if h.lower().startswith("access-control-")]
    pre = c.options("/api/projects", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"})
    assert pre.status_code != 200 and not [h for h in pre.headers if h.lower().startswith("access-control-")]


def test_docs_are_served_offline(proj):
    c = client(proj)
    r = c.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", r.text), "the docs page loads from a CDN"
    for route in ("/api/projects/{project_id}/status", "/api/events", "StatusOut"):
        assert route in r.text
    assert c.get("/redoc").status_code == 404 and c.get("/docs/oauth2-redirect").status_code == 404


def _no_probe(monkeypatch):
    monkeypatch.setattr("forge.web.app.HardwareProbe", lambda *a, **k: types.SimpleNamespace(get=lambda wait=None: HW))


def test_a_busy_port_is_a_clear_error_and_exit_1(tmp_path, monkeypatch, capsys):
    from forge.cli import main

    _no_probe(monkeypatch)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        code = main(["ui", str(tmp_path), "--port", str(port)])
    finally:
        busy.close()
    err = capsys.readouterr().err
    assert code == 1, err
    flat = " ".join(err.split())
    assert f"port {port}" in flat and "already in use" in flat and "--port" in flat
    assert "Errno" not in err and "Traceback" not in err


def test_the_banner_shows_the_real_bind(tmp_path, monkeypatch, capsys):
    import uvicorn

    from forge.commands import ui

    _no_probe(monkeypatch)
    seen = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: seen.append(sockets[0].getsockname()))
    assert ui.run([tmp_path], host="0.0.0.0", port=_free_port()) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "http://0.0.0.0:" in out and "reachable from the network" in out
    assert seen and seen[0][0] == "0.0.0.0"
    assert ui.run([tmp_path], host="127.0.0.1", port=_free_port()) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "http://127.0.0.1:" in out and "reachable from the network" not in out


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_status_written_inside_is_not_affected_by_an_outside_baseline(proj, outside):
    # one linked-out file does not hide the others
    _, doc = outside
    proj.baseline_file.symlink_to(doc)
    atomic_write_json(proj.factory_dir / "unrelated.json", {})
    StatusWriter(proj.status_file).phase("training", step=2, total_steps=4)
    c = client(proj)
    assert c.get("/api/projects/0/status").json()["step"] == 2
    assert "outside" in c.get("/api/projects/0/metrics").json()["problems"]["baseline.json"]
