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

``app.reset_stats()`` zeroes everything except ``websocket_connections``, which
describes the present rather than a period. A snapshot taken while requests are in
flight may count a request in one field and not yet in another.
"""

from __future__ import annotations

from typing import TypedDict

from covet._core import Stats


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


__all__ = ["Stats", "StatsSnapshot"]
