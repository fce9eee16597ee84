"""Where a CovetPy request's time goes: the plain GET and the path-parameter request,
step by step, in µs (wall clock) and in instructions (callgrind).

Three measurements, all on the in-process harness of benches/asgi_inprocess.py:

1. Step timing: each step of ``CovetASGIApp._handle_http`` is run on its own in a
   tight loop with the objects a real request would have (median of interleaved
   repeats, call overhead of the timing loop subtracted). The residual between the
   sum of the steps and the measured end-to-end time is the shell itself: the three
   coroutine layers (``__call__`` -> ``_dispatch`` -> ``_handle_http``) and its
   bookkeeping.
2. cProfile: Python-level function calls per request (what runs, how often).
3. callgrind (if valgrind is installed): instructions per request (difference of a
   long and a short run, so start-up cancels out), and per-symbol instructions of
   the Rust router and the hottest C functions.

    python benches/profile_request.py [--json out.json] [--markdown out.md] [--no-callgrind]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import asgi_inprocess as harness
from apps import covetpy, raw
from covet import app as shell
from covet.requests import Request
from covet.responses import JSONResponse, PlainTextResponse

SCENARIOS = {
    "plain": ("GET / (plain text)", "/", "/"),
    "path_params": (
        "GET /users/{user_id:int}/posts/{slug}",
        "/users/42/posts/hello-world",
        "/users/42/posts/hello-world",
    ),
}
REPEATS = 9


def timed_sync(fn: Callable[[], Any], n: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - start) / n


async def timed_async(fn: Callable[[], Awaitable[Any]], n: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(n):
        await fn()
    return (time.perf_counter_ns() - start) / n


async def measure(steps: dict[str, tuple[Callable[[], Any], bool]], n: int) -> dict[str, float]:
    """Median ns per call of every step over interleaved repeats, minus the loop's
    own cost for an empty callable of the same kind."""

    def noop() -> None:
        return None

    async def anoop() -> None:
        return None

    all_steps = {"<sync loop>": (noop, False), "<async loop>": (anoop, True), **steps}
    samples: dict[str, list[float]] = {name: [] for name in all_steps}
    for _ in range(REPEATS):
        for name, (fn, is_async) in all_steps.items():
            gc.collect()
            ns = await timed_async(fn, n) if is_async else timed_sync(fn, n)
            samples[name].append(ns)
    base_sync = statistics.median(samples.pop("<sync loop>"))
    base_async = statistics.median(samples.pop("<async loop>"))
    return {
        name: max(0.0, statistics.median(s) - (base_async if steps[name][1] else base_sync))
        for name, s in samples.items()
    }


async def build_steps(scenario: str) -> dict[str, tuple[Callable[[], Any], bool]]:
    """Every step of a CovetPy request as a zero-argument callable (and whether it
    must be awaited), bound to the objects a real request of ``scenario`` has."""
    _, path, raw_path = SCENARIOS[scenario]
    app = covetpy.app
    router = app.router
    scope = harness.make_scope(path)
    scope["raw_path"] = raw_path.encode()
    messages = harness.EMPTY_BODY
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if len(sent) > 4096:
            sent.clear()

    match = router.lookup("GET", raw_path.encode())
    route, params = match.route, match.params
    assert route is not None, (match, path)
    request = Request(scope, harness.make_receive(messages), params)
    response = await route.call(request)
    raw_bytes = raw_path.encode()
    core = router._core
    record = getattr(app, "_record", None)

    async def null_app(scope: Any, receive: Any, send: Any) -> None:
        return None

    async def call_covet() -> None:
        await app(scope.copy(), harness.make_receive(messages), send)

    async def call_raw() -> None:
        await raw.app(scope.copy(), harness.make_receive(messages), send)

    async def call_null() -> None:
        await null_app(scope.copy(), harness.make_receive(messages), send)

    async def layer() -> None:
        await null_app(scope, None, None)

    async def endpoint() -> Any:
        return await route.call(request)

    async def respond() -> None:
        await response(scope, None, send)

    if scenario == "plain":

        def build_response() -> Any:
            return PlainTextResponse(covetpy.TEXT)
    else:

        def build_response() -> Any:
            return JSONResponse({"user_id": params["user_id"], "slug": params["slug"]})

    steps: dict[str, tuple[Callable[[], Any], bool]] = {
        "end to end: CovetPy": (call_covet, True),
        "end to end: raw ASGI app": (call_raw, True),
        "harness: scope copy + receive + empty app": (call_null, True),
        "one coroutine layer (await of a trivial async def)": (layer, True),
        "router.lookup (Python wrapper + Rust)": (
            lambda: router.lookup("GET", raw_bytes),
            False,
        ),
        "_core.Router.match_path (the Rust call alone)": (
            lambda: core.match_path("GET", raw_bytes),
            False,
        ),
        "Request(scope, receive, params)": (
            lambda: Request(scope, None, params),
            False,
        ),
        "handler: await route.call(request) (incl. response)": (endpoint, True),
        "response construction alone": (build_response, False),
        "to_response(response)": (lambda: shell.to_response(response), False),
        "await response(scope, receive, send) (2 sends)": (respond, True),
        "perf_counter_ns() (called twice)": (time.perf_counter_ns, False),
    }
    if record is not None:
        steps["stats: app._record(status, ns)"] = (lambda: record(200, 1234), False)
    limits = app.limits
    steps[MATCH_SCOPE] = (
        lambda: router.match_scope(
            scope, limits.max_header_count, limits.max_url_length, router.redirect_slashes
        ),
        False,
    )

    async def inline_sends() -> None:
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    steps[INLINE_SENDS] = (inline_sends, True)
    return steps


MATCH_SCOPE = "routing: router.match_scope(scope, limits) (limits + path + lookup, one Rust call)"
INLINE_SENDS = "two sends (done by the driver, no Response.__call__ frame)"


def on_path() -> list[str]:
    """The steps a matched plain request runs: the Rust driver
    (``_core.Dispatcher``, rust/src/python/driver.rs) routes, builds the request,
    drives the handler, sends the two messages and records the stats."""
    return [
        HARNESS,
        MATCH_SCOPE,
        "Request(scope, receive, params)",
        "handler: await route.call(request) (incl. response)",
        INLINE_SENDS,
        "perf_counter_ns() (called twice)",
        "stats: app._record(status, ns)",
    ]


#: Steps that run twice per request.
TWICE = {"perf_counter_ns() (called twice)"}


async def step_profile(scenario: str, n: int) -> dict[str, Any]:
    result = await measure(await build_steps(scenario), n)
    for name in TWICE:
        result[name] *= 2
    return {"title": SCENARIOS[scenario][0], "ns": result}


def cprofile_calls(scenario: str, n: int) -> dict[str, Any]:
    """Python-level calls per request (cProfile, so C functions called from Python
    are included, Rust internals are not)."""
    _, path, raw_path = SCENARIOS[scenario]
    scope = harness.make_scope(path)
    scope["raw_path"] = raw_path.encode()
    messages = harness.EMPTY_BODY
    loop = harness.new_loop()
    try:

        async def run(count: int) -> None:
            sent: list[Any] = []

            async def send(message: Any) -> None:
                sent.append(message)

            for _ in range(count):
                await covetpy.app(scope.copy(), harness.make_receive(messages), send)
                if len(sent) > 1000:
                    sent.clear()

        loop.run_until_complete(run(100))
        profiler = cProfile.Profile()
        profiler.enable()
        loop.run_until_complete(run(n))
        profiler.disable()
    finally:
        loop.close()
    stats = pstats.Stats(profiler)
    rows = []
    total_calls = 0
    for (filename, line, func), (_cc, nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        total_calls += nc
        if nc >= n:
            short = filename.split("/python/covet/")[-1].split("/benches/")[-1]
            short = re.sub(r".*site-packages/", "", short)
            rows.append((nc / n, tt / n * 1e6, f"{short}:{line}({func})"))
    rows.sort(key=lambda r: -r[1])
    return {
        "calls_per_request": total_calls / n,
        "top": [{"calls": c, "tottime_us": t, "function": f} for c, t, f in rows[:25]],
    }


# -- callgrind ------------------------------------------------------------------------
#: Loop counts of the two runs per step; instructions per call = ΔIr / ΔN, so the
#: fixed cost of starting a run cancels out.
CG_SHORT, CG_LONG = 200, 1200


def callgrind_worker(scenario: str) -> None:
    """Runs every step (and the empty loops) CG_SHORT then CG_LONG times, each batch
    in its own ``run_until_complete``: with ``--dump-after=uv_run`` callgrind writes
    one profile part per batch. Prints the batch order as JSON for the parent."""
    loop = harness.new_loop()
    asyncio.set_event_loop(loop)

    def noop() -> None:
        return None

    async def anoop() -> None:
        return None

    try:
        steps = loop.run_until_complete(build_steps(scenario))  # part 1: set-up
        all_steps = {"<sync loop>": (noop, False), "<async loop>": (anoop, True), **steps}

        async def batch(fn: Callable[[], Any], is_async: bool, n: int) -> None:
            if is_async:
                for _ in range(n):
                    await fn()
            else:
                for _ in range(n):
                    fn()

        for fn, is_async in all_steps.values():  # warm every step up once
            loop.run_until_complete(batch(fn, is_async, 50))
        order = []
        for name, (fn, is_async) in all_steps.items():
            for n in (CG_SHORT, CG_LONG):
                loop.run_until_complete(batch(fn, is_async, n))
                order.append([name, n])
    finally:
        loop.close()
    print(json.dumps({"warmup": len(all_steps), "order": order}))


def parse_symbols(text: str) -> dict[str, int]:
    symbols: dict[str, int] = {}
    for line in text.splitlines():
        match = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(\S.*)$", line)
        if match and "PROGRAM TOTALS" not in line:
            name = match.group(2).strip()
            symbols[name] = symbols.get(name, 0) + int(match.group(1).replace(",", ""))
    return symbols


def annotate(out: Path, inclusive: bool) -> dict[str, int]:
    cmd = ["callgrind_annotate", "--threshold=100", str(out)]
    if inclusive:
        cmd.insert(1, "--inclusive=yes")
    return parse_symbols(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def total_ir(out: Path) -> int:
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith("totals:") or line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {out}")


#: Inclusive instructions of these symbols are reported per request.
SYMBOLS = {
    "Rust: the routing call (PyRouter.lookup / match_scope: matching + PyO3 conversions)": (
        r"PyRouter::__pymethod_(lookup|match_scope)__"
    ),
    "Rust: the largest other covet._core call (stats, rendering, headers)": (
        r"covet_core::python::.*__pymethod_(?!lookup|match_scope)|"
        r"covet_core::python::.*__pyfunction_"
    ),
    "C: dict copy (the harness's scope.copy())": r"PyDict_Copy",
}


def _short(symbol: str) -> str:
    """``/path/file.c:function [/path/lib.so]`` -> ``function [lib.so]``."""
    name, _, lib = symbol.partition(" [")
    name = re.sub(r"^.*?\.(?:c|h|rs|S):", "", name)
    name = name[4:] if name.startswith("???:") else name
    lib = os.path.basename(lib.rstrip("]"))
    return f"{name} [{lib}]" if lib else name


def _library(symbol: str) -> str:
    lib = symbol.rsplit("[", 1)[-1].rstrip("]") if "[" in symbol else "?"
    base = os.path.basename(lib)
    for key, label in (
        ("_core.", "covet._core (Rust)"),
        ("libpython", "libpython (interpreter, objects)"),
        ("orjson", "orjson"),
        ("uvloop", "uvloop"),
        ("libc.so", "libc (malloc, memcpy)"),
    ):
        if key in base:
            return label
    return "other / inlined (no object file in the symbol)"


def callgrind_profile(scenario: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        cmd = [
            "valgrind", "--tool=callgrind", "--dump-after=uv_run",
            f"--callgrind-out-file={out}",
            sys.executable, __file__, "--callgrind-worker", scenario,
        ]  # fmt: skip
        result = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=1200)
        plan = json.loads(result.stdout.strip().splitlines()[-1])
        parts = sorted(Path(tmp).glob("cg.out.*"), key=lambda p: int(p.name.rsplit(".", 1)[-1]))
        # Part 1 is the set-up batch, then one part per warm-up batch, then the plan.
        timed = parts[1 + plan["warmup"] :]
        if len(timed) < len(plan["order"]):
            raise RuntimeError(f"{len(parts)} callgrind parts for {len(plan['order'])} batches")
        per_call: dict[str, float] = {}
        files: dict[str, dict[int, Path]] = {}
        for (name, n), part in zip(plan["order"], timed):
            files.setdefault(name, {})[n] = part
        for name, by_n in files.items():
            per_call[name] = (total_ir(by_n[CG_LONG]) - total_ir(by_n[CG_SHORT])) / (
                CG_LONG - CG_SHORT
            )
        e2e = files["end to end: CovetPy"]
        inc_a, inc_b = annotate(e2e[CG_SHORT], True), annotate(e2e[CG_LONG], True)
        exc_a, exc_b = annotate(e2e[CG_SHORT], False), annotate(e2e[CG_LONG], False)
    delta = CG_LONG - CG_SHORT
    base_sync, base_async = per_call.pop("<sync loop>"), per_call.pop("<async loop>")
    steps = {}
    for name, ir in per_call.items():
        is_async = name.startswith(
            ("end to end", "harness", "one coroutine", "handler", "await", "two sends")
        )
        steps[name] = max(0.0, ir - (base_async if is_async else base_sync))
        if name in TWICE:
            steps[name] *= 2
    attributed: dict[str, float] = {}
    for label, pattern in SYMBOLS.items():
        attributed[label] = max(
            [
                (ir - inc_a.get(symbol, 0)) / delta
                for symbol, ir in inc_b.items()
                if re.search(pattern, symbol) and "'" not in symbol.split(" [")[0]
            ]
            or [0.0]
        )
    # In a part dumped mid-run the frames still on the stack (main, run_mod, ...) show
    # the whole batch as their own cost; they are not real exclusive costs.
    total = steps["end to end: CovetPy"]
    exclusive_ir = {
        sym: (ir - exc_a.get(sym, 0)) / delta
        for sym, ir in exc_b.items()
        if (ir - exc_a.get(sym, 0)) / delta < 0.9 * total
    }
    libraries: dict[str, float] = {}
    for symbol, ir in exclusive_ir.items():
        lib = _library(symbol)
        libraries[lib] = libraries.get(lib, 0.0) + ir
    hottest = sorted(((ir, _short(sym)) for sym, ir in exclusive_ir.items()), reverse=True)[:15]
    return {
        "steps_ir": steps,
        "instructions_per_request": steps["end to end: CovetPy"],
        "attributed": attributed,
        "libraries": dict(sorted(libraries.items(), key=lambda kv: -kv[1])),
        "hottest_exclusive": [{"ir": ir, "symbol": sym[-110:]} for ir, sym in hottest],
        "commands": "valgrind --tool=callgrind --dump-after=uv_run python "
        f"benches/profile_request.py --callgrind-worker {scenario}  (each step run "
        f"{CG_SHORT} and {CG_LONG} times, one profile part per batch; per call = ΔIr / ΔN "
        "minus the empty loop)",
    }


# -- report ---------------------------------------------------------------------------
HARNESS = "harness: scope copy + receive + empty app"
RESIDUAL = "**residual: the shell itself** (its coroutine frames, checks, `try/finally`, locals)"


def _with_residual(values: dict[str, float], path: list[str]) -> dict[str, float]:
    total = values.get("end to end: CovetPy", 0.0)
    accounted = sum(values.get(p, 0.0) for p in path)
    return {**values, RESIDUAL: total - accounted}


def markdown(report: dict[str, Any]) -> str:
    lines: list[str] = []
    path = report["on_path"]
    lines.append(
        "Steps marked † are measured for reference but are not on the current request "
        "path (the shell no longer calls them); the residual subtracts only the others."
    )
    lines.append("")
    for scenario, data in report["steps"].items():
        ns = _with_residual(data["ns"], path)
        cg = report.get("callgrind", {}).get(scenario)
        ir = _with_residual(cg["steps_ir"], path) if cg else {}
        total, raw_total = ns["end to end: CovetPy"], ns["end to end: raw ASGI app"]
        head = (
            f"**{data['title']}** — CovetPy {total / 1000:.2f} µs vs raw ASGI "
            f"{raw_total / 1000:.2f} µs ({total / raw_total:.2f}x)"
        )
        if ir:
            head += (
                f"; {ir['end to end: CovetPy']:,.0f} vs {ir['end to end: raw ASGI app']:,.0f} "
                f"instructions ({ir['end to end: CovetPy'] / ir['end to end: raw ASGI app']:.2f}x)"
            )
        lines += [
            head,
            "",
            "| step (each measured on its own) | µs | instructions | share of CovetPy (instr.) |",
            "|---|---:|---:|---:|",
        ]
        for name, value in ns.items():
            count = ir.get(name)
            share = (
                f"{count / ir['end to end: CovetPy'] * 100:.0f}%"
                if count is not None and not name.startswith("end to end")
                else ""
            )
            counted = f"{count:,.0f}" if count is not None else "-"
            mark = "" if name in path or name.startswith(("end to end", "**")) else " †"
            lines.append(f"| {name}{mark} | {value / 1000:.3f} | {counted} | {share} |")
        lines.append("")
        calls = report.get("cprofile", {}).get(scenario)
        if calls:
            lines += [
                f"cProfile: {calls['calls_per_request']:.0f} Python-level calls per request "
                "(functions and C calls made from Python); those made on every request, by "
                "profiler-inflated tottime:",
                "",
                "| calls/request | tottime µs | function |",
                "|---:|---:|---|",
            ]
            for row in calls["top"][:14]:
                lines.append(
                    f"| {row['calls']:.0f} | {row['tottime_us']:.2f} | `{row['function']}` |"
                )
            lines.append("")
        if cg:
            lines += [
                f"callgrind, end to end (`{cg['commands']}`):",
                "",
                "| inclusive, per request | instructions |",
                "|---|---:|",
            ]
            for label, count in cg["attributed"].items():
                lines.append(f"| {label} | {count:,.0f} |")
            lines += ["", "| exclusive, by library, per request | instructions | share |",
                      "|---|---:|---:|"]  # fmt: skip
            for label, count in cg["libraries"].items():
                if count >= 50:
                    share = count / cg["instructions_per_request"] * 100
                    lines.append(f"| {label} | {count:,.0f} | {share:.0f}% |")
            lines += ["", "| hottest symbols (exclusive), per request | instructions |",
                      "|---|---:|"]  # fmt: skip
            for row in cg["hottest_exclusive"][:12]:
                lines.append(f"| `{row['symbol']}` | {row['ir']:,.0f} |")
            lines.append("")
    if "callgrind_error" in report:
        lines += [f"callgrind: not run ({report['callgrind_error']}).", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callgrind-worker", metavar="SCENARIO", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=20000, help="calls per timing sample")
    parser.add_argument("--no-callgrind", action="store_true")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--markdown", metavar="PATH")
    args = parser.parse_args()
    if args.callgrind_worker:
        callgrind_worker(args.callgrind_worker)
        return 0

    loop = harness.new_loop()
    asyncio.set_event_loop(loop)
    try:
        steps = {s: loop.run_until_complete(step_profile(s, args.n)) for s in SCENARIOS}
    finally:
        loop.close()
    report: dict[str, Any] = {
        "on_path": on_path(),
        "steps": steps,
        "cprofile": {s: cprofile_calls(s, 5000) for s in SCENARIOS},
    }
    if not args.no_callgrind:
        if shutil.which("valgrind") and shutil.which("callgrind_annotate"):
            try:
                report["callgrind"] = {s: callgrind_profile(s) for s in SCENARIOS}
            except Exception as exc:
                report["callgrind_error"] = str(exc)[:300]
        else:
            report["callgrind_error"] = "valgrind is not installed"
    text = markdown(report)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
