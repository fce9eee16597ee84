"""A fuller CovetPy app, as the guide's examples/ section describes: routes with
typed parameters, JSON bodies, a WebSocket echo, lifespan state, middleware and
stats.

    uvicorn examples.asgi_uvicorn_examples:app --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from covet import CovetRouter, HTTPException, MiddlewareStack, Request, Response, WebSocket
from covet.core.asgi_app import CovetASGIApp
from covet.middleware import CORSMiddleware, GZipMiddleware

router = CovetRouter()


class ResponseTimeMiddleware:
    """The guide's CustomMiddleware: adds an ``x-response-time`` header."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                duration = time.perf_counter() - start
                headers.append((b"x-response-time", f"{duration:.6f}".encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)


@router.get("/")
async def index(request: Request) -> dict:
    return {"message": "CovetPy ASGI examples", "started_at": request.state.started_at}


@router.get("/health")
async def health(request: Request) -> str:
    return "ok"


@router.get("/users/{user_id:int}")
async def get_user(request: Request) -> dict:
    return {"user_id": request.path_params["user_id"]}


@router.post("/api/data")
async def create_data(request: Request) -> Response:
    if not request.is_json():
        raise HTTPException(415, "send application/json")
    return Response({"received": await request.json()}, status_code=201)


@router.get("/stats")
async def stats(request: Request) -> dict:
    return request.app.get_stats()


@router.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for message in websocket.iter_json():
        await websocket.send_json({"echo": message, "timestamp": time.time()})


@asynccontextmanager
async def lifespan(app: CovetASGIApp) -> AsyncIterator[dict]:
    # Open connections here; what is yielded is visible as request.state.<name>.
    yield {"started_at": time.time()}


middleware = (
    MiddlewareStack()
    .add(ResponseTimeMiddleware)
    .add(CORSMiddleware, allow_origins=["*"])
    .add(GZipMiddleware, minimum_size=1000)
)

app = CovetASGIApp(router=router, middleware_stack=middleware, lifespan=lifespan)
