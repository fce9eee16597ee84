"""The scenarios in CovetPy, written the way the user guide shows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from apps.common import JSON_PAYLOAD, ROUTE_COUNT, TEXT, table_route
from covet.app import create_asgi_app
from covet.requests import Request
from covet.responses import JSONResponse, PlainTextResponse, Response
from covet.routing import CovetRouter

try:
    from covet.websockets import WebSocketDisconnect
except ImportError:  # WebSocket support not merged yet: the scenario reports "pending"
    WebSocketDisconnect = Exception  # type: ignore[assignment,misc]

router = CovetRouter()


async def plain(request: Request) -> Response:
    return PlainTextResponse(TEXT)


async def json_view(request: Request) -> Response:
    return Response(JSON_PAYLOAD)


async def user_post(request: Request) -> Response:
    params = request.path_params
    return JSONResponse({"user_id": params["user_id"], "slug": params["slug"]})


async def echo(request: Request) -> Response:
    return JSONResponse(await request.json())


async def query_view(request: Request) -> Response:
    query = request.query
    return JSONResponse(
        {
            "a": query.get("a"),
            "b": query.get("b"),
            "c": query.get("c"),
            "token": request.headers.get("x-token"),
        }
    )


async def upload(request: Request) -> Response:
    form = await request.form()  # type: ignore[attr-defined]
    file = form["file"]
    size = 0
    while chunk := await file.read(65536):
        size += len(chunk)
    return JSONResponse({"name": file.filename, "size": size})


async def ws_echo(websocket: Any) -> None:
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


router.add_route("/", plain, ["GET"])
router.add_route("/json", json_view, ["GET"])
router.add_route("/users/{user_id:int}/posts/{slug}", user_post, ["GET"])
router.add_route("/echo", echo, ["POST"])
router.add_route("/query", query_view, ["GET"])
router.add_route("/upload", upload, ["POST"])
router.add_route("/ws", ws_echo, ["WEBSOCKET"])
for _i in range(ROUTE_COUNT):
    _prefix, _has_param = table_route(_i)
    _pattern = f"{_prefix}/{{item_id:int}}" if _has_param else _prefix
    router.add_route(_pattern, table_view(_i, _has_param), ["GET"])

app = create_asgi_app(router=router, debug=False)

#: Scenarios still being implemented in CovetPy: a failing check there is reported as
#: "pending" instead of failing the run. Remove a name once the feature has landed.
PENDING: frozenset[str] = frozenset({"websocket", "upload"})
