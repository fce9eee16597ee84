"""WebSocket.url_for: the same reverse routing as Request.url_for, with the
connection's scheme and host."""

from __future__ import annotations

from typing import Any

import pytest

from covet import CovetRouter, WebSocket, create_asgi_app
from covet.connection import HTTPConnection
from covet.testing import ASGITestClient


async def test_websocket_url_for_gives_an_absolute_url_to_a_named_route() -> None:
    router = CovetRouter()

    @router.websocket("/rooms/{room}", name="room")
    async def room(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(str(websocket.url_for("room", room="lobby 2")))
        await websocket.close()

    async with ASGITestClient(create_asgi_app(router)) as client:
        async with client.websocket_connect("/rooms/a") as ws:
            assert await ws.receive_text() == "ws://testserver/rooms/lobby%202"


async def test_websocket_url_for_under_a_root_path_and_secure_scheme() -> None:
    router = CovetRouter()

    @router.websocket("/feed", name="feed")
    async def feed(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(str(websocket.url_for("feed")))
        await websocket.close()

    app = create_asgi_app(router)
    async with ASGITestClient(app, base_url="https://example.org", root_path="/api") as client:
        async with client.websocket_connect("/feed") as ws:
            assert await ws.receive_text() == "wss://example.org/api/feed"


class _Path(str):
    protocol: str
    host: str | None


class _App:
    def __init__(self, protocol: str, host: str | None = None) -> None:
        self.protocol, self.host = protocol, host

    def url_path_for(self, name: str, /, **params: Any) -> _Path:
        path = _Path(f"/{name}")
        path.protocol, path.host = self.protocol, self.host
        return path


@pytest.mark.parametrize(
    ("scheme", "protocol", "expected"),
    [
        ("ws", "http", "http://example.com/x"),
        ("wss", "http", "https://example.com/x"),
        ("http", "websocket", "ws://example.com/x"),
        ("https", "websocket", "wss://example.com/x"),
        ("wss", "", "wss://example.com/x"),
    ],
)
def test_url_for_follows_the_routes_protocol_like_starlette(
    scheme: str, protocol: str, expected: str
) -> None:
    scope = {
        "type": "websocket" if scheme.startswith("ws") else "http",
        "scheme": scheme,
        "path": "/",
        "headers": [(b"host", b"example.com")],
        "app": _App(protocol),
    }
    assert str(HTTPConnection(scope).url_for("x")) == expected


def test_url_for_under_a_host_route_uses_that_host() -> None:
    scope = {
        "type": "http",
        "scheme": "https",
        "path": "/",
        "headers": [(b"host", b"example.com")],
        "app": _App("http", host="api.example.com"),
    }
    assert str(HTTPConnection(scope).url_for("x")) == "https://api.example.com/x"


def test_url_for_without_the_app_in_scope_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="url_for needs the application"):
        HTTPConnection({"type": "http", "path": "/", "headers": []}).url_for("x")
