"""The app adapters and the test clients where the user guide imports them."""

from covet.adapters import (
    ASGI2Adapter,
    CovetApplicationASGIAdapter,
    WSGIAdapter,
    create_covet_application,
    make_asgi_compatible,
)
from covet.testing import ASGITestClient, TestClient

__all__ = [
    "ASGI2Adapter",
    "ASGITestClient",
    "CovetApplicationASGIAdapter",
    "TestClient",
    "WSGIAdapter",
    "create_covet_application",
    "make_asgi_compatible",
]
