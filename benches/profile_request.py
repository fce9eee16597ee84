"""Where a CovetPy request's instructions go: the plain GET and the path-parameter
GET of ``asgi_inprocess.py``, attributed to functions by callgrind.

Each framework runs the scenario in a fresh process under
``valgrind --tool=callgrind`` twice, with ``n`` and ``2n`` requests after the same
warm-up (``instructions.py --worker``); every figure is the difference divided by
``n``, so start-up and imports cancel. Figures are inclusive (a function with what
it calls), so rows nest and do not add up: the driver's row contains the handler's,
the handler's contains the response's. Instruction counts do not move with the
machine's load. (CPython collects when tracked objects are allocated faster than
they are freed, so a request that frees all it allocates adds no collector work.)

    python benches/profile_request.py
    python benches/profile_request.py --python ../other/.venv/bin/python  # another build
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from instructions import callgrind  # noqa: E402

SCENARIOS = ("plain", "path_params")

#: (row, symbol pattern): a row's figure is the largest inclusive count among the
#: symbols that match (a symbol may be listed once per caller context).
ROWS: list[tuple[str, str]] = [
    ("the request, end to end", r"PyIter_Send$"),
    ("  the app's call (`AppBase.__call__` with PyO3's `tp_call` trampoline): all below",
     r"trampoline::ternaryfunc$"),
    ("    Rust driver (`Flight::drive`)", r"driver::Flight::drive$"),
    ("    routing (`RouteTable::match_request`)", r"RouteTable::match_request$"),
    ("    the Request and the handler's coroutine (`Flight::call_endpoint`)",
     r"driver::Flight::call_endpoint$"),
    ("    the two ASGI messages and `send` calls", r"driver::Flight::send_message$"),
    ("    the request's state dropped (with what only it held: the Request, the scope)",
     r"drop_in_place<covet_core::python::driver::Flight>$"),
    ("  objects built by calling a class (the response; the harness's too)", r"type_call$"),
    ("    `ResponseBase.__init__` with PyO3's `tp_init` trampoline (render + attribute stores)",
     r"trampoline::initproc$"),
    ("      the body bytes (`render_body`)", r"render::render_body$"),
    ("      the header list (`render_headers`)", r"render::render_headers$"),
    ("garbage collection (`gc_collect_main`)", r"gc_collect_main$"),
    ("deallocation (`_Py_Dealloc`)", r"_Py_Dealloc$"),
]  # fmt: skip

#: Rows that may rightly be empty for CovetPy: collections happen only when a request
#: leaves objects behind.
MAY_BE_ABSENT = {"garbage collection (`gc_collect_main`)"}
#: A Rust row's cell when its function got no instructions but is still defined in
#: the crate's sources: the profile-guided build inlined it into its caller.
INLINED = -1.0


def defined_in(sources: Path, pattern: str) -> bool:
    """Whether the function (or struct, for a drop) a row's pattern ends with is
    defined in the Rust sources under ``sources``."""
    name = re.findall(r"\w+", pattern)[-1]
    definition = re.compile(rf"\b(?:fn|struct)\s+{name}\b")
    return any(definition.search(path.read_text()) for path in sources.rglob("*.rs"))


def profile(python: str, benches: Path, framework: str, scenario: str, n: int) -> dict[str, int]:
    """Inclusive instructions per symbol for one worker run."""
    argv = [python, str(benches / "instructions.py"), "--worker", framework, scenario, str(n)]
    with callgrind(argv) as out:
        annotated = subprocess.run(
            ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(out)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
    totals: dict[str, int] = {}
    for line in annotated.splitlines():
        match = re.match(r"\s*([\d,]+) \([^)]*\)\s+(\S.*?)(?: \[[^\]]*\])?$", line)
        if match:
            count = int(match.group(1).replace(",", ""))
            symbol = match.group(2).split(":", 1)[-1].strip()
            totals[symbol] = max(totals.get(symbol, 0), count)
        summary = re.match(r"\s*([\d,]+) \([^)]*\)\s+PROGRAM TOTALS", line)
        if summary:
            totals["PROGRAM TOTALS"] = int(summary.group(1).replace(",", ""))
    return totals


def per_request(
    python: str, benches: Path, framework: str, scenario: str, n: int
) -> dict[str, float]:
    small = profile(python, benches, framework, scenario, n)
    large = profile(python, benches, framework, scenario, 2 * n)
    rows: dict[str, float] = {"total": (large["PROGRAM TOTALS"] - small["PROGRAM TOTALS"]) / n}
    sources = benches.parent / "rust" / "src"
    for row, pattern in ROWS:
        regex = re.compile(pattern)
        values = [
            (large.get(symbol, 0) - small.get(symbol, 0)) / n
            for symbol in set(small) | set(large)
            if regex.search(symbol)
        ]
        rows[row] = max(values) if values else 0.0
        if framework == "CovetPy" and abs(rows[row]) < 0.5 and defined_in(sources, pattern):
            rows[row] = INLINED
    return rows


def markdown(report: dict[str, dict[str, dict[str, float]]], n: int, python: str) -> list[str]:
    lines = [
        f"Instructions per request (callgrind, {n:,} and {2 * n:,} requests, `{python}`); "
        "inclusive, so indented rows are parts of the row above them. A blank cell: "
        "the function is not on that path; `inlined`: the profile-guided build inlined "
        "it into its caller on that path, whose row counts it.",
        "",
    ]
    for scenario, by_framework in report.items():
        raw, covet = by_framework["raw ASGI"], by_framework["CovetPy"]
        lines += [
            f"**{scenario}**: CovetPy {covet['total']:,.0f} instructions per request "
            f"against {raw['total']:,.0f} for the hand-written app "
            f"({covet['total'] / raw['total']:.2f}x; whole process, harness included).",
            "",
            "| where | CovetPy | raw ASGI |",
            "|---|---:|---:|",
        ]
        for row, _ in ROWS:
            cells = [
                "inlined" if f[row] == INLINED else f"{f[row]:,.0f}" if abs(f[row]) >= 0.5 else ""
                for f in (covet, raw)
            ]
            label = row.replace("  ", "&nbsp;&nbsp;")
            lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
        lines.append("")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4000, help="requests per measurement")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to profile")
    parser.add_argument(
        "--benches", type=Path, default=HERE, help="the benches/ folder of that checkout"
    )
    parser.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--markdown", metavar="PATH")
    args = parser.parse_args()
    report: dict[str, dict[str, dict[str, float]]] = {}
    for scenario in args.scenarios:
        report[scenario] = {
            framework: per_request(args.python, args.benches, framework, scenario, args.n)
            for framework in ("raw ASGI", "CovetPy")
        }
    # A CovetPy row that matched nothing and names no function of the sources names a
    # function that was renamed: fail rather than print a blank that reads as "not
    # on that path".
    missing = [
        f"{scenario}: {row.strip()}"
        for scenario, by_framework in report.items()
        for row, _ in ROWS
        if row not in MAY_BE_ABSENT and abs(by_framework["CovetPy"][row]) < 0.5
    ]
    if missing and args.python == sys.executable:
        print("no function matched:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    shown_python = (
        os.path.relpath(args.python) if args.python.startswith(os.getcwd()) else args.python
    )
    lines = markdown(report, args.n, shown_python)
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
