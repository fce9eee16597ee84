"""Class-based endpoints: HTTPEndpoint answers the verbs it defines (405 with Allow
for the rest), WebSocketEndpoint decodes messages per its encoding."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from covet.app import create_asgi_app
from covet.endpoints import HTTPEndpoint, WebSocketEndpoint
from covet.requests import Request
from covet.responses import PlainTextResponse
from covet.routing import CovetRouter, Route, WebSocketRoute
from covet.testing import ASGITestClient, TestClient
from covet.websockets import WebSocket


class Item(HTTPEndpoint):
    async def get(self, request: Request) -> dict[str, Any]:
        return {"id": request.path_params["id"], "same": self.request is request}

    def delete(self, request: Request) -> PlainTextResponse:
        on_main = threading.current_thread() is threading.main_thread()
        return PlainTextResponse(f"deleted {request.path_params['id']} main={on_main}")


def test_allowed_methods_are_the_verbs_the_class_defines() -> None:
    assert Item.allowed_methods() == ["GET", "DELETE"]


async def test_http_endpoint_dispatches_by_verb_and_answers_405_for_the_rest() -> None:
    router = CovetRouter()
    route = router.add_route("/items/{id:int}", Item)
    assert route.methods == ["GET", "DELETE"] and route.name == "Item"
    client = ASGITestClient(create_asgi_app(router))
    assert (await client.get("/items/3")).json() == {"id": 3, "same": True}
    assert (await client.delete("/items/3")).text == "deleted 3 main=False"
    head = await client.head("/items/3")
    assert head.status_code == 200 and head.content == b""
    post = await client.post("/items/3")
    assert post.status_code == 405 and post.headers["allow"] == "DELETE, GET, HEAD, OPTIONS"


async def test_http_endpoint_with_explicit_methods_answers_405_for_undefined_verbs() -> None:
    app = create_asgi_app(routes=[Route("/items/{id:int}", Item, methods=["GET", "PUT"])])
    client = ASGITestClient(app)
    assert (await client.get("/items/1")).status_code == 200
    put = await client.put("/items/1")
    assert put.status_code == 405 and put.headers["allow"] == "DELETE, GET"


class Echo(WebSocketEndpoint):
    encoding = "json"
    events: list[Any] = []

    async def on_connect(self, websocket: WebSocket) -> None:
        self.events.append("connect")
        await websocket.accept()

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_json({"echo": data})

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        self.events.append(("disconnect", close_code))


def test_websocket_endpoint_decodes_json_and_reports_the_close_code() -> None:
    Echo.events = []
    app = create_asgi_app(routes=[WebSocketRoute("/ws", Echo)])
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as ws:
            ws.send_json({"a": 1})
            assert ws.receive_json() == {"echo": {"a": 1}}
            ws.close(4000)
    assert Echo.events == ["connect", ("disconnect", 4000)]


@pytest.mark.parametrize(
    ("encoding", "send"),
    [("text", ("bytes", b"x")), ("bytes", ("text", "x")), ("json", ("text", "{not json"))],
)
def test_websocket_endpoint_closes_1003_on_the_wrong_kind_of_message(
    encoding: str, send: tuple[str, Any]
) -> None:
    class Strict(WebSocketEndpoint):
        pass

    Strict.encoding = encoding
    router = CovetRouter()
    route = router.add_route("/ws", Strict)
    assert route.methods == ["WEBSOCKET"]
    with TestClient(create_asgi_app(router)) as client:
        with client.websocket_connect("/ws") as ws:
            kind, payload = send
            if kind == "bytes":
                ws.send_bytes(payload)
            else:
                ws.send_text(payload)
            with pytest.raises(Exception) as closed:
                ws.receive_text()
            assert getattr(closed.value, "code", None) == 1003
