"""Application statistics, kept in Rust (``covet._core.Stats``).

``CovetASGIApp`` records each HTTP request with one Rust call once its response has
been sent: the status code and the time from the start of routing to the end of the
response, measured with ``time.perf_counter_ns``. The counters are atomics and the
latency histogram has fixed memory (log-linear buckets, each at most 1/32 of its
value wide), so recording takes no lock and costs the same after a billion requests.

``app.get_stats()`` returns a ``StatsSnapshot``:

- ``requests_processed``: HTTP requests answered by this app (WebSocket sessions
  are not requests and are counted separately).
- ``average_response_time``: mean latency in seconds (0.0 before any request).
- ``errors``: responses with a 5xx status.
- ``status_codes``: ``{status: count}`` for every status sent.
- ``latency_p50``, ``latency_p90``, ``latency_p99``: percentiles in seconds, within
  about 1.6% of the exact sample; ``latency_max``: the exact maximum.
- ``client_disconnects``: requests whose client went away before the response was
  complete (an aborted upload, a closed tab); the client's doing, so they are
  counted here and not in ``requests_processed``, ``errors`` or ``status_codes``.
- ``websocket_connections``: WebSocket connections open now (accepted, not yet
  ended); ``websocket_connections_total``: connections accepted since start.
- ``websocket_messages_received``, ``websocket_messages_sent``,
  ``websocket_bytes_received``, ``websocket_bytes_sent``: WebSocket messages and
  their payload bytes (UTF-8 for text) over all connections, counted in Rust as
  each message passes (``covet.websockets``); messages refused as too large count
  as received.
- ``routes``: the same per route template, method and status class:
  ``{"/users/{id:int}": {"GET": {"2xx": {"count", "errors", "mean", "p50", "p90",
  "p99", "max"}}}}``, times in seconds, ``errors`` the 5xx count. A route is its
  template with the prefixes of the mounts above it (``/api/users/{id:int}``); a
  mounted app (``StaticFiles``) counts under its mount's pattern
  (``/static/{path:path}``); every request that matched no route (404, 405, the
  automatic OPTIONS, slash redirects, 414, 431) counts under ``"<unmatched>"``, so
  random paths cannot grow the table. Methods other than GET, HEAD, POST, PUT,
  PATCH, DELETE and OPTIONS count as ``"OTHER"``; WebSocket sessions count here
  only, under ``"WEBSOCKET"`` with their handshake status (101 once accepted, or
  the denial's) and the session's duration. Statuses outside 100..599 are not
  counted per route.

Per-route memory is bounded by the application's routes, never by its traffic:
templates are interned once, when a route is defined (``route_id``), and each
route, method and status class gets its cells on its first request (about 1 KiB,
plus 256 bytes per power of two of latency actually seen). Recording per route is
lock-free too: a request carries the route's small integer id.

``app.reset_stats()`` zeroes everything except ``websocket_connections``, which
describes the present rather than a period. A snapshot taken while requests are in
flight may count a request in one field and not yet in another.
"""

from __future__ import annotations

from typing import TypedDict

from covet._core import ROUTE_METHODS, UNMATCHED_ROUTE, UNMATCHED_TEMPLATE, Stats, route_id


class RouteStats(TypedDict):
    """The requests of one route, method and status class; times in seconds."""

    count: int
    errors: int
    mean: float
    p50: float
    p90: float
    p99: float
    max: float


class StatsSnapshot(TypedDict):
    requests_processed: int
    average_response_time: float
    websocket_connections: int
    websocket_connections_total: int
    errors: int
    client_disconnects: int
    status_codes: dict[int, int]
    latency_p50: float
    latency_p90: float
    latency_p99: float
    latency_max: float
    websocket_messages_received: int
    websocket_messages_sent: int
    websocket_bytes_received: int
    websocket_bytes_sent: int
    #: template -> method -> status class ("2xx") -> counts.
    routes: dict[str, dict[str, dict[str, RouteStats]]]


__all__ = [
    "ROUTE_METHODS",
    "UNMATCHED_ROUTE",
    "UNMATCHED_TEMPLATE",
    "RouteStats",
    "Stats",
    "StatsSnapshot",
    "route_id",
]
