"""CORSMiddleware: preflight, simple requests, credentials, regex, validation."""

from __future__ import annotations

from typing import Any

import pytest

from covet.app import CovetASGIApp
from covet.middleware import CORSMiddleware, Middleware, MiddlewareStack
from covet.requests import Request
from covet.responses import Response
from covet.routing import CovetRouter
from covet.testing import ASGITestClient

ORIGIN = "https://app.example.com"


def make_client(**options: Any) -> tuple[ASGITestClient, list[str]]:
    calls: list[str] = []
    router = CovetRouter()

    async def index(request: Request) -> Response:
        calls.append(request.method)
        return Response({"ok": True}, headers={"vary": "Accept-Encoding"})

    async def own_cors(request: Request) -> Response:
        return Response("x", headers={"access-control-allow-origin": "https://stale.example"})

    router.add_route("/", index, ["GET", "POST", "PUT"])
    router.add_route("/own", own_cors, ["GET"])
    stack = MiddlewareStack([Middleware(CORSMiddleware, **options)])
    return ASGITestClient(CovetASGIApp(router=router, middleware_stack=stack)), calls


def preflight(method: str = "PUT", headers: str | None = None, origin: str = ORIGIN):
    h = {"origin": origin, "access-control-request-method": method}
    if headers is not None:
        h["access-control-request-headers"] = headers
    return h


async def test_request_without_origin_is_untouched() -> None:
    client, _ = make_client(allow_origins=[ORIGIN])
    response = await client.get("/")
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"


async def test_simple_request_from_allowed_origin_echoes_it_and_merges_vary() -> None:
    client, _ = make_client(allow_origins=[ORIGIN], expose_headers=["X-Total"])
    response = await client.get("/", headers={"origin": ORIGIN})
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers.getlist("vary") == ["Accept-Encoding, Origin"]
    assert response.headers["access-control-expose-headers"] == "X-Total"
    assert "access-control-allow-credentials" not in response.headers


async def test_wildcard_without_credentials_sends_star_and_no_vary_origin() -> None:
    client, _ = make_client(allow_origins=["*"])
    response = await client.get("/", headers={"origin": "https://anything.test"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["vary"] == "Accept-Encoding"


async def test_credentials_mode_never_sends_the_wildcard_origin() -> None:
    client, _ = make_client(allow_origins=["*"], allow_credentials=True)
    response = await client.get("/", headers={"origin": "https://anything.test"})
    assert response.headers["access-control-allow-origin"] == "https://anything.test"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in response.headers["vary"]

    pre = await client.options("/", headers=preflight("GET", origin="https://anything.test"))
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "https://anything.test"
    assert pre.headers["access-control-allow-credentials"] == "true"


async def test_simple_request_from_disallowed_origin_gets_no_cors_headers() -> None:
    client, calls = make_client(allow_origins=[ORIGIN])
    response = await client.get("/", headers={"origin": "https://evil.test"})
    assert response.status_code == 200  # the browser, not the server, blocks it
    assert "access-control-allow-origin" not in response.headers
    assert calls == ["GET"]


async def test_origin_regex_must_match_the_whole_origin() -> None:
    client, _ = make_client(allow_origin_regex=r"https://[a-z0-9-]+\.example\.com")
    ok = await client.get("/", headers={"origin": "https://tenant-1.example.com"})
    assert ok.headers["access-control-allow-origin"] == "https://tenant-1.example.com"
    for evil in (
        "https://tenant.example.com.evil.test",
        "http://tenant.example.com",
        "https://x.example.com:8443",
    ):
        response = await client.get("/", headers={"origin": evil})
        assert "access-control-allow-origin" not in response.headers, evil


async def test_preflight_is_answered_without_calling_the_app() -> None:
    client, calls = make_client(
        allow_origins=[ORIGIN],
        allow_methods=["GET", "PUT"],
        allow_headers=["X-Token"],
        max_age=1234,
    )
    response = await client.options("/", headers=preflight("PUT", "x-token, content-type"))
    assert response.status_code == 200
    assert response.text == "OK"
    assert calls == []
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-methods"] == "GET, PUT"
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
    assert allowed == {"x-token", "accept", "accept-language", "content-language", "content-type"}
    assert response.headers["access-control-max-age"] == "1234"
    assert response.headers["vary"] == "Origin"


async def test_preflight_from_disallowed_origin_is_400() -> None:
    client, calls = make_client(allow_origins=[ORIGIN], allow_methods=["PUT"])
    response = await client.options("/", headers=preflight("PUT", origin="https://evil.test"))
    assert response.status_code == 400
    assert response.text == "Disallowed CORS origin"
    assert "access-control-allow-origin" not in response.headers
    assert calls == []


async def test_preflight_for_disallowed_method_is_400() -> None:
    client, _ = make_client(allow_origins=[ORIGIN])
    response = await client.options("/", headers=preflight("DELETE"))
    assert response.status_code == 400
    assert response.text == "Disallowed CORS method"


async def test_preflight_with_unlisted_headers_is_400() -> None:
    client, _ = make_client(allow_origins=[ORIGIN], allow_methods=["PUT"], allow_headers=["x-a"])
    response = await client.options("/", headers=preflight("PUT", "x-a, X-Secret"))
    assert response.status_code == 400
    assert response.text == "Disallowed CORS headers"


async def test_preflight_reports_every_failure() -> None:
    client, _ = make_client(allow_origins=[ORIGIN])
    response = await client.options(
        "/", headers=preflight("PATCH", "x-secret", origin="https://evil.test")
    )
    assert response.status_code == 400
    assert response.text == "Disallowed CORS origin, method, headers"


async def test_safelisted_headers_are_always_allowed_in_preflight() -> None:
    client, _ = make_client(allow_origins=[ORIGIN], allow_methods=["PUT"])
    response = await client.options("/", headers=preflight("PUT", "Content-Type,Accept"))
    assert response.status_code == 200


async def test_wildcard_methods_and_headers_echo_what_was_requested() -> None:
    client, _ = make_client(allow_origins=[ORIGIN], allow_methods=["*"], allow_headers=["*"])
    response = await client.options("/", headers=preflight("PATCH", "X-One, x-two"))
    assert response.status_code == 200
    assert response.headers["access-control-allow-methods"] == "PATCH"
    assert response.headers["access-control-allow-headers"] == "x-one, x-two"


async def test_options_without_request_method_is_an_actual_request_for_the_app() -> None:
    client, _ = make_client(allow_origins=[ORIGIN])
    response = await client.options("/", headers={"origin": ORIGIN})
    assert response.status_code == 204  # the router's automatic OPTIONS answer
    assert "GET" in response.headers["allow"]
    assert response.headers["access-control-allow-origin"] == ORIGIN


async def test_app_set_allow_origin_is_replaced_not_duplicated() -> None:
    client, _ = make_client(allow_origins=[ORIGIN])
    response = await client.get("/own", headers={"origin": ORIGIN})
    assert response.headers.getlist("access-control-allow-origin") == [ORIGIN]


async def test_shared_response_headers_are_not_mutated_across_requests() -> None:
    shared = Response("same", headers={"x-a": "1"})
    before = list(shared.raw_headers)

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        await shared(scope, receive, send)

    client = ASGITestClient(CORSMiddleware(endpoint, allow_origins=[ORIGIN]))
    for _ in range(3):
        response = await client.get("/", headers={"origin": ORIGIN})
        assert response.headers.getlist("access-control-allow-origin") == [ORIGIN]
    assert shared.raw_headers == before


async def test_non_http_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    middleware = CORSMiddleware(app, allow_origins=[ORIGIN])
    await middleware({"type": "websocket", "headers": [(b"origin", b"x")]}, None, None)
    await middleware({"type": "lifespan"}, None, None)
    assert seen == ["websocket", "lifespan"]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"allow_origins": ["https://app.example.com/"]}, ValueError),
        ({"allow_origins": ["app.example.com"]}, ValueError),
        ({"allow_origins": "https://app.example.com"}, TypeError),
        ({"allow_headers": ["bad header"]}, ValueError),
        ({"max_age": -1}, ValueError),
    ],
)
def test_misconfiguration_fails_at_construction(options: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        CORSMiddleware(lambda *a: None, **options)
