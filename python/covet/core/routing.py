"""Route registration. Matching happens in Rust (``covet._core.Router``): one call
routes, dispatches on the method, decodes and converts the path parameters."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from covet import _core

Handler = Callable[..., Any]
F = TypeVar("F", bound=Handler)

#: The pseudo-method WebSocket routes are registered under, as the guide shows:
#: ``router.add_route("/ws", handler, ["WEBSOCKET"])``.
WEBSOCKET = "WEBSOCKET"

RouteDefinitionError = _core.RouteDefinitionError
InvalidRouteError = _core.InvalidRouteError
RouteConflictError = _core.RouteConflictError


def is_async_callable(obj: Any) -> bool:
    while isinstance(obj, functools.partial):
        obj = obj.func
    return inspect.iscoroutinefunction(obj) or (
        callable(obj) and inspect.iscoroutinefunction(getattr(obj, "__call__", None))
    )


async def run_in_threadpool(func: Callable[..., Any], *args: Any) -> Any:
    """Runs a blocking function in the loop's default executor, keeping contextvars."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    return await loop.run_in_executor(None, functools.partial(context.run, func, *args))


def _as_async(handler: Handler) -> Callable[[Any], Awaitable[Any]]:
    if is_async_callable(handler):
        return handler

    async def call_sync(request: Any) -> Any:
        return await run_in_threadpool(handler, request)

    return call_sync


class Route:
    """One registered route. ``endpoint`` is always awaitable: sync handlers are
    wrapped at registration so that they run in a thread, off the event loop."""

    __slots__ = ("endpoint", "handler", "methods", "name", "path")

    def __init__(self, path: str, handler: Handler, methods: list[str], name: str | None) -> None:
        self.path = path
        self.handler = handler
        self.methods = methods
        self.name = name
        self.endpoint = _as_async(handler)

    @property
    def is_websocket(self) -> bool:
        return WEBSOCKET in self.methods

    def __repr__(self) -> str:
        return f"Route({self.path!r}, methods={self.methods!r}, name={self.name!r})"


class CovetRouter:
    """Collects routes and matches requests against them.

    Patterns are ``/static/{param}/{id:int}/{value:float}/{key:uuid}/{rest:path}``.
    At each segment static text beats typed parameters, which beat plain ones, which
    beat a catch-all; the matcher backtracks when a branch fails further down.
    """

    def __init__(self) -> None:
        self._core = _core.Router()
        self.routes: list[Route] = []

    def add_route(
        self,
        path: str,
        handler: Handler,
        methods: Iterable[str] | None = None,
        *,
        name: str | None = None,
    ) -> Route:
        if isinstance(methods, str):
            methods = [methods]
        method_list = [m.upper() for m in (methods or ["GET"])]
        if WEBSOCKET in method_list and len(method_list) > 1:
            raise InvalidRouteError(
                f"route {path!r}: WEBSOCKET cannot be combined with HTTP methods"
            )
        if name is None:
            name = getattr(handler, "__name__", None)
        route = Route(path, handler, method_list, name)
        self._core.add(path, method_list, route)
        self.routes.append(route)
        return route

    def route(
        self, path: str, methods: Iterable[str] | None = None, *, name: str | None = None
    ) -> Callable[[F], F]:
        def decorator(handler: F) -> F:
            self.add_route(path, handler, methods, name=name)
            return handler

        return decorator

    def get(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, ["GET"], name=name)

    def post(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, ["POST"], name=name)

    def put(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, ["PUT"], name=name)

    def patch(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, ["PATCH"], name=name)

    def delete(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, ["DELETE"], name=name)

    def websocket(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, [WEBSOCKET], name=name)

    def lookup(self, method: str, raw_path: bytes) -> tuple[int, Route | None, Any]:
        """``(200, route, params)``, ``(204, None, allow)`` for an unhandled OPTIONS,
        ``(405, None, allow)`` or ``(404, None, None)``."""
        return self._core.lookup(method, raw_path)

    def __len__(self) -> int:
        return len(self.routes)
