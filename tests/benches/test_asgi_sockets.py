"""The ratio benches/asgi_sockets.py reports: paired by round."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benches"))

import asgi_sockets


def cell(*rounds: float) -> dict[str, object]:
    ordered = sorted(rounds)
    return {"rounds_rps": list(rounds), "median_rps": ordered[len(ordered) // 2]}


def test_a_slow_round_weighs_on_both_sides_of_the_ratio() -> None:
    # The machine runs at half speed for both in the first round. The ratio of the
    # medians (90 / 100) reads 0.90; each round's own ratio (0.96, 0.90, 0.92) says 0.92.
    raw = cell(50, 100, 100)
    app = cell(48, 90, 92)
    assert asgi_sockets.paired_ratio(app, raw) == 0.92


def test_cells_that_lost_rounds_fall_back_to_the_ratio_of_medians() -> None:
    assert asgi_sockets.paired_ratio(cell(80, 90), cell(100, 100, 200)) == 0.9
