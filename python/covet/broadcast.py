"""Publish/subscribe across worker processes, for WebSockets and Server-Sent Events.

The API of encode/broadcaster, which Starlette apps use::

    broadcast = Broadcast("redis://127.0.0.1:6379/0")   # or "memory://"
    app = create_asgi_app(router, on_startup=[broadcast.connect],
                          on_shutdown=[broadcast.disconnect])

    await broadcast.publish(channel="chat:lobby", message="hello")
    async with broadcast.subscribe(channel="chat:lobby") as subscriber:
        async for event in subscriber:          # event.channel, event.message
            ...

Backends: ``memory://`` delivers within one process; ``redis://host:port/db``
(also ``rediss://`` and ``unix://``) goes through Redis pub/sub, so every worker and
host using the same server sees every message. Per process there is one Redis
subscription per channel, whatever the number of local subscribers, and one reader
task that fans each message out to them.

Guarantees and limits:

- ``subscribe()`` returns once the subscription is live (Redis confirmed it): a
  message published after that reaches the subscriber.
- Each subscriber buffers at most ``max_queue`` undelivered messages (default
  ``DEFAULT_MAX_QUEUE`` = 1000; per Broadcast or per ``subscribe()``). A message that
  finds the buffer full ends that subscription: the buffer is freed at once, the
  subscriber is removed from the channel and its iteration raises
  ``SubscriberOverflow``. A slow consumer is dropped (and told so) rather than being
  let grow memory without bound or silently miss messages. ``pump_to_websocket``
  closes the connection with 1013 (try again later), ``sse_stream`` ends the stream;
  clients reconnect and resync. So that a burst does not drop subscribers that
  would keep up, the Redis reader lets them run every 100 messages, and it and a
  memory publish do so as soon as one of them is half full.
- Publishing, subscribing or connecting while Redis cannot be reached raises
  ``BroadcastUnavailable`` within ``timeout`` seconds (default 3; a subscribe that
  first waits for a reconnection, twice that): never a hang, never a false success.
  A handler that lets it propagate answers 500 (or map it to 503 with an exception
  handler).
- When the connection is lost the reader reconnects with exponential backoff (up to
  ``reconnect_max_delay``, default 5 s) and resubscribes every channel with local
  subscribers, which keep their subscriptions; messages published during the outage
  are lost (Redis pub/sub keeps no history). An idle connection is checked with a
  PING after ``ping_interval`` seconds of silence (default 10) and given up when
  as long again passes without an answer.
- ``disconnect()`` ends every active subscription: iteration stops after the
  messages already buffered.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from covet.responses import ServerSentEvent
from covet.websockets import WebSocket, WebSocketDisconnect

logger = logging.getLogger("covet.broadcast")

#: Default ``max_queue``: undelivered messages a subscriber may hold.
DEFAULT_MAX_QUEUE = 1000
#: Default ``timeout``, seconds, for connecting, publishing and subscribing.
DEFAULT_TIMEOUT = 3.0
#: Default ``ping_interval``, seconds of silence before the reader checks the
#: connection with a PING (and gives it up after as long again without an answer).
DEFAULT_PING_INTERVAL = 10.0
#: Default ``reconnect_max_delay``, seconds: the backoff's ceiling.
DEFAULT_RECONNECT_MAX_DELAY = 5.0
_RECONNECT_MIN_DELAY = 0.05
# Messages the Redis reader hands out before it lets the subscribers run.
_BURST = 100

_REDIS_SCHEMES = ("redis", "rediss", "unix")


class BroadcastError(Exception):
    """Base class of the broadcast errors."""


class BroadcastUnavailable(BroadcastError):
    """The backend (Redis) cannot be reached: the publish or subscribe did not happen."""


class SubscriberOverflow(BroadcastError):
    """The subscriber fell ``max_queue`` messages behind and was dropped."""

    def __init__(self, channel: str, max_queue: int) -> None:
        self.channel = channel
        self.max_queue = max_queue
        super().__init__(
            f"subscriber of {channel!r} fell {max_queue} messages behind and was dropped"
        )


class Unsubscribed(BroadcastError):
    """``get()`` on a subscription that has ended (left, or the broadcast disconnected)."""


class Event:
    """One message received on a channel."""

    __slots__ = ("channel", "message")

    def __init__(self, channel: str, message: str) -> None:
        self.channel = channel
        self.message = message

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return self.channel == other.channel and self.message == other.message

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Event(channel={self.channel!r}, message={self.message!r})"


class Subscriber:
    """The receiving end of one subscription: ``async for event in subscriber`` or
    ``await subscriber.get()``."""

    __slots__ = ("_overflowed", "_queue", "_waiter", "channel", "closed", "max_queue")

    def __init__(self, channel: str, max_queue: int) -> None:
        self.channel = channel
        self.max_queue = max_queue
        #: True once the subscription has ended (left, dropped or disconnected).
        self.closed = False
        self._overflowed = False
        self._queue: deque[Event] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        """Messages received and not yet consumed."""
        return len(self._queue)

    def __aiter__(self) -> Subscriber:
        return self

    async def __anext__(self) -> Event:
        queue = self._queue
        if queue:
            return queue.popleft()
        try:
            return await self.get()
        except Unsubscribed:
            raise StopAsyncIteration from None

    async def get(self) -> Event:
        """The next event. Raises ``SubscriberOverflow`` if the subscriber was dropped
        for falling behind, ``Unsubscribed`` once the subscription has ended and its
        buffer is drained."""
        while True:
            if self._overflowed:
                raise SubscriberOverflow(self.channel, self.max_queue)
            if self._queue:
                return self._queue.popleft()
            if self.closed:
                raise Unsubscribed(f"the subscription to {self.channel!r} has ended")
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None

    def _put(self, event: Event) -> bool:
        """Queues ``event``; False (and the subscriber is over) when the queue is full."""
        queue = self._queue
        if len(queue) >= self.max_queue:
            self._overflowed = True
            queue.clear()
            self._end()
            return False
        queue.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return True

    def _end(self) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __repr__(self) -> str:
        state = "overflowed" if self._overflowed else "closed" if self.closed else "open"
        return f"<Subscriber {self.channel!r} {state} queued={len(self._queue)}>"


class Subscription:
    """``async with broadcast.subscribe(channel=...) as subscriber:``; leaving the
    block unsubscribes."""

    __slots__ = ("_broadcast", "_channel", "_max_queue", "_subscriber")

    def __init__(self, broadcast: Broadcast, channel: str, max_queue: int) -> None:
        self._broadcast = broadcast
        self._channel = channel
        self._max_queue = max_queue
        self._subscriber: Subscriber | None = None

    async def __aenter__(self) -> Subscriber:
        if self._subscriber is not None:
            raise RuntimeError("this subscription is already active")
        self._subscriber = await self._broadcast._attach(self._channel, self._max_queue)
        return self._subscriber

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        subscriber, self._subscriber = self._subscriber, None
        if subscriber is not None:
            self._broadcast._detach(subscriber)


def _check_positive(name: str, value: object, *, integer: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        ok = False
    else:
        ok = value > 0
    if not ok:
        what = "int" if integer else "number"
        raise ValueError(f"{name} must be a positive {what}, not {value!r}")


class Broadcast:
    """A publish/subscribe hub; see the module docstring for the guarantees.

    ``url``: ``"memory://"`` or a Redis URL. ``max_queue``: undelivered messages a
    subscriber may hold before it is dropped. ``timeout``: seconds a connect,
    publish or subscribe may take before ``BroadcastUnavailable``. ``ping_interval``
    and ``reconnect_max_delay`` tune the Redis reader (see the module docstring).
    """

    def __init__(
        self,
        url: str,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        timeout: float = DEFAULT_TIMEOUT,
        ping_interval: float = DEFAULT_PING_INTERVAL,
        reconnect_max_delay: float = DEFAULT_RECONNECT_MAX_DELAY,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f"the broadcast URL must be a str, not {type(url).__name__}")
        _check_positive("max_queue", max_queue, integer=True)
        _check_positive("timeout", timeout)
        _check_positive("ping_interval", ping_interval)
        _check_positive("reconnect_max_delay", reconnect_max_delay)
        self.url = url
        self.max_queue = max_queue
        self.timeout = float(timeout)
        # channel -> its local subscribers (a dict keeps the order they joined in)
        self._subscribers: dict[str, dict[Subscriber, None]] = {}
        # channel -> the task making it live at the backend (Redis SUBSCRIBE)
        self._ready: dict[str, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Future[None]] = set()
        self._connected = False
        scheme = urlsplit(url).scheme
        self._backend: _Backend
        if scheme == "memory":
            self._backend = _MemoryBackend(self._deliver)
        elif scheme in _REDIS_SCHEMES:
            self._backend = _RedisBackend(
                url,
                self._deliver,
                self._subscribers,
                timeout=self.timeout,
                ping_interval=float(ping_interval),
                reconnect_max_delay=float(reconnect_max_delay),
            )
        else:
            raise ValueError(
                f"unsupported broadcast URL {_redact(url)!r}: use memory:// or "
                "redis://host:port/db (also rediss://, unix://)"
            )

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def available(self) -> bool:
        """Whether the backend is reachable right now (always True for memory://)."""
        return self._connected and self._backend.available

    def subscriber_count(self, channel: str) -> int:
        """Local subscribers of ``channel`` in this process."""
        return len(self._subscribers.get(channel, ()))

    # -- lifecycle --------------------------------------------------------------------
    async def connect(self) -> None:
        """Connects to the backend (a startup handler). Raises ``BroadcastUnavailable``
        if Redis cannot be reached within ``timeout``."""
        if self._connected:
            raise RuntimeError("the broadcast is already connected")
        await self._backend.connect()
        self._connected = True

    async def disconnect(self) -> None:
        """Ends every subscription and closes the backend (a shutdown handler); does
        nothing if not connected."""
        if not self._connected:
            return
        self._connected = False
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber._end()
        self._subscribers.clear()
        self._ready.clear()
        # The backend first: its reader must not take a cancelled command's dropped
        # connection for an outage.
        await self._backend.disconnect()
        tasks, self._tasks = self._tasks, set()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> Broadcast:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()

    def _require_connected(self) -> None:
        if not self._connected:
            raise RuntimeError(
                "the broadcast is not connected: await broadcast.connect() first "
                "(e.g. on_startup=[broadcast.connect])"
            )

    # -- publishing -------------------------------------------------------------------
    async def publish(self, channel: str, message: str) -> None:
        """Sends ``message`` to every subscriber of ``channel``, in every process using
        the same backend. Raises ``BroadcastUnavailable`` if it could not be sent."""
        _check_channel(channel)
        if not isinstance(message, str):
            raise TypeError(f"a broadcast message must be a str, not {type(message).__name__}")
        self._require_connected()
        await self._backend.publish(channel, message)

    def _deliver(self, channel: str, message: str) -> bool:
        """Queues the message for the channel's subscribers. True when one of them is
        half full: the caller should then let the loop run them before going on."""
        subscribers = self._subscribers.get(channel)
        if not subscribers:
            return False
        event = Event(channel, message)
        dropped: list[Subscriber] | None = None
        crowded = False
        for subscriber in subscribers:
            if not subscriber._put(event):
                if dropped is None:
                    dropped = []
                dropped.append(subscriber)
            elif len(subscriber._queue) * 2 >= subscriber.max_queue:
                crowded = True
        if dropped is not None:
            for subscriber in dropped:
                logger.warning(
                    "dropped a subscriber of %r: it fell %d messages behind",
                    channel,
                    subscriber.max_queue,
                )
                self._detach(subscriber)
        return crowded

    # -- subscribing ------------------------------------------------------------------
    def subscribe(self, channel: str, *, max_queue: int | None = None) -> Subscription:
        """``async with broadcast.subscribe(channel=...) as subscriber:``. The block is
        entered once the subscription is live; ``max_queue`` overrides the
        Broadcast's for this subscriber."""
        _check_channel(channel)
        if max_queue is None:
            max_queue = self.max_queue
        else:
            _check_positive("max_queue", max_queue, integer=True)
        return Subscription(self, channel, max_queue)

    async def _attach(self, channel: str, max_queue: int) -> Subscriber:
        self._require_connected()
        await self._backend.ensure_available()
        subscriber = Subscriber(channel, max_queue)
        subscribers = self._subscribers.get(channel)
        if subscribers is None:
            subscribers = self._subscribers[channel] = {}
        subscribers[subscriber] = None
        if not isinstance(self._backend, _RedisBackend):
            return subscriber
        ready = self._ready.get(channel)
        if ready is None or (ready.done() and (ready.cancelled() or ready.exception())):
            ready = self._ready[channel] = self._spawn(self._backend.subscribe(channel))
        try:
            # shielded: one subscriber giving up must not cancel the others' wait
            await asyncio.shield(ready)
        except BaseException:
            self._detach(subscriber)
            if ready.cancelled():  # by disconnect(), not by our caller
                raise Unsubscribed("the broadcast disconnected while subscribing") from None
            raise
        return subscriber

    def _detach(self, subscriber: Subscriber) -> None:
        subscriber._end()
        channel = subscriber.channel
        subscribers = self._subscribers.get(channel)
        if subscribers is None or subscriber not in subscribers:
            return
        del subscribers[subscriber]
        if not subscribers:
            del self._subscribers[channel]
            self._ready.pop(channel, None)
            if self._connected and isinstance(self._backend, _RedisBackend):
                try:
                    asyncio.get_running_loop()
                except RuntimeError:  # garbage collected outside the loop: Redis keeps
                    return  # the subscription until the next session, which is harmless
                # In the background: leaving a subscription never waits on the network.
                self._spawn(self._backend.unsubscribe(channel))

    def _spawn(self, coroutine: Awaitable[None]) -> asyncio.Future[None]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.debug("broadcast background task failed", exc_info=task.exception())

    def __repr__(self) -> str:
        state = "connected" if self._connected else "disconnected"
        return f"<Broadcast {_redact(self.url)} {state}>"


def _check_channel(channel: str) -> None:
    if not isinstance(channel, str):
        raise TypeError(f"a channel name must be a str, not {type(channel).__name__}")
    if not channel:
        raise ValueError("a channel name cannot be empty")


def _redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


# -- backends -----------------------------------------------------------------------
Deliver = Callable[[str, str], bool]


class _Backend:
    @property
    def available(self) -> bool:
        return True

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def ensure_available(self) -> None:
        pass

    async def subscribe(self, channel: str) -> None:
        pass

    async def unsubscribe(self, channel: str) -> None:
        pass

    async def publish(self, channel: str, message: str) -> None:
        raise NotImplementedError


class _MemoryBackend(_Backend):
    """One process: a publish is delivered to the local subscribers right away."""

    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def publish(self, channel: str, message: str) -> None:
        if self._deliver(channel, message):
            # A publisher that never yields must not overflow subscribers that would
            # keep up if they ran.
            await asyncio.sleep(0)


def _retrieve(future: asyncio.Future[None]) -> None:
    # An exception nobody awaited must not be logged as "never retrieved".
    if not future.cancelled():
        future.exception()


class _RedisBackend(_Backend):
    """Redis pub/sub through redis-py's asyncio client.

    One PubSub connection per session, read by one reader task. SUBSCRIBE and
    UNSUBSCRIBE are sent under a lock, each with an entry appended to ``_expected``
    before it is sent; Redis confirms them in order, so the reader pops one entry per
    confirmation and resolves the waiting subscriber's future. A session that fails
    (or whose confirmations stop matching) is closed and replaced by a new one.
    """

    def __init__(
        self,
        url: str,
        deliver: Deliver,
        wanted: Mapping[str, object],
        *,
        timeout: float,
        ping_interval: float,
        reconnect_max_delay: float,
    ) -> None:
        self.url = url
        self._deliver = deliver
        self._wanted = wanted  # the channels with local subscribers
        self.timeout = timeout
        self.ping_interval = ping_interval
        self.reconnect_max_delay = reconnect_max_delay
        self._client: Any = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._expected: deque[tuple[str, str, asyncio.Future[None] | None]] = deque()
        # Created in connect(), inside the running loop (Python 3.9 binds them early).
        self._lock: asyncio.Lock | None = None
        self._up: asyncio.Event | None = None
        self._closing = False

    @property
    def available(self) -> bool:
        return self._up is not None and self._up.is_set()

    def _unavailable(self, what: str, exc: BaseException | None = None) -> BroadcastError:
        if self._closing:
            return Unsubscribed("the broadcast was disconnected")
        detail = f": {exc}" if exc is not None and str(exc) else ""
        return BroadcastUnavailable(f"Redis at {_redact(self.url)} {what}{detail}")

    async def connect(self) -> None:
        try:
            import redis.asyncio as redis_asyncio
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the Redis broadcast backend needs the 'redis' package: "
                "pip install 'covetpy[redis]'"
            ) from exc
        # No retries inside redis-py: the timeouts here are the whole story, and the
        # reader does the reconnecting.
        self._client = redis_asyncio.Redis.from_url(
            self.url,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._lock = asyncio.Lock()
        self._up = asyncio.Event()
        self._closing = False
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        first.add_done_callback(_retrieve)
        self._reader = asyncio.ensure_future(self._run(first))
        try:
            await asyncio.wait_for(asyncio.shield(first), self.timeout * 2)
        except (asyncio.TimeoutError, TimeoutError):
            error = self._unavailable(f"did not answer within {self.timeout} s")
            await self.disconnect()
            raise error from None
        except BaseException:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        self._closing = True
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            try:
                await reader
            except asyncio.CancelledError:
                pass
        self._session_lost()
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except Exception:  # closing a pool of dead connections may complain
                logger.debug("closing the Redis client failed", exc_info=True)

    async def ensure_available(self) -> None:
        assert self._up is not None
        if self._up.is_set():
            return
        try:
            await asyncio.wait_for(self._up.wait(), self.timeout)
        except (asyncio.TimeoutError, TimeoutError):
            raise self._unavailable(f"is unreachable (waited {self.timeout} s)") from None

    # -- commands -----------------------------------------------------------------------
    async def publish(self, channel: str, message: str) -> None:
        from redis.exceptions import RedisError

        try:
            await asyncio.wait_for(self._client.publish(channel, message), self.timeout)
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            raise self._unavailable("did not take the message", exc) from exc

    async def subscribe(self, channel: str) -> None:
        try:
            await asyncio.wait_for(self._subscribe(channel), self.timeout)
        except (asyncio.TimeoutError, TimeoutError):
            raise self._unavailable(
                f"did not confirm the subscription within {self.timeout} s"
            ) from None

    async def _subscribe(self, channel: str) -> None:
        assert self._up is not None and self._lock is not None
        await self._up.wait()
        async with self._lock:
            if channel not in self._wanted:  # every subscriber left meanwhile
                return
            pubsub = self._pubsub
            if pubsub is None:
                raise self._unavailable("connection was lost")
            confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            confirmed.add_done_callback(_retrieve)
            self._expected.append(("subscribe", channel, confirmed))
            await self._send(pubsub, pubsub.subscribe, channel)
        await confirmed

    async def unsubscribe(self, channel: str) -> None:
        assert self._lock is not None
        async with self._lock:
            pubsub = self._pubsub
            # Resubscribed meanwhile, or no session: a new session subscribes only to
            # the channels still wanted.
            if channel in self._wanted or pubsub is None:
                return
            self._expected.append(("unsubscribe", channel, None))
            await self._send(pubsub, pubsub.unsubscribe, channel)

    async def _send(self, pubsub: Any, method: Callable[..., Awaitable[Any]], *args: Any) -> None:
        from redis.exceptions import RedisError

        try:
            await asyncio.wait_for(method(*args), self.timeout)
        except BaseException as exc:
            # Whether the command went out is unknown, so ``_expected`` cannot be
            # trusted any more: drop the connection and let the reader start afresh.
            await _drop_connection(pubsub)
            if isinstance(exc, (RedisError, OSError, asyncio.TimeoutError)):
                raise self._unavailable("connection failed", exc) from exc
            raise

    # -- the reader ----------------------------------------------------------------------
    async def _run(self, first: asyncio.Future[None]) -> None:
        delay = _RECONNECT_MIN_DELAY
        while True:
            pubsub: Any = None
            try:
                pubsub, ready = await self._open()
                await self._read(pubsub, ready, first)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not first.done():
                    first.set_exception(self._unavailable("is unreachable", exc))
                    return
                if self.available:  # the session was up: a new outage
                    logger.warning(
                        "lost the connection to Redis at %s (%s); reconnecting",
                        _redact(self.url),
                        exc,
                    )
                    delay = _RECONNECT_MIN_DELAY
                else:
                    logger.debug("Redis at %s still unreachable: %s", _redact(self.url), exc)
            finally:
                self._session_lost()
                if pubsub is not None:
                    await _close_pubsub(pubsub)
            # Full jitter keeps a fleet of workers from reconnecting in lockstep.
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.reconnect_max_delay)

    async def _open(self) -> tuple[Any, asyncio.Future[None]]:
        """A new session: connects and resubscribes every wanted channel. Returns the
        PubSub and a future resolved when all those subscriptions are confirmed."""
        assert self._lock is not None
        pubsub = self._client.pubsub()
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ready.add_done_callback(_retrieve)
        try:
            async with self._lock:
                await asyncio.wait_for(self._handshake(pubsub), self.timeout)
                self._expected.clear()
                channels = list(self._wanted)
                if channels:
                    for channel in channels[:-1]:
                        self._expected.append(("subscribe", channel, None))
                    self._expected.append(("subscribe", channels[-1], ready))
                    await asyncio.wait_for(pubsub.subscribe(*channels), self.timeout)
                else:
                    ready.set_result(None)
                self._pubsub = pubsub
        except BaseException:
            await _close_pubsub(pubsub)
            raise
        return pubsub, ready

    @staticmethod
    async def _handshake(pubsub: Any) -> None:
        # A server that accepts connections but does not answer (frozen, or not Redis)
        # must not count as up.
        await pubsub.connect()
        await pubsub.ping()
        reply = await pubsub.get_message(timeout=None)
        if reply is None or reply.get("type") != "pong":
            raise ConnectionError(f"expected PONG from Redis, got {reply!r}")

    async def _read(
        self, pubsub: Any, ready: asyncio.Future[None], first: asyncio.Future[None]
    ) -> None:
        assert self._up is not None and self._lock is not None
        awaiting_pong = False
        deliver = self._deliver
        pending: asyncio.Future[None] | None = ready
        while True:
            if pending is not None and pending.done():
                pending.result()  # raises if the resubscription failed
                pending = None
                self._up.set()
                if first.done():
                    logger.info("reconnected to Redis at %s", _redact(self.url))
                else:
                    first.set_result(None)
            connection = pubsub.connection
            if connection is None or not connection.is_connected:
                raise ConnectionError("the pub/sub connection was closed")
            message = await pubsub.get_message(timeout=self.ping_interval)
            if message is None:
                if awaiting_pong:
                    raise ConnectionError(f"no answer to PING within {self.ping_interval} s")
                awaiting_pong = True
                async with self._lock:
                    await asyncio.wait_for(pubsub.ping(), self.timeout)
                continue
            awaiting_pong = False
            # What was already received is handed out without yielding to the loop, so
            # a burst wakes each subscriber once, not once per message; but the
            # subscribers get to run before one of them could overflow.
            handed_out = 0
            while message is not None:
                kind = message["type"]
                if kind == "message":
                    # Anyone may publish to Redis: undecodable bytes must not stop the reader.
                    crowded = deliver(
                        message["channel"].decode("utf-8", "replace"),
                        message["data"].decode("utf-8", "replace"),
                    )
                    handed_out += 1
                    if crowded or handed_out >= _BURST:
                        await asyncio.sleep(0)
                        handed_out = 0
                elif kind == "subscribe" or kind == "unsubscribe":
                    self._confirmed(kind, message["channel"])
                message = await pubsub.get_message(timeout=0)

    def _confirmed(self, kind: str, channel: bytes) -> None:
        if not self._expected:
            raise BroadcastError(f"unexpected {kind} confirmation for {channel!r}")
        want_kind, want_channel, future = self._expected.popleft()
        if want_kind != kind or want_channel.encode("utf-8") != channel:
            raise BroadcastError(
                f"{kind} confirmation for {channel!r} while expecting "
                f"{want_kind} for {want_channel!r}"
            )
        if future is not None and not future.done():
            future.set_result(None)

    def _session_lost(self) -> None:
        if self._up is not None:
            self._up.clear()
        self._pubsub = None
        expected, self._expected = self._expected, deque()
        for _, _, future in expected:
            if future is not None and not future.done():
                future.set_exception(self._unavailable("connection was lost"))


async def _drop_connection(pubsub: Any) -> None:
    connection = pubsub.connection
    if connection is not None:
        try:
            await connection.disconnect(nowait=True)
        except Exception:
            logger.debug("dropping a Redis connection failed", exc_info=True)


async def _close_pubsub(pubsub: Any) -> None:
    await _drop_connection(pubsub)
    try:
        await pubsub.aclose()
    except Exception:
        logger.debug("closing a Redis pub/sub failed", exc_info=True)


# -- helpers for WebSockets and Server-Sent Events -------------------------------------
async def pump_to_websocket(
    subscriber: Subscriber,
    websocket: WebSocket,
    *,
    on_receive: Callable[[str], Awaitable[Any]] | None = None,
) -> None:
    """Sends each event's message to an accepted ``websocket`` as a text frame until
    the client leaves. Meanwhile the client's text messages are read and each is
    awaited through ``on_receive(text)`` (e.g. to publish it), or discarded.

    Returns when the client disconnects. A subscriber dropped for falling behind
    closes the connection with 1013 (try again later); a subscription ended by
    ``broadcast.disconnect()`` closes it with 1001 (going away). An exception from
    ``on_receive`` propagates (the app then closes with 1011).
    """

    async def send_events() -> None:
        async for event in subscriber:
            await websocket.send_text(event.message)

    async def receive_messages() -> None:
        async for text in websocket.iter_text():
            if on_receive is not None:
                await on_receive(text)

    sender = asyncio.ensure_future(send_events())
    receiver = asyncio.ensure_future(receive_messages())
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, receiver):
            if not task.done():
                task.cancel()
        sent, received = await asyncio.gather(sender, receiver, return_exceptions=True)
    if isinstance(received, BaseException) and not isinstance(received, asyncio.CancelledError):
        raise received
    if isinstance(sent, (asyncio.CancelledError, WebSocketDisconnect)):
        return  # the client left
    if isinstance(sent, SubscriberOverflow):
        await websocket.close(1013, "fell behind: reconnect")
    elif isinstance(sent, BaseException):
        raise sent
    else:  # the subscription ended: the broadcast is shutting down
        await websocket.close(1001, "server shutting down")


class EventStream:
    """The async iterator ``sse_stream`` returns, for ``EventSourceResponse``: a
    ``: subscribed`` comment first (the subscription is live), then one
    ``ServerSentEvent`` per message. ``aclose()``, which the response calls when the
    client leaves, unsubscribes."""

    def __init__(self, broadcast: Broadcast, subscriber: Subscriber, event: str | None) -> None:
        self._broadcast = broadcast
        self._subscriber = subscriber
        self._event = event
        self._started = False
        self._finished = False

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ServerSentEvent:
        if self._finished:
            raise StopAsyncIteration
        if not self._started:
            self._started = True
            return ServerSentEvent(comment="subscribed")
        try:
            event = await self._subscriber.get()
        except SubscriberOverflow as exc:
            await self.aclose()
            return ServerSentEvent(comment=f"{exc}: reconnect")
        except Unsubscribed:
            await self.aclose()
            raise StopAsyncIteration from None
        except BaseException:
            await self.aclose()
            raise
        return ServerSentEvent(event.message, event=self._event)

    async def aclose(self) -> None:
        self._finished = True
        self._broadcast._detach(self._subscriber)

    def __del__(self) -> None:
        # A stream that was never iterated nor closed must not keep its subscription.
        if not self._finished:
            self._finished = True
            try:
                self._broadcast._detach(self._subscriber)
            except Exception:  # pragma: no cover - never raise from a finalizer
                pass


async def sse_stream(
    broadcast: Broadcast,
    channel: str,
    *,
    event: str | None = None,
    max_queue: int | None = None,
) -> EventStream:
    """Subscribes to ``channel`` and returns the events for an ``EventSourceResponse``::

        return EventSourceResponse(await sse_stream(broadcast, "chat:lobby"))

    Subscribing happens before the response starts, so ``BroadcastUnavailable``
    becomes an error status, not a cut stream. ``event`` names the SSE events
    (``event:`` line). A subscriber dropped for falling behind ends the stream
    after a comment saying so; browsers' ``EventSource`` then reconnects.
    """
    _check_channel(channel)
    if max_queue is None:
        max_queue = broadcast.max_queue
    else:
        _check_positive("max_queue", max_queue, integer=True)
    subscriber = await broadcast._attach(channel, max_queue)
    return EventStream(broadcast, subscriber, event)


__all__ = [
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_RECONNECT_MAX_DELAY",
    "DEFAULT_TIMEOUT",
    "Broadcast",
    "BroadcastError",
    "BroadcastUnavailable",
    "Event",
    "EventStream",
    "Subscriber",
    "SubscriberOverflow",
    "Subscription",
    "Unsubscribed",
    "pump_to_websocket",
    "sse_stream",
]
