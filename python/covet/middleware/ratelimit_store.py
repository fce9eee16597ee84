"""Rate-limit storage: the sliding-window counter, in memory or in Redis.

Algorithm (sliding-window counter over two fixed windows). Time is cut into fixed
windows of ``window`` seconds; each key keeps the number of requests counted in the
current window and in the previous one. At ``elapsed`` seconds into the current
window the number of requests in the last ``window`` seconds is estimated as::

    previous * (1 - elapsed / window) + current

i.e. the previous window's requests are assumed evenly spread and only the part of
it still inside the sliding window counts. A request is allowed when the estimate
plus itself stays within ``limit``; only allowed requests are counted, so a client
that keeps retrying is not locked out forever. Unlike a fixed window this does
not allow a 2x burst across a window boundary, and unlike a request log it needs
two integers per key.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

Clock = Callable[[], float]


@dataclass(frozen=True)
class RateLimitResult:
    """The outcome of one hit."""

    allowed: bool
    limit: int
    remaining: int
    """Requests still allowed right now (after this one, if it was allowed)."""
    reset_after: float
    """Seconds until the current fixed window ends (the counts then start decaying)."""
    retry_after: float
    """Seconds until one more request would be allowed (0 when it is now)."""


def evaluate(
    allowed: bool, previous: float, current: float, elapsed: float, limit: int, window: float
) -> RateLimitResult:
    """Derive the headers' figures from the counts after a hit.

    ``current`` already includes this request when it was allowed.
    """
    weight = max(0.0, 1.0 - elapsed / window)
    estimate = previous * weight + current
    remaining = max(0, math.floor(limit - estimate + 1e-9))
    reset_after = max(0.0, window - elapsed)
    if remaining > 0:
        retry_after = 0.0
    else:
        # Room for one request appears once estimate <= limit - 1.
        room = limit - 1 - current
        if room >= 0 and previous > 0:
            # ... within this window, as the previous window's share decays.
            retry_after = max(0.0, window * (1.0 - room / previous) - elapsed)
        elif current > 0:
            # ... in the next window, as this window's count (then "previous") decays.
            retry_after = reset_after + window * max(0.0, 1.0 - (limit - 1) / current)
        else:  # limit == 0: nothing is ever allowed
            retry_after = window
    return RateLimitResult(allowed, limit, remaining, reset_after, retry_after)


class RateLimitStore(Protocol):
    """Where counts live. ``hit`` must be atomic per key."""

    async def hit(self, key: str, limit: int, window: float) -> RateLimitResult: ...

    async def aclose(self) -> None: ...


class MemoryStore:
    """Counts in a dict, for one process (each worker process counts on its own:
    use ``RedisStore`` to share a limit between workers and hosts).

    Memory is bounded: entries whose windows have both passed are swept at most
    once per ``window`` (amortised O(1) per hit), and at most ``max_keys`` keys are
    kept; beyond that the least recently seen key is dropped (that client starts
    afresh, which errs on the side of allowing).
    """

    def __init__(self, clock: Clock = time.monotonic, max_keys: int = 100_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        self.clock = clock
        self.max_keys = max_keys
        # key -> [window index, previous count, current count]; dict order = recency
        self._entries: dict[str, list[int]] = {}
        self._next_sweep = -math.inf

    def __len__(self) -> int:
        return len(self._entries)

    def _sweep(self, index: int) -> None:
        stale = [key for key, entry in self._entries.items() if entry[0] < index - 1]
        for key in stale:
            del self._entries[key]

    async def hit(self, key: str, limit: int, window: float) -> RateLimitResult:
        return self.hit_sync(key, limit, window)

    def hit_sync(self, key: str, limit: int, window: float) -> RateLimitResult:
        now = self.clock()
        index = math.floor(now / window)
        elapsed = now - index * window
        if now >= self._next_sweep:
            self._sweep(index)
            self._next_sweep = now + window
        entries = self._entries
        entry = entries.pop(key, None)  # re-inserted below: most recent last
        if entry is None or entry[0] < index - 1:
            previous, current = 0, 0
        elif entry[0] == index - 1:
            previous, current = entry[2], 0
        else:
            previous, current = entry[1], entry[2]
        allowed = previous * max(0.0, 1.0 - elapsed / window) + current + 1 <= limit
        if allowed:
            current += 1
        if allowed or entry is not None:
            if len(entries) >= self.max_keys:
                del entries[next(iter(entries))]
            entries[key] = [index, previous, current]
        return evaluate(allowed, previous, current, elapsed, limit, window)

    async def aclose(self) -> None:
        self._entries.clear()


# One round trip, atomic on the server: read both counts, decide, count. A single
# hash per key (fields w=window index, p=previous, c=current) keeps it to one key,
# so it also works on Redis Cluster. Times are integer microseconds; ARGV[3] < 0
# means "use the Redis server's clock", so hosts with skewed clocks agree.
_HIT_SCRIPT = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local index = math.floor(now / window)
local elapsed = now - index * window
local data = redis.call('HMGET', key, 'w', 'p', 'c')
local w = tonumber(data[1])
local previous, current = 0, 0
if w == index then
  previous = tonumber(data[2]) or 0
  current = tonumber(data[3]) or 0
elseif w == index - 1 then
  previous = tonumber(data[3]) or 0
end
local allowed = 0
if previous * (1 - elapsed / window) + current + 1 <= limit then
  allowed = 1
  current = current + 1
  redis.call('HSET', key, 'w', index, 'p', previous, 'c', current)
  redis.call('PEXPIRE', key, math.ceil(2 * window / 1000))
end
return {allowed, previous, current, elapsed}
"""


class RedisStore:
    """Counts in Redis, shared by every worker process and host using the same
    server: each hit is one ``EVALSHA`` of an atomic Lua script.

    ``url`` is a redis-py URL (``redis://127.0.0.1:6379/0``, ``rediss://...``,
    ``unix:///path.sock``). Needs the ``redis`` package (``pip install
    covetpy[redis]``). By default the Redis server's clock is used; pass ``clock``
    (seconds, e.g. for tests) to use the client's instead.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        clock: Clock | None = None,
        key_prefix: str = "covet:ratelimit:",
        socket_timeout: float = 1.0,
    ) -> None:
        if client is None:
            if url is None:
                raise ValueError("RedisStore needs a url or a client")
            try:
                import redis.asyncio as redis_asyncio
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise ImportError(
                    "the Redis rate-limit backend needs the 'redis' package: "
                    "pip install 'covetpy[redis]'"
                ) from exc
            # No connection is made here; the pool connects on first use, inside the
            # event loop of the worker that serves the request.
            client = redis_asyncio.Redis.from_url(
                url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_timeout,
            )
            self._owns_client = True
        else:
            self._owns_client = False
        self.client = client
        self.clock = clock
        self.key_prefix = key_prefix
        self._script = client.register_script(_HIT_SCRIPT)

    async def hit(self, key: str, limit: int, window: float) -> RateLimitResult:
        window_us = max(1, round(window * 1_000_000))
        now_us = -1 if self.clock is None else round(self.clock() * 1_000_000)
        allowed, previous, current, elapsed_us = await self._script(
            keys=[self.key_prefix + key], args=[limit, window_us, now_us]
        )
        return evaluate(
            bool(allowed), int(previous), int(current), int(elapsed_us) / 1e6, limit, window
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()
