"""RSGI, granian's native protocol, served through the app's ASGI path.

``granian --interface rsgi module:app`` calls ``app.__rsgi__(scope, protocol)`` once
per HTTP request or WebSocket connection, ``app.__rsgi_init__(loop)`` when a worker
starts and ``app.__rsgi_del__(loop)`` when it stops. ``RSGIAdapter`` turns each call
into the ASGI call the app already answers: an ASGI scope built from the RSGI scope,
a ``receive`` reading the RSGI body (or WebSocket transport) and a ``send`` mapping
the ASGI messages onto the RSGI protocol object. Routing, bodies and their limits,
streaming, files, SSE, WebSockets, middleware and stats are the app's own code, so
they behave the same under both protocols.

How the messages map:

- ``http.response.start`` is held; a single ``http.response.body`` becomes
  ``response_bytes``; a body with ``more_body`` starts ``response_stream`` and each
  further chunk is ``transport.send_bytes``. ``http.response.pathsend`` is
  ``response_file``; ``http.response.zerocopysend`` is ``response_file_range`` when
  it is the whole body (a ``FileResponse`` with one ``Range``), else the file's bytes
  are streamed.
- The request body: one ``protocol()`` call when ``Content-Length`` is at most
  ``WHOLE_BODY_MAX`` bytes, else chunks from ``protocol.__aiter__()``; a body shorter
  than its ``Content-Length`` is a client disconnect. After the body, ``receive``
  waits for ``protocol.client_disconnect()``; after the response, it answers
  ``http.disconnect`` at once, as ASGI servers do.
- WebSocket: ``websocket.connect`` first, then ``protocol.accept()``, the transport's
  ``receive()`` (kind 0/1/2: close/bytes/text) and ``send_str``/``send_bytes``,
  ``protocol.close(code)``.

What RSGI cannot carry, and what happens instead:

- A WebSocket subprotocol or extra headers in ``accept``: RSGI's ``accept()`` takes
  neither, so asking for one raises ``RuntimeError`` (serve with
  ``--interface asgi`` for subprotocols).
- The ``websocket.http.response`` extension is not offered: a refused handshake is
  a plain HTTP 403 (``close()`` before ``accept()``).
- granian does not pass on close codes: the peer's close arrives as code 1005 (no
  code), and after ``accept()`` the peer sees 1005 whatever code the app closes
  with. Reasons are dropped.
- ``raw_path`` is rebuilt from the decoded path (RSGI gives no raw bytes), so an
  encoded ``%2F`` arrives as ``/``; header values that are not visible ASCII are
  dropped by granian.
- There is no lifespan ``state`` dict from the server: the adapter keeps one, fills
  it from the lifespan at startup and copies it into each ``scope["state"]``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Coroutine
from typing import TYPE_CHECKING, Any

from covet import _core
from covet.concurrency import run_in_threadpool
from covet.types import Message

if TYPE_CHECKING:
    from covet.app import CovetASGIApp

logger = logging.getLogger("covet.asgi")

#: Largest ``Content-Length`` read with one ``protocol()`` call; larger bodies (and
#: bodies of unknown length) are streamed, so a request never holds more than this
#: before the app's ``Limits.max_body_size`` has been checked.
WHOLE_BODY_MAX = 64 * 1024

_FILE_CHUNK = 64 * 1024
#: ``(asgi_scope, body_length)`` for an RSGI scope, built in Rust (body_length -1:
#: unknown, streamed); and ASGI response headers as granian's str pairs.
_asgi_scope = _core.rsgi_scope
_str_headers = _core.rsgi_headers


class ClientDisconnected(OSError):
    """A WebSocket message could not be sent: the peer is gone (uvicorn raises its
    own ``ClientDisconnected``, also an ``OSError``, in the same place)."""


# -- HTTP ---------------------------------------------------------------------------
class _HTTPChannel:
    """``receive`` and ``send`` of one HTTP request over an RSGI protocol object."""

    __slots__ = (
        "_chunks",
        "_disconnect",
        "_expected",
        "_gone",
        "_headers",
        "_pending",
        "_received",
        "_status",
        "_stream",
        "_watcher",
        "_zerocopy",
        "body_done",
        "complete",
        "proto",
    )

    def __init__(self, proto: Any, body_length: int) -> None:
        self.proto = proto
        #: The whole response has been handed to granian.
        self.complete = False
        #: The last ``http.request`` message has been handed to the app.
        self.body_done = False
        self._gone = False
        self._status = 0
        self._headers: list[tuple[str, str]] = []
        self._stream: Any = None
        self._zerocopy: tuple[Any, int, int] | None = None
        self._pending: Any = None
        self._chunks: Any = None
        self._received = 0
        self._disconnect: asyncio.Future[None] | None = None
        self._watcher: Any = None
        # The body's length: 0 (none), the Content-Length, or -1 (unknown: streamed).
        self._expected = body_length

    # -- receive ----------------------------------------------------------------------
    async def receive(self) -> Message:
        if self.body_done:
            if self.complete or self._gone:
                return {"type": "http.disconnect"}
            return await self._wait_disconnect()
        expected = self._expected
        if expected == 0:
            self.body_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        while True:
            pending = self._pending
            if pending is None:
                if 0 < expected <= WHOLE_BODY_MAX:
                    pending = self.proto()
                else:
                    if self._chunks is None:
                        self._chunks = self.proto.__aiter__()
                    try:
                        pending = self._chunks.__anext__()
                    except StopAsyncIteration:
                        return self._end_of_body(b"")
                self._pending = pending
            try:
                # Shielded: a cancelled receive (is_disconnected(), wait_for) leaves
                # the read running, and the next receive takes its chunk.
                chunk = await asyncio.shield(pending)
            except StopAsyncIteration:
                self._pending = None
                return self._end_of_body(b"")
            except RuntimeError:  # granian's RSGIProtocolClosed: the client went away
                self._pending = None
                self.body_done = True
                self._set_gone()
                return {"type": "http.disconnect"}
            self._pending = None
            self._received += len(chunk)
            if 0 < expected <= WHOLE_BODY_MAX:
                return self._end_of_body(chunk)
            if chunk:
                return {"type": "http.request", "body": chunk, "more_body": True}
            # An empty chunk: the end of the stream is the next __anext__.

    def _end_of_body(self, chunk: bytes) -> Message:
        self.body_done = True
        expected = self._expected
        if expected > 0 and self._received != expected:
            self._set_gone()  # a body cut short: the client went away mid-upload
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunk, "more_body": False}

    async def _wait_disconnect(self) -> Message:
        done = self._disconnect
        if done is None:
            done = self._disconnect = asyncio.get_running_loop().create_future()
            watcher = self._watcher = self.proto.client_disconnect()
            watcher.add_done_callback(self._watched)
        await asyncio.shield(done)
        return {"type": "http.disconnect"}

    def _watched(self, _: object) -> None:
        self._set_gone()

    def _set_gone(self) -> None:
        self._gone = True
        done = self._disconnect
        if done is not None and not done.done():
            done.set_result(None)

    # -- send -------------------------------------------------------------------------
    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            if not self._status or self.complete:
                raise self._out_of_order(kind)
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if self._stream is None:
                if self._zerocopy is not None and not more and not body:
                    await self._send_file_range()
                    return
                if not more and self._zerocopy is None:
                    self.complete = True
                    self.proto.response_bytes(self._status, self._headers, bytes(body))
                    return
                await self._open_stream()
            if body:
                await self._stream_bytes(bytes(body))
            if not more:
                self._end_stream()
            return
        if kind == "http.response.start":
            if self._status:
                raise self._out_of_order(kind)
            status = message["status"]
            if isinstance(status, bool) or not isinstance(status, int):
                raise TypeError(f"response status must be an int, not {type(status).__name__}")
            self._headers = _str_headers(message.get("headers") or ())
            self._status = status
            return
        if kind == "http.response.pathsend":
            if not self._status or self.complete or self._stream is not None:
                raise self._out_of_order(kind)
            self.complete = True
            self.proto.response_file(self._status, self._headers, os.fspath(message["path"]))
            return
        if kind == "http.response.zerocopysend":
            await self._zerocopysend(message)
            return
        raise RuntimeError(f"unexpected ASGI message {kind!r} on an HTTP request")

    def _out_of_order(self, kind: str) -> RuntimeError:
        if self.complete:
            return RuntimeError(f"cannot send {kind!r}: the response is already complete")
        if self._status:
            return RuntimeError(f"cannot send {kind!r}: the response has already started")
        return RuntimeError(f"cannot send {kind!r} before 'http.response.start'")

    # The stream transport is only ever held in ``self._stream`` (never in a local
    # across an await): granian ends the body when the transport is dropped, so
    # dropping that one reference must be enough.
    async def _open_stream(self) -> None:
        self._stream = self.proto.response_stream(self._status, self._headers)
        held = self._zerocopy
        if held is not None:
            self._zerocopy = None
            await self._stream_file(*held)

    def _end_stream(self) -> None:
        self.complete = True
        self._stream = None

    async def _stream_bytes(self, data: bytes) -> None:
        if self._gone or self._stream is None:
            return
        try:
            await self._stream.send_bytes(data)
        except RuntimeError:
            # The client went away (RSGIProtocolClosed): as under uvicorn, later
            # sends are dropped and receive() answers http.disconnect.
            self._set_gone()

    async def _zerocopysend(self, message: Message) -> None:
        if not self._status or self.complete:
            raise self._out_of_order(message["type"])
        file = message["file"]
        offset = message.get("offset")
        count = message.get("count")
        if offset is None:
            offset = await run_in_threadpool(file.tell)
        if count is None:
            size = (await run_in_threadpool(os.fstat, file.fileno())).st_size
            count = max(0, size - offset)
        more = message.get("more_body", False)
        if self._stream is None and self._zerocopy is None:
            # Held until the next message shows whether it is the whole body; then
            # granian sends the range itself (response_file_range).
            self._zerocopy = (file, offset, count)
            if not more:
                await self._send_file_range()
            return
        if self._stream is None:
            await self._open_stream()
        await self._stream_file(file, offset, count)
        if not more:
            self._end_stream()

    async def _send_file_range(self) -> None:
        held = self._zerocopy
        assert held is not None
        file, offset, count = held
        name = getattr(file, "name", None)
        if count > 0 and isinstance(name, str):
            self._zerocopy = None
            self.complete = True
            path = os.path.abspath(name)
            self.proto.response_file_range(
                self._status, self._headers, path, offset, offset + count
            )
        elif count <= 0:
            self._zerocopy = None
            self.complete = True
            self.proto.response_bytes(self._status, self._headers, b"")
        else:  # a file without a path: its bytes, read here
            await self._open_stream()
            self._end_stream()

    async def _stream_file(self, file: Any, offset: int, count: int) -> None:
        fd = file.fileno()
        while count > 0 and not self._gone:
            chunk = await run_in_threadpool(os.pread, fd, min(_FILE_CHUNK, count), offset)
            if not chunk:  # the file shrank since the app measured it
                break
            offset += len(chunk)
            count -= len(chunk)
            await self._stream_bytes(chunk)

    def finish(self) -> bool:
        """After the app returned: stops watching for a disconnect and ends a body
        the app left open. Answers 500 and returns False if the app sent no
        complete response."""
        watcher = self._watcher
        if watcher is not None and not watcher.done():
            watcher.cancel()
        pending = self._pending
        if pending is not None and not pending.done():
            pending.cancel()
        complete = self.complete
        if self._stream is not None:
            self._stream = None  # a truncated body: the app stopped mid-stream
        elif not complete:
            self._zerocopy = None
            self.complete = True
            self.proto.response_bytes(
                500, [("content-type", "text/plain; charset=utf-8")], b"Internal Server Error"
            )
        self._set_gone()
        return complete


# -- WebSocket ----------------------------------------------------------------------
_WS_CONNECTING = 0  # websocket.connect not yet handed to the app
_WS_HANDSHAKE = 1  # waiting for the app's accept or close
_WS_OPEN = 2
_WS_CLOSED = 3


class _WebSocketChannel:
    """``receive`` and ``send`` of one WebSocket connection over RSGI."""

    __slots__ = ("close_code", "peer_gone", "pending", "proto", "state", "transport")

    def __init__(self, proto: Any) -> None:
        self.proto = proto
        self.transport: Any = None
        self.state = _WS_CONNECTING
        self.pending: Any = None
        self.close_code = 1000
        self.peer_gone = False

    async def receive(self) -> Message:
        if self.state == _WS_OPEN:
            pending = self.pending
            if pending is None:
                pending = self.pending = self.transport.receive()
            try:
                # Shielded: a cancelled receive (wait_for) must not lose a message.
                message = await asyncio.shield(pending)
            except RuntimeError:  # RSGIProtocolClosed: the connection is gone
                self.pending = None
                return self._peer_left(1006)
            self.pending = None
            kind = message.kind
            if kind == 2:
                return {"type": "websocket.receive", "text": message.data}
            if kind == 1:
                return {"type": "websocket.receive", "bytes": message.data}
            return self._peer_left(1005)  # granian passes on no close code
        if self.state == _WS_CONNECTING:
            self.state = _WS_HANDSHAKE
            return {"type": "websocket.connect"}
        if self.state == _WS_CLOSED:
            return {"type": "websocket.disconnect", "code": self.close_code}
        raise RuntimeError("receive() before the handshake was answered: send websocket.accept")

    def _peer_left(self, code: int) -> Message:
        self.state = _WS_CLOSED
        self.close_code = code
        self.peer_gone = True
        return {"type": "websocket.disconnect", "code": code}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "websocket.send":
            if self.state != _WS_OPEN:
                raise self._not_open(kind)
            text = message.get("text")
            try:
                if text is not None:
                    await self.transport.send_str(text)
                else:
                    data = message.get("bytes")
                    if data is None:
                        raise ValueError("websocket.send needs 'text' or 'bytes'")
                    await self.transport.send_bytes(bytes(data))
            except RuntimeError:  # RSGIProtocolClosed/Error: the peer is gone
                self._peer_left(1006)
                raise ClientDisconnected("the WebSocket peer is gone") from None
            return
        if kind == "websocket.accept":
            if self.state > _WS_HANDSHAKE:
                raise self._not_open(kind)
            if message.get("subprotocol") is not None or message.get("headers"):
                raise RuntimeError(
                    "granian's RSGI cannot send a WebSocket subprotocol or accept headers "
                    "(its accept() takes neither); serve with --interface asgi for them"
                )
            try:
                self.transport = await self.proto.accept()
            except RuntimeError:
                self._peer_left(1006)
                raise ClientDisconnected("the WebSocket peer left during the handshake") from None
            self.state = _WS_OPEN
            return
        if kind == "websocket.close":
            code = message.get("code") or 1000
            if self.state == _WS_OPEN:
                self.proto.close(code)
            elif self.state != _WS_CLOSED:
                self.proto.close(403)  # before accept: granian answers this HTTP status
            else:
                return
            self.state = _WS_CLOSED
            self.close_code = code
            return
        if kind.startswith("websocket.http.response"):
            raise RuntimeError(
                "granian's RSGI has no websocket.http.response extension: refuse the "
                "handshake with websocket.close (HTTP 403)"
            )
        raise RuntimeError(f"unexpected ASGI message {kind!r} on a WebSocket")

    def _not_open(self, kind: str) -> Exception:
        if self.peer_gone:
            return ClientDisconnected("the WebSocket peer is gone")
        if self.state == _WS_CLOSED:
            return RuntimeError(f"cannot send {kind!r}: the WebSocket is closed")
        if self.state == _WS_OPEN:
            return RuntimeError(f"cannot send {kind!r}: the WebSocket is already accepted")
        return RuntimeError(f"cannot send {kind!r} before websocket.accept")

    def finish(self) -> None:
        """After the app returned: close what it left open (403 before accept)."""
        pending = self.pending
        if pending is not None and not pending.done():
            pending.cancel()
        if self.state == _WS_OPEN:
            self.proto.close(1000)
        elif self.state != _WS_CLOSED:
            self.proto.close(403)
        self.state = _WS_CLOSED


# -- the adapter --------------------------------------------------------------------


class RSGIAdapter:
    """Serves ``app`` over RSGI: ``serve`` per call, ``startup``/``shutdown`` from
    ``__rsgi_init__``/``__rsgi_del__``."""

    def __init__(self, app: CovetASGIApp) -> None:
        self.app = app
        #: The lifespan state (what a ``lifespan`` context yields), copied into each
        #: request's ``scope["state"]``; RSGI servers keep none themselves.
        self.state: dict[str, Any] = {}
        self._lifespan: asyncio.Task[None] | None = None
        self._stop: asyncio.Future[None] | None = None
        self._starting: asyncio.Future[None] | None = None

    def serve(self, scope: Any, protocol: Any) -> Coroutine[Any, Any, None]:
        proto = scope.proto
        if proto == "http":
            return self._http(scope, protocol)
        if proto == "ws":
            return self._websocket(scope, protocol)
        raise RuntimeError(f"unsupported RSGI protocol {proto!r}")

    async def _http(self, scope: Any, protocol: Any) -> None:
        if self._starting is not None:
            await self._started()
        asgi_scope, body_length = _asgi_scope("http", scope, self.state)
        channel = _HTTPChannel(protocol, body_length)
        try:
            await self.app(asgi_scope, channel.receive, channel.send)
        except BaseException:
            channel.finish()
            raise
        if not channel.finish():
            logger.error(
                "the app returned without completing the response to %s %s",
                asgi_scope["method"],
                asgi_scope["path"],
            )

    async def _websocket(self, scope: Any, protocol: Any) -> None:
        if self._starting is not None:
            await self._started()
        asgi_scope, _ = _asgi_scope("websocket", scope, self.state)
        channel = _WebSocketChannel(protocol)
        try:
            await self.app(asgi_scope, channel.receive, channel.send)
        finally:
            channel.finish()

    # -- lifespan ---------------------------------------------------------------------
    def startup(self, loop: asyncio.AbstractEventLoop) -> None:
        """Enters the lifespan and runs the startup handlers (``app.startup``) in a
        task that lives until ``shutdown``, so the lifespan context is entered and
        exited in the same task, as under an ASGI server. granian calls this before
        its loop runs; a failed startup raises here and the worker stops. Called
        with the loop already running (an embedded server), requests wait for it."""
        if not self.app.enable_lifespan or self._lifespan is not None:
            return
        started: asyncio.Future[None] = loop.create_future()
        self._stop = loop.create_future()
        self._lifespan = loop.create_task(self._run_lifespan(started, self._stop))
        if loop.is_running():
            self._starting = started
            return
        try:
            loop.run_until_complete(started)
        except BaseException as exc:
            # granian prints the traceback as the worker exits (and the server with it).
            logger.error("application startup failed: %s: %s", type(exc).__name__, exc)
            self._lifespan = None
            raise

    def shutdown(self, loop: asyncio.AbstractEventLoop) -> None:
        """Runs the shutdown handlers and exits the lifespan; their errors are
        logged and the first one is raised."""
        task = self._lifespan
        if task is None:
            return
        self._lifespan = None
        stop = self._stop
        if stop is not None and not stop.done():
            stop.set_result(None)
        if not loop.is_running():
            loop.run_until_complete(task)

    async def _started(self) -> None:
        starting = self._starting
        if starting is not None:
            await asyncio.shield(starting)
            self._starting = None

    async def _run_lifespan(self, started: asyncio.Future[None], stop: Awaitable[None]) -> None:
        try:
            await self.app.startup(self.state)
        except BaseException as exc:
            started.set_exception(exc)
            return
        started.set_result(None)
        try:
            await stop
        finally:
            await self.app.shutdown()


__all__ = ["WHOLE_BODY_MAX", "ClientDisconnected", "RSGIAdapter"]
