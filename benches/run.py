"""``make bench``: runs every benchmark and writes benches/RESULTS.md.

1. Criterion (``cargo bench --bench router --bench parsers``): router vs matchit,
   route-count scaling, parser throughput.
2. benches/asgi_inprocess.py: the in-process ASGI suite.
3. benches/asgi_sockets.py: uvicorn (and granian) + wrk over 127.0.0.1.
4. benches/profile_request.py: where a CovetPy request's instructions go (callgrind).
5. benches/broadcast.py: covet.broadcast fan-out to 1,000 subscribers, memory and Redis.
6. benches/instructions.py: instructions per request (callgrind), CovetPy and raw ASGI.
7. benches/middleware.py: function middleware against pure ASGI middleware (callgrind).
8. benches/server_cache.py: instructions and cache misses per request under uvicorn
   (callgrind's cache simulation), CovetPy and raw ASGI.

Intermediate JSON goes to target/bench/. ``--skip`` leaves parts out (their section
then says so), e.g. ``python benches/run.py --skip sockets``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

BENCHES = Path(__file__).resolve().parent
ROOT = BENCHES.parent
OUT = ROOT / "target" / "bench"
CRITERION = ROOT / "target" / "criterion"
PY = sys.executable
PY_REL = os.path.relpath(PY, ROOT) if PY.startswith(str(ROOT)) else PY

CARGO_BENCH = ["cargo", "bench", "--bench", "router", "--bench", "parsers"]
INPROCESS = [PY, "benches/asgi_inprocess.py", "--json", str(OUT / "inprocess.json")]
SOCKETS = [PY, "benches/asgi_sockets.py", "--json", str(OUT / "sockets.json")]
PROFILE = [PY, "benches/profile_request.py", "--json", str(OUT / "profile.json"),
           "--markdown", str(OUT / "profile.md")]  # fmt: skip
BROADCAST = [PY, "benches/broadcast.py", "--quiet", "--json", str(OUT / "broadcast.json"),
             "--markdown", str(OUT / "broadcast.md")]  # fmt: skip
INSTRUCTIONS = [PY, "benches/instructions.py", "--n", "1000",
                "--markdown", str(OUT / "instructions.md")]  # fmt: skip
MIDDLEWARE = [PY, "benches/middleware.py", "--instructions", "--n", "1000",
              "--markdown", str(OUT / "middleware.md")]  # fmt: skip
SERVER_CACHE = [PY, "benches/server_cache.py", "--markdown", str(OUT / "server_cache.md")]

PACKAGES = [
    "covetpy", "uvicorn", "uvloop", "httptools", "orjson", "starlette", "blacksheep",
    "falcon", "granian", "python-multipart",
]  # fmt: skip


def shown(cmd: list[str]) -> str:
    return " ".join(shlex.quote(c) for c in cmd).replace(PY, PY_REL).replace(str(ROOT) + "/", "")


def run(cmd: list[str], log: list[str]) -> float:
    print(f"\n==> {shown(cmd)}", flush=True)
    start = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, check=True)
    elapsed = time.monotonic() - start
    log.append(f"{shown(cmd)}   # {elapsed:.0f} s")
    return elapsed


def machine() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    wrk_version = (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "?"
    return [
        f"- CPU: {cpu}; `nproc` = {os.cpu_count()}; {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}); {rustc}",
        f"- {wrk_version.strip()}",
        "- " + ", ".join(versions),
        f"- load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
    ]


# -- Criterion --------------------------------------------------------------------------
def criterion_results(since: float) -> dict[str, dict[str, Any]]:
    """``{"group/function/value": {"ns": median ns per iteration, "throughput": ...}}``
    for every Criterion benchmark measured after ``since``."""
    results: dict[str, dict[str, Any]] = {}
    if not CRITERION.is_dir():
        return results
    for estimates in CRITERION.glob("**/new/estimates.json"):
        if estimates.stat().st_mtime < since:
            continue
        bench = json.loads((estimates.parent / "benchmark.json").read_text())
        data = json.loads(estimates.read_text())
        key = bench["full_id"]
        results[key] = {
            "ns": data["median"]["point_estimate"],
            "ci": (
                data["median"]["confidence_interval"]["lower_bound"],
                data["median"]["confidence_interval"]["upper_bound"],
            ),
            "throughput": bench.get("throughput"),
        }
    return results


def per_element(entry: dict[str, Any]) -> float:
    throughput = entry.get("throughput") or {}
    return entry["ns"] / throughput.get("Elements", 1)


def criterion_markdown(results: dict[str, dict[str, Any]]) -> list[str]:
    if not results:
        return ["No Criterion results (the run was skipped or failed)."]
    lines: list[str] = []
    covet = results.get("router_vs_matchit/covet/1000")
    matchit = results.get("router_vs_matchit/matchit/1000")
    if covet and matchit:
        c, m = per_element(covet), per_element(matchit)
        lines += [
            "**Router vs matchit** — same 1,000-route table (¼ static, ¼ `{id:int}`, ¼ "
            "`{id:int}/posts/{slug}`, ¼ `{name}/settings`; matchit gets `{id}` for "
            "`{id:int}`), the same shuffled list of 1,024 paths hitting routes all over the "
            "table; every path checked to reach its own route in both routers first. "
            "CovetPy's lookup also dispatches on the method and converts the int parameter, "
            "matchit's does neither.",
            "",
            "| router | ns per lookup (median) | ratio |",
            "|---|---:|---:|",
            f"| CovetPy `Router::lookup` | {c:.1f} | {c / m:.2f}x |",
            f"| matchit 0.9 `Router::at` | {m:.1f} | 1.00x |",
            "",
        ]
    scaling = {
        n: per_element(results[f"router_scaling/covet/{n}"])
        for n in (10, 1000, 10000)
        if f"router_scaling/covet/{n}" in results
    }
    reference = {
        n: per_element(results[f"router_scaling/matchit/{n}"])
        for n in (10, 1000, 10000)
        if f"router_scaling/matchit/{n}" in results
    }
    if scaling:
        spread = max(scaling.values()) / min(scaling.values())
        verdict = "PASS" if spread <= 1.10 else "FAIL"

        def matchit_cell(n: int) -> str:
            return f"{reference[n]:.1f}" if n in reference else "-"

        lines += [
            "**Route-count scaling** — same table shape at 10 / 1,000 / 10,000 routes, "
            "1,024 varied lookups per iteration (every route when the table is small, an even "
            "spread when it is large); matchit on the same tables as the reference.",
            "",
            "| routes | CovetPy ns per lookup | matchit ns per lookup |",
            "|---:|---:|---:|",
            *[f"| {n:,} | {v:.1f} | {matchit_cell(n)} |" for n, v in scaling.items()],
        ]
        hot = results.get("router_scaling/covet_10_hot_paths/10000")
        if hot:
            lines.append(
                f"| 10,000, only 10 hot paths (the 10-route working set) | {per_element(hot):.1f}"
                " | - |"
            )
        summary = (
            f"CovetPy max/min over 10 / 1,000 / 10,000 = {spread:.2f} "
            f"(target ≤ 1.10: **{verdict}**)"
        )
        if len(reference) == 3:
            ref_spread = max(reference.values()) / min(reference.values())
            summary += f"; matchit's on the same tables = {ref_spread:.2f}"
        lines += ["", summary + ".", ""]
    shapes = {k.split("/", 1)[1]: v for k, v in results.items() if k.startswith("router_shapes/")}
    if shapes:
        lines += [
            "**Lookup by shape** (8-route API table, one path repeated):",
            "",
            "| case | ns |",
            "|---|---:|",
            *[f"| {k} | {v['ns']:.1f} |" for k, v in sorted(shapes.items())],
            "",
        ]
    parsers = {
        k: v
        for k, v in results.items()
        if not k.startswith("router_") and (v.get("throughput") or {}).get("Bytes")
    }
    if parsers:
        lines += [
            "**Parsers** (throughput = input bytes / median time):",
            "",
            "| benchmark | input bytes | ns | MB/s |",
            "|---|---:|---:|---:|",
        ]
        for key, v in sorted(parsers.items()):
            size = v["throughput"]["Bytes"]
            lines.append(f"| {key} | {size:,} | {v['ns']:,.0f} | {size / v['ns'] * 1e3:,.0f} |")
        lines.append("")
    return lines


# -- RESULTS.md -------------------------------------------------------------------------
def section(title: str, path: Path, fallback: str) -> list[str]:
    return [f"## {title}", "", path.read_text().rstrip() if path.exists() else fallback, ""]


def write_report(output: str, run_info: dict[str, Any], criterion: dict[str, Any]) -> None:
    notes = BENCHES / "profile_notes.md"
    lines = [
        "# CovetPy benchmark results",
        "",
        f"Written by `make bench` ({run_info['written']}, {run_info['minutes']:.1f} min). "
        "Do not edit by hand: rerun `make bench` (the profile notes come from "
        "benches/profile_notes.md).",
        "",
        "## Machine",
        "",
        *run_info["machine"],
        "",
        "## Commands",
        "",
        "`make bench` runs `python benches/run.py`, which runs:",
        "",
        "```sh",
        *run_info["log"],
        "```",
        "",
    ]
    if run_info["failures"]:
        lines += ["**Failures:**", "", *[f"- {f}" for f in run_info["failures"]], ""]
    lines += ["## Rust (Criterion)", "", *criterion_markdown(criterion)]
    lines += section(
        "In-process ASGI (benches/asgi_inprocess.py)", OUT / "inprocess.md", "Not run."
    )
    lines += section(
        "Over sockets: uvicorn/granian + wrk (benches/asgi_sockets.py)",
        OUT / "sockets.md",
        "Not run.",
    )
    lines += ["## Where a request's time goes", ""]
    if notes.exists():
        lines += [notes.read_text().rstrip(), ""]
    profile = OUT / "profile.md"
    lines += [
        "### Measured by this run (benches/profile_request.py)",
        "",
        profile.read_text().rstrip() if profile.exists() else "Not run.",
        "",
    ]
    lines += section("Broadcast fan-out (benches/broadcast.py)", OUT / "broadcast.md", "Not run.")
    lines += section(
        "Instructions per request, callgrind (benches/instructions.py)",
        OUT / "instructions.md",
        "Not run.",
    )
    lines += section(
        "Function middleware vs pure ASGI middleware, callgrind (benches/middleware.py)",
        OUT / "middleware.md",
        "Not run.",
    )
    lines += section(
        "Under uvicorn: instructions and cache misses, callgrind (benches/server_cache.py)",
        OUT / "server_cache.md",
        "Not run.",
    )
    Path(output).write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["criterion", "inprocess", "sockets", "profile",
                                 "broadcast", "instructions", "middleware",
                                 "server_cache"])  # fmt: skip
    parser.add_argument("--output", default=str(BENCHES / "RESULTS.md"))
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite RESULTS.md from the last run's outputs in target/bench/ (no runs)",
    )
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        saved = json.loads((OUT / "run.json").read_text())
        write_report(args.output, saved, json.loads((OUT / "criterion.json").read_text()))
        print(f"rewrote {args.output} from {OUT}")
        return 0
    started = time.time()
    header = machine()
    log: list[str] = []
    failures: list[str] = []
    crit_since = time.time()
    steps = [
        ("criterion", CARGO_BENCH),
        ("inprocess", [*INPROCESS, "--markdown", str(OUT / "inprocess.md")]),
        ("sockets", [*SOCKETS, "--markdown", str(OUT / "sockets.md")]),
        ("profile", PROFILE),
        ("broadcast", BROADCAST),
        ("instructions", INSTRUCTIONS),
        ("middleware", MIDDLEWARE),
        ("server_cache", SERVER_CACHE),
    ]
    for name, cmd in steps:
        if name in args.skip:
            (OUT / f"{name}.md").unlink(missing_ok=True)
            continue
        try:
            run(cmd, log)
        except subprocess.CalledProcessError as exc:
            failures.append(f"{shown(cmd)} exited with {exc.returncode}")
    criterion = criterion_results(crit_since) if "criterion" not in args.skip else {}
    (OUT / "criterion.json").write_text(json.dumps(criterion, indent=1))

    run_info = {
        "minutes": (time.time() - started) / 60,
        "written": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": [*header, f"- load average at end: "
                    f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"],
        "log": log,
        "failures": failures,
    }  # fmt: skip
    (OUT / "run.json").write_text(json.dumps(run_info, indent=1))
    write_report(args.output, run_info, criterion)
    minutes = run_info["minutes"]
    print(f"\nwrote {args.output} in {minutes:.1f} min")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
