"""What function-style middleware costs: ``@app.middleware("http")`` against a pure
ASGI middleware doing the same work (one response header), and Starlette's
``BaseHTTPMiddleware`` against Starlette with the same pure ASGI middleware.

The figure that matters is the *overhead*: µs per request with the middleware minus
without it, each app against its own bare version, measured in interleaved rounds
(wall clock) or, with ``--instructions``, in callgrind instruction counts, which a
busy machine does not disturb.

    python benches/middleware.py                   # wall clock, interleaved rounds
    python benches/middleware.py --instructions    # callgrind (valgrind installed)
    python benches/middleware.py --smoke           # checks only
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from instructions import callgrind_total  # noqa: E402

Message = dict[str, Any]
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
TEXT = "Hello, World!"


class HeaderMiddleware:
    """The pure ASGI baseline: adds ``x-mw: 1`` to the response start."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-mw", b"1")]
            await send(message)

        await self.app(scope, receive, add_header)


def covet_app(kind: str) -> ASGIApp:
    from covet import Middleware, create_asgi_app
    from covet.responses import PlainTextResponse
    from covet.routing import Route

    async def hello(request: Any) -> Any:
        return PlainTextResponse(TEXT)

    middleware = [Middleware(HeaderMiddleware)] if kind == "asgi" else None
    app = create_asgi_app(routes=[Route("/", hello)], middleware=middleware)
    if kind == "function":

        @app.middleware("http")
        async def add_header(request: Any, call_next: Any) -> Any:
            response = await call_next(request)
            response.headers["x-mw"] = "1"
            return response

    return app


def starlette_app(kind: str) -> ASGIApp:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Any) -> Any:
        return PlainTextResponse(TEXT)

    async def add_header(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["x-mw"] = "1"
        return response

    middleware = {
        "none": [],
        "asgi": [Middleware(HeaderMiddleware)],
        "function": [Middleware(BaseHTTPMiddleware, dispatch=add_header)],
    }[kind]
    return Starlette(routes=[Route("/", hello)], middleware=middleware)


VARIANTS: dict[str, Callable[[], ASGIApp]] = {
    "CovetPy": lambda: covet_app("none"),
    "CovetPy + pure ASGI": lambda: covet_app("asgi"),
    "CovetPy + @app.middleware": lambda: covet_app("function"),
    "Starlette": lambda: starlette_app("none"),
    "Starlette + pure ASGI": lambda: starlette_app("asgi"),
    "Starlette + BaseHTTPMiddleware": lambda: starlette_app("function"),
}
#: (framework, pure ASGI variant, function-middleware variant, bare variant)
COMPARISONS = [
    ("CovetPy", "CovetPy + pure ASGI", "CovetPy + @app.middleware"),
    ("Starlette", "Starlette + pure ASGI", "Starlette + BaseHTTPMiddleware"),
]

SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/",
    "raw_path": b"/",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"127.0.0.1:8000")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
}


async def batch(app: ASGIApp, n: int, check: bool, header: bool = False) -> int:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    gc.collect()
    start = time.perf_counter_ns()
    for _ in range(n):
        await app(dict(SCOPE), receive, send)
    elapsed = time.perf_counter_ns() - start
    if check:
        starts = [m for m in sent if m["type"] == "http.response.start"]
        bodies = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        assert len(starts) == n and all(m["status"] == 200 for m in starts), starts[:1]
        assert bodies == TEXT.encode() * n
        if header:
            assert all((b"x-mw", b"1") in list(m["headers"]) for m in starts), starts[0]
    return elapsed


async def lifespan(app: ASGIApp) -> None:
    """Starts the app (Starlette builds its middleware stack on first call)."""
    queue: asyncio.Queue[Message] = asyncio.Queue()
    await queue.put({"type": "lifespan.startup"})

    async def send(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            raise _Started

    try:
        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, queue.get, send)
    except _Started:
        pass


class _Started(Exception):
    pass


def worker(variant: str, n: int) -> None:
    app = VARIANTS[variant]()

    async def run() -> None:
        await lifespan(app)
        await batch(app, 300 + n, check=True, header="+" in variant)

    asyncio.run(run())


def instructions(variant: str, n: int) -> float:
    argv = [sys.executable, __file__, "--worker", variant]
    return (callgrind_total([*argv, str(2 * n)]) - callgrind_total([*argv, str(n)])) / n


def wall_clock(rounds: int, n: int) -> dict[str, float]:
    apps = {name: make() for name, make in VARIANTS.items()}
    samples: dict[str, list[float]] = {name: [] for name in apps}

    async def run() -> None:
        for app in apps.values():
            await lifespan(app)
            await batch(app, 200, check=True)
        names = list(apps)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                samples[name].append(await batch(apps[name], n, check=False) / n / 1000)

    asyncio.run(run())
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", nargs=2, metavar=("VARIANT", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--instructions", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--n", type=int, default=3000, help="requests per round or count")
    parser.add_argument("--markdown", metavar="PATH", help="also write the tables here")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]))
        return 0
    if args.smoke:
        for name, make in VARIANTS.items():
            app = make()

            async def check(app: ASGIApp = app, header: bool = "+" in name) -> None:
                await lifespan(app)
                await batch(app, 3, check=True, header=header)

            asyncio.run(check())
            print(f"checked: {name}")
        return 0
    if args.instructions:
        unit = "instructions/request"
        cost = {name: instructions(name, min(args.n, 1000)) for name in VARIANTS}
    else:
        unit = "µs/request (median of interleaved rounds)"
        cost = wall_clock(args.rounds, args.n)
    lines = [f"| variant | {unit} |", "|---|---:|"]
    lines += [f"| {name} | {value:,.3f} |" for name, value in cost.items()]
    lines += [
        "",
        "| framework | pure ASGI overhead | function-middleware overhead | ratio |",
        "|---|---:|---:|---:|",
    ]
    for bare, pure, function in COMPARISONS:
        pure_cost, function_cost = cost[pure] - cost[bare], cost[function] - cost[bare]
        ratio = function_cost / pure_cost if pure_cost > 0 else float("nan")
        lines.append(f"| {bare} | {pure_cost:,.3f} | {function_cost:,.3f} | {ratio:.2f}x |")
    print("\n".join(lines))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
