"""Fixtures for tests that run the app the way it is deployed: a real redis-server,
N uvicorn workers and nginx in front (deploy/nginx.conf), all on 127.0.0.1.

    def test_x(redis_process, start_workers, start_nginx):
        workers = start_workers("examples.chat:app", 2, env={...})
        proxy = start_nginx([w.port for w in workers])

Each factory stops what it started when the test ends (nginx first, then the
workers, then Redis). nginx is installed by ``make deps-system`` (a prerequisite of
``make test``); without it the tests fail under CI and, for a non-root user who
cannot install it, are skipped with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from deploy.processes import (
    NginxProcess,
    RedisProcess,
    StartNginx,
    StartWorkers,
    UvicornProcess,
    nginx_binary,
)


def require_nginx() -> str:
    """The nginx binary; fails the test when it is missing (skips only for a local,
    non-root run, which could not have installed it)."""
    binary = nginx_binary()
    if binary is not None:
        return binary
    reason = "nginx is not installed: run `make deps-system` (part of `make test`)"
    if os.environ.get("CI") != "true" and os.geteuid() != 0:
        pytest.skip(reason + " as root")
    pytest.fail(reason)


@pytest.fixture
def nginx_path() -> str:
    return require_nginx()


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    """A redis-server of this test alone (``.url``, ``.stop()``, ``.start()``)."""
    with RedisProcess() as process:
        yield process


@pytest.fixture
def start_workers() -> Iterator[StartWorkers]:
    """``start_workers(app, count, env=None, args=(), log_level="warning")``: that many
    uvicorn processes of ``app`` on free ports, started in parallel, returned once all
    listen."""
    started: list[UvicornProcess] = []

    def start(
        app: str,
        count: int,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        log_level: str = "warning",
    ) -> list[UvicornProcess]:
        workers = [
            UvicornProcess(app, env=env, args=args, log_level=log_level) for _ in range(count)
        ]
        started.extend(workers)
        for worker in workers:
            worker.wait_ready()
        return workers

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def start_nginx(nginx_path: str) -> Iterator[StartNginx]:
    """``start_nginx(upstream_ports)``: nginx with deploy/nginx.conf rendered for
    those upstream ports, on a free port (``.base_url``, ``.ws_url``)."""
    started: list[NginxProcess] = []

    def start(upstream_ports: list[int]) -> NginxProcess:
        proxy = NginxProcess(nginx_path, upstream_ports)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
