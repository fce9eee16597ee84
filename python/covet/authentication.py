"""Authentication: who sent a request, and what they may do.

A backend (``AuthenticationBackend``) looks at a connection and returns
``(AuthCredentials(scopes), user)`` or None; ``AuthenticationMiddleware``
(``covet.middleware``) runs it for every HTTP request and WebSocket handshake and
stores the result as ``request.auth`` and ``request.user``. ``@requires("scope")``
then guards an endpoint. Names and behaviour follow Starlette's, so a Starlette
backend ports by changing its imports.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import Any, Callable, TypeVar, cast
from urllib.parse import urlencode

from covet.concurrency import is_async_callable
from covet.connection import HTTPConnection
from covet.exceptions import HTTPException
from covet.requests import Request
from covet.responses import RedirectResponse
from covet.websockets import WebSocket

__all__ = [
    "WS_1008_POLICY_VIOLATION",
    "AuthCredentials",
    "AuthenticationBackend",
    "AuthenticationError",
    "BaseUser",
    "SimpleUser",
    "UnauthenticatedUser",
    "has_required_scope",
    "requires",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The close code a WebSocket endpoint guarded by ``@requires`` gets when the
#: connection lacks a scope (RFC 6455: the message violates the server's policy).
WS_1008_POLICY_VIOLATION = 1008


class AuthenticationError(Exception):
    """Raised by a backend for credentials that are present but invalid; the
    middleware answers 400 with the message (or calls its ``on_error``)."""


class AuthCredentials:
    """The scopes (permissions) the connection was granted, e.g.
    ``AuthCredentials(["authenticated", "admin"])``."""

    def __init__(self, scopes: Sequence[str] | None = None) -> None:
        self.scopes: list[str] = [] if scopes is None else list(scopes)

    def __repr__(self) -> str:
        return f"AuthCredentials({self.scopes!r})"


class BaseUser:
    """What ``request.user`` offers; subclass it for your own user model."""

    @property
    def is_authenticated(self) -> bool:
        raise NotImplementedError()

    @property
    def display_name(self) -> str:
        raise NotImplementedError()

    @property
    def identity(self) -> str:
        raise NotImplementedError()


class SimpleUser(BaseUser):
    """An authenticated user known by name only."""

    def __init__(self, username: str) -> None:
        self.username = username

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"SimpleUser({self.username!r})"


class UnauthenticatedUser(BaseUser):
    """``request.user`` when the backend recognised no one."""

    @property
    def is_authenticated(self) -> bool:
        return False

    @property
    def display_name(self) -> str:
        return ""

    def __repr__(self) -> str:
        return "UnauthenticatedUser()"


class AuthenticationBackend:
    """Subclass and implement ``authenticate``: return ``(AuthCredentials, user)``,
    None for an anonymous connection, or raise ``AuthenticationError``."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        raise NotImplementedError()


def has_required_scope(conn: HTTPConnection, scopes: Sequence[str]) -> bool:
    """Whether the connection's credentials hold every one of ``scopes``."""
    granted = conn.auth.scopes
    return all(scope in granted for scope in scopes)


def _connection_argument(func: Callable[..., Any]) -> tuple[str, int]:
    """Which parameter carries the connection (``request`` or ``websocket``)."""
    for index, parameter in enumerate(inspect.signature(func).parameters.values()):
        if parameter.name in ("request", "websocket"):
            return parameter.name, index
    raise TypeError(f'No "request" or "websocket" argument on function "{func}"')


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], name: str, index: int) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[index] if index < len(args) else None


def requires(
    scopes: str | Sequence[str],
    status_code: int = 403,
    redirect: str | None = None,
) -> Callable[[F], F]:
    """Guards an endpoint: without every scope in ``scopes`` an HTTP request gets
    ``status_code`` (403), or, with ``redirect``, a 303 to the route of that name
    with ``?next=<the requested URL>``; a WebSocket is closed with 1008.

    The endpoint must have a parameter named ``request`` or ``websocket``. Sync and
    async HTTP endpoints stay what they were (sync ones still run in a thread).
    """
    required = [scopes] if isinstance(scopes, str) else list(scopes)

    def refusal(request: Any) -> RedirectResponse:
        if not isinstance(request, Request):
            raise TypeError(f"@requires expected a Request, got {type(request).__name__}")
        if redirect is None:
            raise HTTPException(status_code)
        query = urlencode({"next": str(request.url)})
        return RedirectResponse(url=f"{request.url_for(redirect)}?{query}", status_code=303)

    def decorator(func: F) -> F:
        kind, index = _connection_argument(func)

        if kind == "websocket":

            @functools.wraps(func)
            async def websocket_wrapper(*args: Any, **kwargs: Any) -> None:
                websocket = _argument(args, kwargs, kind, index)
                if not isinstance(websocket, WebSocket):
                    raise TypeError(
                        f"@requires expected a WebSocket, got {type(websocket).__name__}"
                    )
                if has_required_scope(websocket, required):
                    await func(*args, **kwargs)
                else:
                    await websocket.close(WS_1008_POLICY_VIOLATION)

            return cast(F, websocket_wrapper)

        if is_async_callable(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                request = _argument(args, kwargs, kind, index)
                if isinstance(request, Request) and has_required_scope(request, required):
                    return await func(*args, **kwargs)
                return refusal(request)

            return cast(F, async_wrapper)

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            request = _argument(args, kwargs, kind, index)
            if isinstance(request, Request) and has_required_scope(request, required):
                return func(*args, **kwargs)
            return refusal(request)

        return cast(F, sync_wrapper)

    return decorator
