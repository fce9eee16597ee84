"""Logging on ``covet.asgi``: one line per request in debug mode and none otherwise,
nothing internal in responses without debug, and the guide's Debug Mode and Logging
Configuration snippets working as written."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from typing import Any

from conftest import ROOT
from covet import CovetRouter, Request, WebSocket, create_asgi_app
from covet.testing import ASGITestClient


def make_app(debug: bool) -> Any:
    router = CovetRouter()

    async def item(request: Request) -> Any:
        return {"id": request.path_params["id"]}

    async def boom(request: Request) -> Any:
        raise KeyError("database password is hunter2")

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()

    router.add_route("/items/{id:int}", item, ["GET"])
    router.add_route("/boom", boom, ["GET"])
    router.add_route("/ws", ws, ["WEBSOCKET"])
    return create_asgi_app(router=router, debug=debug)


def covet_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "covet.asgi"]


async def test_debug_logs_one_line_per_request(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="covet.asgi")
    client = ASGITestClient(make_app(debug=True))
    await client.get("/items/7?token=secret")
    await client.get("/nope")
    await client.post("/items/7")
    lines = [r.getMessage() for r in covet_records(caplog) if r.levelno == logging.DEBUG]
    assert len(lines) == 3
    assert lines[0].startswith("GET /items/7 -> 200 in ") and lines[0].endswith(" ms")
    assert lines[1].startswith("GET /nope -> 404 in ")
    assert lines[2].startswith("POST /items/7 -> 405 in ")
    assert not any("secret" in line for line in lines)  # query strings are not logged


async def test_no_request_lines_without_debug(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="covet.asgi")
    client = ASGITestClient(make_app(debug=False))
    await client.get("/items/7")
    await client.get("/nope")
    assert covet_records(caplog) == []


async def test_debug_can_be_switched_after_construction(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="covet.asgi")
    app = make_app(debug=False)
    client = ASGITestClient(app)
    await client.get("/items/1")
    app.debug = True
    await client.get("/items/2")
    app.debug = False
    await client.get("/items/3")
    lines = [r.getMessage() for r in covet_records(caplog)]
    assert len(lines) == 1 and lines[0].startswith("GET /items/2 -> 200")


async def test_500_without_debug_leaks_nothing_but_logs_the_traceback(caplog) -> None:
    response = await ASGITestClient(make_app(debug=False)).get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    assert "hunter2" not in response.text and "Traceback" not in response.text
    [record] = covet_records(caplog)
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "unhandled exception in GET /boom"
    assert "hunter2" in str(record.exc_info[1])


async def test_500_with_debug_has_the_traceback_and_a_log_line(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="covet.asgi")
    response = await ASGITestClient(make_app(debug=True)).get("/boom")
    body = response.json()
    assert body["detail"] == "Internal Server Error"
    assert "hunter2" in body["error"]
    assert any("Traceback" in line for line in body["traceback"])
    messages = [r.getMessage() for r in covet_records(caplog)]
    assert messages[0] == "unhandled exception in GET /boom"
    assert messages[1].startswith("GET /boom -> 500 in ")


async def test_debug_logs_websocket_sessions(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="covet.asgi")
    app = make_app(debug=True)
    inbox = [{"type": "websocket.connect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    for path in ("/ws", "/missing"):
        inbox[:] = [{"type": "websocket.connect"}]
        scope = {
            "type": "websocket",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [],
            "extensions": {"websocket.http.response": {}},
        }
        await app(scope, receive, send)
    lines = [r.getMessage() for r in covet_records(caplog)]
    assert lines[0].startswith("WEBSOCKET /ws -> closed 1000 after ")
    assert lines[1].startswith("WEBSOCKET /missing -> denied after ")


DRIVER = """
import asyncio
from covet.core.asgi_integration import ASGITestClient
asyncio.run(ASGITestClient(app).get("/items/5"))
"""


def run_script(body: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", body],
        cwd=ROOT,
        env={
            "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}:{ROOT / 'tests' / 'app'}",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_guide_logging_configuration_snippet_shows_request_lines() -> None:
    script = """
        # --- begin verbatim from ASGI-GUIDE.md "Logging Configuration" ---
        import logging

        logging.basicConfig(
            level=logging.INFO,
            format='%(asctime)s - %(name)s - %(levelname)s - %(message)s'
        )

        # Enable ASGI specific logging
        logging.getLogger("covet.asgi").setLevel(logging.DEBUG)
        # --- end verbatim ---
        from test_errors_logging import make_app
        app = make_app(debug=True)
    """
    result = run_script(textwrap.dedent(script) + DRIVER)
    assert result.returncode == 0, result.stderr
    assert " - covet.asgi - DEBUG - GET /items/5 -> 200 in " in result.stderr


def test_guide_debug_mode_logs_requests_without_any_logging_setup() -> None:
    script = """
        from covet.core.asgi_app import create_asgi_app
        # --- begin verbatim from ASGI-GUIDE.md "Debug Mode" ---
        app = create_asgi_app(debug=True)

        # In debug mode, you get:
        # - Detailed error tracebacks
        # - Request/response logging
        # - Performance statistics
        # --- end verbatim ---
        from test_errors_logging import make_app
        app = make_app(debug=True)
    """
    result = run_script(textwrap.dedent(script) + DRIVER)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("GET /items/5 -> 200 in ") == 1, result.stderr
    quiet = run_script(
        "from test_errors_logging import make_app\napp = make_app(debug=False)\n" + DRIVER
    )
    assert quiet.returncode == 0 and quiet.stderr == ""
