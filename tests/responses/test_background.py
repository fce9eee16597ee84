"""Background tasks run after the response is sent, in order, sync ones in a thread;
a failing task is logged and changes nothing for the client."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from covet import BackgroundTask, BackgroundTasks
from covet.app import create_asgi_app
from covet.requests import Request
from covet.responses import (
    EventSourceResponse,
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from covet.routing import Route
from covet.testing import ASGITestClient


async def call(app: Any, path: str = "/") -> tuple[list[dict[str, Any]], list[str]]:
    """Drives one GET; returns the messages sent and a log of when each was sent."""
    sent: list[dict[str, Any]] = []
    order: list[str] = []
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
    }

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        order.append(message["type"])

    await app(scope, receive, send)
    return sent, order


@pytest.mark.parametrize(
    "make",
    [
        lambda bg: Response("x", background=bg),
        lambda bg: JSONResponse({"a": 1}, background=bg),
        lambda bg: PlainTextResponse("x", background=bg),
        lambda bg: HTMLResponse("<p>", background=bg),
        lambda bg: RedirectResponse("/a", background=bg),
        lambda bg: StreamingResponse(iter([b"a", b"b"]), background=bg),
        lambda bg: EventSourceResponse(iter(["a"]), background=bg),
        lambda bg: FileResponse(__file__, background=bg),
    ],
    ids=["Response", "JSON", "PlainText", "HTML", "Redirect", "Streaming", "EventSource", "File"],
)
async def test_every_response_class_runs_its_task_after_the_last_byte(make: Any) -> None:
    order: list[str] = []

    async def task() -> None:
        order.append("task")

    async def endpoint(request: Request) -> Response:
        return make(BackgroundTask(task))

    app = create_asgi_app(routes=[Route("/", endpoint)])
    sent, _ = await call(app)
    assert order == ["task"]
    assert sent[-1].get("more_body", False) is False


async def test_tasks_run_in_order_and_sync_ones_in_a_thread() -> None:
    log: list[tuple[str, bool]] = []
    main = threading.get_ident()

    def sync_task(name: str, *, suffix: str) -> None:
        log.append((name + suffix, threading.get_ident() == main))

    async def async_task(name: str) -> None:
        log.append((name, threading.get_ident() == main))

    async def endpoint(request: Request) -> Response:
        tasks = BackgroundTasks()
        tasks.add_task(sync_task, "one", suffix="!")
        tasks.add_task(async_task, "two")
        tasks.add_task(sync_task, "three", suffix="?")
        return JSONResponse({"ok": True}, background=tasks)

    client = ASGITestClient(create_asgi_app(routes=[Route("/", endpoint)]))
    assert (await client.get("/")).json() == {"ok": True}
    assert log == [("one!", False), ("two", True), ("three?", False)]


async def test_a_failing_task_is_logged_and_the_rest_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("task broke")

    async def endpoint(request: Request) -> Response:
        tasks = BackgroundTasks()
        tasks.add_task(broken)
        tasks.add_task(ran.append, "after")
        return PlainTextResponse("sent", background=tasks)

    app = create_asgi_app(routes=[Route("/", endpoint)])
    response = await ASGITestClient(app).get("/")
    assert response.status_code == 200 and response.text == "sent"
    assert ran == ["after"]
    assert any(r.name == "covet.background" and r.exc_info for r in caplog.records)
    assert app.get_stats()["status_codes"] == {200: 1}


GET_SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "GET",
    "path": "/",
    "raw_path": b"/",
    "query_string": b"",
    "headers": [],
}


async def served_with_gc_off(app: Any, receive: Any, send: Any, closed: threading.Event) -> bool:
    """Serves one GET with the garbage collector off; whether ``closed`` was set
    within a second (so a ``finally`` ran because it was closed, not collected)."""
    gc.disable()
    try:
        await app(dict(GET_SCOPE), receive, send)
        for _ in range(100):
            if closed.is_set():
                return True
            await asyncio.sleep(0.01)
        return False
    finally:
        gc.enable()


async def test_sync_stream_is_closed_when_the_client_leaves_before_it_starts() -> None:
    """The generator's finally runs at once, not when the garbage collector runs."""
    closed = threading.Event()

    def body() -> Iterator[bytes]:
        try:
            yield b"never sent"
        finally:
            closed.set()

    async def endpoint(request: Request) -> Response:
        return StreamingResponse(body())

    app = create_asgi_app(routes=[Route("/", endpoint)])

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        await asyncio.sleep(0)

    assert await served_with_gc_off(app, receive, send, closed)


async def test_sync_stream_is_closed_when_the_client_leaves_mid_stream() -> None:
    closed = threading.Event()
    produced = threading.Event()

    def body() -> Iterator[bytes]:
        try:
            while True:
                produced.set()
                yield b"chunk"
        finally:
            closed.set()

    async def endpoint(request: Request) -> Response:
        return StreamingResponse(body())

    app = create_asgi_app(routes=[Route("/", endpoint)])
    disconnect = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message.get("more_body"):
            disconnect.set()
        await asyncio.sleep(0)

    assert await served_with_gc_off(app, receive, send, closed)
    assert produced.is_set()
