"""The RSGI translation in process, against stand-ins for granian's protocol objects:
the cases a real server makes hard to provoke on demand (cancelled receives, cut
bodies, vanished clients, zero-copy files, apps that answer nothing)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from covet import CovetRouter, Request, WebSocket, create_asgi_app
from covet.responses import FileResponse, PlainTextResponse, Response, StreamingResponse
from covet.rsgi import WHOLE_BODY_MAX, ClientDisconnected, RSGIAdapter


class ProtocolClosed(RuntimeError):
    """Stands for granian's RSGIProtocolClosed (a RuntimeError)."""


class Scope:
    def __init__(
        self,
        path: str = "/",
        method: str = "GET",
        headers: list[tuple[str, str]] | None = None,
        proto: str = "http",
        query_string: str = "",
    ) -> None:
        self.proto = proto
        self.http_version = "1.1"
        self.rsgi_version = "1.6"
        self.server = "127.0.0.1:8000"
        self.client = "[::1]:5555"
        self.scheme = "http"
        self.method = method
        self.path = path
        self.query_string = query_string
        self.authority = None
        self.headers = Headers(headers or [])


class Headers:
    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)


class StreamTransport:
    def __init__(self, owner: HTTPProto) -> None:
        self.owner = owner

    async def send_bytes(self, data: bytes) -> None:
        if self.owner.broken:
            raise ProtocolClosed("RSGI transport is closed")
        self.owner.streamed.append(data)

    def __del__(self) -> None:
        self.owner.stream_dropped = True


class HTTPProto:
    """Granian's HTTP protocol object: the body arrives as the test feeds it."""

    def __init__(self) -> None:
        self.chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.calls: list[tuple[Any, ...]] = []
        self.streamed: list[bytes] = []
        self.stream_dropped = False
        self.broken = False
        self.whole_reads = 0
        self.exhausted = False
        self.disconnected = asyncio.get_running_loop().create_future()

    def feed(self, *chunks: bytes | None) -> None:
        for chunk in chunks:
            self.chunks.put_nowait(chunk)

    def __call__(self) -> asyncio.Future[bytes]:
        self.whole_reads += 1
        return asyncio.ensure_future(self._whole())

    async def _whole(self) -> bytes:
        data = b""
        while (chunk := await self.chunks.get()) is not None:
            data += chunk
        return data

    def __aiter__(self) -> HTTPProto:
        return self

    def __anext__(self) -> asyncio.Future[bytes]:
        # As granian's: the end is an empty chunk, then StopAsyncIteration at once.
        if self.exhausted:
            raise StopAsyncIteration
        return asyncio.ensure_future(self._next())

    async def _next(self) -> bytes:
        chunk = await self.chunks.get()
        if chunk is None:
            self.exhausted = True
            return b""
        if chunk == b"!":
            raise ProtocolClosed("RSGI transport is closed")
        return chunk

    def client_disconnect(self) -> asyncio.Future[None]:
        return self.disconnected

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.calls.append(("bytes", status, headers, body))

    def response_file(self, status: int, headers: list[tuple[str, str]], path: str) -> None:
        self.calls.append(("file", status, headers, path))

    def response_file_range(
        self, status: int, headers: list[tuple[str, str]], path: str, start: int, end: int
    ) -> None:
        self.calls.append(("file_range", status, headers, path, start, end))

    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> StreamTransport:
        self.calls.append(("stream", status, headers))
        return StreamTransport(self)


def make_app(router: CovetRouter, **kwargs: Any) -> RSGIAdapter:
    return RSGIAdapter(create_asgi_app(router, **kwargs))


# -- request bodies --------------------------------------------------------------------
async def test_small_body_is_read_with_one_whole_body_call() -> None:
    router = CovetRouter()

    @router.post("/")
    async def echo(request: Request) -> Response:
        return Response(await request.body())

    proto = HTTPProto()
    proto.feed(b"hello ", b"world", None)
    await make_app(router).serve(Scope(method="POST", headers=[("content-length", "11")]), proto)
    assert proto.whole_reads == 1
    assert proto.calls[-1][0] == "bytes" and proto.calls[-1][3] == b"hello world"


async def test_body_above_the_whole_body_bound_is_streamed_in_chunks() -> None:
    router = CovetRouter()
    seen: list[int] = []

    @router.post("/")
    async def count(request: Request) -> Response:
        async for chunk in request.stream():
            seen.append(len(chunk))
        return Response(b"ok")

    size = WHOLE_BODY_MAX + 1
    proto = HTTPProto()
    proto.feed(b"a" * (size - 10), b"", b"b" * 10, None)
    await make_app(router).serve(
        Scope(method="POST", headers=[("content-length", str(size))]), proto
    )
    assert proto.whole_reads == 0
    assert seen == [size - 10, 10]  # the empty chunk is not a message of its own
    assert proto.calls[-1][3] == b"ok"


async def test_body_cut_short_of_its_content_length_is_a_client_disconnect() -> None:
    router = CovetRouter()
    outcome: list[str] = []

    @router.post("/")
    async def read(request: Request) -> Response:
        try:
            await request.body()
        except Exception as exc:
            outcome.append(type(exc).__name__)
            raise
        return Response(b"unreachable")

    size = WHOLE_BODY_MAX * 2
    proto = HTTPProto()
    proto.feed(b"a" * 100, None)
    app = make_app(router)
    await app.serve(Scope(method="POST", headers=[("content-length", str(size))]), proto)
    assert outcome == ["ClientDisconnect"]
    assert app.app.get_stats()["client_disconnects"] == 1


async def test_transport_error_while_reading_is_a_client_disconnect() -> None:
    router = CovetRouter()
    outcome: list[str] = []

    @router.post("/")
    async def read(request: Request) -> Response:
        try:
            await request.body()
        except Exception as exc:
            outcome.append(type(exc).__name__)
        return Response(b"x")

    proto = HTTPProto()
    proto.feed(b"abc", b"!")
    await make_app(router).serve(
        Scope(method="POST", headers=[("transfer-encoding", "chunked")]), proto
    )
    assert outcome == ["ClientDisconnect"]


async def test_cancelled_receive_loses_no_body_chunk() -> None:
    router = CovetRouter()
    result: list[Any] = []

    @router.post("/")
    async def peek_then_read(request: Request) -> Response:
        # is_disconnected() cancels a receive that would wait: the chunk that
        # arrives later must still reach the body.
        result.append(await request.is_disconnected())
        proto.feed(b"late chunk", None)
        result.append(await request.body())
        return Response(b"ok")

    proto = HTTPProto()
    await make_app(router).serve(
        Scope(method="POST", headers=[("transfer-encoding", "chunked")]), proto
    )
    assert result == [False, b"late chunk"]


async def test_get_without_body_reads_nothing_from_granian() -> None:
    router = CovetRouter()

    @router.get("/")
    async def body(request: Request) -> Response:
        return Response(await request.body() or b"empty")

    proto = HTTPProto()
    await make_app(router).serve(Scope(), proto)
    assert proto.whole_reads == 0 and proto.calls[-1][3] == b"empty"


# -- responses ---------------------------------------------------------------------------
async def test_scope_translation() -> None:
    router = CovetRouter()
    seen: dict[str, Any] = {}

    @router.get("/a b/{x}")
    async def view(request: Request) -> Response:
        seen.update(request.scope)
        return Response(b"")

    proto = HTTPProto()
    await make_app(router).serve(
        Scope(path="/a b/é", query_string="q=%20&r", headers=[("x-a", "1"), ("x-a", "2")]),
        proto,
    )
    assert seen["type"] == "http" and seen["asgi"]["version"] == "3.0"
    assert seen["path"] == "/a b/é" and seen["raw_path"] == b"/a%20b/%C3%A9"
    assert seen["query_string"] == b"q=%20&r"
    assert seen["headers"] == [(b"x-a", b"1"), (b"x-a", b"2")]
    assert seen["client"] == ("::1", 5555) and seen["server"] == ("127.0.0.1", 8000)
    assert seen["root_path"] == "" and seen["http_version"] == "1.1"
    assert "http.response.pathsend" in seen["extensions"]


async def test_stream_is_ended_when_the_last_chunk_is_sent() -> None:
    router = CovetRouter()

    @router.get("/")
    async def stream(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"a"
            yield b"b"

        return StreamingResponse(chunks())

    proto = HTTPProto()
    await make_app(router).serve(Scope(), proto)
    assert proto.calls[0][:2] == ("stream", 200)
    assert proto.streamed == [b"a", b"b"]
    assert proto.stream_dropped  # granian ends the body when the transport goes


async def test_client_gone_mid_stream_stops_the_generator() -> None:
    router = CovetRouter()
    closed: list[bool] = []

    @router.get("/")
    async def endless(request: Request) -> Response:
        async def ticks() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield b"tick"
                    await asyncio.sleep(0)
            finally:
                closed.append(True)

        return StreamingResponse(ticks())

    proto = HTTPProto()
    app = make_app(router)
    task = asyncio.ensure_future(app.serve(Scope(), proto))
    while len(proto.streamed) < 3:
        await asyncio.sleep(0)
    proto.broken = True  # sends now fail as granian's do once the client left
    await asyncio.wait_for(task, 5)
    assert closed == [True]
    assert proto.disconnected.cancelled()  # the disconnect watcher was cancelled


async def test_file_response_goes_out_as_a_file_or_a_file_range(tmp_path: Path) -> None:
    data = bytes(range(256)) * 10
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    router = CovetRouter()

    @router.get("/")
    async def file(request: Request) -> Response:
        return FileResponse(path)

    app = make_app(router)
    proto = HTTPProto()
    await app.serve(Scope(), proto)
    assert proto.calls[-1][0] == "file" and proto.calls[-1][3] == str(path)

    proto = HTTPProto()
    await app.serve(Scope(headers=[("range", "bytes=10-19")]), proto)
    kind, status, headers, name, start, end = proto.calls[-1]
    assert (kind, status, name, start, end) == ("file_range", 206, str(path), 10, 20)
    assert ("content-range", f"bytes 10-19/{len(data)}") in headers

    proto = HTTPProto()
    await app.serve(Scope(headers=[("range", "bytes=0-1,5-6")]), proto)
    assert proto.calls[-1][0] == "stream"
    body = b"".join(proto.streamed)
    assert data[0:2] in body and data[5:7] in body and body.endswith(b"--\r\n")


async def test_app_that_sends_no_response_gets_a_500_and_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def silent(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})

    router = CovetRouter()
    router.mount("/", silent)
    proto = HTTPProto()
    with caplog.at_level(logging.ERROR, logger="covet.asgi"):
        await make_app(router).serve(Scope(), proto)
    assert proto.calls == [
        ("bytes", 500, [("content-type", "text/plain; charset=utf-8")], b"Internal Server Error")
    ]
    assert "without completing the response to GET /" in caplog.text


async def test_messages_out_of_order_raise() -> None:
    from covet.rsgi import _HTTPChannel

    channel = _HTTPChannel(HTTPProto(), 0)
    with pytest.raises(RuntimeError, match=r"before 'http\.response\.start'"):
        await channel.send({"type": "http.response.body", "body": b"x"})
    await channel.send({"type": "http.response.start", "status": 200, "headers": []})
    with pytest.raises(RuntimeError, match="already started"):
        await channel.send({"type": "http.response.start", "status": 200, "headers": []})
    await channel.send({"type": "http.response.body", "body": b"x"})
    with pytest.raises(RuntimeError, match="already complete"):
        await channel.send({"type": "http.response.body", "body": b"x"})
    assert await channel.receive() == {"type": "http.request", "body": b"", "more_body": False}
    assert await channel.receive() == {"type": "http.disconnect"}


# -- WebSockets --------------------------------------------------------------------------
class Message_:
    def __init__(self, kind: int, data: Any = None) -> None:
        self.kind = kind
        self.data = data


class WSTransport:
    def __init__(self) -> None:
        self.incoming: asyncio.Queue[Message_ | Exception] = asyncio.Queue()
        self.sent: list[Any] = []
        self.broken = False

    async def _receive(self) -> Message_:
        item = await self.incoming.get()
        if isinstance(item, Exception):
            raise item
        return item

    def receive(self) -> asyncio.Future[Message_]:
        return asyncio.ensure_future(self._receive())

    async def send_str(self, data: str) -> None:
        if self.broken:
            raise ProtocolClosed("closed")
        self.sent.append(data)

    async def send_bytes(self, data: bytes) -> None:
        if self.broken:
            raise ProtocolClosed("closed")
        self.sent.append(data)


class WSProto:
    def __init__(self) -> None:
        self.transport = WSTransport()
        self.closed: list[int | None] = []

    async def accept(self) -> WSTransport:
        return self.transport

    def close(self, status: int | None = None) -> None:
        self.closed.append(status)


async def test_websocket_echo_and_peer_close() -> None:
    router = CovetRouter()
    codes: list[int] = []

    @router.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                message = await websocket.receive()
                if message.get("text") is not None:
                    await websocket.send_text(message["text"])
                else:
                    await websocket.send_bytes(message["bytes"])
        except Exception as exc:
            codes.append(getattr(exc, "code", -1))

    proto = WSProto()
    for item in (Message_(2, "hi"), Message_(1, b"\x00"), Message_(0)):
        proto.transport.incoming.put_nowait(item)
    await make_app(router).serve(Scope(path="/ws", proto="ws"), proto)
    assert proto.transport.sent == ["hi", b"\x00"]
    assert codes == [1005]
    assert proto.closed == []  # the peer closed; nothing left to close


async def test_websocket_cancelled_receive_loses_no_message() -> None:
    router = CovetRouter()
    got: list[str] = []

    @router.websocket("/ws")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(websocket.receive_text(), 0.01)
        proto.transport.incoming.put_nowait(Message_(2, "after the timeout"))
        got.append(await websocket.receive_text())
        await websocket.close(4000)

    proto = WSProto()
    await make_app(router).serve(Scope(path="/ws", proto="ws"), proto)
    assert got == ["after the timeout"]
    assert proto.closed == [4000]


async def test_websocket_lost_connection_is_1006_and_send_raises_disconnect() -> None:
    router = CovetRouter()
    seen: list[Any] = []

    @router.websocket("/ws")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        proto.transport.broken = True
        try:
            await websocket.send_text("x")
        except Exception as exc:
            seen.append((type(exc).__name__, getattr(exc, "code", None)))

    proto = WSProto()
    await make_app(router).serve(Scope(path="/ws", proto="ws"), proto)
    assert seen == [("WebSocketDisconnect", 1006)]

    from covet.rsgi import _WebSocketChannel

    channel = _WebSocketChannel(WSProto())
    assert await channel.receive() == {"type": "websocket.connect"}
    await channel.send({"type": "websocket.accept"})
    channel.transport.incoming.put_nowait(ProtocolClosed("gone"))
    assert await channel.receive() == {"type": "websocket.disconnect", "code": 1006}
    with pytest.raises(ClientDisconnected):
        await channel.send({"type": "websocket.send", "text": "x"})


async def test_websocket_refusal_is_close_403_and_subprotocols_cannot_be_sent() -> None:
    router = CovetRouter()

    @router.websocket("/deny")
    async def deny(websocket: WebSocket) -> None:
        await websocket.close()

    @router.websocket("/sub")
    async def sub(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol="chat")

    app = make_app(router)
    proto = WSProto()
    await app.serve(Scope(path="/deny", proto="ws"), proto)
    assert proto.closed == [403]

    proto = WSProto()
    await app.serve(
        Scope(path="/sub", proto="ws", headers=[("sec-websocket-protocol", "chat, x")]), proto
    )
    assert proto.closed == [403]  # the handler's error refuses the handshake

    from covet.rsgi import _WebSocketChannel

    channel = _WebSocketChannel(WSProto())
    await channel.receive()
    with pytest.raises(RuntimeError, match="subprotocol"):
        await channel.send({"type": "websocket.accept", "subprotocol": "chat"})
    with pytest.raises(RuntimeError, match=r"websocket\.http\.response"):
        await channel.send({"type": "websocket.http.response.start", "status": 401})


# -- lifespan ----------------------------------------------------------------------------
def lifespan_app(events: list[str], fail: bool = False) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
        events.append("enter")
        try:
            yield {"db": "ready"}
        finally:
            events.append("exit")

    async def startup() -> None:
        events.append("startup")
        if fail:
            raise ConnectionError("no database")

    router = CovetRouter()

    @router.get("/")
    async def view(request: Request) -> Response:
        return PlainTextResponse(request.state.db)

    return create_asgi_app(
        router,
        lifespan=lifespan,
        on_startup=[startup],
        on_shutdown=[lambda: events.append("shutdown")],
    )


def test_init_and_del_run_the_lifespan_in_one_task_around_requests() -> None:
    events: list[str] = []
    app = lifespan_app(events)
    loop = asyncio.new_event_loop()
    try:
        app.__rsgi_init__(loop)
        assert events == ["enter", "startup"]

        async def request() -> HTTPProto:
            proto = HTTPProto()
            await app.__rsgi__(Scope(), proto)
            return proto

        proto = loop.run_until_complete(request())
        assert proto.calls[-1][3] == b"ready"
        app.__rsgi_del__(loop)
        assert events == ["enter", "startup", "shutdown", "exit"]
    finally:
        loop.close()


def test_failed_startup_raises_from_init_and_exits_the_lifespan() -> None:
    events: list[str] = []
    app = lifespan_app(events, fail=True)
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ConnectionError, match="no database"):
            app.__rsgi_init__(loop)
        assert events == ["enter", "startup", "exit"]
        app.__rsgi_del__(loop)  # nothing to shut down
        assert events == ["enter", "startup", "exit"]
    finally:
        loop.close()


async def test_embedded_server_with_a_running_loop_waits_for_startup() -> None:
    events: list[str] = []
    app = lifespan_app(events)
    loop = asyncio.get_running_loop()
    app.__rsgi_init__(loop)  # granian's embedded server calls it from inside the loop
    assert events == []
    proto = HTTPProto()
    await app.__rsgi__(Scope(), proto)
    assert events == ["enter", "startup"] and proto.calls[-1][3] == b"ready"
    app.__rsgi_del__(loop)
    for _ in range(20):
        await asyncio.sleep(0)
    assert events == ["enter", "startup", "shutdown", "exit"]


async def test_disabled_lifespan_runs_nothing() -> None:
    events: list[str] = []
    app = lifespan_app(events)
    app.enable_lifespan = False
    app.__rsgi_init__(asyncio.get_running_loop())
    app.__rsgi_del__(asyncio.get_running_loop())
    assert events == []
