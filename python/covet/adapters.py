"""Adapters that turn existing apps into ASGI 3 callables (the guide's "Converting
Existing Apps").

``make_asgi_compatible(app)`` accepts, detected in this order:

==========  ===================================================  ==========================
kind        what                                                  becomes
==========  ===================================================  ==========================
``covet``   a ``CovetASGIApp``                                    the app itself
``router``  a ``CovetRouter``, or a non-callable object with a    a ``CovetASGIApp`` serving
            ``router`` attribute that is one                      that router
``asgi2``   a class (``App(scope)`` then ``await inst(receive,    an ``ASGI2Adapter``
            send)``), or a *sync* one-argument callable whose
            parameter is named ``scope``
``asgi3``   a callable taking exactly three required positional   the app itself
            arguments (``scope, receive, send``)
``wsgi``    a *sync* callable taking exactly two                  a ``WSGIAdapter``
            (``environ, start_response``)
``handler`` any other one-argument callable: ``async def          a ``CovetHandlerApp``
            h(request)`` or ``def h(request)`` (run in a          answering every path and
            thread)                                               method
==========  ===================================================  ==========================

Detection reads ``inspect.signature`` (unwrapping ``functools.partial`` and an
instance's ``__call__``) and never calls the app. The one ambiguous shape, a sync
one-argument function, is ASGI 2 only when its parameter is named ``scope``; pass
``kind="asgi2"`` or ``kind="handler"`` to decide explicitly. Anything else raises a
``TypeError`` naming what was found and what is accepted.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import io
import logging
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import Any

from covet import _core
from covet.app import CovetASGIApp, create_asgi_app
from covet.concurrency import is_async_callable
from covet.requests import Request
from covet.responses import JSONResponse, PlainTextResponse, Response
from covet.routing import ANY_HTTP_METHOD, CovetRouter
from covet.types import Message, Receive, Scope, Send

logger = logging.getLogger("covet.asgi")


#: The largest request body a WSGI app is handed (WSGI needs the whole body up
#: front in ``wsgi.input``); larger requests are answered 413 without buffering.
DEFAULT_WSGI_MAX_BODY_SIZE = 10 * 1024 * 1024

APP_KINDS = ("covet", "router", "asgi2", "asgi3", "wsgi", "handler")


# -- detection -------------------------------------------------------------------------------
def _signature_target(app: Any) -> Any:
    while isinstance(app, functools.partial):
        app = app.func
    return app


def _positional_arity(app: Any) -> tuple[int, float, list[inspect.Parameter]]:
    """``(required, maximum, parameters)`` of the positional parameters ``app`` takes
    when called (``maximum`` is infinite with ``*args``)."""
    signature = inspect.signature(app)
    required, maximum = 0, 0.0
    params: list[inspect.Parameter] = []
    for param in signature.parameters.values():
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            params.append(param)
            maximum += 1
            if param.default is param.empty:
                required += 1
        elif param.kind == param.VAR_POSITIONAL:
            maximum = float("inf")
        elif param.kind == param.KEYWORD_ONLY and param.default is param.empty:
            return -1, -1, params  # needs a keyword argument: no protocol calls it that way
    return required, maximum, params


def _looks_like_scope(param: inspect.Parameter) -> bool:
    if param.name == "scope":
        return True
    annotation = param.annotation
    if isinstance(annotation, str):
        return annotation in ("Scope", "dict", "dict[str, Any]")
    return annotation is dict


def detect_app_kind(app: Any) -> str:
    """One of ``APP_KINDS`` for ``app`` (see the module docstring), or TypeError."""
    if isinstance(app, CovetASGIApp):
        return "covet"
    if isinstance(app, CovetRouter):
        return "router"
    if not callable(app):
        if isinstance(getattr(app, "router", None), CovetRouter):
            return "router"
        raise TypeError(
            f"cannot make {type(app).__name__!r} an ASGI app: it is not callable and has "
            "no CovetRouter 'router' attribute"
        )
    if inspect.isclass(app):
        try:
            required, maximum, _ = _positional_arity(app)
        except (TypeError, ValueError):
            required = maximum = -1
        if required <= 1 <= maximum:
            return "asgi2"
        raise TypeError(
            f"cannot make class {app.__name__!r} an ASGI app: an ASGI 2 app class is "
            "constructed with one argument (scope); pass an instance for other apps"
        )
    target = _signature_target(app)
    try:
        required, maximum, params = _positional_arity(target)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"cannot make {app!r} an ASGI app: its signature cannot be inspected ({exc}); "
            f"pass kind= (one of {', '.join(APP_KINDS[2:])})"
        ) from None
    is_async = is_async_callable(app)
    if required == 3:
        return "asgi3"
    if required == 2 and not is_async:
        return "wsgi"
    if required == 1 or (required == 0 and maximum >= 1 and params):
        if not is_async and params and _looks_like_scope(params[0]):
            return "asgi2"
        return "handler"
    raise TypeError(
        f"cannot make {app!r} an ASGI app: it takes {required} required positional "
        f"argument(s) ({'async' if is_async else 'sync'}); expected an ASGI 3 app "
        "(scope, receive, send), an ASGI 2 app (scope) -> (receive, send), a WSGI app "
        "(environ, start_response), a request handler (request), a CovetRouter or a "
        "CovetASGIApp"
    )


def make_asgi_compatible(
    app: Any,
    *,
    kind: str | None = None,
    max_body_size: int = DEFAULT_WSGI_MAX_BODY_SIZE,
    executor: Executor | None = None,
    debug: bool = False,
) -> Any:
    """An ASGI 3 callable serving ``app`` (see the module docstring for what is
    accepted). ``kind`` overrides detection; ``max_body_size`` and ``executor``
    apply to WSGI apps, ``debug`` to routers and handlers."""
    if kind is None:
        kind = detect_app_kind(app)
    elif kind not in APP_KINDS:
        raise ValueError(f"kind must be one of {', '.join(APP_KINDS)}, not {kind!r}")
    if kind in ("covet", "asgi3"):
        return app
    if kind == "router":
        router = app if isinstance(app, CovetRouter) else app.router
        return CovetASGIApp(router=router, debug=debug)
    if kind == "asgi2":
        return ASGI2Adapter(app)
    if kind == "wsgi":
        return WSGIAdapter(app, max_body_size=max_body_size, executor=executor)
    return CovetHandlerApp(app, debug=debug)


class CovetApplicationASGIAdapter:
    """Wraps an existing app (anything ``make_asgi_compatible`` accepts) as an ASGI 3
    app: ``asgi_app = CovetApplicationASGIAdapter(existing_app)``. ``app`` is the
    original, ``kind`` what it was detected as and ``asgi_app`` what serves it."""

    def __init__(
        self,
        app: Any,
        *,
        kind: str | None = None,
        max_body_size: int = DEFAULT_WSGI_MAX_BODY_SIZE,
        executor: Executor | None = None,
        debug: bool = False,
    ) -> None:
        self.app = app
        self.kind = kind if kind is not None else detect_app_kind(app)
        self.asgi_app = make_asgi_compatible(
            app, kind=self.kind, max_body_size=max_body_size, executor=executor, debug=debug
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.asgi_app(scope, receive, send)

    def __repr__(self) -> str:
        return f"CovetApplicationASGIAdapter({self.app!r}, kind={self.kind!r})"


def create_covet_application(router: CovetRouter | None = None, **kwargs: Any) -> CovetASGIApp:
    """A CovetPy application (``CovetASGIApp``) serving ``router`` (a new, empty one
    by default); keyword arguments are those of ``create_asgi_app``."""
    return create_asgi_app(router=router, **kwargs)


# -- plain handlers --------------------------------------------------------------------------
class CovetHandlerApp(CovetASGIApp):
    """A CovetPy app that sends every HTTP request, whatever its path and method, to
    one handler (``async def handler(request)``, or a sync one run in a thread).
    The handler is an ordinary route (every HTTP method, any path), so return
    values, ``HTTPException``, errors, exception handlers, limits and stats work as
    for any route; WebSocket connections are refused."""

    def __init__(self, handler: Callable[[Request], Any], **kwargs: Any) -> None:
        if not callable(handler):
            raise TypeError(f"handler must be callable, not {type(handler).__name__}")
        self.handler = handler
        router = CovetRouter(redirect_slashes=False)
        router.add_route("/{path:path}", handler, [ANY_HTTP_METHOD])
        super().__init__(router=router, **kwargs)


# -- ASGI 2 ------------------------------------------------------------------------------------
class ASGI2Adapter:
    """Serves an ASGI 2 ("double callable") app: ``app(scope)`` returns an object
    (often a class instance) awaited as ``instance(receive, send)``."""

    def __init__(self, app: Callable[[Scope], Any]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        instance = self.app(scope)
        await instance(receive, send)

    def __repr__(self) -> str:
        return f"ASGI2Adapter({self.app!r})"


# -- WSGI --------------------------------------------------------------------------------------
async def _null_lifespan(receive: Receive, send: Send) -> None:
    """Completes the lifespan protocol for an app that has none."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _latin1(text: str) -> str:
    """A PEP 3333 "bytes-as-latin-1" native string of UTF-8 text."""
    return text.encode("utf-8").decode("latin-1")


def build_environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """The PEP 3333 ``environ`` of an ASGI HTTP request with a fully read ``body``.

    ``SCRIPT_NAME`` is the scope's ``root_path`` and ``PATH_INFO`` the rest of the
    (decoded) path, both as latin-1-decoded UTF-8 bytes. Headers become ``HTTP_*``
    keys (repeated ones joined with ``,``, cookies with ``;``); header names that
    contain ``_`` are dropped, because CGI naming would make them indistinguishable
    from their ``-`` spelling (a header-spoofing vector).
    """
    root_path = scope.get("root_path", "") or ""
    path = scope["path"]
    if root_path and (path == root_path or path.startswith(root_path.rstrip("/") + "/")):
        path = path[len(root_path.rstrip("/")) :]
    server = scope.get("server")
    client = scope.get("client")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": _latin1(root_path.rstrip("/")),
        "PATH_INFO": _latin1(path),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    headers: dict[str, str] = {}
    host_header = None
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
            continue
        if name == "content-length":
            continue
        if "_" in name:
            continue
        if name == "host":
            host_header = value
        key = "HTTP_" + name.upper().replace("-", "_")
        if key in headers:
            headers[key] += ("; " if name == "cookie" else ",") + value
        else:
            headers[key] = value
    environ.update(headers)
    environ["CONTENT_LENGTH"] = str(len(body)) if body else ""
    if server:
        environ["SERVER_NAME"], environ["SERVER_PORT"] = str(server[0]), str(server[1] or "")
    else:
        host, _, port = (host_header or "localhost").rpartition(":")
        if not host or not port.isdigit():
            host, port = host_header or "localhost", ""
        default = "443" if environ["wsgi.url_scheme"] == "https" else "80"
        environ["SERVER_NAME"], environ["SERVER_PORT"] = host, port or default
    if client:
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = str(client[0]), str(client[1])
    return environ


class _WSGIResponseState:
    __slots__ = ("headers", "started", "status")

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.started = False  # http.response.start was sent


def _parse_status(status: Any) -> int:
    if not isinstance(status, str):
        raise TypeError(f"WSGI status must be a str like '200 OK', not {type(status).__name__}")
    code = status.split(" ", 1)[0]
    if len(code) != 3 or not code.isdigit() or not 100 <= int(code) <= 599:
        raise ValueError(f"invalid WSGI status line {status!r}")
    return int(code)


class WSGIAdapter:
    """Serves a PEP 3333 WSGI app over ASGI.

    The request body is read up front (WSGI's ``wsgi.input`` is synchronous), bounded
    by ``max_body_size`` (default ``DEFAULT_WSGI_MAX_BODY_SIZE``, 10 MiB): a larger
    declared ``Content-Length`` is answered 413 before anything is read, and a body
    that grows past the limit is answered 413 as soon as it does. The app and its
    response iterable run in ``executor`` (the loop's default thread pool if None);
    each chunk is sent as it is produced, waiting for the send to finish (so memory
    stays bounded for streamed responses), and the iterable's ``close()`` is always
    called. A client disconnect stops the iteration. An exception before the response
    started is logged and answered 500; after, it propagates to the server.
    Lifespan events are acknowledged; WebSocket connections are refused.
    """

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        *,
        max_body_size: int = DEFAULT_WSGI_MAX_BODY_SIZE,
        executor: Executor | None = None,
    ) -> None:
        if max_body_size < 0:
            raise ValueError("max_body_size must be >= 0")
        self.app = app
        self.max_body_size = max_body_size
        self.executor = executor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._handle_http(scope, receive, send)
        elif kind == "lifespan":
            await _null_lifespan(receive, send)
        elif kind == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1000})
        else:
            raise RuntimeError(f"unsupported ASGI scope type {kind!r}")

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | Response | None:
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                declared = value
                break
        if declared is not None:
            if not declared.strip().isdigit():
                return JSONResponse({"detail": "Invalid Content-Length header"}, status_code=400)
            if int(declared) > self.max_body_size:
                return _too_large(self.max_body_size)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > self.max_body_size:
                return _too_large(self.max_body_size)
            if not message.get("more_body", False):
                return bytes(body)

    async def _handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._read_body(scope, receive)
        if body is None:
            return  # the client went away before sending the whole body
        if isinstance(body, Response):
            await body(scope, receive, send)
            return
        environ = build_environ(scope, body)
        loop = asyncio.get_running_loop()
        state = _WSGIResponseState()
        disconnected = threading.Event()
        watcher = asyncio.ensure_future(_watch_disconnect(receive, disconnected))
        context = contextvars.copy_context()
        call = functools.partial(
            context.run, self._run_app, environ, send, loop, state, disconnected
        )
        try:
            await loop.run_in_executor(self.executor, call)
        except Exception:
            if state.started:
                raise
            logger.exception(
                "unhandled exception in WSGI app %r for %s %s",
                self.app,
                scope["method"],
                scope["path"],
            )
            await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
        finally:
            watcher.cancel()

    def _run_app(
        self,
        environ: dict[str, Any],
        send: Send,
        loop: asyncio.AbstractEventLoop,
        state: _WSGIResponseState,
        disconnected: threading.Event,
    ) -> None:
        """Runs in a worker thread: calls the app and streams its iterable."""

        async def send_async(message: Message) -> None:
            await send(message)

        def send_sync(message: Message) -> None:
            asyncio.run_coroutine_threadsafe(send_async(message), loop).result()

        def start(more: bytes, more_body: bool) -> None:
            if state.status is None:
                raise RuntimeError("the WSGI app did not call start_response")
            if not state.started:
                state.started = True
                send_sync(
                    {
                        "type": "http.response.start",
                        "status": state.status,
                        "headers": state.headers,
                    }
                )
            send_sync({"type": "http.response.body", "body": more, "more_body": more_body})

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info is not None:
                try:
                    if state.started:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif state.status is not None:
                raise RuntimeError("start_response called twice without exc_info")
            code = _parse_status(status)
            if not isinstance(headers, list):
                raise TypeError("WSGI response headers must be a list of (name, value) tuples")
            state.status = code
            state.headers = _core.encode_headers(headers)
            return write

        def write(data: bytes) -> None:  # PEP 3333's legacy imperative API
            if not isinstance(data, bytes):
                raise TypeError(f"WSGI write() needs bytes, not {type(data).__name__}")
            start(data, True)

        iterable = self.app(environ, start_response)
        try:
            pending: bytes | None = None
            for chunk in iterable:
                if not isinstance(chunk, bytes):
                    raise TypeError(f"WSGI apps must yield bytes, not {type(chunk).__name__}")
                if disconnected.is_set():
                    return
                if not chunk:
                    continue
                if pending is not None:
                    start(pending, True)
                pending = chunk
            start(pending or b"", False)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()

    def __repr__(self) -> str:
        return f"WSGIAdapter({self.app!r}, max_body_size={self.max_body_size})"


def _too_large(limit: int) -> Response:
    return JSONResponse(
        {"detail": f"Request body exceeds the limit of {limit} bytes"},
        status_code=413,
        headers={"connection": "close"},
    )


async def _watch_disconnect(receive: Receive, disconnected: threading.Event) -> None:
    """Once the body is read, the next message a server sends is ``http.disconnect``."""
    message = await receive()
    if message["type"] == "http.disconnect":
        disconnected.set()


__all__ = [
    "APP_KINDS",
    "DEFAULT_WSGI_MAX_BODY_SIZE",
    "ASGI2Adapter",
    "CovetApplicationASGIAdapter",
    "CovetHandlerApp",
    "WSGIAdapter",
    "build_environ",
    "create_covet_application",
    "detect_app_kind",
    "make_asgi_compatible",
]
