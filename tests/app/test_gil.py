"""``covet._core`` keeps its per-request state under the GIL (``GilCell``) and so
refuses to load in an interpreter that runs without it."""

from __future__ import annotations

import subprocess
import sys


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_core_refuses_an_interpreter_without_the_gil() -> None:
    # What a free-threaded build started with PYTHON_GIL=0 reports.
    done = run("import sys; sys._is_gil_enabled = lambda: False; import covet._core")
    assert done.returncode != 0
    assert "ImportError: covet._core needs the GIL" in done.stderr


def test_the_core_loads_when_the_gil_is_on() -> None:
    done = run("import sys; sys._is_gil_enabled = lambda: True; import covet._core; print('ok')")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
