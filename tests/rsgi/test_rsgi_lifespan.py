"""Startup, shutdown and lifespan state over RSGI (``__rsgi_init__``/``__rsgi_del__``)
under a real granian."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from pathlib import Path

from rsgi.granian_server import ROOT, GranianServer, ServeRSGI, free_port


def get(server: GranianServer, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_startup_and_shutdown_handlers_run_around_serving_with_lifespan_state(
    serve_rsgi: ServeRSGI, tmp_path: Path
) -> None:
    log = tmp_path / "events.log"
    server = serve_rsgi("rsgi.rsgi_app:app", env={"COVET_RSGI_LOG": str(log)})
    status, body = get(server, "/request-info")
    assert status == 200 and json.loads(body)["db"] == "connected"
    assert log.read_text().splitlines() == ["lifespan enter", "startup handler"]
    server.stop()
    assert server.process.returncode == 0
    assert log.read_text().splitlines() == [
        "lifespan enter",
        "startup handler",
        "shutdown handler",
        "lifespan exit",
    ]


def test_failing_shutdown_handler_still_runs_the_rest_and_is_reported(
    serve_rsgi: ServeRSGI, tmp_path: Path
) -> None:
    log = tmp_path / "lifespan.log"
    server = serve_rsgi("apps.lifespan_state_app:app", env={"COVET_LIFESPAN_LOG": str(log)})
    status, body = get(server, "/db")
    assert (status, json.loads(body)) == (
        200,
        {"db": {"dsn": "sqlite://memory"}, "app_started": True},
    )
    server.stop()
    output = server.process.stdout.read().decode() if server.process.stdout else ""
    assert log.read_text().splitlines() == [
        "lifespan enter",
        "startup handler",
        "failing shutdown handler",
        "last shutdown handler",
        "lifespan exit",
    ]
    assert "shutdown handler broke" in output


def test_failing_startup_stops_granian_with_the_error() -> None:
    command = [
        sys.executable, "-m", "granian", "--interface", "rsgi", "--host", "127.0.0.1",
        "--port", str(free_port()), "--workers", "1", "apps.lifespan_fail_app:app",
    ]  # fmt: skip
    result = subprocess.run(
        command,
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "database at db.invalid:5432 refused the connection" in output
    assert "application startup failed" in output
