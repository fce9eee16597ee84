"""A real ``granian --interface rsgi`` server on 127.0.0.1 for the RSGI tests, with
the interface of the uvicorn ``Server`` in tests/conftest.py (``port``,
``base_url``, ``process``, ``stop()``)."""

from __future__ import annotations

from collections.abc import Callable

from servers import ROOT, GranianServer, free_port

__all__ = ["ROOT", "GranianServer", "ServeRSGI", "free_port"]

ServeRSGI = Callable[..., GranianServer]
