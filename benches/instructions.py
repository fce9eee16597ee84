"""Instructions per request, counted by callgrind: the in-process scenarios of
``asgi_inprocess.py`` for CovetPy and the hand-written ASGI app, side by side.

Wall-clock ratios on a shared 2-core machine move by tens of percent from run to
run; instruction counts do not (the same binary and inputs give the same count;
the hash seed is fixed). Each cell runs the scenario twice in a fresh process under
``valgrind --tool=callgrind``, with ``n`` and ``2n`` requests after the same warm-up,
and reports the difference divided by ``n``: start-up, imports and warm-up cancel.

Beside the instructions it reports each request's code footprint: the 64-byte
cache lines holding an instruction that ran on every request (ran at least ``n``
times more in the ``2n`` run). A request whose footprint outgrows the first-level
instruction cache reloads part of its code every time, which instruction counts do
not show but the clock does.

    python benches/instructions.py                       # every HTTP scenario
    python benches/instructions.py --scenarios plain not_found --n 2000
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

FRAMEWORKS = ("raw ASGI", "CovetPy")
WARMUP = 500
CACHE_LINE = 64


def worker(framework: str, scenario_name: str, n: int) -> None:
    """Runs ``WARMUP + n`` requests of the scenario (the harness checks them all)."""
    import importlib

    import asgi_inprocess as bench

    scenario = next(s for s in bench.build_scenarios() if s.name == scenario_name)
    app = importlib.import_module(bench.FRAMEWORKS[framework]).app

    async def run() -> None:
        stop = await bench.run_lifespan(app)
        await bench.run_cell(app, scenario, WARMUP + n)
        await stop()

    loop = bench.new_loop()
    loop.run_until_complete(run())


@contextlib.contextmanager
def callgrind(argv: list[str], *options: str) -> Iterator[Path]:
    """Runs ``argv`` under callgrind (with extra ``options``); yields its output file
    (gone afterwards)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *options, *argv],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        yield out


def callgrind_total(argv: list[str]) -> int:
    """Total instructions callgrind counts for one run of ``argv``."""
    with callgrind(argv) as out:
        return summary(out.read_text(), argv)


def summary(text: str, argv: list[str]) -> int:
    match = re.search(r"^summary: (\d+)", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no summary in the callgrind output of {argv}")
    return int(match.group(1))


#: Executions per instruction, keyed by (object file, address).
Executions = collections.Counter[tuple[str, int]]


def executions(text: str) -> Executions:
    """How often each instruction ran, from a callgrind dump made with
    ``--dump-instr=yes --compress-pos=no --compress-strings=no`` (cost lines are
    ``address line count``; the line after ``calls=`` is a call's inclusive cost)."""
    counts: Executions = collections.Counter()
    obj = ""
    after_call = False
    for line in text.splitlines():
        if line.startswith("ob="):
            obj = line[3:]
        elif line.startswith("calls="):
            after_call = True
        elif line.startswith("0x"):
            if after_call:
                after_call = False
                continue
            fields = line.split()
            if len(fields) >= 3:
                counts[(obj, int(fields[0], 16))] += int(fields[2])
    return counts


def run(framework: str, scenario: str, n: int) -> tuple[int, Executions]:
    """Total instructions of one worker process with ``n`` timed requests, and how
    often each instruction ran."""
    argv = [sys.executable, __file__, "--worker", framework, scenario, str(n)]
    with callgrind(argv, "--dump-instr=yes", "--compress-pos=no", "--compress-strings=no") as out:
        text = out.read_text()
    return summary(text, argv), executions(text)


def per_request(framework: str, scenario: str, n: int) -> tuple[float, int]:
    """Instructions per request, and the request's code footprint in bytes."""
    total_n, ran_n = run(framework, scenario, n)
    total_2n, ran_2n = run(framework, scenario, 2 * n)
    return (total_2n - total_n) / n, footprint(ran_n, ran_2n, n)


def footprint(ran_n: Executions, ran_2n: Executions, n: int) -> int:
    """Bytes of code run on every request: the cache lines holding an instruction
    that ran at least ``n`` times more in the ``2n``-request run."""
    lines = {
        (obj, address // CACHE_LINE)
        for (obj, address), times in ran_2n.items()
        if times - ran_n.get((obj, address), 0) >= n
    }
    return len(lines) * CACHE_LINE


def instruction_cache() -> str:
    """This machine's first-level instruction cache size (``64K``), from sysfs."""
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            if level == "1" and kind == "Instruction":
                return (index / "size").read_text().strip()
        except OSError:
            continue
    return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", nargs=3, metavar=("FRAMEWORK", "SCENARIO", "N"))
    parser.add_argument("--scenarios", nargs="*", default=None)
    parser.add_argument("--n", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--markdown", metavar="PATH", help="also write the table here")
    args = parser.parse_args()
    if args.worker:
        framework, scenario, n = args.worker
        worker(framework, scenario, int(n))
        return 0
    import asgi_inprocess as bench

    names = args.scenarios or [s.name for s in bench.build_scenarios() if s.kind == "http"]
    lines = [
        "| scenario | raw ASGI instr/req | CovetPy instr/req | ratio "
        "| raw ASGI code/req | CovetPy code/req |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    for name in names:
        (raw, raw_code), (covet, covet_code) = (per_request(f, name, args.n) for f in FRAMEWORKS)
        lines.append(
            f"| {name} | {raw:,.0f} | {covet:,.0f} | {covet / raw:.2f}x "
            f"| {raw_code / 1024:.1f} KiB | {covet_code / 1024:.1f} KiB |"
        )
        print(lines[-1], flush=True)
    lines += [
        "",
        "Code/req: the code run on every request, in 64-byte cache lines. First-level "
        f"instruction cache of this machine: {instruction_cache()} per core.",
    ]
    print(lines[-1], flush=True)
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    sys.exit(main())
