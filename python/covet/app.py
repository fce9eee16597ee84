"""The ASGI 3.0 application: ``CovetASGIApp`` and its factories.

Per HTTP request the shell does one Rust call to route (``CovetRouter.lookup``),
builds a lazy ``Request``, awaits the handler, sends the pre-rendered response and
records status and latency with one more Rust call (``covet.stats``).

WebSocket scopes are routed with the method ``"WEBSOCKET"`` and handed a
``WebSocket`` (``covet.websockets``). Lifespan runs the ``lifespan`` context
manager and the startup/shutdown handlers.

Logging goes to the ``covet.asgi`` logger: unhandled exceptions always (at ERROR,
with traceback, never in the response unless ``debug``); with ``debug=True`` also one
DEBUG line per request and per WebSocket session (method, path, status, duration).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import traceback
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from time import perf_counter_ns
from typing import Any

import orjson

from covet.datastructures import State
from covet.exceptions import HTTPException, status_phrase
from covet.limits import DEFAULT_LIMITS, Limits
from covet.requests import Request
from covet.responses import JSONResponse, Response
from covet.routing import WEBSOCKET, CovetRouter, route_path
from covet.stats import Stats, StatsSnapshot
from covet.types import ASGIApp, Receive, Scope, Send
from covet.websockets import (
    DEFAULT_MAX_MESSAGE_SIZE,
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
    WebSocketState,
)

logger = logging.getLogger("covet.asgi")

ExceptionHandler = Callable[[Request, Exception], Any]
LifecycleHandler = Callable[[], Any]
#: ``lifespan=``: called with the app, returns an async context manager that may
#: yield a mapping, the lifespan state copied into every request's ``scope["state"]``.
Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


_send_rendered = Response.__call__


@functools.cache
def _error_body(status: int) -> bytes:
    """``{"detail": "<status phrase>"}``, as the default error handler renders it."""
    return orjson.dumps({"detail": status_phrase(status)})


class _SentStatus:
    """A ``send`` that remembers the status of the response start it passes on."""

    __slots__ = ("send", "status_code")

    def __init__(self, send: Send, status_code: int) -> None:
        self.send = send
        self.status_code = status_code

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status_code = message["status"]
        await self.send(message)


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
        *,
        lifespan: Lifespan | None = None,
        on_startup: Sequence[LifecycleHandler] | None = None,
        on_shutdown: Sequence[LifecycleHandler] | None = None,
        websocket_max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        limits: Limits | None = None,
    ) -> None:
        self.router = router if router is not None else CovetRouter()
        self.limits = limits if limits is not None else DEFAULT_LIMITS
        self._stats = Stats()
        self._record = self._stats.record
        self._debug_logging_ready = False
        self.debug = debug
        self.enable_lifespan = enable_lifespan
        self.middleware_stack = middleware_stack
        #: Application-wide state (``app.state.x = ...``), also reachable from a
        #: request as ``request.app.state``.
        self.state = State()
        self.lifespan_context = lifespan
        self._lifespan_stack: contextlib.AsyncExitStack | None = None
        self._startup_handlers: list[LifecycleHandler] = list(on_startup or ())
        self._shutdown_handlers: list[LifecycleHandler] = list(on_shutdown or ())
        if websocket_max_message_size is not None and (
            isinstance(websocket_max_message_size, bool)
            or not isinstance(websocket_max_message_size, int)
            or websocket_max_message_size < 1
        ):
            raise ValueError("websocket_max_message_size must be a positive int or None")
        #: Largest incoming WebSocket message, in bytes, before the connection is
        #: closed with 1009; None leaves only the server's own limit.
        self.websocket_max_message_size = websocket_max_message_size
        self._status_handlers: dict[int, ExceptionHandler] = {}
        self._class_handlers: dict[type[Exception], ExceptionHandler] = {}
        for key, handler in (exception_handlers or {}).items():
            self.add_exception_handler(key, handler)
        self._asgi: ASGIApp = self._build_stack()
        self._choose_entry()

    # -- configuration --------------------------------------------------------------
    @property
    def router(self) -> CovetRouter:
        return self._router

    @router.setter
    def router(self, router: CovetRouter) -> None:
        self._router = router
        # Bound once: the request path calls the Rust matcher without going through
        # CovetRouter (routes added to the router later are seen all the same).
        self._match_scope = router._core.match_scope

    @property
    def limits(self) -> Limits:
        """Request limits (``covet.limits.Limits``): body size, forms, URL length,
        header count."""
        return self._limits

    @limits.setter
    def limits(self, value: Limits) -> None:
        if not isinstance(value, Limits):
            raise TypeError(f"limits must be a covet.Limits, got {type(value).__name__}")
        self._limits = value
        # The URL and header-count checks run inside the Rust matcher (None: skipped).

    @property
    def debug(self) -> bool:
        return self._debug

    @debug.setter
    def debug(self, value: bool) -> None:
        # Decided here, not per request: the plain path pays nothing for logging.
        self._debug = bool(value)
        if hasattr(self, "_asgi"):
            self._choose_entry()

    def _build_stack(self) -> ASGIApp:
        app: ASGIApp = self._innermost
        if self.middleware_stack is not None:
            app = self.middleware_stack.build(app)
        return app

    def add_startup_handler(self, func: LifecycleHandler) -> None:
        self._startup_handlers.append(func)

    def add_shutdown_handler(self, func: LifecycleHandler) -> None:
        self._shutdown_handlers.append(func)

    def add_exception_handler(self, key: int | type[Exception], handler: ExceptionHandler) -> None:
        """Handle an HTTP status (``404``) or an exception class and its subclasses.
        The handler receives ``(request, exc)`` and returns a response."""
        if isinstance(key, int):
            self._status_handlers[key] = handler
        else:
            self._class_handlers[key] = handler

    def add_route(self, path: str, handler: Any, methods: Any = None, **kwargs: Any) -> Any:
        return self.router.add_route(path, handler, methods, **kwargs)

    def mount(self, prefix: str, app: Any, name: str | None = None) -> Any:
        return self.router.mount(prefix, app, name=name)

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """The path of a named route, relative to the application root."""
        return self.router.url_path_for(name, **params)

    # -- ASGI -------------------------------------------------------------------------
    @property  # type: ignore[override]
    def __call__(self) -> ASGIApp:
        """The ASGI callable: ``app(scope, receive, send)``.

        A property, so that the call goes straight to the coroutine function chosen
        when the app was configured (``_choose_entry``): without middleware that is
        ``_serve``, whose HTTP path is a single coroutine. Every coroutine layer costs
        ~0.1-0.15 us, a sixth of the framework's per-request budget.
        """
        return self._entry

    def _choose_entry(self) -> None:
        if self.middleware_stack is not None:
            self._entry: ASGIApp = self._enter_stack
        else:
            self._entry = self._serve_logged if self._debug else self._serve

    async def _enter_stack(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        await self._asgi(scope, receive, send)

    async def _innermost(self, scope: Scope, receive: Receive, send: Send) -> None:
        """What the middleware stack wraps; follows later changes of ``debug``."""
        await (self._serve_logged if self._debug else self._serve)(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The innermost app owns the request (its limits, handlers and routes for
        # url_for), as in Starlette: a mounted CovetASGIApp replaces its parent here.
        scope["app"] = self
        if scope["type"] != "http":
            await self._dispatch_other(scope, receive, send)
            return
        start = perf_counter_ns()
        limits = self._limits
        status, route, extra = self._match_scope(
            scope, limits.max_header_count, limits.max_url_length, self._router.redirect_slashes
        )
        if status == 200:
            request = Request(scope, receive, extra)
            try:
                response = await route.endpoint(request)
                if not isinstance(response, Response):
                    response = to_response(response)
            except Exception as exc:
                response = await self._handle_exception(request, exc)
        elif status == 204:
            response = Response(status_code=204, headers={"allow": extra})
        elif status == 414 or status == 431:
            await self._reject_head(scope, receive, send, start, status)
            return
        else:
            response = None
            if status == 404 and extra:
                # The matcher saw that /users/ (or /users) exists: redirect there.
                response = self.router.slash_redirect(scope, route_path(scope))
            if response is None:
                headers = {"allow": extra} if status == 405 else None
                if self._status_handlers or self._class_handlers:
                    request = Request(scope, receive)
                    response = await self._handle_exception(
                        request, HTTPException(status, headers=headers)
                    )
                else:
                    # No handler to consult: the default error body, encoded once.
                    response = Response(
                        _error_body(status), status, headers, media_type="application/json"
                    )
        try:
            if response.__class__.__call__ is _send_rendered:
                # A fully rendered response: send it here rather than through one
                # more coroutine (Response.__call__ does the same two sends).
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status_code,
                        "headers": response.raw_headers,
                    }
                )
                await send(
                    {
                        "type": "http.response.body",
                        "body": b"" if scope["method"] == "HEAD" else response.body,
                    }
                )
            else:
                # A response that decides its status while sending (FileResponse:
                # 206/304/416): record the status it actually sent.
                sending, response = response, _SentStatus(send, response.status_code)
                await sending(scope, receive, response)
        finally:
            self._record(response.status_code, perf_counter_ns() - start)
            if status == 200 and request._form is not None:
                await request.close()  # the form's uploads: temp files go away now

    async def _dispatch_other(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await self._handle_websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._handle_lifespan(scope, receive, send)
        else:
            raise RuntimeError(f"unsupported ASGI scope type {kind!r}")

    async def _reject_head(
        self, scope: Scope, receive: Receive, send: Send, start: int, status: int
    ) -> None:
        """431 for too many header lines, 414 for a too-long URL (``Limits``)."""
        limits = self._limits
        if status == 431:
            exc = HTTPException(
                431, f"Too many request headers: the limit is {limits.max_header_count}"
            )
        else:
            exc = HTTPException(414, f"URI too long: the limit is {limits.max_url_length} bytes")
        response = await self._handle_exception(Request(scope, receive), exc)
        try:
            await response(scope, receive, send)
        finally:
            self._record(response.status_code, perf_counter_ns() - start)

    async def _serve_logged(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``debug=True``: ``_serve`` plus one log line per HTTP request. The query
        string is left out of the line, as it may carry credentials."""
        if scope["type"] != "http":
            await self._serve(scope, receive, send)
            return
        if not self._debug_logging_ready:
            self._setup_debug_logging()
        start = perf_counter_ns()
        sent_status: list[int] = []

        async def watch(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                sent_status.append(message["status"])
            await send(message)

        try:
            await self._serve(scope, receive, watch)
        finally:
            logger.debug(
                "%s %s -> %s in %.3f ms",
                scope["method"],
                scope["path"],
                sent_status[0] if sent_status else "no response",
                (perf_counter_ns() - start) / 1e6,
            )

    def _setup_debug_logging(self) -> None:
        """Makes debug logging visible without configuration (as Flask does): if the
        ``covet.asgi`` level is unset it becomes DEBUG, and if no handler would
        receive its records, one writing to stderr is added. Done on the first
        request or at startup, so a ``logging.basicConfig`` made after creating the
        app is honoured."""
        self._debug_logging_ready = True
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.DEBUG)
        if not logger.hasHandlers():
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(levelname)s:  %(name)s  %(message)s"))
            logger.addHandler(handler)

    # -- WebSocket --------------------------------------------------------------------
    async def _handle_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, route, params = self.router.lookup(WEBSOCKET, route_path(scope))
        websocket = WebSocket(
            scope,
            receive,
            send,
            params if status == 200 else None,
            max_message_size=self.websocket_max_message_size,
            stats=self._stats,
        )
        start = perf_counter_ns()
        try:
            if status == 200:
                await self._run_websocket(route.endpoint, websocket)
            else:
                await websocket.send_denial_response(
                    JSONResponse({"detail": "Not Found"}, status_code=404)
                )
        finally:
            if websocket.accepted:
                self._stats.websocket_closed()
            if self._debug:
                self._log_websocket(websocket, start)

    async def _run_websocket(self, endpoint: Any, websocket: WebSocket) -> None:
        """Runs the handler and makes sure the connection ends properly whatever it
        does: returns without accepting (403/denial), returns without closing (1000),
        raises (1011 and logged; before accept a 500 denial), raises HTTPException
        (before accept a denial with its status; after, 1008 for 4xx and 1011 for 5xx)
        or WebSocketException (its code). App exception handlers are HTTP-only."""
        try:
            await endpoint(websocket)
        except WebSocketDisconnect:
            return  # the peer left, or a receive_* closed on a protocol error
        except WebSocketException as exc:
            await websocket.close(exc.code, exc.reason)
            return
        except HTTPException as exc:
            if websocket.application_state is WebSocketState.CONNECTING:
                await websocket.send_denial_response(
                    JSONResponse(
                        {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
                    )
                )
            else:
                await websocket.close(1011 if exc.status_code >= 500 else 1008)
            return
        except Exception as exc:
            logger.error("unhandled exception in WebSocket %s", websocket.path, exc_info=exc)
            if websocket.application_state is WebSocketState.CONNECTING:
                await websocket.send_denial_response(
                    JSONResponse(self._internal_error_body(exc), status_code=500)
                )
            else:
                await websocket.close(1011)
            return
        if websocket.application_state is WebSocketState.CONNECTING:
            await websocket.send_denial_response(
                JSONResponse({"detail": "Forbidden"}, status_code=403)
            )
        else:
            await websocket.close(1000)

    def _log_websocket(self, websocket: WebSocket, start: int) -> None:
        if not self._debug_logging_ready:
            self._setup_debug_logging()
        if websocket.accepted:
            outcome = f"closed {websocket.close_code}"
        elif websocket.application_state is WebSocketState.RESPONSE:
            outcome = "denied"
        else:
            outcome = "refused"
        logger.debug(
            "WEBSOCKET %s -> %s after %.3f ms",
            websocket.path,
            outcome,
            (perf_counter_ns() - start) / 1e6,
        )

    # -- stats ------------------------------------------------------------------------
    def get_stats(self) -> StatsSnapshot:
        """Request counts, latency percentiles and open WebSocket connections; see
        ``covet.stats`` for the fields."""
        return self._stats.snapshot()  # type: ignore[return-value]

    def reset_stats(self) -> None:
        """Zeroes the counters (open WebSocket connections stay counted)."""
        self._stats.reset()

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
        logger.error("unhandled exception in %s %s", request.method, request.path, exc_info=exc)
        return JSONResponse(self._internal_error_body(exc), status_code=500)

    def _internal_error_body(self, exc: BaseException) -> dict[str, Any]:
        """The body of a 500: the status phrase only, unless ``debug`` is on."""
        body: dict[str, Any] = {"detail": "Internal Server Error"}
        if self._debug:
            body["error"] = f"{type(exc).__name__}: {exc}"
            body["traceback"] = traceback.format_exception(type(exc), exc, exc.__traceback__)
        return body

    # -- lifespan ---------------------------------------------------------------------
    async def startup(self, state: dict[str, Any] | None = None) -> None:
        """Enters the ``lifespan`` context, then runs the startup handlers in order.

        A mapping the lifespan yields is merged into ``state``, the ASGI lifespan
        state that servers copy into each request's ``scope["state"]`` (hence
        ``request.state.db``). If startup fails, the context is exited again."""
        if self._lifespan_stack is not None:
            raise RuntimeError("startup() called again before shutdown()")
        stack = contextlib.AsyncExitStack()
        try:
            if self.lifespan_context is not None:
                value = await stack.enter_async_context(self.lifespan_context(self))
                if value is not None:
                    if not isinstance(value, Mapping):
                        raise TypeError(
                            "a lifespan context may yield a mapping (the lifespan "
                            f"state) or None, not {type(value).__name__}"
                        )
                    if state is None:
                        raise RuntimeError(
                            "the lifespan yielded state, but the server provides no "
                            "lifespan 'state' to put it in (ASGI lifespan state)"
                        )
                    state.update(value)
            for handler in self._startup_handlers:
                await _call(handler)
        except BaseException as exc:
            await stack.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self._lifespan_stack = stack

    async def shutdown(self) -> None:
        """Runs every shutdown handler even if one fails, then exits the ``lifespan``
        context; re-raises the first error."""
        first_error: BaseException | None = None
        for handler in self._shutdown_handlers:
            try:
                await _call(handler)
            except Exception as exc:
                logger.exception("shutdown handler %r failed", handler)
                first_error = first_error or exc
        stack, self._lifespan_stack = self._lifespan_stack, None
        if stack is not None:
            try:
                await stack.aclose()
            except Exception as exc:
                logger.exception("lifespan context failed on exit")
                first_error = first_error or exc
        if first_error is not None:
            raise first_error

    async def _handle_lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enable_lifespan:
            # Raising tells the server this app does not speak lifespan; it carries on.
            raise RuntimeError("lifespan is disabled for this app")
        message = await receive()
        if message["type"] != "lifespan.startup":
            raise RuntimeError(f"expected ASGI 'lifespan.startup', got {message['type']!r}")
        if self._debug and not self._debug_logging_ready:
            self._setup_debug_logging()
        try:
            await self.startup(scope.get("state"))
        except BaseException:
            # The server reports the message (uvicorn logs it and exits non-zero).
            await send({"type": "lifespan.startup.failed", "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        if message["type"] != "lifespan.shutdown":
            raise RuntimeError(f"expected ASGI 'lifespan.shutdown', got {message['type']!r}")
        try:
            await self.shutdown()
        except BaseException:
            await send({"type": "lifespan.shutdown.failed", "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.shutdown.complete"})


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
