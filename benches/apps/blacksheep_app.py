"""The scenarios in BlackSheep, with its idiomatic parameter binding."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from blacksheep import Application, Request, Response, WebSocket, json, text
from blacksheep.server.websocket import WebSocketDisconnectError

from apps.common import JSON_PAYLOAD, ROUTE_COUNT, TEXT, table_route

app = Application()
get = app.router.get


@get("/")
async def plain() -> Response:
    return text(TEXT)


@get("/json")
async def json_view() -> Response:
    return json(JSON_PAYLOAD)


@get("/users/{int:user_id}/posts/{slug}")
async def user_post(user_id: int, slug: str) -> Response:
    return json({"user_id": user_id, "slug": slug})


@app.router.post("/echo")
async def echo(request: Request) -> Response:
    return json(await request.json())


@get("/query")
async def query_view(request: Request) -> Response:
    query = request.query
    token = request.get_first_header(b"x-token")
    return json(
        {
            "a": query["a"][0],
            "b": query["b"][0],
            "c": query["c"][0],
            "token": token.decode("latin-1") if token is not None else None,
        }
    )


@app.router.ws("/ws")
async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        try:
            message = await websocket.receive_text()
        except WebSocketDisconnectError:
            return
        await websocket.send_text(message)


def table_view(i: int, has_param: bool) -> Callable[..., Awaitable[Response]]:
    if has_param:

        async def param_view(item_id: int) -> Response:
            return text(f"r{i}:{item_id}")

        return param_view

    async def static_view() -> Response:
        return text(f"r{i}")

    return static_view


for _i in range(ROUTE_COUNT):
    _prefix, _has_param = table_route(_i)
    _view: Any = table_view(_i, _has_param)
    get(f"{_prefix}/{{int:item_id}}" if _has_param else _prefix)(_view)

PENDING: frozenset[str] = frozenset()
