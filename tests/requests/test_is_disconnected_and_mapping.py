"""request.is_disconnected() (a non-blocking look for http.disconnect that never loses
a body chunk) and Request/HTTPConnection as a Mapping over the scope."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from covet.connection import HTTPConnection
from covet.exceptions import ClientDisconnect, HTTPException
from covet.limits import Limits
from covet.requests import Request


def scope(**extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/p",
        "raw_path": b"/p",
        "query_string": b"",
        "headers": [(b"host", b"example.com")],
        **extra,
    }


def scripted(*messages: dict[str, Any]) -> tuple[Callable[[], Any], list[int]]:
    """A receive() that returns ``messages`` at once, then waits forever; counts calls."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)
    calls = [0]

    async def receive() -> dict[str, Any]:
        calls[0] += 1
        return await queue.get()

    return receive, calls


async def test_is_disconnected_sees_a_ready_disconnect_and_remembers_it() -> None:
    receive, calls = scripted({"type": "http.disconnect"})
    request = Request(scope(), receive)
    assert await request.is_disconnected() is True
    assert await request.is_disconnected() is True
    assert calls[0] == 1  # remembered: receive is not called again


async def test_is_disconnected_does_not_block_while_the_client_is_connected() -> None:
    receive, _ = scripted()
    request = Request(scope(), receive)
    started = time.monotonic()
    assert await asyncio.wait_for(request.is_disconnected(), 1) is False
    assert time.monotonic() - started < 0.5
    # The cancelled look left no task behind.
    await asyncio.sleep(0)
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert pending == []


async def test_is_disconnected_does_not_lose_the_body_chunks_it_receives() -> None:
    receive, _ = scripted(
        {"type": "http.request", "body": b"hello ", "more_body": True},
        {"type": "http.request", "body": b"world", "more_body": False},
    )
    request = Request(scope(), receive)
    assert await request.is_disconnected() is False
    assert await request.is_disconnected() is False
    assert await request.body() == b"hello world"


async def test_is_disconnected_after_the_body_then_a_disconnect() -> None:
    receive, _ = scripted(
        {"type": "http.request", "body": b"x", "more_body": False},
        {"type": "http.disconnect"},
    )
    request = Request(scope(), receive)
    assert await request.body() == b"x"
    assert await request.is_disconnected() is True


async def test_stream_that_meets_the_disconnect_marks_the_request_disconnected() -> None:
    receive, _ = scripted(
        {"type": "http.request", "body": b"x", "more_body": True}, {"type": "http.disconnect"}
    )
    request = Request(scope(), receive)
    with pytest.raises(ClientDisconnect):
        await request.body()
    assert await request.is_disconnected() is True


class _AppWithLimits:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits


async def test_peeked_body_chunks_are_bounded_by_max_body_size() -> None:
    chunk = {"type": "http.request", "body": b"x" * 600, "more_body": True}
    receive, _ = scripted(*[dict(chunk) for _ in range(10)])
    request = Request(scope(app=_AppWithLimits(Limits(max_body_size=1000))), receive)
    for _ in range(10):
        assert await request.is_disconnected() is False
    # Only what fits under the limit is held in memory ...
    assert request._peeked_size <= 1000
    assert sum(len(m["body"]) for m in request._peeked or ()) <= 1000
    # ... and reading the body is the same 413 it would have been without peeking.
    with pytest.raises(HTTPException) as raised:
        await request.body()
    assert raised.value.status_code == 413


async def test_is_disconnected_passes_on_a_broken_receive() -> None:
    request = Request(scope())  # no body channel at all
    with pytest.raises(RuntimeError, match="no body channel"):
        await request.is_disconnected()


def test_uvicorn_handler_polling_is_disconnected_sees_the_client_leave(
    serve: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    server = serve("apps.disconnect_app:app", env={"COVET_TEST_MARKER": str(marker)})
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /watch HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(0.3)  # the handler polls while we are connected
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and not marker.exists():
        time.sleep(0.05)
    outcome, polls = marker.read_text().split()
    assert outcome == "disconnected"
    assert int(polls) > 1  # it returned False while the client was there


def test_request_is_a_mapping_over_its_scope() -> None:
    s = scope(state={})
    request = Request(s)
    assert request["path"] == "/p" and request["method"] == "POST"
    assert len(request) == len(s)
    assert list(request) == list(s)
    assert dict(request) == s
    assert "headers" in request and "nope" not in request
    assert request.get("nope", 1) == 1
    with pytest.raises(KeyError):
        request["nope"]


def test_connections_compare_and_hash_by_identity() -> None:
    s = scope()
    first, second = Request(s), Request(s)
    assert first == first and first != second  # not a dict comparison of scopes
    assert len({first, second}) == 2
    connection = HTTPConnection(s)
    assert connection["path"] == "/p" and hash(connection) == hash(connection)
