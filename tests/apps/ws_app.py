"""WebSocket endpoints served by uvicorn in tests/test_websockets.py."""

from __future__ import annotations

from typing import Any

from covet import (
    CovetRouter,
    HTTPException,
    JSONResponse,
    Request,
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
    create_asgi_app,
)

router = CovetRouter()
#: Close codes seen server-side by /wait-disconnect, read back through GET /events.
DISCONNECTS: list[int] = []


@router.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message.get("text") is not None:
            await websocket.send_text(message["text"])
        else:
            await websocket.send_bytes(message["bytes"])


@router.websocket("/json")
async def json_echo(websocket: WebSocket) -> None:
    mode = websocket.query.get("mode", "text")
    await websocket.accept()
    async for data in websocket.iter_json(mode):
        await websocket.send_json({"echo": data}, mode=mode)


@router.websocket("/info/{name}")
async def info(websocket: WebSocket) -> None:
    offered = websocket.subprotocols
    await websocket.accept(
        subprotocol="chat.v2" if "chat.v2" in offered else None,
        headers={"x-covet": "accepted"},
    )
    await websocket.send_json(
        {
            "name": websocket.path_params["name"],
            "q": websocket.query.get("q"),
            "header": websocket.headers.get("x-test"),
            "cookie": websocket.cookies.get("session"),
            "url": str(websocket.url),
            "offered": offered,
            "client_host": websocket.client.host if websocket.client else None,
        }
    )
    await websocket.receive_text()  # wait for the client's goodbye


@router.websocket("/close/{code:int}")
async def close_with(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.close(websocket.path_params["code"], "server says bye")


@router.websocket("/no-accept")
async def no_accept(websocket: WebSocket) -> None:
    return None


@router.websocket("/unauthorized")
async def unauthorized(websocket: WebSocket) -> None:
    raise HTTPException(401, "token required", headers={"www-authenticate": "Bearer"})


@router.websocket("/policy")
async def policy(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.receive_text()
    raise WebSocketException(4001, "not allowed")


@router.websocket("/boom")
async def boom(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.receive_text()
    raise RuntimeError("boom after accept")


@router.websocket("/boom-early")
async def boom_early(websocket: WebSocket) -> None:
    raise RuntimeError("boom before accept")


@router.websocket("/wait-disconnect")
async def wait_disconnect(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("ready")
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect as exc:
        DISCONNECTS.append(exc.code)
        raise


@router.websocket("/hold")
async def hold(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("ready")
    async for text in websocket.iter_text():
        await websocket.send_text(text.upper())


async def events(request: Request) -> Any:
    return {"disconnects": DISCONNECTS}


async def stats(request: Request) -> Any:
    return JSONResponse({k: v for k, v in app.get_stats().items() if k != "status_codes"})


router.add_route("/events", events, ["GET"])
router.add_route("/stats", stats, ["GET"])

app = create_asgi_app(router=router, websocket_max_message_size=64 * 1024)
