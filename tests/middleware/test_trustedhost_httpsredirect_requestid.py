"""TrustedHostMiddleware, HTTPSRedirectMiddleware and RequestIDMiddleware."""

from __future__ import annotations

import re
from typing import Any

import pytest

from covet.app import CovetASGIApp
from covet.middleware import (
    HTTPSRedirectMiddleware,
    Middleware,
    MiddlewareStack,
    RequestIDMiddleware,
    TrustedHostMiddleware,
    get_request_id,
)
from covet.middleware.requestid import request_id_var
from covet.requests import Request
from covet.responses import Response
from covet.routing import CovetRouter
from covet.testing import ASGITestClient


def make_app(*middleware: Middleware) -> CovetASGIApp:
    router = CovetRouter()

    async def index(request: Request) -> dict[str, Any]:
        return {
            "path": request.path,
            "request_id": getattr(request.state, "request_id", None),
            "context_id": get_request_id(),
        }

    async def own_id(request: Request) -> Response:
        return Response("x", headers={"x-request-id": "from-the-app"})

    router.add_route("/", index, ["GET", "POST"])
    router.add_route("/a b/{rest:path}", index, ["GET"])
    router.add_route("/own", own_id, ["GET"])
    return CovetASGIApp(router=router, middleware_stack=MiddlewareStack(middleware))


async def call(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    base = {"headers": [], "query_string": b"", "path": "/", "raw_path": b"/"}
    await app({**base, **scope}, receive, send)
    return sent


# -- TrustedHostMiddleware --------------------------------------------------------------
def trusted(**options: Any) -> ASGITestClient:
    options.setdefault("allowed_hosts", ["example.com", "*.example.com", "[::1]"])
    return ASGITestClient(make_app(Middleware(TrustedHostMiddleware, **options)))


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "EXAMPLE.com",
        "example.com:8000",
        "example.com.",
        "api.example.com",
        "a.b.example.com:443",
        "[::1]:8000",
    ],
)
async def test_allowed_hosts_pass_ignoring_port_case_and_trailing_dot(host: str) -> None:
    response = await trusted().get("/", headers={"host": host})
    assert response.status_code == 200, host


@pytest.mark.parametrize(
    "host", ["evil.test", "evilexample.com", "example.com.evil.test", "[::2]", ":80", ""]
)
async def test_other_hosts_get_400_invalid_host_header(host: str) -> None:
    response = await trusted().get("/", headers={"host": host})
    assert response.status_code == 400
    assert response.text == "Invalid host header"


async def test_wildcard_pattern_does_not_match_the_apex_domain() -> None:
    client = trusted(allowed_hosts=["*.example.com"])
    assert (await client.get("/", headers={"host": "example.com"})).status_code == 400
    assert (await client.get("/", headers={"host": "www.example.com"})).status_code == 200


async def test_missing_host_header_is_refused() -> None:
    app = make_app(Middleware(TrustedHostMiddleware, allowed_hosts=["example.com"]))
    sent = await call(app, {"type": "http", "method": "GET"})
    assert sent[0]["status"] == 400


async def test_star_allows_any_host() -> None:
    client = trusted(allowed_hosts=["*"])
    assert (await client.get("/", headers={"host": "whatever.test"})).status_code == 200


async def test_apex_is_redirected_to_listed_www_host_keeping_path_and_query() -> None:
    client = trusted(allowed_hosts=["www.example.com"])
    response = await client.get("/?q=1", headers={"host": "example.com:8000"})
    assert response.status_code == 307
    assert response.headers["location"] == "http://www.example.com:8000/?q=1"
    no_redirect = trusted(allowed_hosts=["www.example.com"], www_redirect=False)
    assert (await no_redirect.get("/", headers={"host": "example.com"})).status_code == 400


async def test_websocket_with_untrusted_host_is_closed_with_policy_violation() -> None:
    app = TrustedHostMiddleware(make_app(), allowed_hosts=["example.com"])
    sent = await call(app, {"type": "websocket", "headers": [(b"host", b"evil.test")]})
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "Invalid host header"}]


@pytest.mark.parametrize("pattern", ["exa*mple.com", "*example.com", "*.", "*.*.example.com", ""])
def test_invalid_host_patterns_fail_at_construction(pattern: str) -> None:
    with pytest.raises(ValueError):
        TrustedHostMiddleware(make_app(), allowed_hosts=[pattern])


def test_allowed_hosts_as_a_single_string_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        TrustedHostMiddleware(make_app(), allowed_hosts="example.com")


# -- HTTPSRedirectMiddleware ------------------------------------------------------------
def redirecting(base_url: str = "http://example.com") -> ASGITestClient:
    return ASGITestClient(make_app(Middleware(HTTPSRedirectMiddleware)), base_url=base_url)


@pytest.mark.parametrize(
    ("host", "target", "location"),
    [
        ("example.com", "/", "https://example.com/"),
        ("example.com:80", "/?x=1&y=%20", "https://example.com/?x=1&y=%20"),
        ("example.com:443", "/", "https://example.com/"),
        ("example.com:8080", "/a%20b/c", "https://example.com:8080/a%20b/c"),
        ("[::1]:8000", "/", "https://[::1]:8000/"),
    ],
)
async def test_http_is_redirected_to_https_with_307(host: str, target: str, location: str) -> None:
    response = await redirecting().get(target, headers={"host": host})
    assert response.status_code == 307
    assert response.headers["location"] == location
    assert response.content == b""


async def test_post_is_redirected_with_307_so_method_and_body_are_kept() -> None:
    response = await redirecting().post("/", body=b"data", headers={"host": "example.com"})
    assert response.status_code == 307


async def test_https_requests_pass_through() -> None:
    response = await redirecting("https://example.com").get("/", headers={"host": "example.com"})
    assert response.status_code == 200


async def test_host_header_that_is_not_a_host_is_400_not_an_open_redirect() -> None:
    for host in ("evil.test/phish", "evil.test@x", "a b"):
        response = await redirecting().get("/", headers={"host": host})
        assert response.status_code == 400, host


async def test_without_host_header_the_server_address_is_used() -> None:
    app = HTTPSRedirectMiddleware(make_app())
    sent = await call(
        app,
        {"type": "http", "scheme": "http", "method": "GET", "server": ("10.0.0.1", 80)},
    )
    assert sent[0]["status"] == 307
    assert dict(sent[0]["headers"])[b"location"] == b"https://10.0.0.1/"


async def test_ws_is_redirected_to_wss_when_the_server_supports_denial_responses() -> None:
    app = HTTPSRedirectMiddleware(make_app())
    sent = await call(
        app,
        {
            "type": "websocket",
            "scheme": "ws",
            "headers": [(b"host", b"example.com")],
            "path": "/ws",
            "raw_path": b"/ws",
            "query_string": b"t=1",
            "extensions": {"websocket.http.response": {}},
        },
    )
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 307
    assert dict(sent[0]["headers"])[b"location"] == b"wss://example.com/ws?t=1"
    assert sent[1]["type"] == "websocket.http.response.body"


async def test_ws_without_denial_response_support_is_refused() -> None:
    app = HTTPSRedirectMiddleware(make_app())
    sent = await call(
        app, {"type": "websocket", "scheme": "ws", "headers": [(b"host", b"example.com")]}
    )
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "Use wss://"}]


async def test_wss_passes_through() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["scheme"])

    await call(HTTPSRedirectMiddleware(inner), {"type": "websocket", "scheme": "wss"})
    assert seen == ["wss"]


# -- RequestIDMiddleware ----------------------------------------------------------------
def with_request_id(**options: Any) -> ASGITestClient:
    return ASGITestClient(make_app(Middleware(RequestIDMiddleware, **options)))


async def test_request_id_is_generated_and_visible_everywhere() -> None:
    response = await with_request_id().get("/")
    generated = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert response.json()["request_id"] == generated
    assert response.json()["context_id"] == generated
    other = await with_request_id().get("/")
    assert other.headers["x-request-id"] != generated
    assert request_id_var.get() is None  # reset after the request


@pytest.mark.parametrize(
    "incoming", ["abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "trace:1/2+3=@x", "a" * 128]
)
async def test_valid_incoming_request_id_is_kept(incoming: str) -> None:
    response = await with_request_id().get("/", headers={"x-request-id": incoming})
    assert response.headers["x-request-id"] == incoming
    assert response.json()["request_id"] == incoming


@pytest.mark.parametrize(
    "incoming", ["", "a" * 129, "has space", "semi;colon", "new\tline", "caf\xe9", "<script>"]
)
async def test_invalid_incoming_request_id_is_replaced(incoming: str) -> None:
    response = await with_request_id().get("/", headers={"x-request-id": incoming})
    replaced = response.headers["x-request-id"]
    assert replaced != incoming
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)
    assert response.json()["request_id"] == replaced


async def test_incoming_id_is_ignored_when_not_trusted() -> None:
    response = await with_request_id(trust_incoming=False).get(
        "/", headers={"x-request-id": "client-chosen"}
    )
    assert response.headers["x-request-id"] != "client-chosen"


async def test_custom_header_length_and_generator() -> None:
    ids = iter(["gen-1", "gen-2"])
    client = with_request_id(
        header_name="X-Correlation-ID", max_length=8, generator=lambda: next(ids)
    )
    response = await client.get("/", headers={"x-correlation-id": "123456789"})
    assert response.headers["x-correlation-id"] == "gen-1"
    assert "x-request-id" not in response.headers
    response = await client.get("/", headers={"x-correlation-id": "12345678"})
    assert response.headers["x-correlation-id"] == "12345678"


async def test_header_set_by_the_app_is_replaced_not_duplicated() -> None:
    response = await with_request_id().get("/own", headers={"x-request-id": "abc"})
    assert response.headers.getlist("x-request-id") == ["abc"]


async def test_websocket_accept_carries_the_request_id() -> None:
    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "websocket.accept", "headers": [(b"x-other", b"1")]})
        await send({"type": "websocket.close", "code": 1000})

    sent = await call(
        RequestIDMiddleware(inner),
        {"type": "websocket", "headers": [(b"x-request-id", b"ws-1")], "state": {"seeded": 1}},
    )
    assert sent[0]["headers"] == [(b"x-other", b"1"), (b"x-request-id", b"ws-1")]


async def test_state_is_created_when_the_server_sends_none() -> None:
    scopes: list[dict[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope)

    await call(RequestIDMiddleware(inner), {"type": "http", "method": "GET"})
    assert re.fullmatch(r"[0-9a-f]{32}", scopes[0]["state"]["request_id"])


def test_invalid_header_name_fails_at_construction() -> None:
    with pytest.raises(ValueError):
        RequestIDMiddleware(make_app(), header_name="bad header")
