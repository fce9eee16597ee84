"""Lifespan under uvicorn: the ``lifespan`` context yields state that handlers read
as ``request.state``; every step of startup and shutdown is appended to the file
named by COVET_LIFESPAN_LOG so that the test can check the order after exit."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from covet import CovetRouter, Request, create_asgi_app

LOG = os.environ.get("COVET_LIFESPAN_LOG", os.devnull)


def log(event: str) -> None:
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(event + "\n")


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
    log("lifespan enter")
    app.state.started = True
    yield {"db": {"dsn": "sqlite://memory"}}
    log("lifespan exit")


async def db(request: Request) -> Any:
    return {"db": request.state.db, "app_started": request.app.state.started}


def sync_startup() -> None:
    log("startup handler")


async def failing_shutdown() -> None:
    log("failing shutdown handler")
    raise RuntimeError("shutdown handler broke")


async def last_shutdown() -> None:
    log("last shutdown handler")


router = CovetRouter()
router.add_route("/db", db, ["GET"])
app = create_asgi_app(
    router=router,
    lifespan=lifespan,
    on_startup=[sync_startup],
    on_shutdown=[failing_shutdown, last_shutdown],
)
