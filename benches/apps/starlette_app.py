"""The scenarios in Starlette."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from apps.common import JSON_PAYLOAD, ROUTE_COUNT, TEXT, table_route


async def plain(request: Request) -> Response:
    return PlainTextResponse(TEXT)


async def json_view(request: Request) -> Response:
    return JSONResponse(JSON_PAYLOAD)


async def user_post(request: Request) -> Response:
    params = request.path_params
    return JSONResponse({"user_id": params["user_id"], "slug": params["slug"]})


async def echo(request: Request) -> Response:
    return JSONResponse(await request.json())


async def query_view(request: Request) -> Response:
    query = request.query_params
    return JSONResponse(
        {
            "a": query.get("a"),
            "b": query.get("b"),
            "c": query.get("c"),
            "token": request.headers.get("x-token"),
        }
    )


async def upload(request: Request) -> Response:
    async with request.form() as form:
        file = form["file"]
        size = 0
        while chunk := await file.read(65536):  # type: ignore[union-attr]
            size += len(chunk)
        return JSONResponse({"name": file.filename, "size": size})  # type: ignore[union-attr]


async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        try:
            message = await websocket.receive_text()
        except WebSocketDisconnect:
            return
        await websocket.send_text(message)


def table_view(i: int, has_param: bool) -> Callable[[Request], Awaitable[Response]]:
    if has_param:

        async def param_view(request: Request) -> Response:
            return PlainTextResponse(f"r{i}:{request.path_params['item_id']}")

        return param_view

    async def static_view(request: Request) -> Response:
        return PlainTextResponse(f"r{i}")

    return static_view


routes: list[BaseRoute] = [
    Route("/", plain),
    Route("/json", json_view),
    Route("/users/{user_id:int}/posts/{slug}", user_post),
    Route("/echo", echo, methods=["POST"]),
    Route("/query", query_view),
    Route("/upload", upload, methods=["POST"]),
    WebSocketRoute("/ws", ws_echo),
]
for _i in range(ROUTE_COUNT):
    _prefix, _has_param = table_route(_i)
    _pattern = f"{_prefix}/{{item_id:int}}" if _has_param else _prefix
    routes.append(Route(_pattern, table_view(_i, _has_param)))

app = Starlette(routes=routes)
PENDING: frozenset[str] = frozenset()
