"""An app with long-lived connections for the graceful-drain tests (tests/app/test_drain.py),
served by uvicorn and gunicorn. Events go to the file named by ``DRAIN_MARKER``, one
line each, in the order the server process saw them; ``DRAIN_TIMEOUT`` sets
``drain_timeout`` (``none`` disables the drain)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from covet import CovetRouter, Request, WebSocket, create_asgi_app
from covet.responses import EventSourceResponse

MARKER = os.environ.get("DRAIN_MARKER", os.devnull)


def note(line: str) -> None:
    with open(MARKER, "a", encoding="utf-8") as marker:
        marker.write(line + "\n")


router = CovetRouter()


@router.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        async for text in websocket.iter_text():
            await websocket.send_text(text)
    finally:
        note(f"echo ended {websocket.close_code}")


@router.websocket("/stuck")
async def stuck(websocket: WebSocket) -> None:
    """Never looks at its connection again: only cancellation ends it."""
    await websocket.accept()
    await websocket.send_text("ready")
    try:
        await asyncio.sleep(3600)
    finally:
        note("stuck ended")


@router.get("/events")
async def events(request: Request) -> Any:
    async def ticks() -> AsyncIterator[dict[str, Any]]:
        n = 0
        try:
            while True:
                yield {"data": n}
                n += 1
                await asyncio.sleep(0.2)
        finally:
            note("events ended")

    return EventSourceResponse(ticks())


def on_shutdown() -> None:
    live = app.live_connections
    note(f"shutdown websockets={live.websockets} streams={live.streams}")


setting = os.environ.get("DRAIN_TIMEOUT", "5")
app = create_asgi_app(
    router,
    on_shutdown=[on_shutdown],
    drain_timeout=None if setting == "none" else float(setting),
)
