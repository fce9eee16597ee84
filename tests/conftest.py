"""Shared fixtures: a real uvicorn server on 127.0.0.1 for end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servers import ROOT, UvicornServer, free_port

__all__ = ["ROOT", "Server", "free_port"]


#: The uvicorn server of the ``serve`` fixture (the name tests import).
Server = UvicornServer


@pytest.fixture
def serve() -> Iterator:
    """``serve("module:app", *uvicorn_args)`` starts uvicorn and stops it afterwards."""
    servers: list[Server] = []

    def start(app: str, *args: str, env: dict[str, str] | None = None) -> Server:
        server = Server(app, *args, env=env)
        servers.append(server)
        server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()
