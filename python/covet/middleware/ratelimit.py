"""Rate limiting per client, with a sliding window, in memory or shared via Redis.

Over the limit a request is answered ``429 Too Many Requests`` with ``Retry-After``
(whole seconds) without reaching the app. Every response (``headers=True``) carries
``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (seconds
until the current window rolls over). See ``covet.middleware.ratelimit_store`` for
the algorithm.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Union

from covet.middleware._asgi import ASGIApp, Message, RawHeaders, Receive, Scope, Send
from covet.middleware.ratelimit_store import (
    Clock,
    MemoryStore,
    RateLimitResult,
    RateLimitStore,
    RedisStore,
)

logger = logging.getLogger("covet.ratelimit")

KeyFunc = Callable[[Scope], Union[str, Awaitable[Union[str, None]], None]]

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
_BODY_429 = b'{"detail":"Rate limit exceeded"}'
_ERROR_LOG_INTERVAL = 60.0


def client_ip(scope: Scope) -> str:
    """The default key: ``scope["client"]``, the client's address as the server
    reports it. Behind a proxy put ``ProxyHeadersMiddleware`` (with the proxy in its
    ``trusted_hosts``) before this middleware, so this is the real client taken from
    ``X-Forwarded-For`` and a client cannot pick its own bucket by sending one."""
    client = scope.get("client")
    return client[0] if client else "unknown"


def _rate(
    requests_per_minute: int | tuple[int, float], limit: int | None, window: float | None
) -> tuple[int, float]:
    if limit is not None:
        count, seconds = limit, 60.0 if window is None else window
    elif isinstance(requests_per_minute, tuple):
        count, seconds = requests_per_minute
    else:
        count, seconds = requests_per_minute, 60.0 if window is None else window
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"the request limit must be an int >= 0, got {count!r}")
    if not seconds > 0:
        raise ValueError(f"the window must be > 0 seconds, got {seconds!r}")
    return count, float(seconds)


class RateLimitMiddleware:
    """Limit each client to a number of requests per sliding window.

    - ``requests_per_minute``: the limit per 60 s, or a ``(limit, window_seconds)``
      tuple. Default 60. (``limit=`` and ``window_seconds=`` may be given instead.)
    - ``key_func``: ``key_func(scope) -> str | None`` (may be async) naming the
      bucket; returning None exempts the request. Default: the client IP.
    - ``backend``: ``"memory"`` (default; per process), a Redis URL
      (``"redis://127.0.0.1:6379/0"``; shared by all workers and hosts), or a
      ``RateLimitStore``. ``redis_url=`` is the same as passing the URL as backend.
    - ``key_prefix``: prefix of the Redis keys. Default ``"covet:ratelimit:"``; give
      each limiter sharing a Redis its own.
    - ``headers``: add the ``X-RateLimit-*`` headers to allowed responses too.
      Default True.
    - ``fail_open``: when the backend errors (Redis down), let requests through
      (True, default; logged at most once a minute) or answer 503 (False).
    - ``max_keys``: the memory backend's key bound. Default 100 000.
    - ``clock``: a ``() -> seconds`` function (tests). Memory default
      ``time.monotonic``; Redis default: the Redis server's clock.

    Only HTTP requests are limited; WebSocket and lifespan pass through. The Redis
    connection pool is closed when the app's lifespan shuts down.
    """

    def __init__(
        self,
        app: ASGIApp,
        requests_per_minute: int | tuple[int, float] = 60,
        *,
        limit: int | None = None,
        window_seconds: float | None = None,
        key_func: KeyFunc = client_ip,
        backend: str | RateLimitStore = "memory",
        redis_url: str | None = None,
        key_prefix: str = "covet:ratelimit:",
        headers: bool = True,
        fail_open: bool = True,
        max_keys: int = 100_000,
        clock: Clock | None = None,
    ) -> None:
        self.app = app
        self.limit, self.window = _rate(requests_per_minute, limit, window_seconds)
        self.key_func = key_func
        self.headers = headers
        self.fail_open = fail_open
        if redis_url is not None:
            if backend != "memory":
                raise ValueError("pass either backend= or redis_url=, not both")
            backend = redis_url
        self.store: RateLimitStore
        if isinstance(backend, str):
            if backend == "memory":
                self.store = MemoryStore(clock or time.monotonic, max_keys=max_keys)
            elif backend.startswith(_REDIS_SCHEMES):
                self.store = RedisStore(backend, clock=clock, key_prefix=key_prefix)
            else:
                raise ValueError(
                    f"unknown rate-limit backend {backend!r}: use 'memory' or a "
                    "redis://, rediss:// or unix:// URL"
                )
        elif hasattr(backend, "hit"):
            self.store = backend
        else:
            raise TypeError(f"backend must be 'memory', a Redis URL or a store, got {backend!r}")
        self._limit_header = (b"x-ratelimit-limit", str(self.limit).encode("ascii"))
        self._last_error_log = -math.inf

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await self.app(scope, receive, self._lifespan_send(send))
            else:
                await self.app(scope, receive, send)
            return
        key: Any = self.key_func(scope)
        if key is not None and not isinstance(key, str):
            key = await self._resolve_key(key)
        if key is None:
            await self.app(scope, receive, send)
            return
        try:
            result = await self.store.hit(key, self.limit, self.window)
        except Exception:
            now = time.monotonic()
            if now - self._last_error_log >= _ERROR_LOG_INTERVAL:
                self._last_error_log = now
                logger.exception(
                    "rate-limit backend failed; requests are %s",
                    "allowed" if self.fail_open else "refused (503)",
                )
            if self.fail_open:
                await self.app(scope, receive, send)
            else:
                body = b'{"detail":"Rate limiter unavailable"}'
                await _send_json(send, 503, [(b"retry-after", b"1")], body)
            return
        if not result.allowed:
            retry = str(max(1, math.ceil(result.retry_after))).encode("ascii")
            await _send_json(
                send, 429, [(b"retry-after", retry), *self._headers(result)], _BODY_429
            )
            return
        if not self.headers:
            await self.app(scope, receive, send)
            return
        extra = self._headers(result)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _resolve_key(self, key: Any) -> str | None:
        if inspect.isawaitable(key):
            key = await key
        if key is None or isinstance(key, str):
            return key
        raise TypeError(f"key_func must return a str or None, got {type(key).__name__}")

    def _headers(self, result: RateLimitResult) -> RawHeaders:
        return [
            self._limit_header,
            (b"x-ratelimit-remaining", str(result.remaining).encode("ascii")),
            (b"x-ratelimit-reset", str(math.ceil(result.reset_after)).encode("ascii")),
        ]

    def _lifespan_send(self, send: Send) -> Send:
        async def lifespan_send(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.aclose()
            await send(message)

        return lifespan_send

    async def aclose(self) -> None:
        """Release the backend (the Redis connection pool)."""
        close: Any = getattr(self.store, "aclose", None)
        if close is not None:
            await close()


async def _send_json(send: Send, status: int, headers: RawHeaders, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
