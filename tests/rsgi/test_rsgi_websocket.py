"""WebSockets over granian's RSGI: tests/rsgi/rsgi_app.py under a real granian."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from rsgi.granian_server import GranianServer


@pytest.fixture(scope="module")
def log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rsgi-ws") / "events.log"


@pytest.fixture(scope="module")
def server(log_file: Path) -> Iterator[GranianServer]:
    server = GranianServer("rsgi.rsgi_app:app", env={"COVET_RSGI_LOG": str(log_file)})
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def wait_for_line(log_file: Path, line: str, timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = log_file.read_text().splitlines() if log_file.exists() else []
        if line in lines:
            return lines
        time.sleep(0.02)
    raise AssertionError(f"{line!r} not logged; log: {lines}")


async def test_echo_of_text_and_bytes(server: GranianServer, log_file: Path) -> None:
    async with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(b"\x00\x01\xff")
        assert await ws.recv() == b"\x00\x01\xff"
        text = "é" * 50_000
        await ws.send(text)
        assert await ws.recv() == text
        for i in range(50):
            await ws.send(f"m{i}")
        assert [await ws.recv() for _ in range(50)] == [f"m{i}" for i in range(50)]
    # granian passes on no close code: the handler sees 1005 (none received).
    wait_for_line(log_file, "ws disconnect 1005")


async def test_scope_path_params_query_subprotocols_and_lifespan_state(
    server: GranianServer,
) -> None:
    async with connect(
        f"ws://127.0.0.1:{server.port}/ws/info/bob?q=caf%C3%A9", subprotocols=["a", "b"]
    ) as ws:
        info = json.loads(await ws.recv())
        assert ws.subprotocol is None
    assert info == {
        "name": "bob",
        "q": "café",
        "url": f"ws://127.0.0.1:{server.port}/ws/info/bob?q=caf%C3%A9",
        "offered": ["a", "b"],
        "db": "connected",
    }


@pytest.mark.parametrize("path", ["/ws/deny", "/ws/no-such-route", "/ws/subprotocol"])
async def test_refused_handshake_is_http_403(server: GranianServer, path: str) -> None:
    # A denial response needs the websocket.http.response extension, which RSGI
    # lacks; a subprotocol cannot be sent over RSGI, so choosing one refuses too.
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://127.0.0.1:{server.port}{path}", subprotocols=["chat"]):
            pass
    assert refused.value.response.status_code == 403


async def test_message_over_the_limit_closes_the_connection(
    server: GranianServer, log_file: Path
) -> None:
    async with connect(f"ws://127.0.0.1:{server.port}/ws/small") as ws:
        await ws.send("x" * 1024)
        assert await ws.recv() == "x" * 1024
        await ws.send("x" * 1025)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    wait_for_line(log_file, "ws small closed 1009")


async def test_many_concurrent_connections(server: GranianServer) -> None:
    async def session(i: int) -> list[str]:
        async with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
            replies = []
            for k in range(5):
                await ws.send(f"{i}:{k}")
                replies.append(await ws.recv())
            return replies

    results = await asyncio.gather(*(session(i) for i in range(20)))
    assert results == [[f"{i}:{k}" for k in range(5)] for i in range(20)]


async def test_messages_are_counted_in_the_app_stats(server: GranianServer) -> None:
    def stats() -> dict[str, int]:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            conn.request("GET", "/stats")
            return dict(json.loads(conn.getresponse().read()))
        finally:
            conn.close()

    before = stats()
    async with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        for text in ("a", "é", "中文"):
            await ws.send(text)
            assert await ws.recv() == text
        await ws.send(b"1234")
        assert await ws.recv() == b"1234"
    after = stats()
    for key, change in (
        ("websocket_messages_received", 4),
        ("websocket_messages_sent", 4),
        ("websocket_bytes_received", 1 + 2 + 6 + 4),
        ("websocket_bytes_sent", 1 + 2 + 6 + 4),
    ):
        assert after[key] - before[key] == change, key
