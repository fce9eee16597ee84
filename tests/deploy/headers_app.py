"""Echoes what the app sees of a request behind a proxy: the headers and the client,
over HTTP (``GET /headers``) and WebSocket (``/ws/headers``)."""

from __future__ import annotations

from typing import Any

from covet import CovetRouter, JSONResponse, Request, WebSocket, create_asgi_app
from covet.connection import HTTPConnection

router = CovetRouter()


def seen(connection: HTTPConnection) -> dict[str, Any]:
    return {
        "headers": {name: value for name, value in connection.headers.items()},
        "client": connection.client[0] if connection.client else None,
    }


@router.get("/headers")
async def headers(request: Request) -> JSONResponse:
    return JSONResponse(seen(request))


@router.websocket("/ws/headers")
async def ws_headers(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(seen(websocket))
    await websocket.close()


app = create_asgi_app(router=router)
