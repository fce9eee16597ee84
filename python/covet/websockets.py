"""WebSocket connections (ASGI ``websocket`` scope).

A handler registered with ``router.add_route(path, handler, ["WEBSOCKET"])`` or
``@router.websocket(path)`` receives a ``WebSocket``::

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(text)

Lifecycle rules (enforced, each with a clear error):

- ``accept()`` first; ``receive*``/``send*`` before it raise ``RuntimeError``.
- The peer going away raises ``WebSocketDisconnect(code, reason)`` from ``receive*``
  and from ``send*``; the ``iter_*`` iterators simply end.
- Sending after ``close()`` raises ``RuntimeError``; ``close()`` itself is idempotent
  and a no-op once the connection is over, so ``except ...: await ws.close()`` is safe.
- An incoming message larger than ``max_message_size`` bytes (UTF-8 bytes for text;
  the app's ``websocket_max_message_size``, 1 MiB by default) closes the connection
  with 1009 and raises ``WebSocketDisconnect(1009)``. The server buffers a message
  before the app sees it, so also bound the server (uvicorn ``--ws-max-size``).
- Every message received and sent passes through the Rust core once
  (``_core.WsConnection``): its size (UTF-8 bytes for text, computed from the str's
  code points without encoding), the limit check, and the connection's message and
  byte counters (``websocket.counters``), which add up into the app's totals in
  ``app.get_stats()`` (``websocket_messages_received``/``_sent``,
  ``websocket_bytes_received``/``_sent``).
- A frame of the wrong kind for ``receive_text``/``receive_bytes`` closes with 1003,
  malformed JSON in ``receive_json`` with 1007 (the WebSocket counterparts of an
  HTTP 400); both raise ``WebSocketDisconnect`` with that code.

Before ``accept()`` a handler may refuse the handshake: ``close()`` (the server
answers HTTP 403), ``send_denial_response(response)`` (any HTTP response, where the
server offers the ``websocket.http.response`` extension) or by raising
``HTTPException``/``WebSocketException``. After ``accept()``, ``WebSocketException``
closes with its code, ``HTTPException`` with 1008 (4xx) or 1011 (5xx), any other
exception with 1011 (logged on ``covet.asgi``); a handler that returns without
closing is closed with 1000, one that returns without accepting gets a 403.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, NoReturn

import orjson

from covet import _core
from covet.connection import HTTPConnection
from covet.types import Message, Receive, Scope, Send

#: Default for ``CovetASGIApp(websocket_max_message_size=...)``: 1 MiB.
DEFAULT_MAX_MESSAGE_SIZE: int = _core.DEFAULT_LIMITS["websocket_max_message_size"]

#: The ASGI extension that lets an app answer a handshake with an HTTP response.
DENIAL_EXTENSION = "websocket.http.response"

_MAX_REASON_BYTES = 123  # a close frame carries at most 125 bytes: code + reason

# A Response's messages and their names inside a WebSocket denial response.
_DENIAL_MESSAGES = {
    "http.response.start": "websocket.http.response.start",
    "http.response.body": "websocket.http.response.body",
}


class WebSocketState(enum.Enum):
    CONNECTING = 0
    CONNECTED = 1
    DISCONNECTED = 2
    RESPONSE = 3  # the handshake was answered with an HTTP (denial) response


CONNECTING = WebSocketState.CONNECTING
CONNECTED = WebSocketState.CONNECTED
DISCONNECTED = WebSocketState.DISCONNECTED
RESPONSE = WebSocketState.RESPONSE


class WebSocketDisconnect(Exception):
    """The connection is over: the peer closed it (``code`` is the code it sent, 1005
    for none, 1006 for a lost connection) or the app closed it on a protocol error
    (1003, 1007, 1009)."""

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


class WebSocketException(Exception):
    """Raise from a WebSocket handler to close the connection with ``code`` (default
    1008, policy violation). Raised before ``accept()``, it refuses the handshake.

    As in Starlette, ``str()`` is ``"1008: reason"`` and ``repr()`` is
    ``WebSocketException(code=1008, reason='reason')``, so logs name both."""

    def __init__(self, code: int = 1008, reason: str | None = None) -> None:
        _check_close(code, reason)
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


def _check_close(code: int, reason: str | None) -> None:
    """Only codes an endpoint may send (RFC 6455 section 7.4) and short reasons."""
    if not (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999) or isinstance(
        code, bool
    ):
        raise ValueError(f"{code!r} is not a close code an application may send")
    if reason and len(reason.encode("utf-8")) > _MAX_REASON_BYTES:
        raise ValueError(f"close reason is longer than {_MAX_REASON_BYTES} bytes in UTF-8")


class WebSocket(HTTPConnection):
    """One WebSocket connection: the scope views of ``HTTPConnection`` (``url``,
    ``headers``, ``query``, ``cookies``, ``path_params``, ``client``, ``state``) plus
    the message channel."""

    __slots__ = (
        "_accepted",
        "_counts",
        "_denial_complete",
        "_denial_status",
        "_receive",
        "_send",
        "_stats",
        "application_state",
        "client_state",
        "close_code",
        "close_reason",
        "max_message_size",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        path_params: dict[str, Any] | None = None,
        *,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        stats: Any = None,
        counters: _core.WsCounters | None = None,
    ) -> None:
        if scope["type"] != "websocket":
            raise ValueError(f"a WebSocket needs a 'websocket' scope, not {scope['type']!r}")
        super().__init__(scope, path_params)
        self._receive = receive
        self._send = send
        self._stats = stats
        # This connection's counters; with an app's ``counters`` they add to its totals.
        self._counts = counters.connection() if counters is not None else _core.WsConnection()
        self._accepted = False
        self._denial_complete = False
        self._denial_status = 0
        self.max_message_size = max_message_size
        self.client_state = CONNECTING
        self.application_state = CONNECTING
        #: Set once the connection is over: the code and reason it ended with.
        self.close_code: int | None = None
        self.close_reason: str = ""

    # -- handshake ------------------------------------------------------------------
    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference."""
        return list(self.scope.get("subprotocols") or ())

    @property
    def accepted(self) -> bool:
        """Whether ``accept()`` ever completed on this connection."""
        return self._accepted

    @property
    def counters(self) -> _core.WsConnection:
        """This connection's ``messages_received``, ``messages_sent``,
        ``bytes_received`` and ``bytes_sent`` (payload bytes, UTF-8 for text)."""
        return self._counts

    @property
    def handshake_status(self) -> int:
        """The HTTP status the handshake got: 101 once accepted, a denial response's
        status, 403 after ``close()`` before accepting, 0 while undecided."""
        return 101 if self._accepted else self._denial_status

    async def _connect(self) -> None:
        message = await self._receive()
        kind = message["type"]
        if kind == "websocket.connect":
            self.client_state = CONNECTED
        elif kind == "websocket.disconnect":
            self._peer_gone(message)
            raise WebSocketDisconnect(self.close_code or 1006, self.close_reason)
        else:
            raise RuntimeError(f"expected ASGI message 'websocket.connect', got {kind!r}")

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        """Completes the handshake, choosing ``subprotocol`` (one the client offered)
        and adding ``headers`` to the 101 response."""
        if self.application_state is not CONNECTING:
            if self.client_state is DISCONNECTED:  # the peer left, or the server drained it
                raise self._unusable("accept")
            raise RuntimeError(
                f"accept() called on a WebSocket that is {self.application_state.name.lower()}"
            )
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise ValueError(
                f"subprotocol {subprotocol!r} was not offered by the client "
                f"(offered: {self.subprotocols!r})"
            )
        if self.client_state is CONNECTING:
            await self._connect()
        message: Message = {"type": "websocket.accept", "subprotocol": subprotocol}
        if headers:
            items = headers.items() if isinstance(headers, Mapping) else headers
            message["headers"] = _core.encode_headers(list(items))
        await self._send(message)
        self.application_state = CONNECTED
        self._accepted = True
        if self._stats is not None:
            self._stats.websocket_opened()

    async def send_denial_response(self, response: Any) -> None:
        """Refuses the handshake with an HTTP ``response`` (any ``Response``,
        streaming and file responses included: its ``http.response.*`` messages are
        sent as ``websocket.http.response.*`` through ``send``, which checks their
        order). Servers without the ``websocket.http.response`` extension get a
        plain close, which they answer with 403."""
        if self.application_state is not CONNECTING:
            raise RuntimeError("a denial response can only be sent before accept()")
        if DENIAL_EXTENSION not in (self.scope.get("extensions") or {}):
            await self.close()
            return

        async def receive() -> Message:
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                return {"type": "http.disconnect"}
            return message

        async def send(message: Message) -> None:
            kind = message["type"]
            if kind not in _DENIAL_MESSAGES:
                raise RuntimeError(f"{kind!r} cannot be part of a WebSocket denial response")
            await self.send({**message, "type": _DENIAL_MESSAGES[kind]})

        await response(self.scope, receive, send)

    async def _send_denial(self, message: Message) -> None:
        """``send`` outside a connection: the messages of a denial response, in
        order (``websocket.http.response.start``, then ``...body`` messages until
        one without ``more_body``), each checked before it reaches the server."""
        kind = message.get("type")
        state = self.application_state
        if state is CONNECTING and kind == "websocket.http.response.start":
            if DENIAL_EXTENSION not in (self.scope.get("extensions") or {}):
                raise RuntimeError(
                    "the server does not offer the websocket.http.response extension: "
                    "refuse the handshake with close() (the server answers 403)"
                )
            status = message.get("status")
            if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
                raise ValueError(f"invalid denial response status {status!r}")
            headers = _core.encode_headers(list(message.get("headers") or ()))
            message = {"type": kind, "status": status, "headers": headers}
            self.application_state = RESPONSE
            self._denial_complete = False
            self._denial_status = status
        elif state is RESPONSE and kind == "websocket.http.response.body":
            if self._denial_complete:
                raise RuntimeError("the denial response is already complete")
            body = message.get("body", b"")
            if not isinstance(body, (bytes, bytearray, memoryview)):
                raise TypeError(f"a denial response body must be bytes, not {type(body).__name__}")
            if not message.get("more_body", False):
                self._denial_complete = True
        elif state is CONNECTING:
            raise RuntimeError(
                f"cannot send {kind!r} before accept(): expected "
                "'websocket.http.response.start' (a denial response) or accept()/close()"
            )
        elif state is RESPONSE:
            expected = "nothing more" if self._denial_complete else "'websocket.http.response.body'"
            raise RuntimeError(f"cannot send {kind!r} in a denial response: expected {expected}")
        else:
            raise self._unusable("send")
        try:
            await self._send(message)
        except OSError:
            raise self._lost() from None

    # -- state errors ---------------------------------------------------------------
    def _peer_gone(self, message: Message) -> None:
        self.client_state = DISCONNECTED
        self.application_state = DISCONNECTED
        self.close_code = message.get("code", 1005)
        self.close_reason = message.get("reason") or ""

    def _unusable(self, action: str) -> Exception:
        state = self.application_state
        if self.client_state is DISCONNECTED:
            return WebSocketDisconnect(self.close_code or 1006, self.close_reason)
        if state is CONNECTING:
            return RuntimeError(f"cannot {action} before accept(): the WebSocket is not connected")
        if state is RESPONSE:
            return RuntimeError(f"cannot {action}: the handshake was refused with an HTTP response")
        return RuntimeError(f"cannot {action}: the WebSocket was closed (code {self.close_code})")

    # -- receiving ------------------------------------------------------------------
    async def receive(self) -> Message:
        """The next ``websocket.receive`` message (with ``text`` or ``bytes``)."""
        if self.application_state is not CONNECTED:
            raise self._unusable("receive")
        message = await self._receive()
        # One Rust call: the size, the limit check and the counters.
        if message["type"] != "websocket.receive" or not self._counts.received(
            message, self.max_message_size
        ):
            await self._refuse(message)
        return message

    async def _refuse(self, message: Message) -> NoReturn:
        """Raises for what ``receive`` cannot hand on: a disconnect, an oversized
        message (closing with 1009 first) or a message of another type."""
        kind = message["type"]
        if kind == "websocket.receive":
            reason = f"message larger than {self.max_message_size} bytes"
            await self.close(1009, reason)
            raise WebSocketDisconnect(1009, reason)
        if kind == "websocket.disconnect":
            self._peer_gone(message)
            raise WebSocketDisconnect(self.close_code or 1005, self.close_reason)
        raise RuntimeError(f"unexpected ASGI message {kind!r} on a connected WebSocket")

    async def _reject(self, code: int, reason: str) -> WebSocketDisconnect:
        await self.close(code, reason)
        return WebSocketDisconnect(code, reason)

    async def receive_text(self) -> str:
        # receive(), inlined: this is the per-message path of most handlers.
        if self.application_state is not CONNECTED:
            raise self._unusable("receive")
        message = await self._receive()
        if message["type"] != "websocket.receive" or not self._counts.received(
            message, self.max_message_size
        ):
            await self._refuse(message)
        text = message.get("text")
        if text is None:
            raise await self._reject(1003, "expected a text message")
        return str(text)

    async def receive_bytes(self) -> bytes:
        message = await self.receive()
        data = message.get("bytes")
        if data is None:
            raise await self._reject(1003, "expected a binary message")
        return bytes(data)

    async def receive_json(self, mode: str = "text") -> Any:
        """The next message decoded as JSON (orjson), from a text frame or, with
        ``mode="binary"``, a binary one."""
        if mode == "text":
            data: str | bytes = await self.receive_text()
        elif mode == "binary":
            data = await self.receive_bytes()
        else:
            raise ValueError(f'mode must be "text" or "binary", not {mode!r}')
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            raise await self._reject(1007, "invalid JSON") from None

    async def iter_text(self) -> AsyncIterator[str]:
        """Text messages until the connection ends (either side closing it)."""
        try:
            while self.application_state is CONNECTED:
                yield await self.receive_text()
        except WebSocketDisconnect:
            return

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        try:
            while self.application_state is CONNECTED:
                yield await self.receive_bytes()
        except WebSocketDisconnect:
            return

    async def iter_json(self, mode: str = "text") -> AsyncIterator[Any]:
        try:
            while self.application_state is CONNECTED:
                yield await self.receive_json(mode)
        except WebSocketDisconnect:
            return

    # -- sending --------------------------------------------------------------------
    async def send(self, message: Message) -> None:
        """Sends a raw ``websocket.send`` message. A lost connection raises
        ``WebSocketDisconnect(1006)``.

        Before ``accept()`` it sends a denial response in as many messages as the
        handler likes: ``{"type": "websocket.http.response.start", "status": ...,
        "headers": [...]}`` then ``{"type": "websocket.http.response.body", "body":
        ..., "more_body": True}`` ... and a last body without ``more_body``. Any
        other order raises ``RuntimeError``; a bad status, header or body is a
        ``ValueError``/``TypeError`` before anything reaches the server."""
        if self.application_state is not CONNECTED:
            await self._send_denial(message)
            return
        try:
            await self._send(message)
        except OSError:  # the server's "client disconnected" (uvicorn: ClientDisconnected)
            raise self._lost() from None
        if message["type"] == "websocket.send":
            self._counts.sent(message)

    def _lost(self) -> WebSocketDisconnect:
        self._peer_gone({"code": 1006})
        return WebSocketDisconnect(1006)

    async def send_text(self, data: str) -> None:
        if not isinstance(data, str):
            raise TypeError(f"send_text() needs str, not {type(data).__name__}")
        # send(), inlined: this is the per-message path of most handlers.
        if self.application_state is not CONNECTED:
            raise self._unusable("send")
        try:
            await self._send({"type": "websocket.send", "text": data})
        except OSError:
            raise self._lost() from None
        self._counts.sent_text(data)

    async def send_bytes(self, data: bytes) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"send_bytes() needs bytes, not {type(data).__name__}")
        await self.send({"type": "websocket.send", "bytes": bytes(data)})

    async def send_json(self, data: Any, mode: str = "text") -> None:
        """Sends ``data`` encoded with orjson, as a text frame or (``mode="binary"``)
        a binary one."""
        encoded = orjson.dumps(data)
        if mode == "text":
            await self.send({"type": "websocket.send", "text": encoded.decode("utf-8")})
        elif mode == "binary":
            await self.send({"type": "websocket.send", "bytes": encoded})
        else:
            raise ValueError(f'mode must be "text" or "binary", not {mode!r}')

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Closes the connection (before ``accept()``: refuses the handshake, which
        the server answers with 403). Does nothing if it is already over."""
        _check_close(code, reason)
        if self.application_state is not CONNECTING and self.application_state is not CONNECTED:
            return
        if self.application_state is CONNECTING:
            self._denial_status = 403  # what the server answers a close before accept
        self.application_state = DISCONNECTED
        self.close_code = code
        self.close_reason = reason or ""
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason or ""})
        except OSError:  # the peer is already gone; the connection is over either way
            self.client_state = DISCONNECTED

    def __repr__(self) -> str:
        return f"<WebSocket {self.path} {self.application_state.name}>"


__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketException",
    "WebSocketState",
]
