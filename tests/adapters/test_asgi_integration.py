"""Converting existing apps: detection, the handler / ASGI 2 / WSGI adapters, the
guide's conversion snippets, the example, and converted apps under real uvicorn."""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import logging
import sys
import threading
import types
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from covet.adapters import (
    ASGI2Adapter,
    CovetApplicationASGIAdapter,
    CovetHandlerApp,
    WSGIAdapter,
    build_environ,
    create_covet_application,
    detect_app_kind,
    make_asgi_compatible,
)
from covet.app import CovetASGIApp, create_asgi_app
from covet.exceptions import HTTPException
from covet.requests import Request
from covet.responses import Response
from covet.routing import CovetRouter
from covet.testing import ASGITestClient

ROOT = Path(__file__).resolve().parents[2]


# --- shapes of apps ------------------------------------------------------------------------
async def asgi3_function(scope: dict, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"asgi3"})


class ASGI3Instance:
    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await asgi3_function(scope, receive, send)


class ASGI2Class:
    def __init__(self, scope: dict) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        message = await receive()
        body = f"asgi2 {self.scope['method']} {self.scope['path']} {message['body'].decode()}"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body.encode()})


def asgi2_function(scope: dict) -> Callable[..., Any]:
    async def instance(receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    return instance


def wsgi_function(environ: dict, start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi"]


class WSGIInstance:
    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> list[bytes]:
        return wsgi_function(environ, start_response)


async def async_handler(request: Request) -> dict:
    return {"method": request.method, "path": request.path}


def sync_handler(request: Request) -> dict:
    return {"thread": threading.current_thread().name != "MainThread"}


class LegacyApplication:
    """An application object that is not callable but carries a router."""

    def __init__(self) -> None:
        self.router = CovetRouter()
        self.router.add_route("/legacy", async_handler, ["GET"])


@pytest.mark.parametrize(
    ("app", "kind"),
    [
        (create_asgi_app(), "covet"),
        (CovetRouter(), "router"),
        (LegacyApplication(), "router"),
        (asgi3_function, "asgi3"),
        (ASGI3Instance(), "asgi3"),
        (functools.partial(asgi3_function), "asgi3"),
        (WSGIAdapter(wsgi_function), "asgi3"),
        (ASGI2Class, "asgi2"),
        (asgi2_function, "asgi2"),
        (wsgi_function, "wsgi"),
        (WSGIInstance(), "wsgi"),
        (async_handler, "handler"),
        (sync_handler, "handler"),
        (lambda request: None, "handler"),
    ],
)
def test_app_kinds_are_detected_from_signatures(app: Any, kind: str) -> None:
    assert detect_app_kind(app) == kind
    assert CovetApplicationASGIAdapter(app).kind == kind


async def _two_async(a: Any, b: Any) -> None: ...


def _four(a: Any, b: Any, c: Any, d: Any) -> None: ...


def _keyword_only(request: Any, *, required: Any) -> None: ...


class _TwoArgClass:
    def __init__(self, a: Any, b: Any) -> None: ...


@pytest.mark.parametrize(
    ("app", "message"),
    [
        (42, "not callable"),
        (object(), "not callable"),
        (_two_async, "2 required positional"),
        (_four, "4 required positional"),
        (_keyword_only, "-1 required positional"),
        (_TwoArgClass, "constructed with one argument"),
        (lambda: None, "0 required positional"),
    ],
)
def test_unrecognised_apps_are_a_clear_type_error(app: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message) as info:
        make_asgi_compatible(app)
    assert "cannot make" in str(info.value)


def test_uninspectable_callable_asks_for_an_explicit_kind() -> None:
    with pytest.raises(TypeError, match="pass kind="):
        detect_app_kind(getattr)


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        make_asgi_compatible(async_handler, kind="cgi")


def test_native_and_asgi3_apps_are_returned_as_is_routers_are_wrapped() -> None:
    covet_app = create_asgi_app()
    assert make_asgi_compatible(covet_app) is covet_app
    assert make_asgi_compatible(asgi3_function) is asgi3_function
    router = CovetRouter()
    wrapped = make_asgi_compatible(router, debug=True)
    assert isinstance(wrapped, CovetASGIApp) and wrapped.router is router and wrapped.debug
    assert isinstance(make_asgi_compatible(ASGI2Class), ASGI2Adapter)
    assert isinstance(make_asgi_compatible(wsgi_function), WSGIAdapter)
    assert isinstance(make_asgi_compatible(async_handler), CovetHandlerApp)


async def test_legacy_object_with_a_router_is_served() -> None:
    response = await ASGITestClient(make_asgi_compatible(LegacyApplication())).get("/legacy")
    assert response.json() == {"method": "GET", "path": "/legacy"}


# --- handlers -----------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "PROPFIND", "BREW"])
@pytest.mark.parametrize("path", ["/", "/deep/nested/path", "/%E2%9C%93"])
async def test_handler_serves_every_path_and_method(method: str, path: str) -> None:
    client = ASGITestClient(make_asgi_compatible(async_handler))
    response = await client.request(method, path)
    assert response.status_code == 200
    assert response.json()["method"] == method


async def test_sync_handler_runs_in_a_thread_and_errors_are_handled_like_routes() -> None:
    client = ASGITestClient(make_asgi_compatible(sync_handler))
    assert (await client.get("/")).json() == {"thread": True}

    async def failing(request: Request) -> Response:
        if request.path == "/teapot":
            raise HTTPException(418, "short and stout")
        raise RuntimeError("bug")

    client = ASGITestClient(CovetApplicationASGIAdapter(failing))
    teapot = await client.get("/teapot")
    assert teapot.status_code == 418 and teapot.json() == {"detail": "short and stout"}
    assert (await client.get("/bug")).status_code == 500
    head = await client.head("/teapot")
    assert head.status_code == 418 and head.content == b""


async def test_handler_app_keeps_lifespan_handlers() -> None:
    events: list[str] = []
    application = CovetHandlerApp(async_handler)
    application.add_startup_handler(lambda: events.append("up"))
    async with ASGITestClient(application) as client:
        assert (await client.get("/x")).status_code == 200
    assert events == ["up"]


# --- ASGI 2 --------------------------------------------------------------------------------
async def test_asgi2_class_and_function_are_served_through_the_test_client() -> None:
    response = await ASGITestClient(make_asgi_compatible(ASGI2Class)).post("/p", body=b"hi")
    assert response.text == "asgi2 POST /p hi"
    response = await ASGITestClient(make_asgi_compatible(asgi2_function)).get("/f")
    assert response.status_code == 202 and response.text == "/f"


async def test_ambiguous_sync_function_can_be_forced_to_asgi2() -> None:
    def factory(s: Any) -> Callable[..., Any]:  # not named "scope": a handler by default
        return asgi2_function(s)

    assert detect_app_kind(factory) == "handler"
    response = await ASGITestClient(make_asgi_compatible(factory, kind="asgi2")).get("/x")
    assert response.status_code == 202


# --- WSGI ----------------------------------------------------------------------------------
def environ_app(environ: dict, start_response: Callable[..., Any]) -> list[bytes]:
    import json

    body = environ["wsgi.input"].read()
    shown = {
        k: v
        for k, v in environ.items()
        if isinstance(v, (str, int, bool, tuple)) and not k.startswith("wsgi.errors")
    }
    shown["body"] = body.decode("latin-1")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(shown).encode()]


async def test_wsgi_environ_follows_pep_3333() -> None:
    client = ASGITestClient(make_asgi_compatible(environ_app), root_path="/mount")
    response = await client.post(
        "/caf%C3%A9/x?q=1&r=%20",
        body=b"payload",
        headers=[
            ("Content-Type", "text/plain"),
            ("X-Multi", "a"),
            ("X-Multi", "b"),
            ("X_Spoofed", "evil"),
        ],
        cookies={"a": "1"},
    )
    env = response.json()
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == "/mount"
    assert env["PATH_INFO"] == "/café/x".encode().decode("latin-1")
    assert env["QUERY_STRING"] == "q=1&r=%20"
    assert env["CONTENT_TYPE"] == "text/plain" and env["CONTENT_LENGTH"] == "7"
    assert env["SERVER_NAME"] == "testserver" and env["SERVER_PORT"] == "80"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "testclient" and env["REMOTE_PORT"] == "50000"
    assert env["HTTP_HOST"] == "testserver" and env["HTTP_COOKIE"] == "a=1"
    assert env["HTTP_X_MULTI"] == "a,b"
    assert "HTTP_X_SPOOFED" not in env and "HTTP_CONTENT_TYPE" not in env
    assert env["wsgi.version"] == [1, 0] and env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is True and env["wsgi.run_once"] is False
    assert env["body"] == "payload"


def test_environ_without_server_falls_back_to_the_host_header() -> None:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "query_string": b"",
        "headers": [(b"host", b"example.org:8080")],
        "scheme": "https",
    }
    env = build_environ(scope, b"")
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.org", "8080")
    assert env["CONTENT_LENGTH"] == "" and "REMOTE_ADDR" not in env


class ClosingIterable:
    def __init__(self, chunks: list[bytes], fail_at: int | None = None) -> None:
        self.chunks = chunks
        self.fail_at = fail_at
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for i, chunk in enumerate(self.chunks):
            if i == self.fail_at:
                raise RuntimeError("iteration failed")
            yield chunk

    def close(self) -> None:
        self.closed = True


async def test_wsgi_streamed_iterable_is_sent_completely_and_closed() -> None:
    iterable = ClosingIterable([b"a", b"", b"b", b"c"])
    sent: list[dict] = []

    def app(environ: dict, start_response: Callable[..., Any]) -> ClosingIterable:
        start_response("206 Partial Content", [("X-Custom", "1")])
        return iterable

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    await WSGIAdapter(app)(scope, receive, send)
    assert sent[0] == {
        "type": "http.response.start",
        "status": 206,
        "headers": [(b"x-custom", b"1")],
    }
    bodies = [(m["body"], m["more_body"]) for m in sent[1:]]
    assert bodies == [(b"a", True), (b"b", True), (b"c", False)]
    assert iterable.closed


async def test_wsgi_error_before_start_is_a_logged_500_and_iterable_is_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    iterable = ClosingIterable([b"never"], fail_at=0)

    def app(environ: dict, start_response: Callable[..., Any]) -> ClosingIterable:
        start_response("200 OK", [])
        return iterable

    with caplog.at_level(logging.ERROR, logger="covet.asgi"):
        response = await ASGITestClient(make_asgi_compatible(app)).get("/")
    assert response.status_code == 500 and response.text == "Internal Server Error"
    assert iterable.closed
    assert any("WSGI app" in r.getMessage() for r in caplog.records)


async def test_wsgi_error_after_start_propagates_to_the_server() -> None:
    iterable = ClosingIterable([b"first", b"second", b"third"], fail_at=2)

    def app(environ: dict, start_response: Callable[..., Any]) -> ClosingIterable:
        start_response("200 OK", [])
        return iterable

    with pytest.raises(RuntimeError, match="iteration failed"):
        await ASGITestClient(make_asgi_compatible(app)).get("/")
    assert iterable.closed


@pytest.mark.parametrize(
    "app",
    [
        lambda environ, start_response: [b"no start_response"],
        lambda environ, start_response: start_response("OK", []) or [b""],
        lambda environ, start_response: start_response("200 OK", [("X", "a\r\nb")]) or [b""],
        lambda environ, start_response: start_response("200 OK", []) or ["str, not bytes"],
    ],
    ids=["no-start-response", "bad-status", "header-injection", "str-chunk"],
)
async def test_broken_wsgi_responses_are_500_not_crashes(app: Any) -> None:
    response = await ASGITestClient(make_asgi_compatible(app, kind="wsgi")).get("/")
    assert response.status_code == 500


async def test_wsgi_exc_info_replaces_the_response_before_it_started() -> None:
    def app(environ: dict, start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("X-First", "1")])
        try:
            raise KeyError("missing")
        except KeyError:
            start_response("404 Not Found", [("X-Second", "1")], sys.exc_info())
        return [b"not here"]

    response = await ASGITestClient(make_asgi_compatible(app)).get("/")
    assert response.status_code == 404 and "x-first" not in response.headers
    assert response.text == "not here"


async def test_wsgi_legacy_write_callable_is_supported() -> None:
    def app(environ: dict, start_response: Callable[..., Any]) -> list[bytes]:
        write = start_response("200 OK", [])
        write(b"written ")
        return [b"returned"]

    assert (await ASGITestClient(make_asgi_compatible(app)).get("/")).text == "written returned"


async def test_wsgi_body_over_the_limit_is_413_by_declared_length() -> None:
    calls: list[int] = []

    def app(environ: dict, start_response: Callable[..., Any]) -> list[bytes]:
        calls.append(1)
        return wsgi_function(environ, start_response)

    client = ASGITestClient(make_asgi_compatible(app, max_body_size=10))
    assert (await client.post("/", body=b"x" * 10)).status_code == 200
    too_big = await client.post("/", body=b"x" * 11)
    assert too_big.status_code == 413 and "10 bytes" in too_big.json()["detail"]
    assert calls == [1]


async def test_wsgi_streamed_body_without_length_is_cut_off_at_the_limit() -> None:
    received: list[int] = []

    async def receive() -> dict:
        received.append(1)
        return {"type": "http.request", "body": b"x" * 4, "more_body": True}  # endless

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}
    await WSGIAdapter(wsgi_function, max_body_size=10)(scope, receive, send)
    assert sent[0]["status"] == 413
    assert len(received) == 3  # stopped reading as soon as the limit was passed


async def test_wsgi_invalid_content_length_is_400() -> None:
    client = ASGITestClient(make_asgi_compatible(wsgi_function))
    response = await client.post("/", body=b"abc", headers={"Content-Length": "3x"})
    assert response.status_code == 400


async def test_wsgi_app_supports_lifespan_and_refuses_websockets() -> None:
    from covet.testing import WebSocketRejected

    async with ASGITestClient(make_asgi_compatible(wsgi_function), lifespan="on") as client:
        assert (await client.get("/")).text == "wsgi"
        with pytest.raises(WebSocketRejected):
            async with client.websocket_connect("/ws"):
                pass


def test_wsgi_max_body_size_must_not_be_negative() -> None:
    with pytest.raises(ValueError):
        WSGIAdapter(wsgi_function, max_body_size=-1)


# --- the guide's snippets and the example --------------------------------------------------
AUTOMATIC_CONVERSION = """
from covet.core.asgi_integration import make_asgi_compatible

# Convert any CovetPy app to ASGI
existing_app = create_covet_application()
asgi_app = make_asgi_compatible(existing_app)

# Run with uvicorn
uvicorn.run(asgi_app)
"""

MANUAL_CONVERSION = """
from covet.core.asgi_integration import CovetApplicationASGIAdapter

# Wrap existing app
existing_app = MyCovetApplication()
asgi_app = CovetApplicationASGIAdapter(existing_app)
"""


async def test_guide_automatic_conversion_snippet_runs_verbatim() -> None:
    runs: list[Any] = []
    fake_uvicorn = types.SimpleNamespace(run=lambda app, **kwargs: runs.append(app))
    namespace = {
        "create_covet_application": create_covet_application,
        "uvicorn": fake_uvicorn,
    }
    exec(AUTOMATIC_CONVERSION, namespace)
    assert isinstance(namespace["existing_app"], CovetASGIApp)
    assert runs == [namespace["existing_app"]]  # a CovetPy app is already ASGI 3
    response = await ASGITestClient(runs[0]).get("/anything")
    assert response.status_code == 404


async def test_guide_manual_conversion_snippet_runs_verbatim() -> None:
    namespace: dict[str, Any] = {"MyCovetApplication": LegacyApplication}
    exec(MANUAL_CONVERSION, namespace)
    adapter = namespace["asgi_app"]
    assert isinstance(adapter, CovetApplicationASGIAdapter) and adapter.kind == "router"
    response = await ASGITestClient(adapter).get("/legacy")
    assert response.json() == {"method": "GET", "path": "/legacy"}


def load_example() -> types.ModuleType:
    path = ROOT / "examples" / "simple_asgi_conversion.py"
    spec = importlib.util.spec_from_file_location("simple_asgi_conversion", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_conversion_example_apps_all_answer() -> None:
    example = load_example()
    assert example.app is example.existing_app
    response = await ASGITestClient(example.app).get("/")
    assert response.json() == {"message": "Hello from CovetPy", "path": "/"}
    response = await ASGITestClient(example.handler_asgi).delete("/any/path")
    assert response.json() == {"method": "DELETE", "path": "/any/path"}
    response = await ASGITestClient(example.wsgi_asgi).post("/w", body=b"data")
    assert response.text == "WSGI /w got data"
    response = await ASGITestClient(example.asgi2_asgi).get("/")
    assert response.text == "ASGI 2 says hi"


# --- under real uvicorn ------------------------------------------------------------------------
def fetch(url: str, data: bytes | None = None) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers, response.read()


def test_converted_wsgi_app_under_uvicorn(serve: Any) -> None:
    server = serve("apps.conversion:wsgi")
    status, headers, body = fetch(f"{server.base_url}/echo?x=1", data=b"over the wire")
    assert status == 201 and headers["X-Wsgi"] == "yes"
    assert body == b"POST /echo x=1 over the wire"
    status, _, body = fetch(f"{server.base_url}/stream")
    assert status == 200 and body == b"".join(f"chunk {i}\n".encode() for i in range(5))
    with pytest.raises(urllib.error.HTTPError) as info:
        fetch(f"{server.base_url}/echo", data=b"x" * 1001)
    info.value.close()
    assert info.value.code == 413


def test_converted_asgi2_app_under_uvicorn(serve: Any) -> None:
    server = serve("apps.conversion:asgi2")
    status, _, body = fetch(f"{server.base_url}/two")
    assert status == 200 and body == b"asgi2 /two"


async def test_wsgi_stops_iterating_an_endless_response_when_the_client_disconnects() -> None:
    produced: list[int] = []
    closed = threading.Event()

    def endless(environ: dict, start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            while True:
                produced.append(1)
                yield b"tick"
        finally:
            closed.set()

    gone = asyncio.Event()
    calls = 0

    async def receive() -> dict:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body" and len(produced) >= 3:
            gone.set()  # the client goes away after a few chunks

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    await WSGIAdapter(endless)(scope, receive, send)
    assert closed.is_set() and len(produced) >= 3
