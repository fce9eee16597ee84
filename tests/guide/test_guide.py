"""The guide's remaining snippets (API Reference, Request Handling, Production Setup,
Custom Exception Handlers, Troubleshooting), verbatim, as acceptance tests. The other
sections are covered next to their features: test_quickstart, test_websockets,
test_guide_middleware, test_asgi_integration, test_testclient, test_stats,
test_errors_logging."""
# ruff: noqa: F841, W293, I001 (verbatim snippets: unused locals and whitespace are the guide's)

from __future__ import annotations

import json

import pytest

from covet import MiddlewareStack
from covet.core.asgi_app import CovetASGIApp
from covet.core.asgi_integration import ASGITestClient
from covet.core.http import Request, Response
from covet.core.routing import CovetRouter

startup_calls: list[str] = []


async def startup_func() -> None:
    startup_calls.append("startup")


def shutdown_func() -> None:
    startup_calls.append("shutdown")


async def test_api_reference_snippet() -> None:
    router = CovetRouter()
    router.add_route("/", lambda request: {"ok": True}, ["GET"])
    middleware = MiddlewareStack()
    startup_calls.clear()

    # fmt: off
    # --- begin verbatim from ASGI-GUIDE.md "CovetASGIApp" ---
    from covet.core.asgi_app import CovetASGIApp

    app = CovetASGIApp(
        router=router,              # CovetRouter instance
        middleware_stack=middleware, # MiddlewareStack instance
        debug=False,               # Enable debug mode
        enable_lifespan=True       # Enable lifespan events
    )

    # Add event handlers
    app.add_startup_handler(startup_func)
    app.add_shutdown_handler(shutdown_func)

    # Get performance stats
    stats = app.get_stats()
    # --- end verbatim ---

    # --- begin verbatim from ASGI-GUIDE.md "Creating ASGI Apps" ---
    from covet.core.asgi_app import create_asgi_app, create_app

    # Method 1: Using create_asgi_app
    app = create_asgi_app(
        router=router,
        debug=True,
        enable_lifespan=True
    )

    # Method 2: Using create_app (alias)
    app = create_app(router=router, debug=True)
    # --- end verbatim ---
    # fmt: on

    assert stats["requests_processed"] == 0
    assert isinstance(app, CovetASGIApp) and app.debug
    first = CovetASGIApp(router=router, middleware_stack=middleware, enable_lifespan=True)
    first.add_startup_handler(startup_func)
    first.add_shutdown_handler(shutdown_func)
    async with ASGITestClient(first) as client:
        assert (await client.get("/")).json() == {"ok": True}
    assert startup_calls == ["startup", "shutdown"]
    assert first.get_stats()["requests_processed"] == 1


# fmt: off
# --- begin verbatim from ASGI-GUIDE.md "Request Handling" ---
async def handler(request: Request):
    # Access request data
    method = request.method
    path = request.path
    headers = request.headers
    params = request.path_params
    query = request.query.get("param")
    
    # Handle different content types
    if request.is_json():
        data = await request.json()
    elif request.is_form():
        form_data = await request.form()
    
    # Return response
    return Response({"result": "success"})
# --- end verbatim ---
# fmt: on


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"json": {"a": 1}}, {"data": {"field": "value"}}, {"files": {"f": b"x"}}],
)
async def test_request_handling_snippet(kwargs: dict) -> None:
    router = CovetRouter()
    router.add_route("/items/{id:int}", handler, ["POST"])
    client = ASGITestClient(CovetASGIApp(router=router))
    response = await client.post("/items/3?param=x", **kwargs)
    assert response.status_code == 200
    assert response.json() == {"result": "success"}


async def test_production_setup_snippet() -> None:
    router = CovetRouter()
    router.add_route("/health", lambda request: "ok", ["GET"])
    # fmt: off
    # --- begin verbatim from ASGI-GUIDE.md "Basic Production Setup" ---
    # app.py
    from covet.core.asgi_app import create_asgi_app

    app = create_asgi_app(
        router=router,
        debug=False,  # Disable debug in production
        enable_lifespan=True
    )

    # Add production startup tasks
    async def startup():
        # Initialize database connections
        # Set up caching
        # Configure logging
        pass

    app.add_startup_handler(startup)
    # --- end verbatim ---
    # fmt: on
    async with ASGITestClient(app) as client:
        assert (await client.get("/health")).text == "ok"


async def test_custom_exception_handlers_snippet() -> None:
    router = CovetRouter()

    async def broken(request: Request) -> None:
        raise RuntimeError("boom")

    router.add_route("/broken", broken, ["GET"])
    from covet.core.asgi_app import create_asgi_app

    # fmt: off
    # --- begin verbatim from ASGI-GUIDE.md "Custom Exception Handlers" ---
    app = create_asgi_app(router=router)

    async def not_found_handler(request, exc):
        return Response(
            {"error": "Not found", "path": request.path},
            status_code=404
        )

    async def server_error_handler(request, exc):
        return Response(
            {"error": "Internal server error"},
            status_code=500
        )

    # Add handlers to your app's error handling system
    # --- end verbatim ---
    # fmt: on
    app.add_exception_handler(404, not_found_handler)
    app.add_exception_handler(Exception, server_error_handler)
    client = ASGITestClient(app)
    missing = await client.get("/missing")
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": "Not found", "path": "/missing"},
    )
    failed = await client.get("/broken")
    assert (failed.status_code, failed.json()) == (500, {"error": "Internal server error"})


async def test_troubleshooting_websocket_registration_snippet() -> None:
    router = CovetRouter()

    # The guide's WebSocket Handling snippet, kept verbatim in test_websockets.
    from test_websockets import websocket_endpoint

    # fmt: off
    websocket_handler = websocket_endpoint
    # --- begin verbatim from ASGI-GUIDE.md "Troubleshooting" ---
    # Ensure WebSocket routes are registered correctly
    router.add_route("/ws", websocket_handler, ["WEBSOCKET"])
    # --- end verbatim ---
    # fmt: on
    client = ASGITestClient(CovetASGIApp(router=router))
    async with client.websocket_connect("/ws") as ws:
        await ws.send_text(json.dumps({"n": 1}))
        reply = await ws.receive_json()
    assert reply["echo"] == {"n": 1} and isinstance(reply["timestamp"], float)


async def test_guide_examples_directory_runs() -> None:
    from examples import asgi_uvicorn_examples as examples

    async with ASGITestClient(examples.app) as client:
        assert (await client.get("/")).json()["message"] == "CovetPy ASGI examples"
        assert (await client.get("/users/7")).json() == {"user_id": 7}
        created = await client.post("/api/data", json={"test": True})
        assert (created.status_code, created.json()) == (201, {"received": {"test": True}})
        assert "x-response-time" in (await client.get("/health")).headers
        async with client.websocket_connect("/ws") as ws:
            await ws.send_text('{"hello": "world"}')
            assert (await ws.receive_json())["echo"] == {"hello": "world"}
        stats = (await client.get("/stats")).json()
        assert stats["requests_processed"] >= 3
