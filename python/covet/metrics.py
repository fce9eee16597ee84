"""Prometheus metrics for a CovetPy app, summed over the worker processes of a host.

::

    from covet.metrics import PrometheusMetrics

    metrics = PrometheusMetrics(app)          # COVET_METRICS_DIR, or directory=...
    app.add_route("/metrics", metrics.endpoint)

``metrics`` is also an ASGI app (``app.mount("/metrics", metrics)``) and
``metrics.render()`` returns the page. The page is the Prometheus text exposition
format 0.0.4 (``Content-Type: text/plain; version=0.0.4; charset=utf-8``):

- ``covet_requests_total{route, method, status}``: HTTP requests answered, by route
  template (``/users/{id:int}``, ``<unmatched>`` for requests no route matched),
  method and status class (``2xx``), a counter.
- ``covet_request_duration_seconds{route, method, status}``: a histogram of the
  time from routing to the end of the response, with buckets ``DURATION_BUCKETS``
  (1 ms ... 10 s, then ``+Inf``), ``_sum`` and ``_count``.
- ``covet_websocket_sessions_total{route, status}``: WebSocket handshakes by
  outcome (``1xx`` accepted, ``4xx``/``5xx`` refused); sessions last minutes, so they
  stay out of the request histogram.
- ``covet_websocket_connections``: WebSocket connections open now, a gauge.
- ``covet_client_disconnects_total``: requests whose client left before the
  response was complete (not in ``covet_requests_total``).

Nothing here costs anything per request: the counts are those ``app.get_stats()``
reads, kept in Rust (``covet.stats``), and the histogram buckets are derived from
its log-linear latency histogram when the page is rendered (a latency within 1/64 of
a bucket bound may be counted on the other side of it).

Several workers, one page
-------------------------
Under ``gunicorn -w 4`` or ``uvicorn --workers 4`` each worker process counts its
own requests, and a scrape reaches one of them. Two ways to add them up were
weighed:

- prometheus_client's multiprocess mode writes every observation to an mmap'd file
  shared by the workers: a few microseconds per update, several updates per
  request, against a per-request budget measured in hundreds of nanoseconds. Too
  expensive for this hot path.
- Publishing each worker's totals periodically and summing them at scrape time
  costs nothing per request. Redis could hold them, but it is an extra service to
  run, reach and fail, for data that never leaves the host (Prometheus scrapes each
  host and sums across hosts itself). A directory is enough.

So each worker publishes its totals every ``interval`` seconds (default 1) and at
shutdown to ``COVET_METRICS_DIR`` (or ``directory=``; like
``PROMETHEUS_MULTIPROC_DIR``, one per host, on a local or tmpfs filesystem, shared
by the workers and by nothing else). A worker answering a scrape first writes its
own fresh totals, then, holding a lock on the directory, sums every worker's file.
Prometheus needs its counters never to go down, so:

- A worker that exited (its pid no longer exists) keeps counting: its last totals
  are folded into ``archive.json`` and its file removed, so the sum neither drops
  nor counts it twice; the fold survives a crash midway (the archive names the
  files it last absorbed, and those are only removed afterwards). Its gauge
  (``covet_websocket_connections``) is dropped: those connections are gone. What it
  answered after its last publication (at most ``interval`` seconds, none after a
  graceful shutdown) is lost.
- Files are read in the same locked pass in which they are folded, and each file
  only grows, so successive scrapes never see a smaller sum.
- ``app.reset_stats()`` zeroes ``get_stats()`` but not the exported counters: a
  worker adds what it had published before a reset to what it counts after.

The directory grows by one archive and one file per live worker, never with the
traffic or the number of restarts. pids are those of the host: do not share the
directory between containers with separate pid namespaces. Clear it when the
server (not a worker) starts if the totals should start from zero, as with
prometheus_client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from covet.concurrency import run_in_threadpool
from covet.requests import Request
from covet.responses import Response
from covet.types import Receive, Scope, Send

if sys.platform != "win32":
    import fcntl

logger = logging.getLogger("covet.metrics")

#: Upper bounds of the request duration histogram, in seconds (``+Inf`` follows).
DURATION_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
#: The environment variable naming the directory workers publish to.
DIRECTORY_ENV = "COVET_METRICS_DIR"
#: Default seconds between two publications of a worker's totals.
DEFAULT_INTERVAL = 1.0
#: The exposition format's content type.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_BOUNDS_NS = [round(bound * 1e9) for bound in DURATION_BUCKETS]
_FORMAT = 1
_ARCHIVE = "archive.json"
_LOCK = ".lock"
_WEBSOCKET = "WEBSOCKET"

Key = tuple[str, str, str]  # route template, method, status class


class Totals:
    """Counters to export: per (route, method, status class) ``[count, sum of
    durations in ns, cumulative count at each DURATION_BUCKETS bound]``, client
    disconnects, and the open WebSocket connections (a gauge)."""

    __slots__ = ("client_disconnects", "series", "websocket_connections")

    def __init__(self) -> None:
        self.series: dict[Key, list[int]] = {}
        self.client_disconnects = 0
        self.websocket_connections = 0

    @classmethod
    def from_export(cls, export: dict[str, Any]) -> Totals:
        """From ``covet._core.Stats.export``."""
        totals = cls()
        for route, method, status, count, sum_ns, cumulative in export["series"]:
            totals.series[(route, method, status)] = [count, sum_ns, *cumulative]
        totals.client_disconnects = export["client_disconnects"]
        totals.websocket_connections = export["websocket_connections"]
        return totals

    def add(self, other: Totals, *, gauges: bool = True) -> None:
        """Adds ``other``'s counters (and, with ``gauges``, its gauge) to these."""
        width = 2 + len(_BOUNDS_NS)
        for key, values in other.series.items():
            mine = self.series.setdefault(key, [0] * width)
            for i, value in enumerate(values):
                mine[i] += value
        self.client_disconnects += other.client_disconnects
        if gauges:
            self.websocket_connections += other.websocket_connections

    def to_json(self) -> dict[str, Any]:
        return {
            "series": [[*key, *values] for key, values in sorted(self.series.items())],
            "client_disconnects": self.client_disconnects,
            "websocket_connections": self.websocket_connections,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Totals:
        """From ``to_json``; ``ValueError`` for anything else (a damaged file)."""
        totals = cls()
        width = 2 + len(_BOUNDS_NS)
        try:
            for row in data["series"]:
                route, method, status, *values = row
                if len(values) != width or not all(isinstance(v, int) and v >= 0 for v in values):
                    raise ValueError(f"bad series row {row!r}")
                totals.series[(str(route), str(method), str(status))] = values
            totals.client_disconnects = int(data["client_disconnects"])
            totals.websocket_connections = int(data["websocket_connections"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a metrics snapshot: {exc}") from None
        return totals


class _Monotonic:
    """A worker's totals as exported: what ``app.reset_stats()`` zeroed is kept."""

    def __init__(self, stats: Any) -> None:
        self.stats = stats
        self.resets = 0
        self.before_resets = Totals()
        self.last = Totals()
        self._lock = threading.Lock()  # scrapes and publications run in threads

    def read(self) -> Totals:
        with self._lock:
            return self._read()

    def _read(self) -> Totals:
        export = self.stats.export(_BOUNDS_NS)
        current = Totals.from_export(export)
        if export["resets"] != self.resets:
            # Reset since the last read: what was counted up to then carries over.
            self.before_resets.add(self.last, gauges=False)
            self.resets = export["resets"]
        self.last = current
        totals = Totals()
        totals.add(self.before_resets, gauges=False)
        totals.add(current)
        return totals


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


class MetricsDirectory:
    """The per-host directory the workers publish to (see the module docstring).

    Files: ``worker-<pid>-<token>.json`` (one per live worker; the token keeps a
    reused pid from ever naming an old file), ``archive.json`` (the workers that
    exited) and ``.lock``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if sys.platform == "win32":  # pragma: no cover
            raise RuntimeError("a shared metrics directory needs POSIX file locks")
        self.path = Path(path)
        self.pid = os.getpid()
        self.name = f"worker-{self.pid}-{secrets.token_hex(4)}.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _write(self, name: str, data: dict[str, Any]) -> None:
        """Writes ``name`` atomically: readers see the old or the new file, whole."""
        tmp = self.path / f".tmp-{self.pid}-{name}"
        tmp.write_bytes(orjson.dumps({"format": _FORMAT, "buckets": _BOUNDS_NS, **data}))
        os.replace(tmp, self.path / name)

    def _read(self, name: str) -> dict[str, Any] | None:
        """A published file; None if it is gone, damaged or from another layout."""
        try:
            data = orjson.loads((self.path / name).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError) as exc:
            logger.warning("metrics file %s unreadable: %s", self.path / name, exc)
            return None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            logger.warning("metrics file %s has an unknown format", self.path / name)
            return None
        if data.get("buckets") != _BOUNDS_NS:
            logger.warning("metrics file %s has other buckets; ignored", self.path / name)
            return None
        return data

    def publish(self, totals: Totals) -> None:
        """This worker's totals, for the other workers' scrapes."""
        self.path.mkdir(parents=True, exist_ok=True)
        self._write(self.name, {"pid": self.pid, **totals.to_json()})

    def start(self, totals: Totals) -> None:
        """At worker start: files left under this pid by an earlier process are
        that process's last totals: folded into the archive, then ours published."""
        with self._locked():
            self._fold(also_dead={self.pid})
            self.publish(totals)

    def collect(self, totals: Totals) -> Totals:
        """Publishes ``totals`` (this worker's, fresh) and returns the sum over every
        worker of the host, the exited ones included."""
        with self._locked():
            self.publish(totals)
            archive = self._fold(also_dead=set())
            result = Totals()
            result.add(archive, gauges=False)
            for name, _ in self._workers():  # all alive: the fold took the others
                data = self._read(name)
                if data is None:
                    continue
                try:
                    result.add(Totals.from_json(data))
                except ValueError as exc:
                    logger.warning("metrics file %s ignored: %s", self.path / name, exc)
            return result

    def _workers(self) -> list[tuple[str, int]]:
        """``(file name, pid)`` of every worker file."""
        found = []
        for entry in os.listdir(self.path):
            if entry.startswith("worker-") and entry.endswith(".json"):
                pid_text = entry[len("worker-") :].split("-", 1)[0]
                if pid_text.isdigit():
                    found.append((entry, int(pid_text)))
        return sorted(found)

    def _fold(self, also_dead: set[int]) -> Totals:
        """Moves the files of exited workers (and of ``also_dead`` pids, except this
        worker's own file) into the archive; returns the archive's totals. Must run
        under the lock."""
        archive_data = self._read(_ARCHIVE)
        archive = Totals()
        folded_before: list[str] = []
        if archive_data is not None:
            try:
                archive = Totals.from_json(archive_data)
                folded_before = [str(n) for n in archive_data.get("folded", ())]
            except ValueError as exc:
                logger.warning("metrics archive ignored: %s", exc)
        dead = [
            name
            for name, pid in self._workers()
            if name != self.name and (pid in also_dead or not _pid_alive(pid))
        ]
        # Files named in the archive were folded by a pass that stopped before
        # removing them: remove them now, without counting them again.
        leftovers = [name for name in dead if name in folded_before]
        newly = [name for name in dead if name not in folded_before]
        for name in newly:
            data = self._read(name)
            if data is None:
                continue
            try:
                archive.add(Totals.from_json(data), gauges=False)
            except ValueError as exc:
                logger.warning("metrics file %s dropped: %s", self.path / name, exc)
        if newly:
            archive.websocket_connections = 0
            # Leftovers are named again: a crash before their removal below must
            # not let a later pass count them a second time.
            self._write(_ARCHIVE, {**archive.to_json(), "folded": leftovers + newly})
        for name in leftovers + newly:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path / name)
        self._remove_stale_temporaries()
        return archive

    def _remove_stale_temporaries(self) -> None:
        for entry in os.listdir(self.path):
            if entry.startswith(".tmp-"):
                pid_text = entry[len(".tmp-") :].split("-", 1)[0]
                if pid_text.isdigit() and not _pid_alive(int(pid_text)):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.path / entry)


class PrometheusMetrics:
    """The ``/metrics`` page of ``app`` (a ``CovetASGIApp``); see the module
    docstring. ``directory`` (default: ``$COVET_METRICS_DIR``; None and unset: this
    process only) is where the workers of a host publish their totals, every
    ``interval`` seconds from a task started at lifespan startup, and at shutdown."""

    def __init__(
        self,
        app: Any,
        *,
        directory: str | os.PathLike[str] | None = None,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            raise ValueError(f"interval must be a number of seconds, not {interval!r}")
        if not 0 < interval < math.inf:
            raise ValueError(f"interval must be positive and finite, not {interval!r}")
        self.interval = float(interval)
        self._totals = _Monotonic(app.stats)
        if directory is None:
            directory = os.environ.get(DIRECTORY_ENV) or None
        self.directory = MetricsDirectory(directory) if directory is not None else None
        self._task: asyncio.Task[None] | None = None
        if self.directory is not None:
            app.add_startup_handler(self._start)
            app.add_shutdown_handler(self._stop)

    # -- publishing --------------------------------------------------------------------
    async def _start(self) -> None:
        assert self.directory is not None
        totals = self._totals.read()
        await run_in_threadpool(self.directory.start, totals)
        self._task = asyncio.ensure_future(self._publish_periodically())

    async def _publish_periodically(self) -> None:
        assert self.directory is not None
        while True:
            await asyncio.sleep(self.interval)
            try:
                await run_in_threadpool(self.directory.publish, self._totals.read())
            except OSError:
                logger.exception("publishing metrics to %s failed", self.directory.path)

    async def _stop(self) -> None:
        """At shutdown (after the drain): the final totals, so none are lost."""
        assert self.directory is not None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await run_in_threadpool(self.directory.publish, self._totals.read())

    # -- the page ----------------------------------------------------------------------
    def collect(self) -> Totals:
        """The totals a scrape shows: this process's, or with a directory the sum
        over the host's workers (blocking file I/O: call it from a thread)."""
        totals = self._totals.read()
        if self.directory is None:
            return totals
        return self.directory.collect(totals)

    def render(self) -> bytes:
        """The page, in the Prometheus text exposition format 0.0.4."""
        return render(self.collect())

    async def endpoint(self, request: Request) -> Response:
        """A request handler: ``app.add_route("/metrics", metrics.endpoint)``."""
        body = await run_in_threadpool(self.render)
        return Response(body, media_type=CONTENT_TYPE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An ASGI app: ``app.mount("/metrics", metrics)``."""
        if scope["type"] != "http":
            raise RuntimeError(f"the metrics page serves HTTP, not {scope['type']!r}")
        body = await run_in_threadpool(self.render)
        await Response(body, media_type=CONTENT_TYPE)(scope, receive, send)


# -- the text exposition format -----------------------------------------------------------
def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _bound(value: float) -> str:
    return repr(value)


def render(totals: Totals) -> bytes:
    """``totals`` as a Prometheus text exposition (format 0.0.4)."""
    lines: list[str] = []
    requests = sorted((k, v) for k, v in totals.series.items() if k[1] != _WEBSOCKET)
    sessions = sorted((k, v) for k, v in totals.series.items() if k[1] == _WEBSOCKET)

    lines.append(
        "# HELP covet_requests_total HTTP requests answered, by route template, "
        "method and status class."
    )
    lines.append("# TYPE covet_requests_total counter")
    for (route, method, status), values in requests:
        labels = _labels(route=route, method=method, status=status)
        lines.append(f"covet_requests_total{labels} {values[0]}")

    name = "covet_request_duration_seconds"
    lines.append(f"# HELP {name} Time from routing to the end of the response.")
    lines.append(f"# TYPE {name} histogram")
    for (route, method, status), values in requests:
        count, sum_ns, cumulative = values[0], values[1], values[2:]
        for bound, n in zip(DURATION_BUCKETS, cumulative):
            labels = _labels(route=route, method=method, status=status, le=_bound(bound))
            lines.append(f"{name}_bucket{labels} {n}")
        labels = _labels(route=route, method=method, status=status, le="+Inf")
        lines.append(f"{name}_bucket{labels} {count}")
        labels = _labels(route=route, method=method, status=status)
        lines.append(f"{name}_sum{labels} {sum_ns / 1e9!r}")
        lines.append(f"{name}_count{labels} {count}")

    lines.append(
        "# HELP covet_websocket_sessions_total WebSocket handshakes, by route template "
        "and status class (1xx: accepted)."
    )
    lines.append("# TYPE covet_websocket_sessions_total counter")
    for (route, _, status), values in sessions:
        labels = _labels(route=route, status=status)
        lines.append(f"covet_websocket_sessions_total{labels} {values[0]}")

    lines.append("# HELP covet_websocket_connections WebSocket connections open now.")
    lines.append("# TYPE covet_websocket_connections gauge")
    lines.append(f"covet_websocket_connections {totals.websocket_connections}")

    lines.append(
        "# HELP covet_client_disconnects_total Requests whose client left before the "
        "response was complete."
    )
    lines.append("# TYPE covet_client_disconnects_total counter")
    lines.append(f"covet_client_disconnects_total {totals.client_disconnects}")
    return ("\n".join(lines) + "\n").encode("utf-8")


__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_INTERVAL",
    "DIRECTORY_ENV",
    "DURATION_BUCKETS",
    "MetricsDirectory",
    "PrometheusMetrics",
    "Totals",
    "render",
]
