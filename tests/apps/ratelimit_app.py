"""A rate-limited app sharing its limit through Redis (see tests/test_ratelimit.py).

Configured from the environment so several uvicorn processes can share one limit:
COVET_TEST_REDIS_URL, COVET_TEST_PREFIX, COVET_TEST_LIMIT (requests per 60 s).
"""

from __future__ import annotations

import os

from covet.core.asgi_app import CovetASGIApp
from covet.core.http import Request
from covet.core.routing import CovetRouter
from covet.middleware import Middleware, MiddlewareStack, RateLimitMiddleware

router = CovetRouter()


async def index(request: Request) -> dict[str, int]:
    return {"pid": os.getpid()}


router.add_route("/", index, ["GET"])

app = CovetASGIApp(
    router=router,
    middleware_stack=MiddlewareStack(
        [
            Middleware(
                RateLimitMiddleware,
                (int(os.environ.get("COVET_TEST_LIMIT", "5")), 60.0),
                redis_url=os.environ["COVET_TEST_REDIS_URL"],
                key_prefix=os.environ.get("COVET_TEST_PREFIX", "covet:test:"),
            )
        ]
    ),
)
