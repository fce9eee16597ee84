"""A rate-limited app sharing its limit through Redis (see tests/test_ratelimit.py).

Configured from the environment so several uvicorn processes can share one limit:
COVET_TEST_REDIS_URL, COVET_TEST_PREFIX, COVET_TEST_LIMIT (requests per 60 s).
"""

from __future__ import annotations

import os

from covet.app import CovetASGIApp
from covet.middleware import Middleware, MiddlewareStack, RateLimitMiddleware
from covet.requests import Request
from covet.routing import CovetRouter

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
