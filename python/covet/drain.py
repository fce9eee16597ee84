"""Graceful drain: ending WebSocket sessions and event streams when the server stops.

Long-lived connections never finish by themselves, and servers wait for them:
uvicorn, on SIGTERM, stops accepting, waits for every open connection (forever
unless ``--timeout-graceful-shutdown``) and only then sends ``lifespan.shutdown``; its
own answer to an open WebSocket is a 1012 close, sent just before that wait.
So the app ends them itself, before the server does:

- The app tracks its live connections (``LiveConnections``): every accepted
  WebSocket session and every ``EventSourceResponse`` being streamed, with the task
  serving it.
- ``drain(timeout)`` closes each WebSocket with 1001 (going away) and stops each event
  stream (its response ends normally after the event being sent). Handlers see the
  end as they would see a client leaving: ``receive*`` and ``send*`` raise
  ``WebSocketDisconnect(1001)``, ``iter_*`` end. It then waits up to ``timeout``
  seconds for them to return; those still running are cancelled. New WebSocket
  handshakes during and after the drain are refused with 503 (403 where the server
  has no denial responses); new event streams end at once.
- ``install_signal_drain`` makes SIGTERM and SIGINT drain first: it chains a handler
  in front of the one the server installed (uvicorn's, also under gunicorn's uvicorn
  workers) that runs the drain and then hands the signal on, so the server's own
  shutdown finds nothing left to wait for. ``CovetASGIApp`` installs it after a
  lifespan startup, from the main thread, when the server has a Python handler.
- Where no signal comes first (another server, a test client), the drain runs on
  ``lifespan.shutdown``. Either way it runs before the shutdown handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType
from typing import Any, Protocol

logger = logging.getLogger("covet.asgi")

#: Default for ``CovetASGIApp(drain_timeout=...)``, in seconds.
DEFAULT_DRAIN_TIMEOUT = 5.0
#: The close code and reason a drained WebSocket gets (RFC 6455: going away).
GOING_AWAY = 1001
GOING_AWAY_REASON = "server shutting down"


class _Closable(Protocol):
    async def close(self, code: int = ..., reason: str | None = ...) -> None: ...


class _Stoppable(Protocol):
    def stop(self) -> None: ...


def check_drain_timeout(value: float | None) -> float | None:
    """``value`` if it is a valid drain timeout (seconds >= 0, or None), else
    ``ValueError``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"drain_timeout must be a number of seconds or None, not {value!r}")
    if not 0 <= value < float("inf"):
        raise ValueError(f"drain_timeout must be finite and >= 0, not {value!r}")
    return float(value)


class LiveConnections:
    """The WebSocket sessions and event streams an app is serving, each with the
    task that serves it; ``drain`` ends them all."""

    def __init__(self) -> None:
        self._websockets: dict[Any, asyncio.Task[Any] | None] = {}
        self._streams: dict[Any, asyncio.Task[Any] | None] = {}
        self._cancelled: set[asyncio.Task[Any]] = set()
        self._drain: asyncio.Task[None] | None = None
        #: True from the start of a drain: new sessions are refused, new streams end.
        self.draining = False

    @property
    def websockets(self) -> int:
        """WebSocket sessions open now."""
        return len(self._websockets)

    @property
    def streams(self) -> int:
        """Event streams being sent now."""
        return len(self._streams)

    @contextlib.contextmanager
    def websocket(self, websocket: _Closable) -> Iterator[None]:
        """Tracks a WebSocket session for the duration of the block (its handler)."""
        with self._tracking(self._websockets, websocket):
            yield

    @contextlib.contextmanager
    def stream(self, response: _Stoppable) -> Iterator[None]:
        """Tracks an event stream while it is sent; stops it at once when draining."""
        if self.draining:
            response.stop()
        with self._tracking(self._streams, response):
            yield

    @contextlib.contextmanager
    def _tracking(self, registry: dict[Any, asyncio.Task[Any] | None], item: Any) -> Iterator[None]:
        task = asyncio.current_task()
        registry[item] = task
        try:
            yield
        except asyncio.CancelledError:
            if task is None or task not in self._cancelled:
                raise
            # Cancelled by the drain at its deadline: the session is over, which is
            # what the server is waiting for; not an error of the application.
            self._cancelled.discard(task)
            uncancel = getattr(task, "uncancel", None)  # Python 3.11+
            if uncancel is not None:
                uncancel()
        finally:
            registry.pop(item, None)

    def reopen(self) -> None:
        """Accepts sessions and streams again (an app started anew after shutdown)."""
        self.draining = False
        self._drain = None

    async def drain(self, timeout: float) -> None:
        """Closes every WebSocket with 1001 and stops every event stream, waits up to
        ``timeout`` seconds for their handlers to return and cancels the rest.
        Concurrent and later calls wait for the same drain."""
        self.draining = True
        if self._drain is None:
            self._drain = asyncio.ensure_future(self._run(timeout))
        await asyncio.shield(self._drain)

    async def _run(self, timeout: float) -> None:
        if not self._websockets and not self._streams:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        logger.info(
            "draining %d WebSocket session(s) and %d event stream(s)",
            len(self._websockets),
            len(self._streams),
        )
        for response in list(self._streams):
            response.stop()
        closing = [asyncio.ensure_future(_going_away(ws)) for ws in list(self._websockets)]
        if closing:
            await asyncio.wait(closing, timeout=max(deadline - loop.time(), 0))
        me = asyncio.current_task()
        pending = {
            task
            for task in (*self._websockets.values(), *self._streams.values())
            if task is not None and task is not me and not task.done()
        }
        if pending:
            _, pending = await asyncio.wait(pending, timeout=max(deadline - loop.time(), 0))
        for task in closing:
            if not task.done():
                task.cancel()
        if pending:
            logger.warning(
                "%d connection handler(s) still running at the drain deadline: cancelled",
                len(pending),
            )
            for task in pending:
                self._cancelled.add(task)
                task.cancel()
            # Their cleanup (finally blocks) runs now; a handler that ignores the
            # cancellation is left to the server.
            await asyncio.wait(pending, timeout=1.0)


async def _going_away(websocket: Any) -> None:
    from covet.websockets import WebSocketState  # the app imports both modules

    try:
        await websocket.close(GOING_AWAY, GOING_AWAY_REASON)
    except Exception:  # the transport is already gone: the session is over anyway
        logger.debug("closing a WebSocket for the drain failed", exc_info=True)
    # Over for the handler too: its sends and receives raise WebSocketDisconnect(1001)
    # as if the client had left.
    websocket.client_state = WebSocketState.DISCONNECTED


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def install_signal_drain(
    drain: Callable[[], Awaitable[None]], loop: asyncio.AbstractEventLoop
) -> Callable[[], None]:
    """Chains a handler for SIGTERM and SIGINT in front of the server's: the first
    signal runs ``drain`` on ``loop`` and then calls the server's handler with it; a
    signal arriving during the drain goes to the server's handler at once (uvicorn:
    a second Ctrl+C forces the exit). Only signals whose current handler is a
    Python function (not the default, ignore, or ``KeyboardInterrupt``) are chained,
    and only from the main thread. Returns a function that restores the server's
    handlers where ours is still installed."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[int, Callable[[int, FrameType | None], Any]] = {}
    state = {"started": False, "handed_on": False}
    tasks: set[asyncio.Task[None]] = set()

    def hand_on(sig: int, frame: FrameType | None) -> None:
        if not state["handed_on"]:
            state["handed_on"] = True
            previous[sig](sig, frame)

    async def drain_then_hand_on(sig: int) -> None:
        try:
            await drain()
        except Exception:
            logger.exception("the drain on signal %d failed", sig)
        hand_on(sig, None)

    def start(sig: int) -> None:
        task = loop.create_task(drain_then_hand_on(sig))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def handler(sig: int, frame: FrameType | None) -> None:
        if state["handed_on"]:
            previous[sig](sig, frame)
        elif state["started"]:
            hand_on(sig, frame)
        else:
            state["started"] = True
            loop.call_soon_threadsafe(start, sig)

    for sig in _SIGNALS:
        current = signal.getsignal(sig)
        if callable(current) and current is not signal.default_int_handler:
            previous[sig] = current
            signal.signal(sig, handler)

    def uninstall() -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, original in previous.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, original)

    return uninstall


__all__ = [
    "DEFAULT_DRAIN_TIMEOUT",
    "GOING_AWAY",
    "LiveConnections",
    "check_drain_timeout",
    "install_signal_drain",
]
