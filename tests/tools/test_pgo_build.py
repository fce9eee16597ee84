"""tools/pgo_build.py: where llvm-profdata comes from, and the fallback without it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import pgo_build

ROOT = Path(__file__).resolve().parents[2]


def test_llvm_profdata_is_the_one_in_rustcs_sysroot() -> None:
    tool = pgo_build.llvm_profdata()
    if tool is None:
        pytest.skip("rustup's llvm-tools component cannot be had here")
    sysroot = subprocess.run(
        ["rustc", "--print", "sysroot"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert tool.is_relative_to(sysroot)
    version = subprocess.run([str(tool), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "LLVM" in version.stdout


def test_without_rustc_or_rustup_there_is_no_profdata(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The build then goes on without PGO instead of failing.
    monkeypatch.setenv("PATH", str(tmp_path))
    assert pgo_build.llvm_profdata() is None


def test_a_wheel_build_needs_an_output_folder() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "pgo_build.py"), "wheel"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "wheel needs --out" in result.stderr
