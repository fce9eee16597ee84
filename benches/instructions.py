"""Instructions per request, counted by callgrind: the in-process scenarios of
``asgi_inprocess.py`` for CovetPy and the hand-written ASGI app, side by side.

Wall-clock ratios on a shared 2-core machine move by tens of percent from run to
run; instruction counts do not (the same binary and inputs give the same count).
Each cell runs the scenario twice in a fresh process under
``valgrind --tool=callgrind``, with ``n`` and ``2n`` requests after the same warm-up,
and reports the difference divided by ``n``: start-up, imports and warm-up cancel.

    python benches/instructions.py                       # every HTTP scenario
    python benches/instructions.py --scenarios plain not_found --n 2000
"""

from __future__ import annotations

import argparse
import asyncio
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
def callgrind(argv: list[str]) -> Iterator[Path]:
    """Runs ``argv`` under callgrind; yields its output file (gone afterwards)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        yield out


def callgrind_total(argv: list[str]) -> int:
    """Total instructions callgrind counts for one run of ``argv``."""
    with callgrind(argv) as out:
        match = re.search(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no summary in the callgrind output of {argv}")
    return int(match.group(1))


def count(framework: str, scenario: str, n: int) -> int:
    """Total instructions of one worker process with ``n`` timed requests."""
    return callgrind_total([sys.executable, __file__, "--worker", framework, scenario, str(n)])


def per_request(framework: str, scenario: str, n: int) -> float:
    return (count(framework, scenario, 2 * n) - count(framework, scenario, n)) / n


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
        "| scenario | raw ASGI instr/req | CovetPy instr/req | ratio |",
        "|---|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    for name in names:
        raw, covet = (per_request(f, name, args.n) for f in FRAMEWORKS)
        lines.append(f"| {name} | {raw:,.0f} | {covet:,.0f} | {covet / raw:.2f}x |")
        print(lines[-1], flush=True)
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    sys.exit(main())
