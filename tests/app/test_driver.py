"""The HTTP entry driven from Rust (``_core.Dispatcher``) behaves as ``await`` would:
what the handler waits on reaches the event loop, cancellation reaches the handler,
failures of ``send`` propagate after the request is recorded and its uploads are
closed."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from covet import _core
from covet.app import CovetASGIApp, create_asgi_app
from covet.requests import Request
from covet.routing import Route
from formhelpers import encode_multipart


def http_scope(path: str = "/", method: str = "GET", headers: Any = ()) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": list(headers),
    }


async def no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


def recorder() -> tuple[Callable[[dict[str, Any]], Awaitable[None]], list[dict[str, Any]]]:
    """A ``send`` that keeps what it is given, and the list it keeps it in."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    return send, sent


def test_the_entry_is_a_coroutine_function_to_servers() -> None:
    app = create_asgi_app()
    assert isinstance(app._serve, _core.Dispatcher)
    # uvicorn asks asyncio, hypercorn asks inspect (which on Python 3.11 knows no
    # marks, only coroutine functions and methods).
    assert asyncio.iscoroutinefunction(app.__call__)
    assert inspect.iscoroutinefunction(app.__call__)
    assert inspect.isawaitable(app._serve(http_scope(), None, None))


async def test_the_call_follows_middleware_added_later_and_a_subclass_call() -> None:
    async def hello(request: Request) -> str:
        return "hello"

    seen: list[str] = []

    class Tagging:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            seen.append("middleware")
            await self.app(scope, receive, send)

    class Wrapped(CovetASGIApp):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            seen.append("subclass")
            await super().__call__(scope, receive, send)

    app = Wrapped(routes=[Route("/", hello)])
    send, sent = recorder()

    await app(http_scope(), no_body, send)
    app.add_middleware(Tagging)
    await app(http_scope(), no_body, send)
    assert seen == ["subclass", "subclass", "middleware"]
    assert [m["body"] for m in sent if m["type"] == "http.response.body"] == [b"hello"] * 2
    assert asyncio.iscoroutinefunction(app.__call__)


async def test_a_request_that_never_waits_is_served_at_the_call() -> None:
    async def hello(request: Request) -> str:
        return "hello"

    app = create_asgi_app(routes=[Route("/", hello)])
    send, sent = recorder()

    first = app(http_scope(), no_body, send)
    # Done at the call, in the caller's task: the awaitable is the shared, finished one.
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    second = app(http_scope(), no_body, send)
    assert first is second and type(first) is _core.Served
    assert await first is None and await second is None
    assert app.get_stats()["status_codes"] == {200: 2}


async def test_the_shared_awaitable_of_a_served_request_behaves_as_a_finished_coroutine() -> None:
    app = create_asgi_app()
    send, _ = recorder()
    served: Any = app(http_scope(), no_body, send)
    assert await asyncio.ensure_future(served) is None  # as a task's coroutine too
    served = served.__await__()  # the protocol by hand, as middleware may use it
    with pytest.raises(StopIteration):
        served.send(None)
    with pytest.raises(ValueError, match="thrown"):
        served.throw(ValueError("thrown"))
    with pytest.raises(KeyError):
        served.throw(KeyError)
    served.close()


async def test_an_error_during_the_call_is_raised_when_awaited() -> None:
    async def hello(request: Request) -> str:
        return "hello"

    app = create_asgi_app(routes=[Route("/", hello)])

    async def send(message: dict[str, Any]) -> None:
        raise OSError("connection reset")

    awaitable = app(http_scope(), no_body, send)
    assert type(awaitable) is _core.Serve
    with pytest.raises(OSError, match="connection reset"):
        await awaitable
    assert app.get_stats()["client_disconnects"] == 1


async def test_waits_of_the_handler_reach_the_event_loop() -> None:
    async def slow(request: Request) -> str:
        future = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, future.set_result, "late")
        await asyncio.sleep(0)
        return await future

    app = create_asgi_app(routes=[Route("/", slow)])
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        sent.append(message)

    await app(http_scope(), no_body, send)
    assert sent[1]["body"] == b"late" and app.get_stats()["status_codes"] == {200: 1}


async def test_cancellation_reaches_the_handler_and_counts_as_a_disconnect() -> None:
    cleaned: list[str] = []
    started = asyncio.Event()

    async def forever(request: Request) -> str:
        started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            cleaned.append("handler finally")
        return "never"

    app = create_asgi_app(routes=[Route("/", forever)])

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("nothing may be sent")

    task = asyncio.ensure_future(app(http_scope(), no_body, send))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["handler finally"]
    stats = app.get_stats()
    assert stats["client_disconnects"] == 1 and stats["requests_processed"] == 0


async def test_a_failing_send_propagates_after_closing_the_uploads() -> None:
    forms: list[Any] = []

    async def upload(request: Request) -> str:
        forms.append(await request.form())
        return "ok"

    app = create_asgi_app(routes=[Route("/up", upload, ["POST"])])
    body, content_type = encode_multipart([("f", ("a.txt", b"data", "text/plain"))])
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        raise OSError("connection reset")

    headers = [(b"content-type", content_type.encode())]
    with pytest.raises(OSError, match="connection reset"):
        await app(http_scope("/up", "POST", headers), receive, send)
    assert forms[0]["f"].file.closed
    assert app.get_stats()["client_disconnects"] == 1


async def test_handler_exceptions_go_to_the_apps_handlers() -> None:
    async def boom(request: Request) -> None:
        raise LookupError("missing")

    async def on_lookup(request: Request, exc: Exception) -> dict[str, str]:
        return {"handled": str(exc)}

    app = create_asgi_app(routes=[Route("/", boom)], exception_handlers={LookupError: on_lookup})
    send, sent = recorder()

    await app(http_scope(), no_body, send)
    assert sent[1]["body"] == b'{"handled":"missing"}'


async def test_apps_are_collected_despite_the_app_dispatcher_cycle() -> None:
    import gc
    import weakref

    async def hello(request: Request) -> str:
        return "hi"

    refs = []
    for _ in range(5):
        app = create_asgi_app(routes=[Route("/", hello)])
        send, _ = recorder()
        await app(http_scope(), no_body, send)
        refs.append(weakref.ref(app))
        del app
    gc.collect()
    assert [ref() for ref in refs] == [None] * 5
