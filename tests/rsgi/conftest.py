"""The ``serve_rsgi`` fixture: a real granian (RSGI) on 127.0.0.1.

``serve_rsgi("module:app", env=...)`` mirrors the uvicorn ``serve`` fixture of
tests/conftest.py, so the end-to-end tests written against uvicorn can run
unchanged over RSGI.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rsgi.granian_server import GranianServer, ServeRSGI
from servers import starting


@pytest.fixture
def serve_rsgi() -> Iterator[ServeRSGI]:
    """``serve_rsgi("module:app", *granian_args, env=...)`` starts granian (RSGI)
    and stops it afterwards."""
    with starting(GranianServer) as start:
        yield start
