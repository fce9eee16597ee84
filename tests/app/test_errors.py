"""Error responses: HTTPException, unhandled exceptions, debug tracebacks, handlers."""

from __future__ import annotations

import pytest

from covet import CovetRouter, HTTPException, create_asgi_app
from covet.requests import Request
from covet.responses import Response
from covet.testing import ASGITestClient


async def boom(request: Request) -> None:
    raise ValueError("secret internal detail")


async def teapot(request: Request) -> None:
    raise HTTPException(418, {"reason": "short and stout"}, headers={"x-tea": "earl grey"})


async def bad_return(request: Request) -> object:
    return object()


def make_app(debug: bool):
    router = CovetRouter()
    router.add_route("/boom", boom, ["GET"])
    router.add_route("/teapot", teapot, ["GET"])
    router.add_route("/bad", bad_return, ["GET"])
    return create_asgi_app(router=router, debug=debug)


async def test_unhandled_exception_is_500_without_leaking_internals() -> None:
    response = await ASGITestClient(make_app(debug=False)).get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    assert "secret" not in response.text


async def test_debug_500_carries_the_traceback() -> None:
    response = await ASGITestClient(make_app(debug=True)).get("/boom")
    body = response.json()
    assert response.status_code == 500
    assert body["error"] == "ValueError: secret internal detail"
    assert any("raise ValueError" in line for line in body["traceback"])


async def test_http_exception_detail_and_headers() -> None:
    response = await ASGITestClient(make_app(debug=False)).get("/teapot")
    assert response.status_code == 418
    assert response.json() == {"detail": {"reason": "short and stout"}}
    assert response.headers["x-tea"] == "earl grey"


async def test_unsupported_return_type_is_a_500() -> None:
    response = await ASGITestClient(make_app(debug=True)).get("/bad")
    assert response.status_code == 500
    assert "handler returned object" in response.json()["error"]


async def test_unhandled_exception_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("ERROR", logger="covet.asgi"):
        await ASGITestClient(make_app(debug=False)).get("/boom")
    assert any("GET /boom" in record.getMessage() for record in caplog.records)


async def test_custom_exception_handlers_by_status_and_class() -> None:
    app = make_app(debug=False)

    async def not_found_handler(request, exc):
        return Response({"error": "Not found", "path": request.path}, status_code=404)

    def value_error_handler(request, exc):
        return Response({"error": str(exc)}, status_code=422)

    app.add_exception_handler(404, not_found_handler)
    app.add_exception_handler(ValueError, value_error_handler)
    client = ASGITestClient(app)
    missing = await client.get("/missing")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not found", "path": "/missing"}
    handled = await client.get("/boom")
    assert handled.status_code == 422
    assert handled.json() == {"error": "secret internal detail"}


async def test_failing_exception_handler_falls_back_to_500() -> None:
    app = make_app(debug=False)

    async def broken(request, exc):
        raise RuntimeError("handler broke")

    app.add_exception_handler(ValueError, broken)
    response = await ASGITestClient(app).get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}


async def test_debug_error_page_for_browsers_keeps_json_for_api_clients() -> None:
    from covet.routing import Route

    async def boom(request: Request) -> None:
        raise ValueError("<script>alert(1)</script>")

    client = ASGITestClient(create_asgi_app(routes=[Route("/", boom)], debug=True))
    page = await client.get("/?q=1", headers={"accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "ValueError: &lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text and "Traceback" in page.text and "/?q=1" in page.text
    api = await client.get("/", headers={"accept": "application/json"})
    assert api.json()["detail"] == "Internal Server Error" and "traceback" in api.json()
    quiet = ASGITestClient(create_asgi_app(routes=[Route("/", boom)]))
    hidden = await quiet.get("/", headers={"accept": "text/html"})
    assert hidden.json() == {"detail": "Internal Server Error"}
