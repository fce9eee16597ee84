"""The built-in middleware stacked on one app, served by a real uvicorn in
tests/test_middleware_stack.py."""

from __future__ import annotations

from covet.app import CovetASGIApp
from covet.middleware import (
    CORSMiddleware,
    GZipMiddleware,
    MiddlewareStack,
    RateLimitMiddleware,
    RequestIDMiddleware,
    TrustedHostMiddleware,
)
from covet.requests import Request
from covet.routing import CovetRouter

router = CovetRouter()


async def items(request: Request) -> dict[str, object]:
    return {"items": list(range(1000)), "request_id": request.state.request_id}


router.add_route("/items", items, ["GET", "PUT"])

stack = MiddlewareStack()
stack.add(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"])
stack.add(RequestIDMiddleware)
stack.add(CORSMiddleware, allow_origins=["https://app.example.com"], allow_methods=["GET", "PUT"])
stack.add(RateLimitMiddleware, requests_per_minute=1000)
stack.add(GZipMiddleware)

app = CovetASGIApp(router=router, middleware_stack=stack)
