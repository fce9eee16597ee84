"""An app whose handler polls ``request.is_disconnected()`` until the client goes
away, then writes how it ended to the file named by COVET_TEST_MARKER."""

from __future__ import annotations

import asyncio
import os
import time

from covet.app import create_asgi_app
from covet.requests import Request
from covet.responses import PlainTextResponse
from covet.routing import CovetRouter

router = CovetRouter()


async def watch(request: Request) -> PlainTextResponse:
    deadline = time.monotonic() + 10
    polls = 0
    outcome = "timeout"
    while time.monotonic() < deadline:
        polls += 1
        if await request.is_disconnected():
            outcome = "disconnected"
            break
        await asyncio.sleep(0.01)
    with open(os.environ["COVET_TEST_MARKER"], "w") as marker:
        marker.write(f"{outcome} {polls}")
    return PlainTextResponse(outcome)


router.add_route("/watch", watch, ["GET", "POST"])
app = create_asgi_app(router=router)
