"""Give every request an ID: taken from the incoming header when it is a sane one
(so a proxy's or caller's ID follows the request through), generated otherwise.

The ID is stored in ``scope["state"]["request_id"]`` (handlers read it as
``request.state.request_id``), in the ``request_id_var`` context variable (for log
filters: ``get_request_id()``) and sent back in the response header.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from covet.middleware._asgi import ASGIApp, Message, Receive, Scope, Send, get_header, without

request_id_var: ContextVar[str | None] = ContextVar("covet_request_id", default=None)


def get_request_id() -> str | None:
    """The current request's ID inside a request handled by ``RequestIDMiddleware``."""
    return request_id_var.get()


def uuid4_hex() -> str:
    return uuid.uuid4().hex


class RequestIDMiddleware:
    """Tag each HTTP request and WebSocket handshake with a request ID.

    - ``header_name``: request and response header. Default ``"x-request-id"``.
    - ``trust_incoming``: reuse a valid incoming ID. Default True; set False when
      clients must not choose their IDs.
    - ``max_length``: longest incoming ID accepted. Default 128.
    - ``generator``: makes new IDs. Default ``uuid4().hex`` (32 hex characters).

    An incoming ID is valid when it is 1..``max_length`` characters of
    ``A-Z a-z 0-9 - _ . : + / = @``; anything else (empty, too long, spaces,
    control characters, non-ASCII) is replaced by a generated ID, so the value is
    always safe to log and to echo in a header.
    """

    def __init__(
        self,
        app: ASGIApp,
        header_name: str = "x-request-id",
        trust_incoming: bool = True,
        max_length: int = 128,
        generator: Callable[[], str] = uuid4_hex,
    ) -> None:
        if not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", header_name):
            raise ValueError(f"header_name {header_name!r} is not a valid header name")
        if max_length < 1:
            raise ValueError("max_length must be >= 1")
        self.app = app
        self.header_name = header_name.lower()
        self.trust_incoming = trust_incoming
        self.max_length = max_length
        self.generator = generator
        self._header = self.header_name.encode("ascii")
        self._drop = frozenset({self._header})
        self._valid = re.compile(rb"[A-Za-z0-9._:+/=@-]{1,%d}" % max_length)

    def request_id_for(self, scope: Scope) -> str:
        if self.trust_incoming:
            incoming = get_header(scope, self._header)
            if incoming is not None and self._valid.fullmatch(incoming):
                return incoming.decode("ascii")
        return self.generator()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = self.request_id_for(scope)
        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        state["request_id"] = request_id
        header = (self._header, request_id.encode("ascii"))
        start_type = "http.response.start" if kind == "http" else "websocket.accept"

        async def send_with_id(message: Message) -> None:
            if message["type"] == start_type:
                headers = without(message.get("headers") or (), self._drop)
                headers.append(header)
                message["headers"] = headers
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
