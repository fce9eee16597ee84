"""Function-style middleware: ``dispatch(request, call_next)``.

``BaseHTTPMiddleware`` (subclass it and define ``dispatch``, or pass ``dispatch=``)
and ``app.middleware("http")`` give Starlette's API::

    @app.middleware("http")
    async def add_timing(request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        response.headers["x-time"] = f"{time.perf_counter() - start:.6f}"
        return response

How it differs inside, and why: Starlette runs the downstream app in a separate task
and passes the body through a memory stream, which costs a task switch per request
and is the usual complaint about this kind of middleware. Here ``call_next`` runs
the downstream app *in the calling task*: its coroutine is driven step by step,
forwarding to the event loop whatever it waits on. A fully rendered response (the
common case) is captured whole and returned with mutable headers. When the app
streams (``more_body``), the coroutine is paused right after its first chunk, so
``call_next`` can return; sending the response resumes it chunk by chunk. Nothing
is buffered beyond one chunk, and the endpoint sees a client disconnect through
``receive`` as it would without middleware.

A request body read in ``dispatch`` (``await request.body()``) is replayed to the
app. If ``dispatch`` returns a response of its own, a paused app is closed (its
``finally`` blocks run).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from covet.requests import Request
from covet.responses import Response
from covet.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BaseHTTPMiddleware", "CallNext", "DispatchFunction"]

CallNext = Callable[[Request], Awaitable[Response]]
DispatchFunction = Callable[[Request, CallNext], Awaitable[Response]]


class _Capture:
    """The ``send`` the downstream app gets: keeps the response start and the body.
    After a streamed chunk it marks the app paused, wakes the driver and waits to be
    resumed (the caller may be the app's own coroutine or a task it started)."""

    __slots__ = ("chunks", "paused", "resume", "start", "waiter")

    def __init__(self) -> None:
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.paused = False
        #: Completed by the driver to let a paused sender go on.
        self.resume: asyncio.Future[None] | None = None
        #: The driver's wake-up future while it waits on the app.
        self.waiter: asyncio.Future[None] | None = None

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.start = message
        elif kind == "http.response.body":
            body = message.get("body", b"")
            if body:
                self.chunks.append(body)
            if message.get("more_body", False):
                self.paused = True
                _wake(self.waiter)
                self.resume = asyncio.get_running_loop().create_future()
                await self.resume
        else:
            raise RuntimeError(f"call_next cannot pass on {kind!r} messages")


def _wake(future: asyncio.Future[None] | None, *_: Any) -> None:
    if future is not None and not future.done():
        future.set_result(None)


class _Driver:
    """Runs the app's coroutine inside the awaiting task, as ``await`` would: what
    it waits on is waited on here, cancellation is passed in. ``await driver``
    returns when the app finishes or pauses after a streamed chunk; awaiting it
    again resumes the app."""

    __slots__ = ("capture", "closing", "coro", "done", "error", "pending")

    def __init__(self, app_call: Awaitable[None], capture: _Capture) -> None:
        self.coro: Generator[Any, None, None] = app_call.__await__()
        self.capture = capture
        self.done = False
        self.closing = False
        #: What the app is waiting on (a future, or None for a bare yield).
        self.pending: Any = _NOTHING
        #: An exception to throw into the app at its next step (cancellation).
        self.error: BaseException | None = None

    def __await__(self) -> Generator[Any, None, None]:
        capture = self.capture
        if capture.paused:
            capture.paused = False
            _wake(capture.resume)
        while True:
            if self.pending is _NOTHING or self.error is not None:
                error, self.error = self.error, None
                try:
                    self.pending = self.coro.send(None) if error is None else self.coro.throw(error)
                except StopIteration:
                    self.done = True
                    return
                except BaseException:
                    self.done = True
                    raise
            if capture.paused:
                if not self.closing:
                    return
                capture.paused = False
                _wake(capture.resume)
            pending = self.pending
            if pending is None:  # a bare yield (asyncio.sleep(0)): one loop turn
                yield None
                self.pending = _NOTHING
                continue
            if not pending.done():
                waiter = asyncio.get_running_loop().create_future()
                wake = functools.partial(_wake, waiter)
                pending.add_done_callback(wake)
                capture.waiter = waiter
                try:
                    yield from waiter.__await__()
                except BaseException as exc:  # cancelled: so is what the app waits on
                    pending.cancel()
                    self.error = exc
                finally:
                    capture.waiter = None
                    pending.remove_done_callback(wake)
                if self.error is not None or not pending.done():
                    continue
            self.pending = _NOTHING  # done: the app's own await reads the result

    async def aclose(self) -> None:
        """Ends a paused or unfinished app by cancelling it and letting it clean up
        (its ``finally`` blocks may await); a sender task it started is cancelled."""
        if self.done:
            return
        self.closing = True
        resume = self.capture.resume
        if resume is not None and not resume.done():
            resume.cancel()
        if self.pending is not _NOTHING and self.pending is not None:
            self.pending.cancel()
        self.error = asyncio.CancelledError()
        try:
            await self
        except (asyncio.CancelledError, Exception):
            pass


_NOTHING = object()


class _CallNextResponse(Response):
    """What ``call_next`` returns: the app's status and headers (mutable through
    ``.headers``) and its body, whole or still streaming."""

    def __init__(self, capture: _Capture, driver: _Driver) -> None:
        start = capture.start
        assert start is not None
        self.status_code = start["status"]
        self.raw_headers = list(start.get("headers", ()))
        self.body = b"".join(capture.chunks) if driver.done else b""
        self._capture = capture
        self._driver = driver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        capture, driver = self._capture, self._driver
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if driver.done:
            await send({"type": "http.response.body", "body": self.body})
        else:
            try:
                while not driver.done:
                    chunks, capture.chunks = capture.chunks, []
                    for chunk in chunks:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await driver
                await send({"type": "http.response.body", "body": b"".join(capture.chunks)})
            finally:
                await driver.aclose()
        if self.background is not None:
            from covet.background import run_task

            await run_task(self.background)


class BaseHTTPMiddleware:
    """An HTTP middleware written as ``async def dispatch(request, call_next)``.
    Other scope types (WebSocket, lifespan) pass through untouched."""

    def __init__(self, app: ASGIApp, dispatch: DispatchFunction | None = None) -> None:
        self.app = app
        self.dispatch_func: DispatchFunction = dispatch or self.dispatch

    async def dispatch(self, request: Request, call_next: CallNext) -> Response:
        raise NotImplementedError("define dispatch() or pass dispatch=")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        drivers: list[_Driver] = []

        async def call_next(request: Request) -> Response:
            capture = _Capture()
            app = self.app(request.scope, _replaying(request, receive), capture)
            driver = _Driver(app, capture)
            drivers.append(driver)
            await driver
            if capture.start is None:
                await driver.aclose()
                raise RuntimeError("No response returned.")
            return _CallNextResponse(capture, driver)

        try:
            response = await self.dispatch_func(request, call_next)
            await response(scope, receive, send)
        finally:
            for driver in drivers:
                if not driver.done:
                    await driver.aclose()  # a paused app whose response was not sent


def _replaying(request: Request, receive: Receive) -> Receive:
    """``receive`` for the app: the body again if ``dispatch`` already read it."""
    body = request._body
    if body is None:
        return receive
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
