"""Graceful drain on shutdown: open WebSockets are closed with 1001 and event streams
end, within ``drain_timeout``, before the shutdown handlers run — under real uvicorn
and gunicorn processes sent SIGTERM, and in process."""

from __future__ import annotations

import asyncio
import importlib.util
import math
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from covet import CovetRouter, WebSocket, create_asgi_app
from covet.drain import LiveConnections, check_drain_timeout, install_signal_drain
from covet.responses import EventSourceResponse
from covet.testing import ASGITestClient
from servers import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[2]


# -- the pieces, in process ---------------------------------------------------------------
class FakeWebSocket:
    def __init__(self) -> None:
        self.closed_with: tuple[int, str | None] | None = None
        self.client_state: Any = None

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed_with = (code, reason)


class FakeStream:
    def __init__(self) -> None:
        self.stopped = asyncio.Event()

    def stop(self) -> None:
        self.stopped.set()


async def test_drain_closes_websockets_with_1001_and_stops_streams() -> None:
    live = LiveConnections()
    ws, stream = FakeWebSocket(), FakeStream()

    async def session() -> None:
        with live.websocket(ws):
            while ws.closed_with is None:
                await asyncio.sleep(0.001)

    async def streaming() -> None:
        with live.stream(stream):
            await stream.stopped.wait()

    tasks = [asyncio.ensure_future(session()), asyncio.ensure_future(streaming())]
    await asyncio.sleep(0.01)
    assert (live.websockets, live.streams) == (1, 1)
    started = time.monotonic()
    await live.drain(5.0)
    assert time.monotonic() - started < 1.0  # handlers that end are not waited for longer
    assert ws.closed_with == (1001, "server shutting down")
    assert stream.stopped.is_set()
    assert (live.websockets, live.streams) == (0, 0)
    await asyncio.gather(*tasks)


async def test_a_handler_still_running_at_the_deadline_is_cancelled_quietly() -> None:
    live = LiveConnections()
    cleaned_up = asyncio.Event()

    async def stuck() -> str:
        with live.websocket(FakeWebSocket()):
            try:
                await asyncio.sleep(3600)
            finally:
                cleaned_up.set()
        return "ended"

    task = asyncio.ensure_future(stuck())
    await asyncio.sleep(0.01)
    started = time.monotonic()
    await live.drain(0.2)
    assert 0.2 <= time.monotonic() - started < 1.5
    assert cleaned_up.is_set()
    # The drain's cancellation ends the session; it is not the app's error.
    assert await task == "ended"


async def test_a_cancellation_from_elsewhere_still_propagates() -> None:
    live = LiveConnections()

    async def session() -> None:
        with live.websocket(FakeWebSocket()):
            await asyncio.sleep(3600)

    task = asyncio.ensure_future(session())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert live.websockets == 0


async def test_streams_opened_while_draining_stop_at_once_and_drains_are_shared() -> None:
    live = LiveConnections()
    first, second = live.drain(1.0), live.drain(1.0)
    await asyncio.gather(first, second)
    stream = FakeStream()
    with live.stream(stream):
        assert stream.stopped.is_set()
    live.reopen()
    later = FakeStream()
    with live.stream(later):
        assert not later.stopped.is_set()


@pytest.mark.parametrize("bad", [-1, -0.5, math.nan, math.inf, "5", True])
def test_drain_timeout_must_be_a_finite_non_negative_number(bad: Any) -> None:
    with pytest.raises(ValueError, match="drain_timeout"):
        check_drain_timeout(bad)
    with pytest.raises(ValueError, match="drain_timeout"):
        create_asgi_app(drain_timeout=bad)


def test_drain_timeout_default_and_none() -> None:
    assert create_asgi_app().drain_timeout == 5.0
    assert create_asgi_app(drain_timeout=None).drain_timeout is None
    assert create_asgi_app(drain_timeout=0).drain_timeout == 0.0


async def test_event_source_stop_ends_the_response_properly() -> None:
    async def forever() -> Any:
        n = 0
        while True:
            yield {"data": n}
            n += 1
            await asyncio.sleep(0.01)

    response = EventSourceResponse(forever())
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message.get("body", b"").startswith(b"data: 2"):
            response.stop()

    scope = {"type": "http", "method": "GET", "headers": []}
    await asyncio.wait_for(response(scope, receive, send), 5)
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert [m["body"] for m in sent[1:-1]] == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n"]


async def test_signal_drains_first_then_reaches_the_servers_handler() -> None:
    order: list[str] = []
    handed_on = asyncio.Event()
    loop = asyncio.get_running_loop()

    def server_handler(sig: int, frame: FrameType | None) -> None:
        order.append(f"server {sig}")
        loop.call_soon_threadsafe(handed_on.set)

    async def drain() -> None:
        order.append("drain start")
        await asyncio.sleep(0.05)
        order.append("drain end")

    original = signal.signal(signal.SIGTERM, server_handler)
    try:
        uninstall = install_signal_drain(drain, loop)
        signal.raise_signal(signal.SIGTERM)
        await asyncio.wait_for(handed_on.wait(), 5)
        assert order == ["drain start", "drain end", f"server {signal.SIGTERM}"]
        signal.raise_signal(signal.SIGTERM)  # later signals go straight through
        await asyncio.sleep(0)
        assert order[-1] == f"server {signal.SIGTERM}" and len(order) == 4
        uninstall()
        assert signal.getsignal(signal.SIGTERM) is server_handler
    finally:
        signal.signal(signal.SIGTERM, original)


async def test_signals_without_a_server_handler_are_left_alone() -> None:
    original_term = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    original_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:

        async def drain() -> None:
            pass

        uninstall = install_signal_drain(drain, asyncio.get_running_loop())
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        uninstall()
    finally:
        signal.signal(signal.SIGTERM, original_term)
        signal.signal(signal.SIGINT, original_int)


async def test_lifespan_shutdown_drains_websockets_before_the_shutdown_handlers() -> None:
    seen: list[str] = []
    router = CovetRouter()

    @router.websocket("/ws")
    async def session(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(text)
        seen.append(f"handler ended {websocket.close_code}")

    app: Any = None

    def on_shutdown() -> None:
        seen.append(f"shutdown with {app.live_connections.websockets} open")

    app = create_asgi_app(router, on_shutdown=[on_shutdown])
    client = ASGITestClient(app)
    await client.startup()
    async with client.websocket_connect("/ws") as ws:
        await ws.send_text("x")
        assert await ws.receive_text() == "x"
        await client.shutdown()
        message = await ws.receive()
        assert message["type"] == "websocket.close" and message["code"] == 1001
    assert seen[-1] == "shutdown with 0 open"
    assert seen[0].startswith("handler ended")


async def test_websocket_handshakes_during_a_drain_are_refused_with_503() -> None:
    router = CovetRouter()

    @router.websocket("/ws")
    async def session(websocket: WebSocket) -> None:
        await websocket.accept()

    app = create_asgi_app(router)
    app.live_connections.draining = True
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "websocket",
        "path": "/ws",
        "raw_path": b"/ws",
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "extensions": {"websocket.http.response": {}},
    }

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 503


# -- real servers ---------------------------------------------------------------------------


class Served(ServerProcess):
    """The drain test app under a real server; it appends what it saw to ``marker``."""

    def __init__(self, argv: list[str], port: int, marker: Path, drain_timeout: str) -> None:
        super().__init__(
            argv, port, env={"DRAIN_MARKER": str(marker), "DRAIN_TIMEOUT": drain_timeout}
        )
        self.marker = marker
        self.wait_ready(http_path="/nothing")

    def lines(self) -> list[str]:
        return self.marker.read_text().splitlines() if self.marker.exists() else []


@pytest.fixture
def uvicorn_server(tmp_path: Path) -> Iterator[Any]:
    servers: list[Served] = []

    def start(drain_timeout: str = "5") -> Served:
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "apps.drain_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        server = Served(argv, port, tmp_path / f"marker-{port}", drain_timeout)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(signal.SIGKILL)


def gunicorn_available() -> bool:
    return all(importlib.util.find_spec(name) for name in ("gunicorn", "uvicorn_worker"))


@pytest.fixture
def gunicorn_server(tmp_path: Path) -> Iterator[Any]:
    servers: list[Served] = []

    def start(drain_timeout: str = "5") -> Served:
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "apps.drain_app:app",
            "-k",
            "uvicorn_worker.UvicornWorker",
            "-w",
            "1",
            "-b",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "30",
            "--log-level",
            "warning",
        ]
        server = Served(argv, port, tmp_path / f"marker-{port}", drain_timeout)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(signal.SIGKILL)


def drain_one_websocket_and_one_stream(server: Served, deadline: float) -> None:
    """Opens a WebSocket and an event stream, sends SIGTERM and checks what the clients
    and the server saw."""
    base = f"127.0.0.1:{server.port}"
    with connect(f"ws://{base}/echo", open_timeout=10) as ws, httpx.Client(timeout=10) as client:
        ws.send("hello")
        assert ws.recv(timeout=10) == "hello"
        with client.stream("GET", f"http://{base}/events") as events:
            lines = events.iter_lines()
            assert next(lines) == "data: 0"
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
            # The stream ends properly: the last chunk arrives, no protocol error.
            rest = list(lines)
            assert all(line.startswith("data: ") or line == "" for line in rest)
    server.process.wait(timeout=deadline + 10)
    elapsed = time.monotonic() - started
    assert elapsed < deadline + 3, f"exited after {elapsed:.1f} s"
    lines_seen = server.lines()
    assert "shutdown websockets=0 streams=0" in lines_seen, server.output()
    shutdown_at = lines_seen.index("shutdown websockets=0 streams=0")
    assert lines_seen.index("echo ended 1001") < shutdown_at
    assert lines_seen.index("events ended") < shutdown_at


def test_sigterm_under_uvicorn_closes_websockets_1001_and_ends_streams_first(
    uvicorn_server: Any,
) -> None:
    drain_one_websocket_and_one_stream(uvicorn_server("5"), deadline=5)


def test_sigterm_under_uvicorn_cancels_a_stuck_handler_at_the_deadline(
    uvicorn_server: Any,
) -> None:
    server = uvicorn_server("1")
    with connect(f"ws://127.0.0.1:{server.port}/stuck", open_timeout=10) as ws:
        assert ws.recv(timeout=10) == "ready"
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    server.process.wait(timeout=15)
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 4.0, f"exited after {elapsed:.1f} s"
    lines = server.lines()
    assert lines == ["stuck ended", "shutdown websockets=0 streams=0"], server.output()


def test_without_the_drain_uvicorn_itself_closes_websockets_with_1012(
    uvicorn_server: Any,
) -> None:
    # What the drain replaces: the server's own close, after it stopped listening.
    server = uvicorn_server("none")
    with connect(f"ws://127.0.0.1:{server.port}/echo", open_timeout=10) as ws:
        server.process.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    server.process.wait(timeout=15)


@pytest.mark.skipif(not gunicorn_available(), reason="gunicorn with uvicorn-worker not installed")
def test_sigterm_under_gunicorn_uvicorn_workers_drains_the_same_way(
    gunicorn_server: Any,
) -> None:
    drain_one_websocket_and_one_stream(gunicorn_server("5"), deadline=5)
