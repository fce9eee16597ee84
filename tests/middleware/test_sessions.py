"""SessionMiddleware: request.session in a signed cookie, as Starlette documents it."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import time
from typing import Any

import itsdangerous
import pytest

from covet.app import CovetASGIApp
from covet.connection import HTTPConnection
from covet.middleware import Middleware, MiddlewareStack, SessionMiddleware
from covet.requests import Request
from covet.routing import CovetRouter
from covet.testing import ASGITestClient, WebSocketRejected
from covet.websockets import WebSocket

SECRET = "a-test-secret"


def make_app(*entries: Middleware | None, **options: Any) -> CovetASGIApp:
    router = CovetRouter()

    async def view(request: Request) -> dict[str, Any]:
        return {"session": request.session}

    async def update(request: Request) -> dict[str, Any]:
        request.session.update(await request.json())
        return {"session": request.session}

    async def clear(request: Request) -> dict[str, Any]:
        request.session.clear()
        return {"session": request.session}

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json(websocket.session)
        websocket.session["written"] = True  # read only: nothing can carry it back
        await websocket.close()

    router.add_route("/view", view, ["GET"])
    router.add_route("/update", update, ["POST"])
    router.add_route("/clear", clear, ["POST"])
    router.add_route("/ws", ws, ["WEBSOCKET"])
    stack = MiddlewareStack(
        [e for e in entries if e is not None]
        or [Middleware(SessionMiddleware, secret_key=SECRET, **options)]
    )
    return CovetASGIApp(router=router, middleware_stack=stack)


def starlette_cookie(data: Any, secret: str = SECRET, signed_at: float | None = None) -> str:
    """A cookie in the documented format: TimestampSigner over base64 JSON."""

    class Signer(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(signed_at if signed_at is not None else time.time())

    payload = base64.b64encode(json.dumps(data).encode())
    return Signer(secret).sign(payload).decode()


async def test_session_written_in_one_request_is_read_back_in_the_next() -> None:
    client = ASGITestClient(make_app())
    response = await client.post("/update", json={"user": "ada", "n": 1})
    assert response.json() == {"session": {"user": "ada", "n": 1}}
    assert "session" in response.cookies

    response = await client.get("/view")
    assert response.json() == {"session": {"user": "ada", "n": 1}}


async def test_cookie_is_httponly_lax_with_path_and_max_age_by_default() -> None:
    client = ASGITestClient(make_app())
    response = await client.post("/update", json={"a": 1})
    header = response.headers["set-cookie"]
    assert header.startswith("session=")
    attributes = {part.strip() for part in header.split(";")[1:]}
    assert attributes == {"Max-Age=1209600", "Path=/", "HttpOnly", "SameSite=Lax"}


async def test_cookie_options_name_path_domain_secure_same_site() -> None:
    client = ASGITestClient(
        make_app(
            session_cookie="sid",
            path="/app",
            domain="example.com",
            https_only=True,
            same_site="strict",
            max_age=60,
        )
    )
    response = await client.post("/update", json={"a": 1})
    header = response.headers["set-cookie"]
    assert header.startswith("sid=")
    attributes = {part.strip() for part in header.split(";")[1:]}
    assert attributes == {
        "Max-Age=60",
        "Path=/app",
        "Domain=example.com",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
    }


async def test_max_age_none_makes_a_browser_session_cookie_that_never_expires() -> None:
    client = ASGITestClient(make_app(max_age=None))
    response = await client.post("/update", json={"a": 1})
    assert "max-age" not in response.headers["set-cookie"].lower()
    old = starlette_cookie({"old": True}, signed_at=time.time() - 10 * 365 * 86400)
    response = await client.get("/view", cookies={"session": old})
    assert response.json() == {"session": {"old": True}}


async def test_no_cookie_is_set_while_the_session_stays_empty() -> None:
    client = ASGITestClient(make_app())
    response = await client.get("/view")
    assert response.json() == {"session": {}}
    assert "set-cookie" not in response.headers


async def test_non_empty_session_is_sent_again_on_every_response_refreshing_its_age() -> None:
    client = ASGITestClient(make_app())
    await client.post("/update", json={"a": 1})
    response = await client.get("/view")
    assert response.headers["set-cookie"].startswith("session=")


async def test_clearing_the_session_expires_the_cookie() -> None:
    client = ASGITestClient(make_app())
    await client.post("/update", json={"a": 1})
    response = await client.post("/clear")
    header = response.headers["set-cookie"]
    assert header.startswith("session=null;")
    assert "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in header
    assert "session" not in client.cookies
    response = await client.get("/view")
    assert response.json() == {"session": {}}
    assert "set-cookie" not in response.headers


async def test_tampered_cookie_gives_an_empty_session() -> None:
    client = ASGITestClient(make_app())
    good = starlette_cookie({"user": "ada"})
    _payload, timestamp, signature = good.split(".")
    forged_payload = base64.b64encode(json.dumps({"user": "admin"}).encode()).decode()
    # Flip a character well inside the signature: the last base64 character also
    # carries padding bits, so changing it may leave the decoded signature intact.
    middle = len(good) - 5
    flipped = good[:middle] + ("A" if good[middle] != "A" else "B") + good[middle + 1 :]
    for cookie in (f"{forged_payload}.{timestamp}.{signature}", flipped):
        response = await client.get("/view", cookies={"session": cookie})
        assert response.status_code == 200
        assert response.json() == {"session": {}}


async def test_cookie_signed_with_another_key_gives_an_empty_session() -> None:
    client = ASGITestClient(make_app())
    other = starlette_cookie({"user": "ada"}, secret="another-secret")
    response = await client.get("/view", cookies={"session": other})
    assert response.json() == {"session": {}}


async def test_expired_cookie_gives_an_empty_session_and_a_fresh_one_within_max_age_is_kept() -> (
    None
):
    client = ASGITestClient(make_app(max_age=60))
    stale = starlette_cookie({"user": "ada"}, signed_at=time.time() - 120)
    response = await client.get("/view", cookies={"session": stale})
    assert response.json() == {"session": {}}
    fresh = starlette_cookie({"user": "ada"}, signed_at=time.time() - 30)
    response = await client.get("/view", cookies={"session": fresh})
    assert response.json() == {"session": {"user": "ada"}}


async def test_cookies_in_starlettes_format_are_read_and_ours_decode_the_same_way() -> None:
    client = ASGITestClient(make_app())
    response = await client.get("/view", cookies={"session": starlette_cookie({"a": [1, 2]})})
    assert response.json() == {"session": {"a": [1, 2]}}

    written = (await client.post("/update", json={"b": "x"})).cookies["session"]
    data = itsdangerous.TimestampSigner(SECRET).unsign(written, max_age=60)
    assert json.loads(base64.b64decode(data)) == {"a": [1, 2], "b": "x"}


async def session_seen(cookie_header: bytes) -> tuple[dict[str, Any], list[Any]]:
    """The session an app behind the middleware sees for a raw Cookie header, and
    the headers of its response (straight ASGI: any bytes can be sent)."""
    seen: dict[str, Any] = {}
    sent: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope["session"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.extend(message["headers"])

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"cookie", cookie_header)]}
    await SessionMiddleware(app, secret_key=SECRET)(scope, receive, send)
    return seen, sent


@pytest.mark.parametrize(
    "cookie",
    [
        b"session=",
        b"session=garbage",
        b"session=...",
        b"session=a.b.c",
        "session=\u00e9\u00e9.x.y".encode("latin-1"),
        b"session=\xff\xfe.\x00.y",
        b"session=" + b"x" * 8000,
        b"session=" + starlette_cookie([1, 2]).encode(),
        b"session",
        b";;;=;session=",
    ],
    ids=[
        "empty",
        "garbage",
        "dots",
        "three-parts",
        "latin-1",
        "binary",
        "huge",
        "json-list",
        "no-value",
        "separators",
    ],
)
async def test_malformed_cookie_values_give_an_empty_session_not_an_error(cookie: bytes) -> None:
    seen, sent = await session_seen(cookie)
    assert seen == {}
    assert sent == []  # nothing to write, nothing to delete


async def test_raw_cookie_header_with_a_valid_session_among_others_is_read() -> None:
    header = b"theme=dark; session=" + starlette_cookie({"a": 1}).encode() + b"; x=y"
    seen, sent = await session_seen(header)
    assert seen == {"a": 1}
    assert [name for name, _ in sent] == [b"set-cookie"]


async def test_signed_cookie_whose_payload_is_not_base64_json_gives_an_empty_session() -> None:
    signer = itsdangerous.TimestampSigner(SECRET)
    client = ASGITestClient(make_app())
    for payload in (b"not base64!", base64.b64encode(b"{not json")):
        cookie = signer.sign(payload).decode()
        response = await client.get("/view", cookies={"session": cookie})
        assert response.json() == {"session": {}}


async def test_websocket_sees_the_session_of_its_handshake() -> None:
    client = ASGITestClient(make_app())
    await client.post("/update", json={"user": "ada"})
    async with client.websocket_connect("/ws") as ws:
        assert await ws.receive_json() == {"user": "ada"}
    # The handler's change had no response to travel in.
    assert (await client.get("/view")).json() == {"session": {"user": "ada"}}


async def test_works_when_added_to_a_stack_by_class_and_options() -> None:
    stack = MiddlewareStack()
    stack.add(SessionMiddleware, secret_key=SECRET)
    router = CovetRouter()

    async def count(request: Request) -> dict[str, Any]:
        request.session["n"] = request.session.get("n", 0) + 1
        return request.session

    router.add_route("/", count, ["GET"])
    client = ASGITestClient(CovetASGIApp(router=router, middleware_stack=stack))
    assert [(await client.get("/")).json()["n"] for _ in range(3)] == [1, 2, 3]


async def test_works_wrapped_by_hand_around_any_asgi_app() -> None:
    async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["session"]["seen"] = True
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    client = ASGITestClient(SessionMiddleware(raw_app, secret_key=SECRET))
    response = await client.get("/")
    assert response.status_code == 204
    assert response.headers["set-cookie"].startswith("session=")


async def test_response_headers_list_of_the_app_is_not_mutated() -> None:
    shared = [(b"content-type", b"text/plain")]

    async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["session"]["x"] = 1
        await send({"type": "http.response.start", "status": 200, "headers": shared})
        await send({"type": "http.response.body", "body": b"ok"})

    client = ASGITestClient(SessionMiddleware(raw_app, secret_key=SECRET))
    await client.get("/")
    assert shared == [(b"content-type", b"text/plain")]


async def test_unserialisable_session_value_is_a_clear_type_error() -> None:
    router = CovetRouter()

    async def bad(request: Request) -> str:
        request.session["obj"] = object()
        return "ok"

    router.add_route("/", bad, ["GET"])
    stack = MiddlewareStack([Middleware(SessionMiddleware, secret_key=SECRET)])
    client = ASGITestClient(CovetASGIApp(router=router, middleware_stack=stack))
    with pytest.raises(TypeError):
        await client.get("/")


async def test_oversized_session_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    client = ASGITestClient(make_app())
    with caplog.at_level(logging.WARNING, logger="covet.sessions"):
        response = await client.post("/update", json={"blob": "x" * 5000})
    assert response.status_code == 200
    assert "browsers ignore cookies over 4096" in caplog.text


def test_request_session_without_the_middleware_raises_a_clear_assertion() -> None:
    connection = HTTPConnection({"type": "http", "headers": []})
    with pytest.raises(AssertionError, match="SessionMiddleware must be installed"):
        _ = connection.session


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"same_site": "none"}, "requires secure=True"),
        ({"session_cookie": "bad name"}, "invalid cookie name"),
        ({"path": "/x;evil"}, "invalid cookie path"),
        ({"domain": "bad domain"}, "invalid cookie domain"),
        ({"same_site": "sometimes"}, "samesite must be"),
        ({"max_age": 0}, "max_age must be a positive"),
        ({"secret_key": ""}, "non-empty secret_key"),
    ],
)
def test_invalid_options_are_rejected_at_construction(options: dict[str, Any], error: str) -> None:
    kwargs: dict[str, Any] = {"secret_key": SECRET, **options}
    with pytest.raises(ValueError, match=error):
        SessionMiddleware(lambda scope, receive, send: None, **kwargs)  # type: ignore[arg-type,return-value]


async def test_lifespan_and_unknown_websocket_routes_pass_through_untouched() -> None:
    app = make_app()
    started: list[bool] = []
    app.add_startup_handler(lambda: started.append(True))
    async with ASGITestClient(app) as client:
        assert started == [True]
        with pytest.raises(WebSocketRejected) as rejected:
            async with client.websocket_connect("/missing"):
                pass
    assert rejected.value.response is not None
    assert rejected.value.response.status_code == 404


def test_missing_itsdangerous_names_the_extra_to_install() -> None:
    code = (
        "import sys; sys.modules['itsdangerous'] = None\n"
        "from covet.middleware import SessionMiddleware\n"
        "try:\n"
        "    SessionMiddleware(None, secret_key='k')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "covetpy[sessions]" in result.stdout
