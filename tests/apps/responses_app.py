"""Streaming, SSE, file and static responses served by uvicorn for the end-to-end
tests in test_responses.py, test_file_response.py and test_staticfiles.py."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from covet.app import create_asgi_app
from covet.responses import EventSourceResponse, FileResponse, ServerSentEvent, StreamingResponse
from covet.routing import CovetRouter
from covet.staticfiles import StaticFiles

router = CovetRouter()
state = {"started": False, "closed": False}

#: Set by the tests: the directory served under /static and the file under /file.
STATIC_DIR = Path(os.environ.get("COVET_TEST_STATIC_DIR", Path(__file__).parent))


@router.get("/stream")
async def stream(request: Any) -> StreamingResponse:
    async def chunks() -> AsyncIterator[str]:
        for i in range(3):
            yield f"chunk-{i}\n"
            await asyncio.sleep(0)

    return StreamingResponse(chunks(), media_type="text/plain")


@router.get("/sync-stream")
async def sync_stream(request: Any) -> StreamingResponse:
    def chunks() -> Iterator[bytes]:
        yield from (b"a", b"b", b"c")

    return StreamingResponse(chunks())


@router.get("/events")
async def events(request: Any) -> EventSourceResponse:
    async def gen() -> AsyncIterator[ServerSentEvent]:
        for i in range(2):
            yield ServerSentEvent(str(i), event="n")

    return EventSourceResponse(gen())


@router.get("/endless")
async def endless(request: Any) -> StreamingResponse:
    async def ticks() -> AsyncIterator[bytes]:
        state["started"] = True
        try:
            while True:
                yield b"tick\n"
                await asyncio.sleep(0.02)
        finally:
            state["closed"] = True

    return StreamingResponse(ticks())


@router.get("/endless-state")
async def endless_state(request: Any) -> dict[str, bool]:
    return state


@router.get("/file")
async def file(request: Any) -> FileResponse:
    return FileResponse(STATIC_DIR / "data.bin", filename="data.bin")


router.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
app = create_asgi_app(router)
