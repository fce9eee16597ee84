"""The callgrind dump reading behind ``benches/instructions.py``'s code footprint."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benches"))

from instructions import CACHE_LINE, executions, footprint

DUMP = """\
version: 1
ob=/lib/libpython.so
fl=ceval.c
fn=eval
0x1000 10 5
0x1004 11 5
calls=5 0x2000 20
0x1008 12 900
0x1040 13 5
ob=/lib/_core.so
fl=driver.rs
fn=drive
0x1000 30 7
"""


def test_executions_count_each_instruction_per_object_and_skip_call_costs() -> None:
    counts = executions(DUMP)
    assert counts[("/lib/libpython.so", 0x1000)] == 5
    assert counts[("/lib/libpython.so", 0x1004)] == 5
    # The line after calls= is the call's inclusive cost, not the call site's own.
    assert ("/lib/libpython.so", 0x1008) not in counts
    assert counts[("/lib/libpython.so", 0x1040)] == 5
    # The same address in another object is another instruction.
    assert counts[("/lib/_core.so", 0x1000)] == 7


def test_footprint_counts_lines_run_on_every_request_once() -> None:
    n = 10
    ran_n = executions(DUMP)
    ran_2n = ran_n.copy()
    for key in [("/lib/libpython.so", 0x1000), ("/lib/libpython.so", 0x1004)]:
        ran_2n[key] += n  # two instructions of one line, run every request
    ran_2n[("/lib/_core.so", 0x1000)] += n  # the same address, another object
    ran_2n[("/lib/libpython.so", 0x1040)] += n - 1  # run on most requests only
    assert footprint(ran_n, ran_2n, n) == 2 * CACHE_LINE
