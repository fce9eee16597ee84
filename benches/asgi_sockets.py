"""End-to-end benchmark over sockets: each app under uvicorn (and granian, if
installed), load from ``wrk`` on 127.0.0.1. CovetPy also runs under granian's
native RSGI interface (server ``rsgi``), beside its granian-ASGI figures.

All servers are started once (one worker each, ``--loop uvloop --http httptools``,
access log off) and every one is checked with a real request before it is loaded.
Runs are interleaved: for each round, each scenario, each framework in turn, so
drift in machine load spreads over everyone. Reports requests/s (median and
min-max over rounds) and the ratio to the raw ASGI app under the same server (for
``rsgi``, the same granian binary: the raw ASGI app under granian's ASGI interface).
The ratio is the median over rounds of each round's own ratio: the two runs of a
round follow each other, so a slow minute of the shared machine weighs on both
sides of a ratio instead of on one side of a median. ``wrk`` runs on the same
machine: on 2 cores, client and server each get one.

    python benches/asgi_sockets.py [--duration 3] [--rounds 5] [--connections 64]
    python benches/asgi_sockets.py --check-only     # start, verify, stop; no load
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCHES = Path(__file__).resolve().parent
ROOT = BENCHES.parent

FRAMEWORKS: dict[str, str] = {
    "raw ASGI": "apps.raw:app",
    "CovetPy": "apps.covetpy:app",
    "Starlette": "apps.starlette_app:app",
    "BlackSheep": "apps.blacksheep_app:app",
    "Falcon": "apps.falcon_app:app",
}
BASELINE = "raw ASGI"
#: Servers only some apps can run under: RSGI is CovetPy's alone (``__rsgi__``).
SERVER_FRAMEWORKS: dict[str, tuple[str, ...]] = {"rsgi": ("CovetPy",)}
#: Where a server's ratio baseline runs when it has no raw app of its own.
BASELINE_SERVER = {"rsgi": "granian"}

#: wrk Lua: every request a different user id, so path caches cannot help.
VARIED_USERS_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local id = 42 + 7 * (counter % 2048)
  return wrk.format("GET", "/users/" .. id .. "/posts/hello-world")
end
"""


@dataclass
class Scenario:
    name: str
    title: str
    path: str
    expect_body: bytes | None = None
    expect_json: Any = None
    lua: str | None = None
    servers: tuple[str, ...] = ("uvicorn",)


SCENARIOS = [
    Scenario("plain", "GET / plain text", "/", expect_body=b"Hello, World!",
             servers=("uvicorn", "granian", "rsgi")),
    Scenario("json", "GET /json", "/json",
             expect_json={"message": "Hello, World!", "id": 12345, "ok": True, "tags": ["a", "b"]},
             servers=("uvicorn", "granian", "rsgi")),
    Scenario("path_params", "GET /users/{id:int}/posts/{slug}, varied ids",
             "/users/42/posts/hello-world", expect_json={"user_id": 42, "slug": "hello-world"},
             lua=VARIED_USERS_LUA, servers=("uvicorn", "granian", "rsgi")),
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    framework: str
    kind: str
    port: int
    process: subprocess.Popen[bytes]
    log: Any

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]


def command(kind: str, target: str, port: int) -> list[str]:
    if kind == "uvicorn":
        return [
            sys.executable, "-m", "uvicorn", target, "--app-dir", str(BENCHES),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning",
        ]  # fmt: skip
    interface = "rsgi" if kind == "rsgi" else "asgi"
    return [
        sys.executable, "-m", "granian", "--interface", interface, "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1", "--loop", "uvloop",
        "--working-dir", str(BENCHES), "--log-level", "warning", target,
    ]  # fmt: skip


def runs_under(kind: str, framework: str) -> bool:
    allowed = SERVER_FRAMEWORKS.get(kind)
    return allowed is None or framework in allowed


def wait_ready(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.kind} for {server.framework} exited:\n{server.output()}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{server.kind} for {server.framework} did not start listening")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    server.log.close()


@contextmanager
def servers(wanted: list[tuple[str, str]]) -> Iterator[dict[tuple[str, str], Server]]:
    """Starts one server per ``(framework, kind)``; always stops all of them."""
    started: dict[tuple[str, str], Server] = {}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(BENCHES), str(ROOT / "python")])}
    try:
        for framework, kind in wanted:
            port = free_port()
            log = tempfile.TemporaryFile()
            process = subprocess.Popen(
                command(kind, FRAMEWORKS[framework], port),
                cwd=BENCHES,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            started[(framework, kind)] = Server(framework, kind, port, process, log)
        for server in started.values():
            wait_ready(server)
        yield started
    finally:
        for server in started.values():
            stop(server)


def verify(server: Server, scenario: Scenario) -> None:
    """One real request; raises if the status or body is not the expected one."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", scenario.path)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    where = f"{server.framework} under {server.kind}, GET {scenario.path}"
    if response.status != 200:
        raise RuntimeError(f"{where}: status {response.status}: {body[:200]!r}")
    if scenario.expect_body is not None and body != scenario.expect_body:
        raise RuntimeError(f"{where}: body {body[:200]!r}")
    if scenario.expect_json is not None and json.loads(body) != scenario.expect_json:
        raise RuntimeError(f"{where}: JSON body {body[:200]!r}")


def run_wrk(server: Server, scenario: Scenario, args: argparse.Namespace, duration: int) -> float:
    cmd = [
        "wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{max(1, duration)}s",
        "--timeout", "5s",
    ]  # fmt: skip
    script = None
    if scenario.lua:
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        script.write(scenario.lua)
        script.close()
        cmd += ["-s", script.name]
    cmd.append(f"http://127.0.0.1:{server.port}{scenario.path}")
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    finally:
        if script is not None:
            os.unlink(script.name)
    out = result.stdout
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr}{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise RuntimeError(f"{server.framework}: {bad.group(1)} non-2xx responses under load")
    errors = re.search(r"Socket errors: (.*)", out)
    if errors and re.search(r"(read|write|timeout) [1-9]", errors.group(1)):
        raise RuntimeError(f"{server.framework}: socket errors under load: {errors.group(1)}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    return float(match.group(1))


@dataclass
class Cell:
    samples: list[float] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rounds_rps": self.samples}
        if self.samples:
            out.update(
                median_rps=statistics.median(self.samples),
                min_rps=min(self.samples),
                max_rps=max(self.samples),
            )
        if self.error:
            out["error"] = self.error
        return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    names = [n for n in FRAMEWORKS if not args.frameworks or n in args.frameworks]
    kinds = ["uvicorn"]
    if importlib.util.find_spec("granian") is not None and not args.no_granian:
        kinds.append("granian")
        if not args.no_rsgi and any(runs_under("rsgi", n) for n in names):
            kinds.append("rsgi")
    scenarios = [s for s in SCENARIOS if not args.scenarios or s.name in args.scenarios]
    wanted = [(n, k) for k in kinds for n in names if runs_under(k, n)]
    cells: dict[tuple[str, str, str], Cell] = {}
    plan: list[tuple[Scenario, str, str]] = [
        (s, k, n)
        for s in scenarios
        for k in kinds
        if k in s.servers
        for n in names
        if runs_under(k, n)
    ]
    with servers(wanted) as running:
        for scenario, kind, name in plan:
            cell = cells.setdefault((scenario.name, kind, name), Cell())
            try:
                verify(running[(name, kind)], scenario)
                if not args.check_only:
                    run_wrk(running[(name, kind)], scenario, args, args.warmup)
            except Exception as exc:
                cell.error = str(exc)[:300]
        if not args.check_only:
            for round_ in range(args.rounds):
                for scenario in scenarios:
                    for kind in kinds:
                        if kind not in scenario.servers:
                            continue
                        order = names[round_ % len(names) :] + names[: round_ % len(names)]
                        for name in (n for n in order if runs_under(kind, n)):
                            cell = cells[(scenario.name, kind, name)]
                            if cell.error:
                                continue
                            try:
                                rps = run_wrk(running[(name, kind)], scenario, args, args.duration)
                            except Exception as exc:
                                cell.error = str(exc)[:300]
                                continue
                            cell.samples.append(rps)
                            if not args.quiet:
                                print(f"  round {round_ + 1} {scenario.name} {kind} {name}: "
                                      f"{rps:,.0f} req/s", file=sys.stderr, flush=True)  # fmt: skip
    return {
        "frameworks": names,
        "servers": kinds,
        "scenarios": {s.name: s.title for s in scenarios},
        "scenario_servers": {s.name: [k for k in kinds if k in s.servers] for s in scenarios},
        "command": {
            k: " ".join(command(k, "apps.<framework>:app", 0)).replace(" 0 ", " PORT ")
            for k in kinds
        },
        "wrk": f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s --timeout 5s",
        "results": {
            f"{scen}/{kind}": {
                name: cells[(scen, kind, name)].summary()
                for name in names
                if (scen, kind, name) in cells
            }
            for scen in (s.name for s in scenarios)
            for kind in kinds
            if any((scen, kind, n) in cells for n in names)
        },
    }


def paired_ratio(cell: dict[str, Any], base: dict[str, Any]) -> float:
    """The median over rounds of ``cell``'s requests/s divided by ``base``'s in the
    same round; the ratio of the medians when a cell lost rounds to an error."""
    mine, theirs = cell["rounds_rps"], base["rounds_rps"]
    if len(mine) != len(theirs):
        return float(cell["median_rps"] / base["median_rps"])
    return statistics.median(a / b for a, b in zip(mine, theirs))


def markdown(report: dict[str, Any]) -> str:
    names = report["frameworks"]
    lines = [
        "Requests/s: median over rounds (min-max); xraw = ratio to the raw ASGI app under "
        "the same server, the median over rounds of each round's ratio (`rsgi`: CovetPy "
        "under granian's RSGI interface, its ratio to the raw ASGI app under granian's ASGI "
        "interface; the other apps do not speak RSGI).",
        "",
        "| scenario | server | " + " | ".join(names) + " |",
        "|---|---|" + "---:|" * len(names),
    ]
    results = report["results"]
    for key, row in results.items():
        scen, kind = key.split("/")
        base_row = results.get(f"{scen}/{BASELINE_SERVER.get(kind, kind)}", {})
        base = base_row.get(BASELINE, {})
        cells = []
        for name in names:
            s = row.get(name, {})
            if not runs_under(kind, name):
                cells.append("-")
            elif "error" in s:
                cells.append("**ERROR**")
            elif "median_rps" in s:
                ratio = f" x{paired_ratio(s, base):.2f}" if "median_rps" in base else ""
                cells.append(
                    f"{s['median_rps']:,.0f} ({s['min_rps']:,.0f}-{s['max_rps']:,.0f}){ratio}"
                )
            else:
                cells.append("checked")
        lines.append(f"| {report['scenarios'][scen]} | {kind} | " + " | ".join(cells) + " |")
    for key, row in results.items():
        scen, kind = key.split("/")
        other = results.get(f"{scen}/{BASELINE_SERVER.get(kind, kind)}", {})
        if kind in BASELINE_SERVER:
            for name in names:
                mine, theirs = row.get(name, {}), other.get(name, {})
                if "median_rps" in mine and "median_rps" in theirs:
                    lines.append(
                        f"\n{report['scenarios'][scen]}: {name} under {kind} serves "
                        f"x{paired_ratio(mine, theirs):.2f} the requests/s of {name} under "
                        f"{BASELINE_SERVER[kind]} (ASGI), same run."
                    )
    errors = [
        f"- {name} / {key}: `{s['error']}`"
        for key, row in report["results"].items()
        for name, s in row.items()
        if "error" in s
    ]
    if errors:
        lines += ["", "Errors:", "", *errors]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run (3)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up load (1)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--frameworks", nargs="*")
    parser.add_argument("--scenarios", nargs="*")
    parser.add_argument("--no-granian", action="store_true", help="no granian (nor RSGI)")
    parser.add_argument("--no-rsgi", action="store_true", help="no CovetPy under RSGI")
    parser.add_argument("--check-only", action="store_true", help="verify each app, no load")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--markdown", metavar="PATH")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    if not args.check_only and shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk; `make bench` does it)", file=sys.stderr)
        return 2
    report = run(args)
    text = markdown(report)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(text)
    failed = any("error" in s for row in report["results"].values() for s in row.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
