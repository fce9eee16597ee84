"""The guide's middleware snippets ("Middleware Integration", "Middleware Examples",
"Global Error Handling"), copied verbatim from ASGI-GUIDE.md, are acceptance tests:
they must work wrapped by hand (``app = CustomMiddleware(base_app)``) and through a
``MiddlewareStack`` given to ``CovetASGIApp(middleware_stack=...)``."""

# ruff: noqa: B006, E402, F811, I001, W291, W293
from __future__ import annotations

import gzip as gzip_module
import logging
import re
import time
from typing import Any

import pytest

from covet import middleware as builtin
from covet.core.asgi_app import CovetASGIApp
from covet.core.asgi_integration import ASGITestClient
from covet.core.http import Request, Response
from covet.core.middleware import MiddlewareStack
from covet.core.routing import CovetRouter

# The guide's ErrorHandlingMiddleware logs through a ``logger`` it does not define.
logger = logging.getLogger("covet.tests.guide_middleware")


def make_router() -> CovetRouter:
    router = CovetRouter()

    async def hello(request: Request):
        return Response({"message": "Hello ASGI World!"})

    router.add_route("/", hello, ["GET"])
    return router


base_app = CovetASGIApp(router=make_router())


# --- begin verbatim from ASGI-GUIDE.md "Middleware Integration" ---
# fmt: off
class CustomMiddleware:
    def __init__(self, app):
        self.app = app
    
    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            # Process HTTP requests
            start_time = time.time()
            
            async def send_wrapper(message):
                if message["type"] == "http.response.start":
                    # Add custom header
                    headers = list(message.get("headers", []))
                    duration = time.time() - start_time
                    headers.append([b"x-response-time", f"{duration:.3f}".encode()])
                    message["headers"] = headers
                await send(message)
            
            await self.app(scope, receive, send_wrapper)
        else:
            await self.app(scope, receive, send)

# Apply middleware
app = CustomMiddleware(base_app)
# fmt: on
# --- end verbatim ---


# --- begin verbatim from ASGI-GUIDE.md "CORS Middleware" ---
# fmt: off
class CORSMiddleware:
    def __init__(self, app, allow_origins=["*"]):
        self.app = app
        self.allow_origins = allow_origins
    
    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            async def send_wrapper(message):
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", []))
                    headers.append([b"access-control-allow-origin", b"*"])
                    message["headers"] = headers
                await send(message)
            
            await self.app(scope, receive, send_wrapper)
        else:
            await self.app(scope, receive, send)
# fmt: on
# --- end verbatim ---

# --- begin verbatim from ASGI-GUIDE.md "Rate Limiting Middleware" ---
# fmt: off
import time
from collections import defaultdict

class RateLimitMiddleware:
    def __init__(self, app, requests_per_minute=60):
        self.app = app
        self.requests_per_minute = requests_per_minute
        self.requests = defaultdict(list)
    
    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            client = scope.get("client", ["unknown"])[0]
            now = time.time()
            
            # Clean old requests
            self.requests[client] = [
                req_time for req_time in self.requests[client]
                if now - req_time < 60
            ]
            
            # Check rate limit
            if len(self.requests[client]) >= self.requests_per_minute:
                await send({
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [[b"content-type", b"application/json"]]
                })
                await send({
                    "type": "http.response.body",
                    "body": b'{"error": "Rate limit exceeded"}'
                })
                return
            
            # Record request
            self.requests[client].append(now)
        
        await self.app(scope, receive, send)
# fmt: on
# --- end verbatim ---


# --- begin verbatim from ASGI-GUIDE.md "Global Error Handling" ---
# fmt: off
class ErrorHandlingMiddleware:
    def __init__(self, app):
        self.app = app
    
    async def __call__(self, scope, receive, send):
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            # Log error
            logger.error(f"Unhandled error: {exc}", exc_info=True)
            
            # Send error response
            await send({
                "type": "http.response.start",
                "status": 500,
                "headers": [[b"content-type", b"application/json"]]
            })
            await send({
                "type": "http.response.body", 
                "body": b'{"error": "Internal server error"}'
            })
# fmt: on
# --- end verbatim ---

# -- tests ---------------------------------------------------------------------------------


async def lifespan(app: Any) -> list[str]:
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    return sent


async def test_custom_middleware_applied_by_hand_adds_response_time() -> None:
    response = await ASGITestClient(app).get("/")
    assert response.status_code == 200
    assert response.json() == {"message": "Hello ASGI World!"}
    assert re.fullmatch(r"\d+\.\d{3}", response.headers["x-response-time"])


async def test_custom_middleware_passes_lifespan_through() -> None:
    started: list[bool] = []
    inner = CovetASGIApp(router=make_router())
    inner.add_startup_handler(lambda: started.append(True))
    assert await lifespan(CustomMiddleware(inner)) == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert started == [True]


async def test_custom_middleware_in_a_stack_given_to_covet_asgi_app() -> None:
    middleware = MiddlewareStack()
    middleware.add(CustomMiddleware)
    stacked = CovetASGIApp(
        router=make_router(),
        middleware_stack=middleware,
        debug=False,
        enable_lifespan=True,
    )
    response = await ASGITestClient(stacked).get("/")
    assert response.status_code == 200
    assert re.fullmatch(r"\d+\.\d{3}", response.headers["x-response-time"])
    assert await lifespan(stacked) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_guide_cors_middleware_by_hand_and_in_a_stack() -> None:
    by_hand = ASGITestClient(CORSMiddleware(base_app))
    assert (await by_hand.get("/")).headers["access-control-allow-origin"] == "*"
    stacked = CovetASGIApp(
        router=make_router(),
        middleware_stack=MiddlewareStack().add(CORSMiddleware, allow_origins=["*"]),
    )
    response = await ASGITestClient(stacked).get("/")
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json() == {"message": "Hello ASGI World!"}


@pytest.mark.parametrize("how", ["by hand", "stack"])
async def test_guide_rate_limit_middleware_refuses_over_the_limit(how: str) -> None:
    if how == "by hand":
        limited: Any = RateLimitMiddleware(base_app, requests_per_minute=2)
    else:
        stack = MiddlewareStack().add(RateLimitMiddleware, requests_per_minute=2)
        limited = CovetASGIApp(router=make_router(), middleware_stack=stack)
    client = ASGITestClient(limited)
    assert [(await client.get("/")).status_code for _ in range(2)] == [200, 200]
    refused = await client.get("/")
    assert refused.status_code == 429
    assert refused.json() == {"error": "Rate limit exceeded"}
    other = ASGITestClient(limited, client=("10.1.1.1", 5000))
    assert (await other.get("/")).status_code == 200


class Explode:
    """An inner middleware that fails outside any route handler."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/explode":
            raise RuntimeError("kaboom")
        await self.app(scope, receive, send)


async def test_guide_error_handling_middleware_turns_escaped_errors_into_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = MiddlewareStack()
    stack.add(ErrorHandlingMiddleware)
    stack.add(Explode)
    client = ASGITestClient(CovetASGIApp(router=make_router(), middleware_stack=stack))

    with caplog.at_level(logging.ERROR, logger=logger.name):
        response = await client.get("/explode")
    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error"}
    assert "Unhandled error: kaboom" in caplog.text
    assert (await client.get("/")).status_code == 200


async def test_guide_error_handling_middleware_by_hand() -> None:
    async def failing_app(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("bad")

    response = await ASGITestClient(ErrorHandlingMiddleware(failing_app)).get("/")
    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error"}


async def test_guide_middleware_compose_with_the_built_in_ones() -> None:
    big_router = CovetRouter()

    async def big(request: Request):
        return Response({"items": list(range(500)), "id": request.state.request_id})

    big_router.add_route("/", big, ["GET"])
    stack = MiddlewareStack()
    stack.add(ErrorHandlingMiddleware)
    stack.add(CustomMiddleware)
    stack.add(builtin.RequestIDMiddleware)
    stack.add(CORSMiddleware)
    stack.add(builtin.GZipMiddleware)
    client = ASGITestClient(CovetASGIApp(router=big_router, middleware_stack=stack))

    response = await client.get("/", headers={"accept-encoding": "gzip", "x-request-id": "r-1"})

    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    body = gzip_module.decompress(response.content)
    assert body.startswith(b'{"items":[0,1,2') and b'"id":"r-1"' in body
    assert response.headers["x-request-id"] == "r-1"
    assert response.headers["access-control-allow-origin"] == "*"
    assert "x-response-time" in response.headers
