"""The ASGI 3.0 application: ``CovetASGIApp`` and its factories.

A request's walk: ``_serve`` (``_core.Dispatcher``, in Rust) routes the scope
(``CovetRouter.match_scope`` -> ``RouteMatch``). A plain endpoint is answered right
there, the hot path: a lazy ``Request``, the handler's coroutine driven from Rust,
the pre-rendered response sent with two ``send`` calls, status and latency recorded
(``covet.stats``); so is the default 404. Everything else comes back to Python:
``_dispatch_recorded`` and ``_dispatch``, the one place that answers unrouted requests
(404 with exception handlers, 405, OPTIONS, slash redirects, 414, 431), descends
into mounted routers, hands requests to mounted apps and to route or mount
middleware, and calls endpoints (``run_endpoint``) — for HTTP and WebSocket scopes
alike, at any depth, always as this app: its limits, exception handlers and stats
apply.

Lifespan runs the ``lifespan`` context manager and the startup/shutdown handlers.

Logging goes to the ``covet.asgi`` logger: unhandled exceptions always (at ERROR,
with traceback, never in the response unless ``debug``); with ``debug=True`` also one
DEBUG line per request and per WebSocket session (method, path, status, duration).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from time import perf_counter_ns
from typing import Any

import orjson

from covet import _core
from covet.background import run_task
from covet.datastructures import State
from covet.drain import (
    DEFAULT_DRAIN_TIMEOUT,
    LiveConnections,
    check_drain_timeout,
    install_signal_drain,
)
from covet.exceptions import ClientDisconnect, HTTPException, status_phrase
from covet.limits import DEFAULT_LIMITS, Limits
from covet.middleware.base import BaseHTTPMiddleware, DispatchFunction
from covet.middleware.stack import Middleware, MiddlewareStack
from covet.requests import Request
from covet.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from covet.routing import CovetRouter, Host, Mount, Route, RouteMatch
from covet.rsgi import RSGIAdapter
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


#: Stats id of every request that matched no route (``covet.stats``).
_UNMATCHED_ROUTE: int = _core.UNMATCHED_ROUTE
#: Scope key of the ``_RouteLabel`` a mount's middleware passes down to its router.
_ROUTE_LABEL = "covet.route_label"


class _RouteLabel:
    """Where a request under a mount's middleware was finally routed, for per-route
    stats: the mount's template prefix going in, the route's stats id coming out."""

    __slots__ = ("prefix", "route_id")

    def __init__(self, prefix: str, route_id: int) -> None:
        self.prefix = prefix
        self.route_id = route_id


@functools.cache
def _error_body(status: int) -> bytes:
    """``{"detail": "<status phrase>"}``, as the default error handler renders it."""
    return orjson.dumps({"detail": status_phrase(status)})


class _SentStatus:
    """A ``send`` that remembers the status of the response start it passes on
    (0 until one is sent)."""

    __slots__ = ("send", "status_code")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status_code = 0

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status_code = message["status"]
        await self.send(message)


async def _send_response(response: Response, scope: Scope, receive: Receive, send: Send) -> int:
    """Sends ``response``; returns the status it actually sent (a FileResponse
    decides 206/304/416 while sending), 0 if the client left first."""
    watched = _SentStatus(send)
    try:
        await response(scope, receive, watched)
    except ClientDisconnect:
        pass
    return watched.status_code


class _ClientGone(Response):
    """The answer to a request whose client has left: sends nothing (status 0)."""

    def __init__(self) -> None:
        self.status_code = 0
        self.body = b""
        self.raw_headers = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


_CLIENT_GONE = _ClientGone()


#: The status each unrouted outcome answers with.
_UNROUTED_STATUS = {
    _core.NOT_FOUND: 404,
    _core.METHOD_NOT_ALLOWED: 405,
    _core.URI_TOO_LONG: 414,
    _core.HEADERS_TOO_LARGE: 431,
}


def _error_response(
    status: int, content: Any, headers: Mapping[str, str] | None = None
) -> Response:
    """An error response: JSON ``content``, but no body at all for 1xx, 204 and 304,
    which must not have one."""
    if status < 200 or status in (204, 304):
        return Response(status_code=status, headers=headers)
    return JSONResponse(content, status_code=status, headers=headers)


def _wants_html(request: Request) -> bool:
    """A browser: ``Accept`` names text/html (API clients keep the JSON body)."""
    return "text/html" in request.headers.get("accept", "")


def _debug_page(request: Request, exc: BaseException) -> str:
    """The ``debug=True`` error page for browsers: the exception, the traceback and
    the request (method, URL, headers), everything HTML-escaped."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    headers = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
        for name, value in request.headers.items()
    )
    title = html.escape(f"{type(exc).__name__}: {exc}")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>500 "
        f"{title}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "pre{background:#f6f6f6;padding:1em;overflow:auto}th{text-align:left;"
        "padding-right:1em}</style></head><body>"
        f"<h1>Internal Server Error</h1><h2>{title}</h2>"
        f"<h3>Request</h3><p>{html.escape(request.method)} "
        f"{html.escape(str(request.url))}</p><table>{headers}</table>"
        f"<h3>Traceback</h3><pre>{html.escape(trace)}</pre>"
        "<p>Shown because the app runs with debug=True; never enable it in production.</p>"
        "</body></html>"
    )


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


def _route_id(prefix: str, template: str, own_id: int) -> int:
    """The stats id of ``template`` under the mount templates ``prefix``."""
    return own_id if not prefix else _core.route_id(prefix + template)


async def _call(func: Callable[..., Any], *args: Any) -> Any:
    result = func(*args)
    if hasattr(result, "__await__"):
        result = await result
    return result


class CovetASGIApp(_core.AppBase):
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
        routes: Sequence[Route | Mount | Host] | None = None,
        middleware: Sequence[Middleware] | None = None,
        drain_timeout: float | None = DEFAULT_DRAIN_TIMEOUT,
    ) -> None:
        if router is not None and routes is not None:
            raise TypeError("pass router= or routes=, not both")
        if middleware is not None:
            if middleware_stack is not None:
                raise TypeError("pass middleware_stack= or middleware=, not both")
            middleware_stack = MiddlewareStack(middleware)
        #: The router (``routes=[...]`` builds one, as Starlette's ``routes=``).
        self.router = router if router is not None else CovetRouter(routes)
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
        #: Seconds a shutdown waits for WebSocket handlers and event streams to end
        #: after closing them (1001) and stopping them; None: no drain (``covet.drain``).
        self.drain_timeout = check_drain_timeout(drain_timeout)
        #: The WebSocket sessions and event streams being served now.
        self.live_connections = LiveConnections()
        self._status_handlers: dict[int, ExceptionHandler] = {}
        self._class_handlers: dict[type[Exception], ExceptionHandler] = {}
        for key, handler in (exception_handlers or {}).items():
            self.add_exception_handler(key, handler)
        #: The HTTP entry, in Rust (``_core.Dispatcher``): routes, runs a plain
        #: endpoint, sends its response and records it; the rest comes back to
        #: ``_dispatch_recorded`` and ``_serve_other``.
        self._serve: _core.Dispatcher = _core.Dispatcher(
            self,
            stats=self._stats,
            request_class=Request,
            response_class=Response,
            to_response=to_response,
            send_response=_send_response,
            run_task=run_task,
            not_found_body=_error_body(404),
            unmatched_route=_UNMATCHED_ROUTE,
        )
        self._configure_dispatcher()
        self._asgi: ASGIApp = self._build_stack()
        self._choose_entry()
        # What servers inspect: uvicorn, hypercorn and granian tell an ASGI 3 app by
        # `app.__call__` being a coroutine function, which the call slot is not. An
        # instance attribute: calling the app never looks it up.
        self.__dict__["__call__"] = self._call

    # -- configuration --------------------------------------------------------------
    @property
    def router(self) -> CovetRouter:
        return self._router

    @router.setter
    def router(self, router: CovetRouter) -> None:
        self._router = router
        self._configure_dispatcher()

    def _configure_dispatcher(self) -> None:
        """Hands the driver what it reads on every request; called whenever the
        router, the limits or the exception handlers change."""
        serve = self.__dict__.get("_serve")
        if serve is None:  # still in __init__
            return
        limits = self._limits
        serve.configure(
            self._router,
            limits.max_header_count,
            limits.max_url_length,
            bool(self._status_handlers or self._class_handlers),
        )

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
        self._configure_dispatcher()

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
        app: ASGIApp = self._serve
        if self.middleware_stack is not None:
            app = self.middleware_stack.build(app)
        return app

    def add_middleware(self, middleware: Any, *args: Any, **options: Any) -> None:
        """Wraps the app in ``middleware(app, *args, **options)`` as the outermost
        layer (Starlette's order: the last one added sees the request first)."""
        entries = list(self.middleware_stack or ())
        entries.insert(0, Middleware(middleware, *args, **options))
        self.middleware_stack = MiddlewareStack(entries)
        self._asgi = self._build_stack()
        self._choose_entry()

    def middleware(self, middleware_type: str) -> Callable[[DispatchFunction], DispatchFunction]:
        """``@app.middleware("http")`` on ``async def mw(request, call_next)``: a
        ``BaseHTTPMiddleware`` around the app (see ``covet.middleware.base``)."""
        if middleware_type != "http":
            raise ValueError(f'only "http" middleware is supported, not {middleware_type!r}')

        def decorator(func: DispatchFunction) -> DispatchFunction:
            self.add_middleware(BaseHTTPMiddleware, dispatch=func)
            return func

        return decorator

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
        self._configure_dispatcher()

    def add_route(self, path: str, handler: Any, methods: Any = None, **kwargs: Any) -> Any:
        return self.router.add_route(path, handler, methods, **kwargs)

    def mount(self, prefix: str, app: Any = None, name: str | None = None, **kwargs: Any) -> Any:
        return self.router.mount(prefix, app, name, **kwargs)

    def host(self, host: str, app: Any, name: str | None = None) -> Host:
        return self.router.host(host, app, name)

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """The path of a named route, relative to the application root."""
        return self.router.url_path_for(name, **params)

    # -- ASGI -------------------------------------------------------------------------
    def _choose_entry(self) -> None:
        """Sets what ``app(scope, receive, send)`` runs (``_core.AppBase``'s call
        slot): the Rust driver itself unless middleware or ``debug`` wrap it."""
        if self._debug:
            self._set_entry(self._serve_logged)
        elif self.middleware_stack is not None:
            self._set_entry(self._enter_stack)
        else:
            self._set_entry(self._serve)

    async def _call(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``app.__call__`` as servers see it: the same call, through the slot."""
        await self(scope, receive, send)

    async def _enter_stack(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        await self._asgi(scope, receive, send)

    def _finish(self, status: int, start: int, route_id: int, method: str) -> None:
        """Records a finished request (also under its route); one whose client left
        before it was answered (status 0) counts apart, as a client disconnect."""
        if status:
            self._record(status, perf_counter_ns() - start, route_id, method)
        else:
            self._stats.client_disconnected()

    async def _dispatch_recorded(
        self,
        router: CovetRouter,
        match: RouteMatch,
        scope: Scope,
        receive: Receive,
        send: Send,
        start: int,
    ) -> None:
        status = 0
        route_id = _UNMATCHED_ROUTE
        try:
            status, route_id = await self._dispatch(router, match, scope, receive, send)
        except ClientDisconnect:
            status = 0
        finally:
            self._finish(status, start, route_id, scope["method"])

    async def dispatch(
        self, router: CovetRouter, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Routes ``scope`` within ``router`` (a mounted sub-router's middleware
        ends here) and answers it; stats are recorded where the request entered."""
        match = router.match_scope(scope, None, None, router.redirect_slashes)
        label: _RouteLabel | None = scope.get(_ROUTE_LABEL)
        prefix = label.prefix if label is not None else ""
        _, route_id = await self._dispatch(router, match, scope, receive, send, prefix)
        if label is not None:
            label.route_id = route_id

    async def _dispatch(
        self,
        router: CovetRouter,
        match: RouteMatch,
        scope: Scope,
        receive: Receive,
        send: Send,
        prefix: str = "",
    ) -> tuple[int, int]:
        """The one place that acts on a routing result, for HTTP and WebSocket, at
        any mount depth: the error answers (404, 405 with Allow, OPTIONS, slash
        redirects, 414, 431), descending into mounted routers, handing the request
        to mounted apps and to route middleware, and calling endpoints. Returns the
        status sent (0: the client left first) and the stats id of the route
        template that answered (mount prefixes included: ``prefix`` is the template
        of the mounts already descended)."""
        while True:
            route = match.route
            if route is None:
                status = await self._answer_unrouted(match, scope, receive, send)
                return status, _UNMATCHED_ROUTE
            mount = route.mount
            if mount is None and route.app is None:
                status = await self.run_endpoint(route, scope, receive, send, match.params)
                return status, _route_id(prefix, route.path, route.stats_id)
            label = None
            if mount is not None:
                scope = mount.child_scope(scope, match.params)
                if mount.app is None:
                    router = mount.router
                    match = router.match_scope(scope, None, None, router.redirect_slashes)
                    prefix += mount.path
                    continue
                route_id = _route_id(prefix, mount.path + "/{path:path}", mount.stats_id)
                if mount.router is not None:
                    # Middleware around a sub-router: its routing happens inside.
                    label = _RouteLabel(prefix + mount.path, route_id)
                    scope[_ROUTE_LABEL] = label
            else:
                outer = scope.get("path_params")
                params = match.params or {}
                scope = dict(scope, path_params={**outer, **params} if outer else params)
                route_id = _route_id(prefix, route.path, route.stats_id)
            status = await self._call_app(route.app, scope, receive, send)
            return status, route_id if label is None else label.route_id

    async def _call_app(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> int:
        """Hands the request to an ASGI app (a mounted app, route or mount
        middleware) and returns the status it sent. An exception before the
        response started is answered 500 (logged); after, the response is cut."""
        watched = _SentStatus(send)
        try:
            await app(scope, receive, watched)
        except ClientDisconnect:
            return 0
        except Exception as exc:
            if watched.status_code or scope["type"] != "http":
                raise
            response = await self._handle_exception(Request(scope, receive), exc)
            return await _send_response(response, scope, receive, send)
        return watched.status_code

    async def run_endpoint(
        self,
        route: Route,
        scope: Scope,
        receive: Receive,
        send: Send,
        params: dict[str, Any] | None,
    ) -> int:
        """Calls a route's endpoint with a ``Request`` (HTTP) or a ``WebSocket`` and
        sends what it answers; returns the status sent."""
        outer = scope.get("path_params")
        if outer:
            params = {**outer, **(params or {})}
        if scope["type"] == "websocket":
            return await self._run_websocket(route.call, scope, receive, send, params)
        request = Request(scope, receive, params)
        try:
            response = await route.call(request)
            if not isinstance(response, Response):
                response = to_response(response)
        except Exception as exc:
            response = await self._handle_exception(request, exc)
        status = 0
        try:
            status = await _send_response(response, scope, receive, send)
        finally:
            if request._form is not None:
                await request.close()
        return status

    async def _answer_unrouted(
        self, match: RouteMatch, scope: Scope, receive: Receive, send: Send
    ) -> int:
        """404, 405 with Allow, the automatic OPTIONS, a slash redirect, 414 or 431."""
        kind = match.kind
        headers: dict[str, str] | None = None
        if kind == _core.OPTIONS and scope["type"] == "http":
            response: Response = Response(status_code=204, headers={"allow": match.allow or ""})
            return await _send_response(response, scope, receive, send)
        if kind == _core.NOT_FOUND and match.redirect:
            location = _core.slash_redirect_location(scope)
            if location is not None:
                method = scope.get("method", "GET")
                code = 307 if method in ("GET", "HEAD") else 308
                return await _send_response(RedirectResponse(location, code), scope, receive, send)
        status = _UNROUTED_STATUS[kind]
        limits = self._limits
        if status == 405:
            headers = {"allow": match.allow or ""}
            detail = None
        elif status == 414:
            detail = f"URI too long: the limit is {limits.max_url_length} bytes"
        elif status == 431:
            detail = f"Too many request headers: the limit is {limits.max_header_count}"
        else:
            detail = None
        if scope["type"] == "websocket":
            start = perf_counter_ns()
            websocket = WebSocket(scope, receive, send)
            await websocket.send_denial_response(
                JSONResponse(
                    {"detail": detail or status_phrase(status)}, status_code=status, headers=headers
                )
            )
            if self._debug:
                self._log_websocket(websocket, start)
            return status
        if detail is None and not (self._status_handlers or self._class_handlers):
            # No handler to consult: the default error body, encoded once.
            response = Response(_error_body(status), status, headers, media_type="application/json")
        else:
            response = await self._handle_exception(
                Request(scope, receive), HTTPException(status, detail, headers)
            )
        return await _send_response(response, scope, receive, send)

    async def _serve_other(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await self._serve_websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._handle_lifespan(scope, receive, send)
        else:
            raise RuntimeError(f"unsupported ASGI scope type {kind!r}")

    async def _serve_logged(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``debug=True``: the app (middleware included) plus one log line per HTTP
        request, with the status the client got. The query string is left out of
        the line, as it may carry credentials."""
        scope["app"] = self
        if scope["type"] != "http":
            await self._asgi(scope, receive, send)
            return
        if not self._debug_logging_ready:
            self._setup_debug_logging()
        start = perf_counter_ns()
        watched = _SentStatus(send)
        try:
            await self._asgi(scope, receive, watched)
        finally:
            logger.debug(
                "%s %s -> %s in %.3f ms",
                scope["method"],
                scope["path"],
                watched.status_code or "no response",
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
    async def _serve_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        limits = self._limits
        router = self.router
        match = router.match_scope(scope, limits.max_header_count, limits.max_url_length, False)
        start = perf_counter_ns()
        status, route_id = await self._dispatch(router, match, scope, receive, send)
        if status:  # a session counts per route only: it is not a request
            self._stats.record_route(status, perf_counter_ns() - start, route_id, "WEBSOCKET")

    async def _run_websocket(
        self,
        endpoint: Any,
        scope: Scope,
        receive: Receive,
        send: Send,
        params: dict[str, Any] | None,
    ) -> int:
        """Runs the handler and makes sure the connection ends properly whatever it
        does: returns without accepting (403/denial), returns without closing (1000),
        raises (1011 and logged; before accept a 500 denial), raises HTTPException
        (before accept a denial with its status; after, 1008 for 4xx and 1011 for 5xx)
        or WebSocketException (its code). An app exception handler registered for
        the exception's class (or 500 for unhandled ones) is called with
        ``(websocket, exc)`` first; it may close the connection itself. While the
        app drains (shutdown) new sessions are refused with 503. Returns the
        handshake's status (101 once accepted)."""
        websocket = WebSocket(
            scope,
            receive,
            send,
            params,
            max_message_size=self.websocket_max_message_size,
            stats=self._stats,
            counters=self._ws_counters,
        )
        start = perf_counter_ns()
        live = self.live_connections
        try:
            if live.draining:
                await websocket.send_denial_response(
                    JSONResponse({"detail": "Service Unavailable"}, status_code=503)
                )
                return websocket.handshake_status
            with live.websocket(websocket):  # so that a shutdown can close it
                try:
                    await endpoint(websocket)
                except WebSocketDisconnect:
                    return websocket.handshake_status  # the peer left, or a protocol error
                except Exception as exc:
                    await self._websocket_exception(websocket, exc)
                    return websocket.handshake_status
                if websocket.application_state is WebSocketState.CONNECTING:
                    await websocket.send_denial_response(
                        JSONResponse({"detail": "Forbidden"}, status_code=403)
                    )
                elif websocket.application_state is WebSocketState.CONNECTED:
                    await websocket.close(1000)
            return websocket.handshake_status
        finally:
            if websocket.accepted:
                self._stats.websocket_closed()
            if self._debug:
                self._log_websocket(websocket, start)

    async def _websocket_exception(self, websocket: WebSocket, exc: Exception) -> None:
        handler = self._lookup_handler(exc, unhandled=True)
        if handler is not None:
            try:
                await _call(handler, websocket, exc)
            except Exception as handler_exc:
                logger.exception("exception handler %r failed", handler)
                exc = handler_exc
            else:
                if websocket.application_state is WebSocketState.CONNECTED:
                    await websocket.close(1011 if not isinstance(exc, HTTPException) else 1008)
                elif websocket.application_state is WebSocketState.CONNECTING:
                    await websocket.close(1008)
                return
        state = websocket.application_state
        if isinstance(exc, WebSocketException):
            if state is not WebSocketState.DISCONNECTED and state is not WebSocketState.RESPONSE:
                await websocket.close(exc.code, exc.reason)
            return
        if isinstance(exc, HTTPException):
            if state is WebSocketState.CONNECTING:
                await websocket.send_denial_response(
                    _error_response(exc.status_code, {"detail": exc.detail}, exc.headers)
                )
            elif state is WebSocketState.CONNECTED:
                await websocket.close(1011 if exc.status_code >= 500 else 1008)
            return
        logger.error("unhandled exception in WebSocket %s", websocket.path, exc_info=exc)
        if state is WebSocketState.CONNECTING:
            await websocket.send_denial_response(
                JSONResponse(self._internal_error_body(exc), status_code=500)
            )
        elif state is WebSocketState.CONNECTED:
            await websocket.close(1011)

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
        """Request counts, latency percentiles and open WebSocket connections, in
        total and per route template (``routes``); see ``covet.stats`` for the
        fields."""
        snapshot = self._stats.snapshot()
        snapshot.update(self._ws_counters.snapshot())
        return snapshot  # type: ignore[return-value]

    @property
    def stats(self) -> Stats:
        """The recorder behind ``get_stats`` (``covet.metrics`` exports it)."""
        return self._stats

    def reset_stats(self) -> None:
        """Zeroes the counters (open WebSocket connections stay counted)."""
        self._stats.reset()
        self._ws_counters.reset()

    @functools.cached_property
    def _ws_counters(self) -> _core.WsCounters:
        """WebSocket message and byte totals, added to by each connection's
        counters in Rust (``covet.websockets``)."""
        return _core.WsCounters()

    # -- errors -----------------------------------------------------------------------
    def _lookup_handler(
        self, exc: Exception, *, unhandled: bool = False
    ) -> ExceptionHandler | None:
        """The handler for ``exc``: by status for an ``HTTPException``, then by
        class along its MRO; an exception nothing else handles goes to the handler
        registered for 500, as in Starlette."""
        if isinstance(exc, HTTPException):
            handler = self._status_handlers.get(exc.status_code)
            if handler is not None:
                return handler
        for cls in type(exc).__mro__:
            handler = self._class_handlers.get(cls)
            if handler is not None:
                return handler
        if unhandled and not isinstance(exc, (HTTPException, WebSocketException)):
            return self._status_handlers.get(500)
        return None

    async def _handle_exception(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, ClientDisconnect):
            # The client's doing, not an error: nothing to answer, counted apart.
            logger.info("client disconnected during %s %s", request.method, request.path)
            return _CLIENT_GONE
        handler = self._lookup_handler(exc, unhandled=True)
        if handler is not None:
            try:
                return to_response(await _call(handler, request, exc))
            except Exception as handler_exc:
                logger.exception("exception handler %r failed", handler)
                exc = handler_exc
        if isinstance(exc, HTTPException):
            try:
                return _error_response(exc.status_code, {"detail": exc.detail}, exc.headers)
            except ValueError as bad_headers:
                # Headers that cannot be sent (CR/LF, control characters): the
                # error path itself must not fail.
                exc = bad_headers
        logger.error("unhandled exception in %s %s", request.method, request.path, exc_info=exc)
        if self._debug and _wants_html(request):
            return HTMLResponse(_debug_page(request, exc), status_code=500)
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
        """Drains first: closes open WebSockets with 1001 and ends event streams,
        waiting up to ``drain_timeout`` seconds for their handlers (``covet.drain``).
        Then runs every shutdown handler even if one fails, then exits the
        ``lifespan`` context; re-raises the first error."""
        if self.drain_timeout is not None:
            await self.live_connections.drain(self.drain_timeout)
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
        self.live_connections.reopen()  # a later startup (test clients) serves again
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
        # A server's SIGTERM/SIGINT drains first, before the server waits for open
        # connections (which WebSockets and event streams never end by themselves).
        uninstall = (
            install_signal_drain(self._drain_now, asyncio.get_running_loop())
            if self.drain_timeout is not None
            else None
        )
        try:
            message = await receive()
        finally:
            if uninstall is not None:
                uninstall()
        if message["type"] != "lifespan.shutdown":
            raise RuntimeError(f"expected ASGI 'lifespan.shutdown', got {message['type']!r}")
        try:
            await self.shutdown()
        except BaseException:
            await send({"type": "lifespan.shutdown.failed", "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.shutdown.complete"})

    async def _drain_now(self) -> None:
        if self.drain_timeout is not None:
            await self.live_connections.drain(self.drain_timeout)

    # -- RSGI -------------------------------------------------------------------------
    def __rsgi__(self, scope: Any, protocol: Any) -> Awaitable[None]:
        """granian's RSGI entry (``granian --interface rsgi module:app``): each call
        runs through this app's ASGI path (``covet.rsgi``). A plain function
        returning the coroutine: no extra coroutine layer per request."""
        return self._rsgi.serve(scope, protocol)

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """RSGI worker start: the lifespan and startup handlers, as ASGI lifespan."""
        if self._debug and not self._debug_logging_ready:
            self._setup_debug_logging()
        self._rsgi.startup(loop)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        """RSGI worker stop: the shutdown handlers, then the lifespan's exit."""
        self._rsgi.shutdown(loop)

    @functools.cached_property
    def _rsgi(self) -> RSGIAdapter:
        return RSGIAdapter(self)


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
