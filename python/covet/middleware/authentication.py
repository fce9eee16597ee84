"""``AuthenticationMiddleware``: runs an ``AuthenticationBackend`` once per HTTP
request and WebSocket handshake and stores the outcome in the scope, where
``request.auth`` (``AuthCredentials``) and ``request.user`` read it.

A backend returning None leaves the connection anonymous (no scopes,
``UnauthenticatedUser``). A backend raising ``AuthenticationError`` stops the
request: HTTP gets ``on_error(conn, exc)``'s response (default: 400 with the error
text); a WebSocket is closed with 1008 (policy violation) before the handshake
completes, which the server answers with 403.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from covet.authentication import (
    WS_1008_POLICY_VIOLATION,
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    UnauthenticatedUser,
)
from covet.connection import HTTPConnection
from covet.middleware._asgi import ASGIApp, Receive, Scope, Send
from covet.responses import PlainTextResponse, Response

#: ``on_error(conn, exc)`` returns the response to send (or an awaitable of it).
ErrorHandler = Callable[[HTTPConnection, AuthenticationError], Any]


class AuthenticationMiddleware:
    """Sets ``scope["auth"]`` and ``scope["user"]`` from ``backend.authenticate``."""

    def __init__(
        self,
        app: ASGIApp,
        backend: AuthenticationBackend,
        on_error: ErrorHandler | None = None,
    ) -> None:
        if not callable(getattr(backend, "authenticate", None)):
            raise TypeError(
                f"backend must have an async authenticate(conn) method, got {backend!r}"
            )
        self.app = app
        self.backend = backend
        self.on_error: ErrorHandler = on_error if on_error is not None else self.default_on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        try:
            result = await self.backend.authenticate(conn)
        except AuthenticationError as exc:
            if kind == "websocket":
                await send({"type": "websocket.close", "code": WS_1008_POLICY_VIOLATION})
                return
            response = self.on_error(conn, exc)
            if inspect.isawaitable(response):
                response = await response
            if not callable(response):
                raise TypeError(
                    f"on_error must return a response, got {type(response).__name__}"
                ) from exc
            await response(scope, receive, send)
            return
        if result is None:
            scope["auth"], scope["user"] = AuthCredentials(), UnauthenticatedUser()
        elif isinstance(result, tuple) and len(result) == 2:
            scope["auth"], scope["user"] = result
        else:
            raise TypeError(
                f"{type(self.backend).__name__}.authenticate() must return "
                f"(AuthCredentials, user) or None, got {result!r}"
            )
        await self.app(scope, receive, send)

    @staticmethod
    def default_on_error(conn: HTTPConnection, exc: Exception) -> Response:
        return PlainTextResponse(str(exc), status_code=400)
