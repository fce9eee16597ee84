"""Shared fixtures: a real uvicorn server on 127.0.0.1 for end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servers import ROOT, UvicornServer, free_port, starting

__all__ = ["ROOT", "Server", "free_port"]


#: The uvicorn server of the ``serve`` fixture (the name tests import).
Server = UvicornServer


@pytest.fixture
def serve() -> Iterator:
    """``serve("module:app", *uvicorn_args)`` starts uvicorn and stops it afterwards."""
    with starting(Server) as start:
        yield start
