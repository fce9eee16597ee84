"""Real servers for end-to-end tests: a process listening on a free 127.0.0.1 port,
started from the repository root with ``tests`` importable, stopped at the end."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx

ROOT = Path(__file__).resolve().parent.parent

_PR_SET_PDEATHSIG = 1
# Looked up before any fork: the child only makes the call.
_prctl = ctypes.CDLL(None).prctl if sys.platform == "linux" else None


def die_with_parent() -> None:
    """``preexec_fn`` of every server a test starts: the kernel sends it SIGTERM
    when the test process dies, so a crashed or killed pytest leaves no server
    running (the fixtures stop them in every other case)."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """``argv`` run as a server on ``port`` (``base_url``); ``wait_ready()`` returns
    once it accepts connections, ``stop()`` ends it (SIGTERM, then SIGKILL)."""

    name = "server"

    def __init__(self, argv: list[str], port: int, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}", **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )

    def wait_ready(self, timeout: float = 20.0, http_path: str | None = None) -> None:
        """Returns once the server accepts connections or, with ``http_path``, once it
        answers an HTTP request there (a gunicorn master accepts before its worker
        serves)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.output()}"
                )
            try:
                if http_path is None:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                        return
                else:
                    httpx.get(f"{self.base_url}{http_path}", timeout=0.5)
                    return
            except (OSError, httpx.TransportError):
                time.sleep(0.05)
        self.process.kill()
        raise TimeoutError(f"{self.name} did not start in time:\n{self.output()}")

    def output(self) -> str:
        """What the server printed (read once it has exited)."""
        stream = self.process.stdout
        return stream.read().decode(errors="replace") if stream is not None else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Sends ``sig`` and waits; a server still running after ``timeout`` is killed."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait()


class UvicornServer(ServerProcess):
    """``uvicorn app`` (warnings only), with ``extra_args`` for uvicorn."""

    name = "uvicorn"

    def __init__(self, app: str, *extra_args: str, env: dict[str, str] | None = None) -> None:
        port = free_port()
        argv = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1",
                "--port", str(port), "--log-level", "warning", *extra_args]  # fmt: skip
        super().__init__(argv, port, env)


class GranianServer(ServerProcess):
    """``granian --interface rsgi app`` with one worker (warnings only)."""

    name = "granian"

    def __init__(self, app: str, *extra_args: str, env: dict[str, str] | None = None) -> None:
        port = free_port()
        argv = [sys.executable, "-m", "granian", "--interface", "rsgi", "--host", "127.0.0.1",
                "--port", str(port), "--workers", "1", "--log-level", "warning",
                *extra_args, app]  # fmt: skip
        super().__init__(argv, port, env)


class HypercornServer(ServerProcess):
    """``hypercorn app`` (asyncio, one worker), with ``extra_args`` for hypercorn."""

    name = "hypercorn"

    def __init__(self, app: str, *extra_args: str, env: dict[str, str] | None = None) -> None:
        port = free_port()
        argv = [sys.executable, "-m", "hypercorn", "--bind", f"127.0.0.1:{port}",
                "--log-level", "warning", *extra_args, app]  # fmt: skip
        super().__init__(argv, port, env)


AppServer = TypeVar("AppServer", UvicornServer, GranianServer, HypercornServer)


@contextlib.contextmanager
def starting(kind: type[AppServer]) -> Iterator[Callable[..., AppServer]]:
    """``start("module:app", *server_args, env=...)`` for a fixture: each server is
    started and waited for; all of them are stopped at the end."""
    servers: list[AppServer] = []

    def start(app: str, *args: str, env: dict[str, str] | None = None) -> AppServer:
        server = kind(app, *args, env=env)
        servers.append(server)
        server.wait_ready()
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
