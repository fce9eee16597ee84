"""benches/pgo_train.py, the profile-guided build's training workload: it serves
every scenario through the built extension and checks each answer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benches"))

import pgo_train


async def test_training_serves_every_scenario_and_checks_the_answers() -> None:
    await pgo_train.train(requests=40)


async def test_training_stops_on_a_wrong_rsgi_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgo_train, "TEXT", "not what the app answers")
    with pytest.raises(RuntimeError, match=r"RSGI GET /: b'Hello"):
        await pgo_train.train_rsgi(requests=1)
