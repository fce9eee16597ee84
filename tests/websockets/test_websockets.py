"""WebSockets: raw ASGI message tests for every lifecycle edge, then real uvicorn with
the ``websockets`` client library."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import Server
from covet import (
    CovetRouter,
    HTTPException,
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
    WebSocketState,
    create_asgi_app,
)
from covet._core import InvalidHeaderError
from covet.testing import ASGITestClient
from covet.websockets import DEFAULT_MAX_MESSAGE_SIZE

Handler = Callable[[WebSocket], Awaitable[Any]]


# -- a hand-driven ASGI WebSocket connection ---------------------------------------------
class Channel:
    """Plays the server: queues what the client sends, collects what the app sends."""

    def __init__(
        self,
        app: Any,
        path: str = "/ws",
        *,
        query: bytes = b"",
        headers: list[tuple[bytes, bytes]] | None = None,
        subprotocols: list[str] | None = None,
        denial: bool = True,
        state: dict[str, Any] | None = None,
    ) -> None:
        self.app = app
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.scope: dict[str, Any] = {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "ws",
            "server": ("testserver", 80),
            "client": ("10.0.0.7", 4321),
            "root_path": "",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "headers": headers or [(b"host", b"testserver")],
            "subprotocols": subprotocols or [],
            "extensions": {"websocket.http.response": {}} if denial else {},
        }
        if state is not None:
            self.scope["state"] = state
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Channel:
        self.to_app.put_nowait({"type": "websocket.connect"})
        self.task = asyncio.create_task(self.app(self.scope, self.to_app.get, self.from_app.put))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        if not self.task.done():
            self.to_app.put_nowait({"type": "websocket.disconnect", "code": 1001})
        await asyncio.wait_for(self.task, 5)

    def send(self, message: dict[str, Any]) -> None:
        self.to_app.put_nowait(message)

    def send_text(self, text: str) -> None:
        self.send({"type": "websocket.receive", "text": text})

    def send_bytes(self, data: bytes) -> None:
        self.send({"type": "websocket.receive", "bytes": data})

    async def next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.from_app.get(), 5)

    async def finished(self) -> None:
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)
        assert self.from_app.empty(), f"unexpected messages: {self.from_app}"


def ws_app(handler: Handler, path: str = "/ws", **kwargs: Any) -> Any:
    router = CovetRouter()
    router.add_route(path, handler, ["WEBSOCKET"])
    return create_asgi_app(router=router, **kwargs)


async def accept_and_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message.get("text") is not None:
            await websocket.send_text(message["text"])
        else:
            await websocket.send_bytes(message["bytes"])


# -- the happy path ----------------------------------------------------------------------
async def test_echo_of_text_bytes_and_json_in_process() -> None:
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        assert await websocket.receive_text() == "héllo"
        await websocket.send_text("héllo back")
        assert await websocket.receive_bytes() == b"\x00\xff"
        await websocket.send_bytes(b"\xff\x00")
        assert await websocket.receive_json() == {"a": [1, 2]}
        await websocket.send_json({"b": "é"})
        assert await websocket.receive_json(mode="binary") == [True, None]
        await websocket.send_json({"c": 3}, mode="binary")

    async with Channel(ws_app(handler)) as ch:
        assert await ch.next() == {"type": "websocket.accept", "subprotocol": None}
        ch.send_text("héllo")
        assert await ch.next() == {"type": "websocket.send", "text": "héllo back"}
        ch.send_bytes(b"\x00\xff")
        assert await ch.next() == {"type": "websocket.send", "bytes": b"\xff\x00"}
        ch.send_text('{"a": [1, 2]}')
        message = await ch.next()
        assert isinstance(message["text"], str) and orjson.loads(message["text"]) == {"b": "é"}
        ch.send_bytes(b"[true, null]")
        assert await ch.next() == {"type": "websocket.send", "bytes": b'{"c":3}'}
        # Returning after accept without closing: the app closes with 1000.
        assert await ch.next() == {"type": "websocket.close", "code": 1000, "reason": ""}
        await ch.finished()


async def test_iterators_end_when_the_peer_disconnects() -> None:
    received: list[Any] = []

    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        kind = websocket.query["kind"]
        iterator = {
            "text": websocket.iter_text,
            "bytes": websocket.iter_bytes,
            "json": websocket.iter_json,
        }[kind]()
        async for item in iterator:
            received.append(item)
        received.append(("done", websocket.close_code, websocket.client_state))

    for kind, payloads, expected in [
        ("text", ["a", "b"], ["a", "b"]),
        ("bytes", [b"a", b"b"], [b"a", b"b"]),
        ("json", ["[1]", '{"x": 2}'], [[1], {"x": 2}]),
    ]:
        received.clear()
        async with Channel(ws_app(handler), query=f"kind={kind}".encode()) as ch:
            await ch.next()
            for payload in payloads:
                if isinstance(payload, bytes):
                    ch.send_bytes(payload)
                else:
                    ch.send_text(payload)
            ch.send({"type": "websocket.disconnect", "code": 1001, "reason": "going away"})
            await ch.finished()  # nothing sent after the peer left
        assert received == [*expected, ("done", 1001, WebSocketState.DISCONNECTED)]


async def test_scope_views_are_shared_with_requests() -> None:
    seen: dict[str, Any] = {}

    async def handler(websocket: WebSocket) -> None:
        seen.update(
            params=websocket.path_params,
            q=websocket.query.getlist("q"),
            query_params=websocket.query_params.get("q"),
            header=websocket.headers["x-token"],
            cookies=dict(websocket.cookies),
            url=str(websocket.url),
            client=websocket.client,
            db=websocket.state.db,
            subprotocols=websocket.subprotocols,
            scope_is_scope=websocket.scope is ch.scope,
            app=websocket.app,
        )
        await websocket.accept(subprotocol="v2", headers={"x-accepted": "yes"})

    router = CovetRouter()
    router.add_route("/rooms/{room:int}", handler, ["WEBSOCKET"])
    app = create_asgi_app(router=router)
    ch = Channel(
        app,
        "/rooms/7",
        query=b"q=1&q=2",
        headers=[(b"host", b"example.com"), (b"x-token", b"t"), (b"cookie", b"a=1; b=2")],
        subprotocols=["v1", "v2"],
        state={"db": "conn"},
    )
    async with ch:
        accept = await ch.next()
        assert accept == {
            "type": "websocket.accept",
            "subprotocol": "v2",
            "headers": [(b"x-accepted", b"yes")],
        }
        assert (await ch.next())["type"] == "websocket.close"
    assert seen == {
        "params": {"room": 7},
        "q": ["1", "2"],
        "query_params": "2",
        "header": "t",
        "cookies": {"a": "1", "b": "2"},
        "url": "ws://example.com/rooms/7?q=1&q=2",
        "client": ("10.0.0.7", 4321),
        "db": "conn",
        "subprotocols": ["v1", "v2"],
        "scope_is_scope": True,
        "app": app,
    }


# -- refusing the handshake --------------------------------------------------------------
async def test_unknown_path_is_denied_with_a_404_response() -> None:
    async with Channel(ws_app(accept_and_echo), "/nowhere") as ch:
        start = await ch.next()
        assert start["type"] == "websocket.http.response.start"
        assert start["status"] == 404
        assert (b"content-type", b"application/json") in start["headers"]
        body = await ch.next()
        assert body == {"type": "websocket.http.response.body", "body": b'{"detail":"Not Found"}'}
        await ch.finished()


async def test_unknown_path_without_denial_extension_is_closed_before_accept() -> None:
    async with Channel(ws_app(accept_and_echo), "/nowhere", denial=False) as ch:
        assert await ch.next() == {"type": "websocket.close", "code": 1000, "reason": ""}
        await ch.finished()


async def test_http_route_is_not_a_websocket_route_and_vice_versa() -> None:
    router = CovetRouter()
    router.add_route("/ws", accept_and_echo, ["WEBSOCKET"])
    router.add_route("/http", lambda request: "x", ["GET"])
    app = create_asgi_app(router=router)
    assert (await ASGITestClient(app).get("/ws")).status_code == 404
    async with Channel(app, "/http") as ch:
        assert (await ch.next())["status"] == 404
        await ch.next()


@pytest.mark.parametrize("denial", [True, False])
async def test_handler_returning_without_accept_refuses_the_handshake(denial: bool) -> None:
    async def handler(websocket: WebSocket) -> None:
        return None

    async with Channel(ws_app(handler), denial=denial) as ch:
        if denial:
            assert (await ch.next())["status"] == 403
            assert (await ch.next())["body"] == b'{"detail":"Forbidden"}'
        else:
            assert await ch.next() == {"type": "websocket.close", "code": 1000, "reason": ""}
        await ch.finished()


async def test_http_exception_before_accept_becomes_a_denial_response() -> None:
    async def handler(websocket: WebSocket) -> None:
        raise HTTPException(401, "token required", headers={"www-authenticate": "Bearer"})

    async with Channel(ws_app(handler)) as ch:
        start = await ch.next()
        assert start["status"] == 401
        assert (b"www-authenticate", b"Bearer") in start["headers"]
        assert (await ch.next())["body"] == b'{"detail":"token required"}'
        await ch.finished()
    async with Channel(ws_app(handler), denial=False) as ch:
        assert await ch.next() == {"type": "websocket.close", "code": 1000, "reason": ""}
        await ch.finished()


async def test_handler_can_close_before_accept_and_send_its_own_denial() -> None:
    from covet import PlainTextResponse

    async def handler(websocket: WebSocket) -> None:
        if websocket.query.get("how") == "close":
            await websocket.close()
        else:
            await websocket.send_denial_response(PlainTextResponse("go away", status_code=429))
        await websocket.close()  # already over: a no-op

    async with Channel(ws_app(handler), query=b"how=close") as ch:
        assert await ch.next() == {"type": "websocket.close", "code": 1000, "reason": ""}
        await ch.finished()
    async with Channel(ws_app(handler), query=b"how=deny") as ch:
        assert (await ch.next())["status"] == 429
        assert (await ch.next())["body"] == b"go away"
        await ch.finished()


async def test_exception_before_accept_is_a_500_denial_without_internals(caplog) -> None:
    async def handler(websocket: WebSocket) -> None:
        raise ValueError("secret internal detail")

    for debug in (False, True):
        caplog.clear()
        async with Channel(ws_app(handler, debug=debug)) as ch:
            assert (await ch.next())["status"] == 500
            body = orjson.loads((await ch.next())["body"])
            await ch.finished()
        assert body["detail"] == "Internal Server Error"
        assert ("secret internal detail" in str(body)) is debug
        [record] = [r for r in caplog.records if r.name == "covet.asgi" and r.levelno >= 40]
        assert record.exc_info is not None and "secret internal detail" in str(record.exc_info[1])


# -- ending an accepted connection -------------------------------------------------------
async def test_exception_after_accept_closes_with_1011_and_is_logged(caplog) -> None:
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        raise RuntimeError("handler bug")

    async with Channel(ws_app(handler)) as ch:
        await ch.next()
        ch.send_text("trigger")
        assert await ch.next() == {"type": "websocket.close", "code": 1011, "reason": ""}
        await ch.finished()
    errors = [r for r in caplog.records if r.name == "covet.asgi" and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "/ws" in errors[0].getMessage()
    assert isinstance(errors[0].exc_info[1], RuntimeError)


async def test_websocket_and_http_exceptions_after_accept_close_with_their_codes() -> None:
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        kind = await websocket.receive_text()
        if kind == "ws":
            raise WebSocketException(4403, "no entry")
        if kind == "http4xx":
            raise HTTPException(403)
        raise HTTPException(503)

    for kind, code, reason in [("ws", 4403, "no entry"), ("http4xx", 1008, ""), ("x", 1011, "")]:
        async with Channel(ws_app(handler)) as ch:
            await ch.next()
            ch.send_text(kind)
            assert await ch.next() == {"type": "websocket.close", "code": code, "reason": reason}
            await ch.finished()


async def test_explicit_close_with_code_and_reason_is_sent_once() -> None:
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close(4000, "bye")
        await websocket.close(4001, "ignored")

    async with Channel(ws_app(handler)) as ch:
        await ch.next()
        assert await ch.next() == {"type": "websocket.close", "code": 4000, "reason": "bye"}
        await ch.finished()


async def test_peer_disconnect_raises_websocket_disconnect_with_code_and_reason() -> None:
    caught: list[WebSocketDisconnect] = []

    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.receive_text()
        except WebSocketDisconnect as exc:
            caught.append(exc)
        # The guide's pattern: close() in an except block after a disconnect is safe.
        await websocket.close()
        with pytest.raises(WebSocketDisconnect):
            await websocket.send_text("too late")
        with pytest.raises(WebSocketDisconnect):
            await websocket.receive()

    async with Channel(ws_app(handler)) as ch:
        await ch.next()
        ch.send({"type": "websocket.disconnect", "code": 4002, "reason": "tab closed"})
        await ch.finished()
    [exc] = caught
    assert (exc.code, exc.reason) == (4002, "tab closed")


async def test_disconnect_during_the_handshake_raises_from_accept() -> None:
    caught: list[int] = []

    async def handler(websocket: WebSocket) -> None:
        try:
            await websocket.accept()
        except WebSocketDisconnect as exc:
            caught.append(exc.code)
            raise

    app = ws_app(handler)
    ch = Channel(app)
    ch.to_app.put_nowait({"type": "websocket.disconnect", "code": 1006})
    await asyncio.wait_for(app(ch.scope, ch.to_app.get, ch.from_app.put), 5)
    assert caught == [1006]
    assert ch.from_app.empty()
    assert app.get_stats()["websocket_connections"] == 0


async def test_server_reporting_a_lost_client_on_send_raises_websocket_disconnect() -> None:
    class ClientGone(OSError):  # what uvicorn's ClientDisconnected is
        pass

    outcome: list[Any] = []
    messages = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        if message["type"] != "websocket.accept":
            raise ClientGone()

    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.send_text("x")
        except WebSocketDisconnect as exc:
            outcome.append(exc.code)
            raise

    app = ws_app(handler)
    await app(Channel(app).scope, receive, send)
    assert outcome == [1006]


# -- misuse is a clear error -------------------------------------------------------------
async def test_receive_and_send_before_accept_are_errors() -> None:
    errors: list[str] = []

    async def handler(websocket: WebSocket) -> None:
        for call in (websocket.receive, websocket.receive_text, lambda: websocket.send_text("x")):
            try:
                await call()
            except RuntimeError as exc:
                errors.append(str(exc))
        await websocket.accept()

    async with Channel(ws_app(handler)) as ch:
        assert (await ch.next())["type"] == "websocket.accept"
        assert (await ch.next())["type"] == "websocket.close"
    assert len(errors) == 3
    assert all("before accept()" in e for e in errors)


async def test_sending_after_close_is_a_runtime_error() -> None:
    errors: list[str] = []

    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close(1000)
        for call in (
            lambda: websocket.send_text("x"),
            lambda: websocket.send_bytes(b"x"),
            lambda: websocket.send_json({}),
            websocket.receive,
        ):
            with pytest.raises(RuntimeError, match="closed") as info:
                await call()
            errors.append(str(info.value))

    async with Channel(ws_app(handler)) as ch:
        await ch.next()
        assert (await ch.next())["code"] == 1000
        await ch.finished()
    assert len(errors) == 4


async def test_accept_misuse_is_rejected() -> None:
    async def handler(websocket: WebSocket) -> None:
        with pytest.raises(ValueError, match="not offered"):
            await websocket.accept(subprotocol="v9")
        with pytest.raises(InvalidHeaderError):
            await websocket.accept(headers={"x-bad": "a\r\nb"})
        await websocket.accept()
        with pytest.raises(RuntimeError, match="connected"):
            await websocket.accept()
        with pytest.raises(RuntimeError, match="before accept"):
            await websocket.send_denial_response(None)
        with pytest.raises(ValueError, match="close code"):
            await websocket.close(1006)
        with pytest.raises(ValueError, match="123 bytes"):
            await websocket.close(1000, "x" * 124)
        with pytest.raises(TypeError):
            await websocket.send_text(b"bytes")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await websocket.send_bytes("text")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="mode"):
            await websocket.send_json({}, mode="xml")
        with pytest.raises(ValueError, match="mode"):
            await websocket.receive_json(mode="xml")

    async with Channel(ws_app(handler), subprotocols=["v1"]) as ch:
        assert await ch.next() == {"type": "websocket.accept", "subprotocol": None}
        assert (await ch.next())["code"] == 1000
        await ch.finished()


def test_websocket_needs_a_websocket_scope() -> None:
    async def noop() -> dict[str, Any]:
        return {}

    with pytest.raises(ValueError, match="websocket"):
        WebSocket({"type": "http"}, noop, noop)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "1"])
def test_websocket_max_message_size_setting_is_validated(value: Any) -> None:
    with pytest.raises(ValueError, match="websocket_max_message_size"):
        create_asgi_app(websocket_max_message_size=value)


# -- bad input from the peer -------------------------------------------------------------
async def test_message_over_the_size_limit_closes_with_1009() -> None:
    outcomes: list[Any] = []

    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                outcomes.append(await websocket.receive())
        except WebSocketDisconnect as exc:
            outcomes.append(exc.code)

    app = ws_app(handler, websocket_max_message_size=10)
    # 10 bytes pass; one byte more closes. Text is measured in UTF-8 bytes.
    for payload, ok in [
        ("x" * 10, True),
        ("é" * 5, True),
        ("é" * 6, False),
        ("😀" * 3, False),
        (b"y" * 10, True),
        (b"y" * 11, False),
        ("x" * 11, False),
    ]:
        outcomes.clear()
        async with Channel(app) as ch:
            await ch.next()
            if isinstance(payload, bytes):
                ch.send_bytes(payload)
            else:
                ch.send_text(payload)
            if ok:
                ch.send({"type": "websocket.disconnect", "code": 1000})
                await ch.finished()
                assert outcomes[-1] == 1000 and len(outcomes) == 2
            else:
                close = await ch.next()
                assert close == {
                    "type": "websocket.close",
                    "code": 1009,
                    "reason": "message larger than 10 bytes",
                }
                await ch.finished()
                assert outcomes == [1009]


async def test_default_message_limit_is_one_mib_and_none_disables_it() -> None:
    assert create_asgi_app().websocket_max_message_size == DEFAULT_MAX_MESSAGE_SIZE == 1 << 20
    big = b"z" * ((1 << 20) + 1)
    for limit, expected in [(DEFAULT_MAX_MESSAGE_SIZE, 1009), (None, 1000)]:

        async def handler(websocket: WebSocket) -> None:
            await websocket.accept()
            await websocket.receive_bytes()

        async with Channel(ws_app(handler, websocket_max_message_size=limit)) as ch:
            await ch.next()
            ch.send_bytes(big)
            assert (await ch.next())["code"] == expected
            await ch.finished()


@pytest.mark.parametrize(
    ("call", "frame", "code", "reason"),
    [
        ("receive_text", {"bytes": b"x"}, 1003, "expected a text message"),
        ("receive_bytes", {"text": "x"}, 1003, "expected a binary message"),
        ("receive_json", {"text": "{nope"}, 1007, "invalid JSON"),
        ("receive_json_binary", {"bytes": b"\xff"}, 1007, "invalid JSON"),
        ("receive_json_binary", {"text": "{}"}, 1003, "expected a binary message"),
    ],
)
async def test_unexpected_or_malformed_frames_close_with_protocol_codes(
    call: str, frame: dict[str, Any], code: int, reason: str
) -> None:
    caught: list[int] = []

    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            if call == "receive_json_binary":
                await websocket.receive_json(mode="binary")
            else:
                await getattr(websocket, call)()
        except WebSocketDisconnect as exc:
            caught.append(exc.code)
            raise

    async with Channel(ws_app(handler)) as ch:
        await ch.next()
        ch.send({"type": "websocket.receive", **frame})
        assert await ch.next() == {"type": "websocket.close", "code": code, "reason": reason}
        await ch.finished()
    assert caught == [code]


# -- the connection counter --------------------------------------------------------------
async def test_open_connections_are_counted_until_their_handler_ends() -> None:
    release = asyncio.Event()

    async def handler(websocket: WebSocket) -> None:
        if websocket.query.get("refuse"):
            return
        await websocket.accept()
        await release.wait()
        if websocket.query.get("fail"):
            raise RuntimeError("fails after accept")

    app = ws_app(handler)
    channels = [Channel(app, query=q) for q in (b"", b"", b"fail=1", b"refuse=1")]
    for ch in channels:
        await ch.__aenter__()
        await ch.next()
    stats = app.get_stats()
    assert (stats["websocket_connections"], stats["websocket_connections_total"]) == (3, 3)
    assert stats["requests_processed"] == 0  # WebSocket sessions are not HTTP requests
    release.set()
    for ch in channels:
        await ch.__aexit__(None, None, None)
    stats = app.get_stats()
    assert (stats["websocket_connections"], stats["websocket_connections_total"]) == (0, 3)


# -- over real uvicorn with the websockets client ----------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = Server("apps.ws_app:app")
    srv.wait_ready()
    yield srv
    srv.stop()


def url(server: Server, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


async def http_get_json(server: Server, path: str) -> Any:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    return orjson.loads(data.split(b"\r\n\r\n", 1)[1])


async def test_echo_over_uvicorn(server: Server) -> None:
    async with connect(url(server, "/echo")) as ws:
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        await ws.send(b"\x00\x01\xff")
        assert await ws.recv() == b"\x00\x01\xff"
    async with connect(url(server, "/json")) as ws:
        await ws.send('{"n": 1}')
        assert orjson.loads(await ws.recv()) == {"echo": {"n": 1}}
    async with connect(url(server, "/json?mode=binary")) as ws:
        await ws.send(b"[1, 2]")
        reply = await ws.recv()
        assert isinstance(reply, bytes) and orjson.loads(reply) == {"echo": [1, 2]}


async def test_subprotocol_headers_and_scope_over_uvicorn(server: Server) -> None:
    async with connect(
        url(server, "/info/caf%C3%A9?q=1"),  # the path parameter is percent-decoded
        subprotocols=["chat.v1", "chat.v2"],
        additional_headers={"x-test": "T", "cookie": "session=abc"},
    ) as ws:
        assert ws.subprotocol == "chat.v2"
        assert ws.response.headers["x-covet"] == "accepted"
        info = orjson.loads(await ws.recv())
        await ws.send("bye")
    assert info == {
        "name": "café",
        "q": "1",
        "header": "T",
        "cookie": "abc",
        "url": f"ws://127.0.0.1:{server.port}/info/café?q=1",  # URL.from_scope uses "path"
        "offered": ["chat.v1", "chat.v2"],
        "client_host": "127.0.0.1",
    }


@pytest.mark.parametrize("code", [1000, 1001, 4000, 4999])
async def test_server_close_codes_reach_the_client(server: Server, code: int) -> None:
    async with connect(url(server, f"/close/{code}")) as ws:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert (ws.close_code, ws.close_reason) == (code, "server says bye")


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/nowhere", 404, {"detail": "Not Found"}),
        ("/no-accept", 403, {"detail": "Forbidden"}),
        ("/unauthorized", 401, {"detail": "token required"}),
        ("/boom-early", 500, {"detail": "Internal Server Error"}),
    ],
)
async def test_handshake_denials_over_uvicorn(
    server: Server, path: str, status: int, body: dict[str, Any]
) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url(server, path)):
            pass
    response = info.value.response
    assert response.status_code == status
    assert orjson.loads(response.body) == body
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("path", "code", "reason"), [("/boom", 1011, ""), ("/policy", 4001, "not allowed")]
)
async def test_handler_errors_close_with_codes_over_uvicorn(
    server: Server, path: str, code: int, reason: str
) -> None:
    async with connect(url(server, path)) as ws:
        await ws.send("go")
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert (ws.close_code, ws.close_reason) == (code, reason)


async def test_too_big_message_closes_with_1009_over_uvicorn(server: Server) -> None:
    async with connect(url(server, "/echo"), max_size=None) as ws:
        await ws.send("x" * (64 * 1024))
        assert len(await ws.recv()) == 64 * 1024
        await ws.send("x" * (64 * 1024 + 1))
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert ws.close_code == 1009
    assert ws.close_reason == "message larger than 65536 bytes"


async def test_client_disconnect_raises_websocket_disconnect_server_side(server: Server) -> None:
    before = len((await http_get_json(server, "/events"))["disconnects"])
    async with connect(url(server, "/wait-disconnect")) as ws:
        assert await ws.recv() == "ready"
        await ws.close(4321, "client done")
    deadline = time.monotonic() + 5
    while True:
        disconnects = (await http_get_json(server, "/events"))["disconnects"]
        if len(disconnects) > before or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    assert disconnects[before:] == [4321]


async def wait_for_open_connections(server: Server, expected: int) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        stats = await http_get_json(server, "/stats")
        if stats["websocket_connections"] == expected or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.05)


async def test_five_hundred_concurrent_connections(server: Server) -> None:
    """Backs the guide's "thousands of concurrent connections" with a measured count:
    500 connections open at once on one uvicorn worker, all served, all counted."""
    n = 500
    before = await wait_for_open_connections(server, 0)
    clients = await asyncio.gather(*(connect(url(server, "/hold")) for _ in range(n)))
    try:
        assert all(r == "ready" for r in await asyncio.gather(*(c.recv() for c in clients)))
        stats = await wait_for_open_connections(server, n)
        assert stats["websocket_connections"] == n
        assert stats["websocket_connections_total"] - before["websocket_connections_total"] == n
        await asyncio.gather(*(c.send(f"m{i}") for i, c in enumerate(clients)))
        replies = await asyncio.gather(*(c.recv() for c in clients))
        assert replies == [f"M{i}" for i in range(n)]
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    assert (await wait_for_open_connections(server, 0))["websocket_connections"] == 0


# --- begin verbatim from ASGI-GUIDE.md "WebSocket Handling" ---
# fmt: off
async def websocket_endpoint(websocket):
    await websocket.accept()

    try:
        while True:
            # Receive message
            message = await websocket.receive_text()
            data = json.loads(message)

            # Send response
            await websocket.send_json({
                "echo": data,
                "timestamp": time.time()
            })
    except Exception:
        await websocket.close()
# fmt: on
# --- end verbatim ---


async def test_guide_websocket_snippet(caplog) -> None:
    router = CovetRouter()
    router.add_route("/ws", websocket_endpoint, ["WEBSOCKET"])  # as in "Common Issues"
    app = create_asgi_app(router=router)
    async with Channel(app) as ch:
        await ch.next()
        ch.send_text('{"n": 1}')
        reply = orjson.loads((await ch.next())["text"])
        assert reply["echo"] == {"n": 1} and isinstance(reply["timestamp"], float)
        ch.send({"type": "websocket.disconnect", "code": 1001})
        await ch.finished()  # close() after the disconnect sends nothing
    async with Channel(app) as ch:
        await ch.next()
        ch.send_text("not json")  # json.loads fails: the snippet closes normally
        assert await ch.next() == {"type": "websocket.close", "code": 1000, "reason": ""}
        await ch.finished()
    assert [r for r in caplog.records if r.name == "covet.asgi"] == []
