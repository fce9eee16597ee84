"""Instructions and first-level cache misses per request under a real server:
uvicorn (httptools, uvloop) runs under callgrind's cache simulation and serves the
plain GET of the hand-written ASGI app and of CovetPy over one keep-alive
connection.

In process a request's code is the app's and the harness's alone; under uvicorn it
shares the instruction cache with the server's own per-request code (its Python
protocol, httptools, uvloop), so code an app adds is fetched again on every request.
Wall-clock ratios over sockets move by several percent between runs on a shared
machine; these counts barely move (the event loop's timing varies a little). Each
cell is the difference between a run of ``3n`` and one of ``n`` requests after the
same warm-up, divided by ``2n``: start-up, imports and shutdown cancel.

    python benches/server_cache.py [--n 2000] [--markdown PATH]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from asgi_sockets import free_port  # noqa: E402

APPS = {"raw ASGI": "apps.raw:app", "CovetPy": "apps.covetpy:app"}
WARMUP = 300
BODY = b"Hello, World!"
#: callgrind's events with ``--cache-sim=yes``, and the ones reported.
SHOWN = {"Ir": "instructions", "I1mr": "L1i misses", "D1mr": "L1d read misses"}


def caches(text: str) -> list[str]:
    """The first-level caches callgrind simulated (``desc: I1 cache: ...`` lines)."""
    return re.findall(r"^desc: ((?:I1|D1) cache: .+)$", text, re.MULTILINE)


def totals(text: str) -> dict[str, int]:
    """A callgrind dump's whole-program totals by event name (the ``events:`` and
    ``summary:`` lines)."""
    names = re.search(r"^events: (.+)$", text, re.MULTILINE)
    counts = re.search(r"^summary: (.+)$", text, re.MULTILINE)
    if names is None or counts is None:
        raise RuntimeError("no events or summary line in the callgrind output")
    return dict(zip(names.group(1).split(), map(int, counts.group(1).split())))


def read_response(sock: socket.socket, buffer: bytes) -> bytes:
    """Reads one response (headers and a Content-Length body); returns what follows."""
    while b"\r\n\r\n" not in buffer:
        buffer += receive(sock)
    head, _, rest = buffer.partition(b"\r\n\r\n")
    match = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    if not head.startswith(b"HTTP/1.1 200") or match is None:
        raise RuntimeError(f"unexpected response: {head[:200]!r}")
    length = int(match.group(1))
    while len(rest) < length:
        rest += receive(sock)
    if rest[:length] != BODY:
        raise RuntimeError(f"unexpected body: {rest[:length]!r}")
    return rest[length:]


def receive(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise RuntimeError("the server closed the connection")
    return chunk


def get(sock: socket.socket, count: int) -> None:
    """``count`` GET / requests, one at a time, each response checked."""
    buffer = b""
    for _ in range(count):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
        buffer = read_response(sock, buffer)


def connect(port: int, timeout: float = 300.0) -> socket.socket:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=timeout)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@dataclass
class Counts:
    """What callgrind counted for one server run."""

    totals: dict[str, int] = field(default_factory=dict)
    #: The first-level caches it simulated (taken from the machine).
    caches: list[str] = field(default_factory=list)


@contextmanager
def server_under_callgrind(target: str, port: int) -> Iterator[Counts]:
    """uvicorn serving ``target`` under callgrind; yields the counts, filled in once
    the block has run and the server has stopped (SIGINT, a clean shutdown)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        argv = [
            "valgrind", "--tool=callgrind", "--cache-sim=yes", f"--callgrind-out-file={out}",
            sys.executable, "-m", "uvicorn", target, "--app-dir", str(HERE),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        counts = Counts()
        try:
            yield counts
        finally:
            server.send_signal(signal.SIGINT)
            _, stderr = server.communicate(timeout=300)
        if server.returncode != 0:
            raise RuntimeError(f"uvicorn under callgrind failed: {stderr.decode()[-2000:]}")
        text = out.read_text()
        counts.totals, counts.caches = totals(text), caches(text)


def measure(framework: str, n: int) -> Counts:
    """callgrind's counts for a server that answered ``WARMUP + n`` requests."""
    port = free_port()
    with server_under_callgrind(APPS[framework], port) as counts:
        with connect(port) as sock:
            get(sock, WARMUP)
            get(sock, n)
    return counts


def per_request(framework: str, n: int) -> tuple[dict[str, float], list[str]]:
    """Events per request (runs of ``n`` and ``3n`` requests side by side), and the
    caches simulated."""
    with ThreadPoolExecutor(2) as pool:
        small, large = pool.map(lambda count: measure(framework, count), (n, 3 * n))
    per = {e: (large.totals[e] - small.totals[e]) / (2 * n) for e in SHOWN}
    return per, large.caches


def markdown(results: dict[str, dict[str, float]], n: int, simulated: list[str]) -> str:
    raw, covet = results["raw ASGI"], results["CovetPy"]
    lines = [
        f"GET / plain text under uvicorn (httptools, uvloop), callgrind `--cache-sim=yes`, "
        f"{n:,} and {3 * n:,} requests on one keep-alive connection; per request:",
        "",
        "| event | raw ASGI | CovetPy | CovetPy - raw |",
        "|---|---:|---:|---:|",
    ]
    for event, label in SHOWN.items():
        lines.append(
            f"| {label} (`{event}`) | {raw[event]:,.0f} | {covet[event]:,.0f} | "
            f"{covet[event] - raw[event]:+,.0f} |"
        )
    lines += ["", f"Simulated: {'; '.join(simulated) or 'unknown'}."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--markdown", metavar="PATH", help="also write the table here")
    args = parser.parse_args()
    measured = {framework: per_request(framework, args.n) for framework in APPS}
    results = {framework: per for framework, (per, _) in measured.items()}
    text = markdown(results, args.n, measured["CovetPy"][1])
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
