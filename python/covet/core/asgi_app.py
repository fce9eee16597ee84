"""The ASGI 3.0 application: ``CovetASGIApp`` and its factories.

Per HTTP request the shell does one Rust call to route (``CovetRouter.lookup``),
builds a lazy ``Request``, awaits the handler and sends the pre-rendered response.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from covet.core.exceptions import HTTPException
from covet.core.requests import Request
from covet.core.responses import JSONResponse, Response
from covet.core.routing import CovetRouter

logger = logging.getLogger("covet.asgi")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ExceptionHandler = Callable[[Request, Exception], Any]
LifecycleHandler = Callable[[], Any]


def to_response(result: Any) -> Response:
    """What a handler may return: a Response, or content for ``Response(content)``
    (a dict or list becomes JSON, a str text/plain, bytes octet-stream)."""
    if isinstance(result, Response):
        return result
    if result is None or isinstance(result, (dict, list, str, bytes)):
        return Response(result)
    raise TypeError(
        f"handler returned {type(result).__name__}; "
        "return a Response, dict, list, str, bytes or None"
    )


async def _call(func: Callable[..., Any], *args: Any) -> Any:
    result = func(*args)
    if hasattr(result, "__await__"):
        result = await result
    return result


class CovetASGIApp:
    """An ASGI 3.0 application serving a ``CovetRouter``."""

    def __init__(
        self,
        router: CovetRouter | None = None,
        middleware_stack: Any = None,
        debug: bool = False,
        enable_lifespan: bool = True,
        exception_handlers: Mapping[int | type[Exception], ExceptionHandler] | None = None,
    ) -> None:
        self.router = router if router is not None else CovetRouter()
        self.debug = debug
        self.enable_lifespan = enable_lifespan
        self.middleware_stack = middleware_stack
        self._startup_handlers: list[LifecycleHandler] = []
        self._shutdown_handlers: list[LifecycleHandler] = []
        self._status_handlers: dict[int, ExceptionHandler] = {}
        self._class_handlers: dict[type[Exception], ExceptionHandler] = {}
        for key, handler in (exception_handlers or {}).items():
            self.add_exception_handler(key, handler)
        self._asgi: ASGIApp = self._build_stack()

    # -- configuration --------------------------------------------------------------
    def _build_stack(self) -> ASGIApp:
        app: ASGIApp = self._dispatch
        if self.middleware_stack is not None:
            app = self.middleware_stack.build(app)
        return app

    def add_startup_handler(self, func: LifecycleHandler) -> None:
        self._startup_handlers.append(func)

    def add_shutdown_handler(self, func: LifecycleHandler) -> None:
        self._shutdown_handlers.append(func)

    def add_exception_handler(
        self, key: int | type[Exception], handler: ExceptionHandler
    ) -> None:
        """Handle an HTTP status (``404``) or an exception class and its subclasses.
        The handler receives ``(request, exc)`` and returns a response."""
        if isinstance(key, int):
            self._status_handlers[key] = handler
        else:
            self._class_handlers[key] = handler

    def add_route(self, path: str, handler: Any, methods: Any = None, **kwargs: Any) -> Any:
        return self.router.add_route(path, handler, methods, **kwargs)

    # -- ASGI -------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if "app" not in scope:
            scope["app"] = self
        await self._asgi(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._handle_http(scope, receive, send)
        elif kind == "lifespan":
            await self._handle_lifespan(scope, receive, send)
        else:
            raise RuntimeError(f"unsupported ASGI scope type {kind!r}")

    async def _handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, route, extra = self.router.lookup(scope["method"], route_path(scope))
        if status == 200:
            request = Request(scope, receive, extra)
            try:
                response = to_response(await route.endpoint(request))
            except Exception as exc:
                response = await self._handle_exception(request, exc)
        elif status == 204:
            response = Response(status_code=204, headers={"allow": extra})
        else:
            request = Request(scope, receive)
            headers = {"allow": extra} if status == 405 else None
            response = await self._handle_exception(request, HTTPException(status, headers=headers))
        await response(scope, receive, send)

    # -- errors -----------------------------------------------------------------------
    def _lookup_handler(self, exc: Exception) -> ExceptionHandler | None:
        if isinstance(exc, HTTPException):
            handler = self._status_handlers.get(exc.status_code)
            if handler is not None:
                return handler
        for cls in type(exc).__mro__:
            handler = self._class_handlers.get(cls)
            if handler is not None:
                return handler
        return None

    async def _handle_exception(self, request: Request, exc: Exception) -> Response:
        handler = self._lookup_handler(exc)
        if handler is not None:
            try:
                return to_response(await _call(handler, request, exc))
            except Exception as handler_exc:
                logger.exception("exception handler %r failed", handler)
                exc = handler_exc
        if isinstance(exc, HTTPException):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        logger.error(
            "unhandled exception in %s %s", request.method, request.path, exc_info=exc
        )
        body: dict[str, Any] = {"detail": "Internal Server Error"}
        if self.debug:
            body["error"] = f"{type(exc).__name__}: {exc}"
            body["traceback"] = traceback.format_exception(type(exc), exc, exc.__traceback__)
        return JSONResponse(body, status_code=500)

    # -- lifespan ---------------------------------------------------------------------
    async def startup(self) -> None:
        for handler in self._startup_handlers:
            await _call(handler)

    async def shutdown(self) -> None:
        """Runs every shutdown handler even if one fails; re-raises the first error."""
        first_error: BaseException | None = None
        for handler in self._shutdown_handlers:
            try:
                await _call(handler)
            except Exception as exc:
                logger.exception("shutdown handler %r failed", handler)
                first_error = first_error or exc
        if first_error is not None:
            raise first_error

    async def _handle_lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enable_lifespan:
            # Raising tells the server this app does not speak lifespan; it carries on.
            raise RuntimeError("lifespan is disabled for this app")
        message = await receive()
        assert message["type"] == "lifespan.startup"
        try:
            await self.startup()
        except BaseException:
            logger.exception("startup failed")
            await send({"type": "lifespan.startup.failed", "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        try:
            await self.shutdown()
        except BaseException:
            await send({"type": "lifespan.shutdown.failed", "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.shutdown.complete"})


def route_path(scope: Scope) -> bytes:
    """The raw, percent-encoded path to match, relative to ``root_path``.

    Routing on ``raw_path`` keeps an encoded ``%2F`` inside its parameter; servers
    that do not send ``raw_path`` get ``path`` with ``%`` re-escaped, so that the
    router's single decoding step is still correct.
    """
    raw = scope.get("raw_path")
    if raw is None:
        raw = scope["path"].encode("utf-8").replace(b"%", b"%25")
    root_path = scope.get("root_path")
    if root_path:
        prefix = root_path.encode("utf-8")
        if raw.startswith(prefix):
            raw = raw[len(prefix) :]
    return raw


def create_asgi_app(
    router: CovetRouter | None = None,
    middleware_stack: Any = None,
    debug: bool = False,
    enable_lifespan: bool = True,
    **kwargs: Any,
) -> CovetASGIApp:
    """Build a ``CovetASGIApp``; the guide's recommended entry point."""
    return CovetASGIApp(
        router=router,
        middleware_stack=middleware_stack,
        debug=debug,
        enable_lifespan=enable_lifespan,
        **kwargs,
    )


create_app = create_asgi_app
