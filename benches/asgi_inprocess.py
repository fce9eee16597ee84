"""In-process ASGI benchmark: CovetPy against a hand-written ASGI app and its peers.

Every framework runs the same scenarios (benches/apps/) through the same harness:
pre-built scope templates (copied per request, as a server builds a fresh scope), a
per-request ``receive`` that replays the pre-built body messages, and a ``send`` that
records every message. Rounds are interleaved (A, B, C, ... then again, rotating who
goes first) so machine noise hits every framework alike; each cell reports the
median µs per request and the min-max over rounds. Every response of every timed
batch is checked (status, body, content-length) with the clock stopped, every
``CHECK_EVERY`` requests, so no batch keeps its messages alive: a framework timed on an
error path is a bug in the benchmark, so a failed check aborts that framework's
scenario and is reported.

    python benches/asgi_inprocess.py                # full run, prints tables
    python benches/asgi_inprocess.py --smoke        # a couple of requests, checks only
    python benches/asgi_inprocess.py --json out.json --markdown out.md
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import json
import logging
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from apps.common import (
    JSON_PAYLOAD,
    QUERY_EXPECTED,
    QUERY_STRING,
    ROUTE_COUNT,
    TEXT,
    echo_payload,
    table_route,
)

Message = dict[str, Any]
ASGIApp = Callable[..., Awaitable[None]]
Check = Callable[[int, list[tuple[bytes, bytes]], bytes], "str | None"]

#: Display name -> module in benches/apps/. Order is the column order.
FRAMEWORKS: dict[str, str] = {
    "raw ASGI": "apps.raw",
    "CovetPy": "apps.covetpy",
    "Starlette": "apps.starlette_app",
    "BlackSheep": "apps.blacksheep_app",
    "Falcon": "apps.falcon_app",
}
BASELINE = "raw ASGI"
SUBJECT = "CovetPy"
#: CovetPy may be at most this many times slower than the raw ASGI app.
TARGET_RATIO = 1.5

BASE_HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"covet-bench/1.0"),
    (b"accept", b"*/*"),
]


def make_scope(
    path: str,
    method: str = "GET",
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    kind: str = "http",
) -> dict[str, Any]:
    """A scope shaped like uvicorn's (httptools) for a request to 127.0.0.1:8000."""
    scope: dict[str, Any] = {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 51234),
        "scheme": "http" if kind == "http" else "ws",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": BASE_HEADERS + (headers or []),
        "state": {},
    }
    if kind == "http":
        scope["method"] = method
    else:
        scope["subprotocols"] = []
    return scope


# -- response checks --------------------------------------------------------------------
def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _common(status: int, want: int, headers: list[tuple[bytes, bytes]], body: bytes) -> str | None:
    if status != want:
        return f"status {status}, expected {want} (body {body[:120]!r})"
    length = _header(headers, b"content-length")
    if length is not None and int(length) != len(body):
        return f"content-length {length!r} but {len(body)} body bytes"
    return None


def expect_text(text: str, status: int = 200) -> Check:
    want = text.encode()

    def check(got: int, headers: list[tuple[bytes, bytes]], body: bytes) -> str | None:
        error = _common(got, status, headers, body)
        if error:
            return error
        if body != want:
            return f"body {body[:120]!r}, expected {want[:120]!r}"
        ctype = _header(headers, b"content-type") or b""
        if not ctype.startswith(b"text/plain"):
            return f"content-type {ctype!r}, expected text/plain"
        return None

    return check


def expect_json(data: Any, status: int = 200) -> Check:
    def check(got: int, headers: list[tuple[bytes, bytes]], body: bytes) -> str | None:
        error = _common(got, status, headers, body)
        if error:
            return error
        try:
            decoded = json.loads(body)
        except ValueError:
            return f"body is not JSON: {body[:120]!r}"
        if decoded != data or _json_types(decoded) != _json_types(data):
            return f"JSON body {decoded!r:.200}, expected {data!r:.200}"
        ctype = _header(headers, b"content-type") or b""
        if not ctype.startswith(b"application/json"):
            return f"content-type {ctype!r}, expected application/json"
        return None

    return check


def _json_types(value: Any) -> Any:
    """The type skeleton of a JSON value, so that ``"42"`` does not pass for ``42``."""
    if isinstance(value, dict):
        return {k: _json_types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_types(v) for v in value]
    return type(value).__name__


def expect_status(status: int) -> Check:
    def check(got: int, headers: list[tuple[bytes, bytes]], body: bytes) -> str | None:
        return _common(got, status, headers, body)

    return check


# -- scenarios --------------------------------------------------------------------------
@dataclass
class Request:
    scope: dict[str, Any]
    messages: tuple[Message, ...]
    check: Check


@dataclass
class Scenario:
    name: str
    title: str
    requests: list[Request] = field(default_factory=list)
    kind: str = "http"  # "http" or "websocket"
    ws_messages: list[str] = field(default_factory=list)


#: Distinct paths cycled through by the path-parameter and 404 scenarios.
VARIED_PATHS = 2048
#: Passes over the route table (each with new ids): 200 * 15 = 3,000 requests.
TABLE_PASSES = 15

EMPTY_BODY: tuple[Message, ...] = ({"type": "http.request", "body": b"", "more_body": False},)


def get(path: str, check: Check, query: bytes = b"", headers: Any = None) -> Request:
    return Request(make_scope(path, query=query, headers=headers), EMPTY_BODY, check)


def build_scenarios() -> list[Scenario]:
    # Paths vary per request, and there are more distinct ones than any framework
    # caches (BlackSheep memoises 1,200 (method, path) lookups): a single repeated URL
    # would measure a cache hit, not routing. Each pass hits all 200 routes, static
    # ones with their one path, parameterised ones with a new id every pass.
    table: list[Request] = []
    for pass_ in range(TABLE_PASSES):
        for i in range(ROUTE_COUNT):
            prefix, has_param = table_route(i)
            if has_param:
                item_id = 1000 * pass_ + 7 * i + 1
                table.append(get(f"{prefix}/{item_id}", expect_text(f"r{i}:{item_id}")))
            else:
                table.append(get(prefix, expect_text(f"r{i}")))
    payload = echo_payload()
    body = json.dumps(payload).encode()
    echo = Request(
        make_scope(
            "/echo",
            method="POST",
            headers=[
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        ),
        ({"type": "http.request", "body": body, "more_body": False},),
        expect_json(payload),
    )
    slugs = ["hello-world", "caf%C3%A9", "a-much-longer-slug-with-several-words", "x"]
    path_params = []
    for k in range(VARIED_PATHS):
        user_id = 42 + 7 * k
        slug = slugs[k % len(slugs)]
        decoded = slug.replace("%C3%A9", "\u00e9")
        scope = make_scope(f"/users/{user_id}/posts/{decoded}")
        scope["raw_path"] = f"/users/{user_id}/posts/{slug}".encode()
        path_params.append(
            Request(scope, EMPTY_BODY, expect_json({"user_id": user_id, "slug": decoded}))
        )
    not_found = [
        get(f"/missing/{k}/page" if k % 2 else f"/api/v1/nothing{k}", expect_status(404))
        for k in range(VARIED_PATHS)
    ]
    return [
        Scenario("plain", "GET / plain text", [get("/", expect_text(TEXT))]),
        Scenario("json", "GET /json small dict", [get("/json", expect_json(JSON_PAYLOAD))]),
        Scenario("path_params", "GET /users/{id:int}/posts/{slug}, varied", path_params),
        Scenario("route_table", f"{ROUTE_COUNT}-route table, varied paths", table),
        Scenario("post_echo", "POST 1 KiB JSON echo", [echo]),
        Scenario(
            "query_header",
            "3 query params + 1 header",
            [
                get(
                    "/query",
                    expect_json(QUERY_EXPECTED),
                    query=QUERY_STRING,
                    headers=[(b"x-token", b"secret-token")],
                )
            ],
        ),
        Scenario("not_found", "404, varied paths", not_found),
        Scenario(
            "websocket",
            "WebSocket echo, per message",
            kind="websocket",
            ws_messages=[f"message {k} " + "x" * (k % 7 * 10) for k in range(32)],
        ),
    ]


# -- the harness ------------------------------------------------------------------------
DISCONNECT: Message = {"type": "http.disconnect"}


def make_receive(messages: tuple[Message, ...]) -> Callable[[], Awaitable[Message]]:
    it: Iterator[Message] = iter(messages)

    async def receive() -> Message:
        return next(it, DISCONNECT)

    return receive


class BenchFailure(Exception):
    """A response did not pass its check."""


# Timed batches run in chunks of this many requests; the clock stops while a
# chunk's responses are checked and dropped. Keeping a whole batch's messages
# alive would make the garbage collector walk a heap that grows with the batch (no
# server keeps what it sent), and a chunk's worth of kept bodies must stay below
# glibc's 128 KiB trim threshold, or freeing them returns the heap top to the
# kernel and the next chunk faults it back in (measured: one brk call per ~36
# requests at 256, none at 32). Two clock reads per chunk cost ~2 ns a request.
CHECK_EVERY = 32

# ``--evict KIB``: between HTTP requests, that much fresh memory is written outside
# the clock, evicting the caches as a server's own per-request work does (each
# request is then timed on its own). 0: requests run back to back, caches warm.
EVICT_BYTES = 0


def verify_http(sent: list[Message], requests: list[Request], first: int, n: int) -> None:
    """Checks the responses to requests ``first`` .. ``first + n - 1``."""
    k = len(requests)
    index = first - 1
    status = 0
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    def finish() -> None:
        if index < first:
            return
        error = requests[index % k].check(status, headers, b"".join(chunks))
        if error:
            path = requests[index % k].scope["path"]
            raise BenchFailure(f"request #{index} ({path}): {error}")

    for message in sent:
        kind = message["type"]
        if kind == "http.response.start":
            finish()
            index += 1
            status = message["status"]
            headers = list(message.get("headers") or [])
            chunks = []
        elif kind == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
        else:
            raise BenchFailure(f"unexpected message {message!r:.200}")
    finish()
    if index + 1 != first + n:
        raise BenchFailure(f"{index + 1 - first} responses for {n} requests")


async def http_batch(app: ASGIApp, requests: list[Request], n: int) -> int:
    """Runs ``n`` requests (cycling through ``requests``); returns elapsed ns."""
    sent: list[Message] = []
    append = sent.append

    async def send(message: Message) -> None:
        append(message)

    k = len(requests)
    gc.collect()
    elapsed = 0
    for first in range(0, n, CHECK_EVERY):
        count = min(CHECK_EVERY, n - first)
        if EVICT_BYTES:
            for i in range(first, first + count):
                request = requests[i % k]
                bytes(EVICT_BYTES)  # fresh memory written outside the clock
                start = time.perf_counter_ns()
                await app(request.scope.copy(), make_receive(request.messages), send)
                elapsed += time.perf_counter_ns() - start
        else:
            start = time.perf_counter_ns()
            for i in range(first, first + count):
                request = requests[i % k]
                await app(request.scope.copy(), make_receive(request.messages), send)
            elapsed += time.perf_counter_ns() - start
        verify_http(sent, requests, first, count)
        sent.clear()
    return elapsed


class Channel:
    """One direction of a WebSocket conversation: put() wakes a waiting get()."""

    __slots__ = ("items", "loop", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.items: deque[Message] = deque()
        self.waiter: asyncio.Future[Message] | None = None

    def put(self, message: Message) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            self.waiter = None
            waiter.set_result(message)
        else:
            self.items.append(message)

    async def get(self) -> Message:
        if self.items:
            return self.items.popleft()
        waiter = self.loop.create_future()
        self.waiter = waiter
        return await waiter

    async def send(self, message: Message) -> None:
        self.put(message)


async def ws_batch(app: ASGIApp, texts: list[str], n: int) -> int:
    """Opens one connection, times ``n`` echo round trips, closes it."""
    loop = asyncio.get_running_loop()
    to_app, from_app = Channel(loop), Channel(loop)
    task = loop.create_task(app(make_scope("/ws", kind="websocket"), to_app.get, from_app.send))
    try:
        to_app.put({"type": "websocket.connect"})
        accept = await asyncio.wait_for(from_app.get(), 5)
        if accept.get("type") != "websocket.accept":
            raise BenchFailure(f"handshake answered {accept!r:.200}")
        k = len(texts)
        gc.collect()
        elapsed = 0
        for first in range(0, n, CHECK_EVERY):
            count = min(CHECK_EVERY, n - first)
            replies: list[Message] = []
            start = time.perf_counter_ns()
            for i in range(first, first + count):
                to_app.put({"type": "websocket.receive", "text": texts[i % k]})
                replies.append(await from_app.get())
            elapsed += time.perf_counter_ns() - start
            for i, reply in enumerate(replies, first):
                if reply.get("type") != "websocket.send" or reply.get("text") != texts[i % k]:
                    raise BenchFailure(f"message #{i}: {reply!r:.200}")
        to_app.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(task, 5)
    finally:
        if not task.done():
            task.cancel()
    return elapsed


async def run_lifespan(app: ASGIApp) -> Callable[[], Awaitable[None]]:
    """Sends lifespan.startup (apps that do not speak lifespan may raise); returns a
    coroutine function that performs the shutdown."""
    loop = asyncio.get_running_loop()
    to_app, from_app = Channel(loop), Channel(loop)
    task = loop.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                                to_app.get, from_app.send))  # fmt: skip
    to_app.put({"type": "lifespan.startup"})
    getter = loop.create_task(from_app.get())
    await asyncio.wait({task, getter}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if getter.done():
        message = getter.result()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"startup failed: {message!r}")
    else:
        getter.cancel()

    async def shutdown() -> None:
        if task.done():
            return
        to_app.put({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(task, 10)
        except Exception:
            task.cancel()

    return shutdown


@dataclass
class Cell:
    samples_us: list[float] = field(default_factory=list)
    n: int = 0
    error: str | None = None
    pending: bool = False

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n_per_round": self.n, "rounds_us": self.samples_us}
        if self.samples_us:
            out.update(
                median_us=statistics.median(self.samples_us),
                min_us=min(self.samples_us),
                max_us=max(self.samples_us),
            )
        if self.error:
            out["error"] = self.error
            out["pending"] = self.pending
        return out


@contextlib.contextmanager
def quiet_logs(quiet: bool) -> Iterator[None]:
    """Silences error logging while checking a scenario whose feature is pending (its
    failure is reported in the table; a traceback in `make test` output would only
    alarm)."""
    if not quiet:
        yield
        return
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


async def run_cell(app: ASGIApp, scenario: Scenario, n: int) -> int:
    if scenario.kind == "websocket":
        return await ws_batch(app, scenario.ws_messages, n)
    return await http_batch(app, scenario.requests, n)


async def run_suite(args: argparse.Namespace) -> dict[str, Any]:
    names = [n for n in FRAMEWORKS if not args.frameworks or n in args.frameworks]
    modules = {name: importlib.import_module(FRAMEWORKS[name]) for name in names}
    apps: dict[str, ASGIApp] = {name: modules[name].app for name in names}
    shutdowns = [await run_lifespan(app) for app in apps.values()]
    scenarios = [s for s in build_scenarios() if not args.scenarios or s.name in args.scenarios]
    results: dict[str, dict[str, Cell]] = {}
    try:
        for scenario in scenarios:
            cells = {name: Cell() for name in names}
            results[scenario.name] = cells
            live = []
            for name in names:
                # Check run: every distinct request once (twice for a WebSocket); the
                # smoke run checks the first 256, which still covers every route.
                count = len(scenario.ws_messages) * 2 or len(scenario.requests)
                if args.smoke:
                    count = min(count, 256)
                pending = scenario.name in getattr(modules[name], "PENDING", ())
                try:
                    with quiet_logs(pending):
                        await run_cell(apps[name], scenario, count)
                except Exception as exc:
                    cells[name].error = f"{type(exc).__name__}: {exc}"[:300]
                    cells[name].pending = pending
                    continue
                live.append(name)
            if args.smoke:
                for name in live:
                    cells[name].n = count
                continue
            # Calibrate: batch size for ~batch_ms per round.
            for name in live:
                n = max(count, 64)
                while True:
                    elapsed = await run_cell(apps[name], scenario, n)
                    if elapsed >= 20_000_000 or n >= 1_000_000:
                        break
                    n *= 4
                per_request = elapsed / n
                cells[name].n = max(count, int(args.batch_ms * 1e6 / per_request))
            for round_ in range(args.rounds):
                shift = round_ % len(live) if live else 0
                for name in live[shift:] + live[:shift]:
                    cell = cells[name]
                    elapsed = await run_cell(apps[name], scenario, cell.n)
                    cell.samples_us.append(elapsed / cell.n / 1000)
            if not args.quiet:
                line = ", ".join(
                    f"{name} {statistics.median(cells[name].samples_us):.2f}" for name in live
                )
                print(f"  {scenario.name}: {line}", file=sys.stderr, flush=True)
    finally:
        for shutdown in shutdowns:
            await shutdown()
    return {
        "scenarios": {s.name: s.title for s in scenarios},
        "frameworks": names,
        "results": {
            scen: {name: cell.summary() for name, cell in cells.items()}
            for scen, cells in results.items()
        },
    }


# -- upload (multipart) -----------------------------------------------------------------
UPLOAD_FRAMEWORKS = ("CovetPy", "Starlette")
UPLOAD_SIZE = 10 * 1024 * 1024
UPLOAD_CHUNK = 64 * 1024


def upload_request() -> tuple[dict[str, Any], list[Message]]:
    boundary = b"----covetbenchboundary7MA4YWxkTrZu0gW"
    content = bytes(range(256)) * (UPLOAD_SIZE // 256)
    body = b"".join(
        [
            b"--" + boundary + b"\r\n",
            b'Content-Disposition: form-data; name="file"; filename="data.bin"\r\n',
            b"Content-Type: application/octet-stream\r\n\r\n",
            content,
            b"\r\n--" + boundary + b"--\r\n",
        ]
    )
    scope = make_scope(
        "/upload",
        method="POST",
        headers=[
            (b"content-type", b"multipart/form-data; boundary=" + boundary),
            (b"content-length", b"%d" % len(body)),
        ],
    )
    messages = [
        {
            "type": "http.request",
            "body": body[i : i + UPLOAD_CHUNK],
            "more_body": i + UPLOAD_CHUNK < len(body),
        }
        for i in range(0, len(body), UPLOAD_CHUNK)
    ]
    return scope, messages


async def run_upload(args: argparse.Namespace) -> dict[str, Any]:
    scope, messages = upload_request()
    request = Request(
        scope, tuple(messages), expect_json({"name": "data.bin", "size": UPLOAD_SIZE})
    )
    out: dict[str, Any] = {}
    for name in UPLOAD_FRAMEWORKS:
        if args.frameworks and name not in args.frameworks:
            continue
        module = importlib.import_module(FRAMEWORKS[name])
        app = module.app
        entry: dict[str, Any] = {}
        out[name] = entry
        pending = "upload" in getattr(module, "PENDING", ())
        try:
            with quiet_logs(pending):
                await http_batch(app, [request], 1)
        except Exception as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"[:300]
            entry["pending"] = pending
            continue
        if args.smoke:
            continue
        samples = [await http_batch(app, [request], 1) / 1e6 for _ in range(args.upload_rounds)]
        entry.update(median_ms=statistics.median(samples), min_ms=min(samples),
                     max_ms=max(samples))  # fmt: skip
        gc.collect()
        tracemalloc.start()
        try:
            await http_batch(app, [request], 1)
            entry["peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()
    return out


# -- report -----------------------------------------------------------------------------
def fmt_cell(summary: dict[str, Any]) -> str:
    if "error" in summary:
        return "pending" if summary.get("pending") else "**ERROR**"
    if "median_us" not in summary:
        return "checked"
    return f"{summary['median_us']:.2f} ({summary['min_us']:.2f}-{summary['max_us']:.2f})"


def target_verdict(row: dict[str, dict[str, Any]]) -> str:
    subject = row.get(SUBJECT, {})
    base = row.get(BASELINE, {})
    if "median_us" not in subject or "median_us" not in base:
        return "n/a"
    ratio = subject["median_us"] / base["median_us"]
    slower_than = [
        name
        for name, s in row.items()
        if name not in (SUBJECT, BASELINE) and "median_us" in s
        and s["median_us"] <= subject["median_us"]
    ]  # fmt: skip
    problems = []
    if ratio > TARGET_RATIO:
        problems.append(f"{ratio:.2f}x raw > {TARGET_RATIO}x")
    if slower_than:
        problems.append("not faster than " + ", ".join(slower_than))
    return "PASS" if not problems else "FAIL (" + "; ".join(problems) + ")"


def markdown(report: dict[str, Any]) -> str:
    names = report["frameworks"]
    lines = [
        "µs per request (harness included): median over rounds, (min-max) in parentheses.",
        "",
        "| scenario | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for scen, title in report["scenarios"].items():
        row = report["results"][scen]
        lines.append(f"| {title} | " + " | ".join(fmt_cell(row[n]) for n in names) + " |")
    lines += [
        "",
        f"Ratio to raw ASGI (median / median); target: {SUBJECT} ≤ {TARGET_RATIO}x raw and "
        "faster than every peer.",
        "",
        "| scenario | " + " | ".join(n for n in names if n != BASELINE) + " | target |",
        "|---|" + "---:|" * (len(names) - 1) + "---|",
    ]
    for scen, title in report["scenarios"].items():
        row = report["results"][scen]
        base = row.get(BASELINE, {}).get("median_us")
        cells = []
        for name in names:
            if name == BASELINE:
                continue
            value = row[name].get("median_us")
            cells.append(f"{value / base:.2f}x" if value and base else fmt_cell(row[name]))
        lines.append(f"| {title} | " + " | ".join(cells) + f" | {target_verdict(row)} |")
    errors = [
        (scen, name, s["error"], s.get("pending"))
        for scen, row in report["results"].items()
        for name, s in row.items()
        if "error" in s
    ]
    if errors:
        lines += ["", "Scenarios not measured (their checks failed):", ""]
        for scen, name, error, pending in errors:
            tag = "pending (feature not merged yet)" if pending else "ERROR"
            lines.append(f"- {name} / {scen}: {tag}: `{error}`")
    upload = report.get("upload")
    if upload:
        lines += [
            "",
            f"Upload: {UPLOAD_SIZE // 2**20} MiB multipart file in {UPLOAD_CHUNK // 1024} KiB "
            "chunks, `await request.form()`, file read back in 64 KiB chunks. Peak memory is "
            "tracemalloc's: Python-heap allocations only (a Rust parser's buffers are not "
            "counted).",
            "",
            "| framework | ms per upload (min-max) | peak traced memory |",
            "|---|---:|---:|",
        ]
        for name, entry in upload.items():
            if "error" in entry:
                state = "TODO: pending" if entry.get("pending") else "**ERROR**"
                lines.append(f"| {name} | {state}: `{entry['error']}` | |")
            elif "median_ms" in entry:
                lines.append(
                    f"| {name} | {entry['median_ms']:.1f} ({entry['min_ms']:.1f}-"
                    f"{entry['max_ms']:.1f}) | {entry['peak_mib']:.1f} MiB |"
                )
            else:
                lines.append(f"| {name} | checked | |")
    return "\n".join(lines) + "\n"


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="check every scenario, no timing")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (15)")
    parser.add_argument("--batch-ms", type=float, default=40.0, help="ms per batch (40)")
    parser.add_argument("--upload-rounds", type=int, default=7)
    parser.add_argument("--frameworks", nargs="*", help="subset of: " + ", ".join(FRAMEWORKS))
    parser.add_argument("--scenarios", nargs="*", help="subset of scenario names")
    parser.add_argument("--no-upload", action="store_true", help="skip the upload scenario")
    parser.add_argument(
        "--evict",
        type=int,
        default=0,
        metavar="KIB",
        help="write KIB of fresh memory between HTTP requests, outside the clock (cold caches)",
    )
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="write the tables as Markdown")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    global EVICT_BYTES
    EVICT_BYTES = args.evict * 1024

    loop = new_loop()
    asyncio.set_event_loop(loop)
    try:
        report = loop.run_until_complete(run_suite(args))
        if not args.no_upload and (not args.scenarios or "upload" in args.scenarios):
            report["upload"] = loop.run_until_complete(run_upload(args))
    finally:
        loop.close()
    report["meta"] = {
        "python": platform.python_version(),
        "loop": type(loop).__module__,
        "rounds": args.rounds,
        "batch_ms": args.batch_ms,
        "smoke": args.smoke,
    }
    text = markdown(report)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(text)
    hard_errors = [
        f"{name}/{scen}: {s['error']}"
        for scen, row in report["results"].items()
        for name, s in row.items()
        if "error" in s and not s.get("pending")
    ] + [
        f"{name}/upload: {e['error']}"
        for name, e in report.get("upload", {}).items()
        if "error" in e and not e.get("pending")
    ]
    for error in hard_errors:
        print(f"FAILED CHECK: {error}", file=sys.stderr)
    return 1 if hard_errors else 0


if __name__ == "__main__":
    sys.exit(main())
