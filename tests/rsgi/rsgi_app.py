"""The app served by ``granian --interface rsgi`` in tests/rsgi/: every feature the
RSGI translation has to carry (bodies, streams, files, SSE, WebSockets, lifespan,
middleware, limits)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from covet import (
    CovetRouter,
    JSONResponse,
    PlainTextResponse,
    Request,
    WebSocket,
    WebSocketDisconnect,
    create_asgi_app,
)
from covet.limits import Limits
from covet.middleware import GZipMiddleware, Middleware
from covet.responses import (
    EventSourceResponse,
    FileResponse,
    Response,
    ServerSentEvent,
    StreamingResponse,
)

#: The lifecycle log: one line per event, read back by the tests after granian stops.
LOG = Path(os.environ.get("COVET_RSGI_LOG", os.devnull))
#: The directory of the files served under /file.
FILES = Path(os.environ.get("COVET_RSGI_FILES", Path(__file__).parent))

router = CovetRouter()
endless_state = {"started": False, "closed": False}


def log(line: str) -> None:
    with LOG.open("a") as out:
        out.write(line + "\n")


@router.get("/")
async def plain(request: Request) -> Response:
    return PlainTextResponse("Hello, World!")


@router.get("/json")
async def json_view(request: Request) -> Response:
    return JSONResponse({"message": "Hello", "items": [1, 2, 3]})


@router.get("/users/{user_id:int}/posts/{slug}")
async def user_post(request: Request) -> Response:
    params = request.path_params
    return JSONResponse({"user_id": params["user_id"], "slug": params["slug"]})


@router.post("/echo")
async def echo(request: Request) -> Response:
    body = await request.body()
    return Response(body, media_type="application/octet-stream")


@router.post("/echo-stream")
async def echo_stream(request: Request) -> Response:
    """The body read chunk by chunk: how many chunks and bytes arrived."""
    chunks = size = 0
    async for chunk in request.stream():
        chunks += 1
        size += len(chunk)
    return JSONResponse({"chunks": chunks, "size": size})


@router.post("/json-echo")
async def json_echo(request: Request) -> Response:
    return JSONResponse(await request.json())


@router.get("/request-info")
async def request_info(request: Request) -> Response:
    client = request.client
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.query_params),
            "x_multi": request.headers.getlist("x-multi"),
            "http_version": request.scope["http_version"],
            "scheme": request.url.scheme,
            "client_host": client.host if client else None,
            "server": list(request.scope["server"]),
            "raw_path": request.scope["raw_path"].decode("ascii"),
            "db": getattr(request.state, "db", None),
        }
    )


@router.get("/stream")
async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[str]:
        for i in range(5):
            yield f"chunk-{i}\n"
            await asyncio.sleep(0.01)

    return StreamingResponse(chunks(), media_type="text/plain")


@router.get("/events")
async def events(request: Request) -> Response:
    async def gen() -> AsyncIterator[ServerSentEvent]:
        for i in range(3):
            yield ServerSentEvent(f"tick {i}", event="tick", id=str(i))

    return EventSourceResponse(gen())


@router.get("/endless")
async def endless(request: Request) -> Response:
    async def ticks() -> AsyncIterator[bytes]:
        endless_state["started"] = True
        try:
            while True:
                yield b"tick\n"
                await asyncio.sleep(0.02)
        finally:
            endless_state["closed"] = True

    return StreamingResponse(ticks())


@router.get("/endless-state")
async def get_endless_state(request: Request) -> dict[str, bool]:
    return endless_state


@router.get("/file")
async def file(request: Request) -> Response:
    return FileResponse(FILES / "data.bin", filename="data.bin")


@router.get("/big-text")
async def big_text(request: Request) -> Response:
    return PlainTextResponse("x" * 10_000)


@router.get("/stats")
async def stats(request: Request) -> Response:
    return JSONResponse(request.app.get_stats())


@router.get("/fail")
async def fail(request: Request) -> Response:
    raise RuntimeError("boom")


@router.websocket("/ws")
async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        try:
            message = await websocket.receive()
        except WebSocketDisconnect as exc:
            log(f"ws disconnect {exc.code}")
            return
        if message.get("text") is not None:
            await websocket.send_text(message["text"])
        else:
            await websocket.send_bytes(message["bytes"])


@router.websocket("/ws/info/{name}")
async def ws_info(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(
        {
            "name": websocket.path_params["name"],
            "q": websocket.query.get("q"),
            "url": str(websocket.url),
            "offered": websocket.subprotocols,
            "db": getattr(websocket.state, "db", None),
        }
    )
    await websocket.close()


@router.websocket("/ws/deny")
async def ws_deny(websocket: WebSocket) -> None:
    await websocket.close()


@router.websocket("/ws/subprotocol")
async def ws_subprotocol(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol="chat")


@router.websocket("/ws/small")
async def ws_small(websocket: WebSocket) -> None:
    """Echoes text until a message over the 1 KiB limit closes the connection."""
    websocket.max_message_size = 1024
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text)
    log(f"ws small closed {websocket.close_code}")


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
    log("lifespan enter")
    yield {"db": "connected"}
    log("lifespan exit")


app = create_asgi_app(
    router,
    lifespan=lifespan,
    on_startup=[lambda: log("startup handler")],
    on_shutdown=[lambda: log("shutdown handler")],
    limits=Limits(max_body_size=2 * 1024 * 1024),
    middleware=[Middleware(GZipMiddleware, minimum_size=500)],
)
