"""Function-style middleware (``@app.middleware("http")``, ``BaseHTTPMiddleware``):
mutable headers, short-circuits, 404s, streaming without buffering, disconnects
reaching the endpoint, replayed bodies and Starlette's ordering."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from covet.app import CovetASGIApp, create_asgi_app
from covet.middleware import BaseHTTPMiddleware
from covet.middleware.base import CallNext
from covet.requests import Request
from covet.responses import PlainTextResponse, Response, StreamingResponse
from covet.routing import Route
from covet.testing import ASGITestClient


async def hello(request: Request) -> str:
    return "hello"


def http_scope(path: str = "/", method: str = "GET") -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
    }


async def test_call_next_response_headers_are_mutable() -> None:
    app = create_asgi_app(routes=[Route("/", hello)])

    @app.middleware("http")
    async def stamp(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        response.headers["x-stamp"] = "1"
        return response

    response = await ASGITestClient(app).get("/")
    assert response.text == "hello" and response.headers["x-stamp"] == "1"
    assert response.headers["content-length"] == "5"


async def test_dispatch_may_answer_without_calling_next() -> None:
    called: list[str] = []

    async def endpoint(request: Request) -> str:
        called.append("endpoint")
        return "no"

    app = create_asgi_app(routes=[Route("/", endpoint)])

    @app.middleware("http")
    async def deny(request: Request, call_next: CallNext) -> Response:
        return PlainTextResponse("denied", status_code=403)

    response = await ASGITestClient(app).get("/")
    assert response.status_code == 403 and response.text == "denied" and called == []


async def test_a_404_from_routing_passes_through() -> None:
    seen: list[int] = []
    app = create_asgi_app(routes=[Route("/", hello)])

    @app.middleware("http")
    async def watch(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        seen.append(response.status_code)
        return response

    response = await ASGITestClient(app).get("/missing")
    assert response.status_code == 404 and seen == [404]
    assert response.json() == {"detail": "Not Found"}


async def test_last_added_middleware_is_outermost() -> None:
    order: list[str] = []
    app = create_asgi_app(routes=[Route("/", hello)])

    def tracer(name: str) -> Any:
        async def dispatch(request: Request, call_next: CallNext) -> Response:
            order.append(f"{name} in")
            response = await call_next(request)
            order.append(f"{name} out")
            return response

        return dispatch

    app.middleware("http")(tracer("first"))
    app.middleware("http")(tracer("second"))
    await ASGITestClient(app).get("/")
    assert order == ["second in", "first in", "first out", "second out"]


async def test_streaming_is_not_buffered() -> None:
    """The endpoint only produces its second chunk after the first reached the
    server's send: a buffering middleware would deadlock here."""
    first_sent = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"first"
        await asyncio.wait_for(first_sent.wait(), 5)
        yield b"second"

    async def endpoint(request: Request) -> Response:
        return StreamingResponse(chunks())

    app = create_asgi_app(routes=[Route("/", endpoint)])

    @app.middleware("http")
    async def passthrough(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        response.headers["x-mw"] = "yes"
        return response

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message.get("body") == b"first":
            first_sent.set()

    await asyncio.wait_for(app(http_scope(), receive, send), 5)
    assert (b"x-mw", b"yes") in sent[0]["headers"]
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"firstsecond"
    assert sent[-1].get("more_body", False) is False


async def test_sync_iterator_streams_through_and_is_closed_on_disconnect() -> None:
    closed = threading.Event()

    def body() -> Iterator[bytes]:
        try:
            while True:
                yield b"tick"
        finally:
            closed.set()

    async def endpoint(request: Request) -> Response:
        return StreamingResponse(body())

    app = create_asgi_app(routes=[Route("/", endpoint)])

    @app.middleware("http")
    async def passthrough(request: Request, call_next: CallNext) -> Response:
        return await call_next(request)

    disconnect = asyncio.Event()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if len(sent) >= 4:
            disconnect.set()
        await asyncio.sleep(0)

    await asyncio.wait_for(app(http_scope(), receive, send), 5)
    for _ in range(100):
        if closed.is_set():
            break
        await asyncio.sleep(0.01)
    assert closed.is_set() and len(sent) >= 4


async def test_client_disconnect_reaches_the_endpoint() -> None:
    saw: list[bool] = []

    async def endpoint(request: Request) -> str:
        message = await request.receive() if hasattr(request, "receive") else None
        if message is None:
            message = await request._receive()
        saw.append(message["type"] == "http.disconnect")
        return "late"

    app = create_asgi_app(routes=[Route("/", endpoint)])

    @app.middleware("http")
    async def passthrough(request: Request, call_next: CallNext) -> Response:
        return await call_next(request)

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        return None

    await app(http_scope(), receive, send)
    assert saw == [True]


async def test_body_read_in_dispatch_is_replayed_to_the_endpoint() -> None:
    async def echo(request: Request) -> bytes:
        return await request.body()

    app = create_asgi_app(routes=[Route("/", echo, ["POST"])])

    @app.middleware("http")
    async def peek(request: Request, call_next: CallNext) -> Response:
        body = await request.body()
        response = await call_next(request)
        response.headers["x-seen"] = str(len(body))
        return response

    response = await ASGITestClient(app).post("/", content=b"payload")
    assert response.content == b"payload" and response.headers["x-seen"] == "7"


async def test_a_paused_app_is_closed_when_dispatch_answers_itself() -> None:
    finished: list[str] = []

    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield b"a"
            yield b"b"
        finally:
            finished.append("closed")

    async def endpoint(request: Request) -> Response:
        return StreamingResponse(chunks())

    app = create_asgi_app(routes=[Route("/", endpoint)])

    @app.middleware("http")
    async def replace(request: Request, call_next: CallNext) -> Response:
        await call_next(request)
        return PlainTextResponse("replaced")

    response = await ASGITestClient(app).get("/")
    assert response.text == "replaced"
    for _ in range(50):
        if finished:
            break
        await asyncio.sleep(0.01)
    assert finished == ["closed"]


async def test_endpoint_errors_reach_the_middleware_as_500_responses() -> None:
    async def boom(request: Request) -> None:
        raise RuntimeError("boom")

    app = create_asgi_app(routes=[Route("/", boom)])
    statuses: list[int] = []

    @app.middleware("http")
    async def watch(request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        statuses.append(response.status_code)
        return response

    response = await ASGITestClient(app).get("/")
    assert response.status_code == 500 and statuses == [500]


class Timing(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        response.headers["x-class"] = "timing"
        return response


async def test_subclass_with_dispatch_in_a_middleware_list() -> None:
    from covet.middleware import Middleware

    app = create_asgi_app(routes=[Route("/", hello)], middleware=[Middleware(Timing)])
    assert isinstance(app, CovetASGIApp)
    response = await ASGITestClient(app).get("/")
    assert response.headers["x-class"] == "timing"


def test_only_http_middleware_is_supported() -> None:
    app = create_asgi_app()
    with pytest.raises(ValueError, match="http"):
        app.middleware("websocket")
