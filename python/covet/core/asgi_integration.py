"""Integration helpers the guide imports from here: the test client and (later) the
adapters that make existing apps ASGI 3 callables."""

from covet.core.testclient import ASGITestClient, TestResponse

__all__ = ["ASGITestClient", "TestResponse"]
