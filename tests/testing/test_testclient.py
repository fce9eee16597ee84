# ruff: noqa: W293, E402 (the guide's snippet comes first, verbatim, whitespace included)
"""The in-process test clients: request building, response reading, cookies,
redirects, ASGI semantics, error propagation, lifespan, WebSockets, sync wrapper."""

from __future__ import annotations  # noqa: I001 (the snippet's imports are verbatim)

# fmt: off
# `app` is defined below; the test only runs after the module is imported.
# --- begin verbatim from ASGI-GUIDE.md "Unit Testing" ---
import pytest
from covet.core.asgi_integration import ASGITestClient

@pytest.mark.asyncio
async def test_endpoint():
    client = ASGITestClient(app)
    
    response = await client.get("/api/test")
    assert response["status_code"] == 200
    
    response = await client.post("/api/data", body=b'{"test": true}')
    assert response["status_code"] == 201
# --- end verbatim ---
# fmt: on

import asyncio
import io
import subprocess
import sys
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import orjson

import covet
from covet.app import create_asgi_app
from covet.requests import Request
from covet.responses import Response
from covet.routing import CovetRouter
from covet.testing import (
    LifespanError,
    TestClient,
    TooManyRedirects,
    WebSocketClosed,
    WebSocketRejected,
)

# --- the app the guide's Unit Testing snippet above runs against --------------------------------
router = CovetRouter()


async def api_test(request: Request) -> Response:
    return Response({"ok": True})


async def api_data(request: Request) -> Response:
    return Response(await request.json(), status_code=201)


router.add_route("/api/test", api_test, ["GET"])
router.add_route("/api/data", api_data, ["POST"])
app = create_asgi_app(router=router)


# --- helpers ---------------------------------------------------------------------------------
async def echo_request(scope: dict, receive: Any, send: Any) -> None:
    """Answers with a JSON description of the request it received."""
    assert scope["type"] == "http"
    chunks = []
    while True:
        message = await receive()
        chunks.append(message["body"])
        if not message["more_body"]:
            break
    body = b"".join(chunks)
    payload = {
        "method": scope["method"],
        "path": scope["path"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "root_path": scope["root_path"],
        "query": scope["query_string"].decode("latin-1"),
        "headers": [[n.decode(), v.decode()] for n, v in scope["headers"]],
        "body": body.decode("latin-1"),
        "chunks": len(chunks),
        "server": list(scope["server"]),
    }
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": orjson.dumps(payload)})


def header(data: dict, name: str) -> list[str]:
    return [v for n, v in data["headers"] if n == name]


def parse_multipart(data: dict) -> list[tuple[str | None, str | None, str, bytes]]:
    """(name, filename, content type, content) of each part, parsed by the stdlib."""
    content_type = header(data, "content-type")[0]
    raw = f"Content-Type: {content_type}\r\n\r\n".encode() + data["body"].encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(raw)
    return [
        (
            part.get_param("name", header="content-disposition"),
            part.get_filename(),
            part.get_content_type(),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    ]


# --- requests ----------------------------------------------------------------------------------
async def test_response_is_readable_as_attributes_and_as_guide_keys() -> None:
    response = await ASGITestClient(app).get("/api/test")
    assert response.status_code == 200 == response["status_code"]
    assert response.headers["content-type"] == "application/json"
    assert response["headers"] is response.headers
    assert response.content == b'{"ok":true}' == response["body"]
    assert response.text == '{"ok":true}' == response["text"]
    assert response.json() == {"ok": True} == response["json"]
    assert response.url == "http://testserver/api/test"
    with pytest.raises(KeyError):
        response["nonexistent"]


async def test_text_is_decoded_with_the_declared_charset() -> None:
    async def latin(scope: dict, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/plain; charset=iso-8859-1")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": "café".encode("latin-1")})

    assert (await ASGITestClient(latin).get("/")).text == "café"


async def test_json_body_is_encoded_with_content_type_and_length() -> None:
    data = (await ASGITestClient(echo_request).post("/", json={"a": [1, 2]})).json()
    assert orjson.loads(data["body"]) == {"a": [1, 2]}
    assert header(data, "content-type") == ["application/json"]
    assert header(data, "content-length") == [str(len(data["body"]))]


async def test_form_data_is_urlencoded_with_repeated_keys() -> None:
    client = ASGITestClient(echo_request)
    data = (await client.post("/", data={"name": "a b&c", "tag": ["x", "y"]})).json()
    assert data["body"] == "name=a+b%26c&tag=x&tag=y"
    assert header(data, "content-type") == ["application/x-www-form-urlencoded"]


async def test_params_are_appended_to_the_query_in_the_url() -> None:
    client = ASGITestClient(echo_request)
    data = (await client.get("/p?a=1", params={"b": "x y", "c": [1, 2], "d": True})).json()
    assert data["query"] == "a=1&b=x+y&c=1&c=2&d=true"


async def test_caller_headers_replace_defaults_instead_of_duplicating_them() -> None:
    client = ASGITestClient(echo_request, headers={"X-Client": "default"})
    data = (
        await client.post(
            "/", body=b"{}", headers={"User-Agent": "mine", "Content-Type": "application/json"}
        )
    ).json()
    assert header(data, "user-agent") == ["mine"]
    assert header(data, "content-type") == ["application/json"]
    assert header(data, "x-client") == ["default"]
    assert header(data, "host") == ["testserver"]


async def test_str_body_is_utf8_and_empty_post_has_content_length_zero() -> None:
    client = ASGITestClient(echo_request)
    assert (await client.put("/", body="é")).json()["body"] == "é".encode().decode("latin-1")
    assert header((await client.post("/")).json(), "content-length") == ["0"]
    assert header((await client.get("/")).json(), "content-length") == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": {}, "data": {"a": "b"}},
        {"body": b"x", "json": {}},
        {"body": b"x", "files": {"f": b"x"}},
        {"body": b"x", "content": b"y"},
        {"data": b"raw", "files": {"f": b"x"}},
    ],
)
async def test_conflicting_body_arguments_are_rejected(kwargs: dict) -> None:
    with pytest.raises(TypeError):
        await ASGITestClient(echo_request).post("/", **kwargs)


async def test_body_is_delivered_in_chunks_with_more_body() -> None:
    data = (await ASGITestClient(echo_request).post("/", body=b"x" * 10, chunk_size=3)).json()
    assert data["chunks"] == 4 and data["body"] == "x" * 10


async def test_path_is_decoded_in_scope_and_kept_encoded_in_raw_path() -> None:
    data = (await ASGITestClient(echo_request).get("/a%2Fb/caf%C3%A9 x")).json()
    assert data["path"] == "/a/b/café x"
    assert data["raw_path"] == "/a%2Fb/caf%C3%A9%20x"


async def test_root_path_and_absolute_urls() -> None:
    client = ASGITestClient(echo_request, root_path="/api")
    data = (await client.get("https://example.com:8443/x?q=1")).json()
    assert data["path"] == "/api/x" and data["root_path"] == "/api"
    assert data["server"] == ["example.com", 8443] and data["query"] == "q=1"
    assert header(data, "host") == ["example.com:8443"]


# --- multipart --------------------------------------------------------------------------------
async def test_files_are_sent_as_multipart_with_fields() -> None:
    client = ASGITestClient(echo_request)
    response = await client.post(
        "/upload",
        data={"title": "Report", "tags": ["a", "b"]},
        files={
            "raw": b"\x00\x01binary",
            "named": ("notes.txt", b"hello"),
            "fileobj": ("data.csv", io.BytesIO(b"a,b\n1,2\n"), "text/csv"),
        },
    )
    parts = parse_multipart(response.json())
    assert parts == [
        ("title", None, "text/plain", b"Report"),
        ("tags", None, "text/plain", b"a"),
        ("tags", None, "text/plain", b"b"),
        ("raw", "raw", "application/octet-stream", b"\x00\x01binary"),
        ("named", "notes.txt", "text/plain", b"hello"),
        ("fileobj", "data.csv", "text/csv", b"a,b\n1,2\n"),
    ]


async def test_multipart_boundary_is_random_and_absent_from_the_content() -> None:
    client = ASGITestClient(echo_request)
    first = (await client.post("/", files={"f": b"x"})).json()
    second = (await client.post("/", files={"f": b"x"})).json()
    boundary = header(first, "content-type")[0].split("boundary=")[1]
    assert boundary != header(second, "content-type")[0].split("boundary=")[1]
    assert len(boundary) >= 32
    assert first["body"].count(boundary) == 2  # one delimiter, one close delimiter


async def test_multipart_filename_cannot_inject_headers() -> None:
    client = ASGITestClient(echo_request)
    data = (await client.post("/", files={"f": ('evil"\r\nX-Injected: 1', b"x")})).json()
    assert "X-Injected: 1\r\n" not in data["body"]
    assert parse_multipart(data)[0][1] == "evil%22%0D%0AX-Injected: 1"


async def test_bad_files_value_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match="files\\['f'\\]"):
        await ASGITestClient(echo_request).post("/", files={"f": 42})
    with pytest.raises(TypeError, match="4-tuple"):
        await ASGITestClient(echo_request).post("/", files={"f": ("a", b"", "t", "x")})


# --- cookies ------------------------------------------------------------------------------------
def cookie_app() -> Any:
    router = CovetRouter()

    async def login(request: Request) -> Response:
        response = Response({"ok": True})
        response.headers.append("set-cookie", "session=abc123; Path=/; HttpOnly")
        response.headers.append("set-cookie", "admin=1; Path=/admin")
        return response

    async def logout(request: Request) -> Response:
        response = Response(None, status_code=204)
        response.headers.append("set-cookie", "session=; Max-Age=0; Path=/")
        return response

    async def show(request: Request) -> Response:
        return Response(dict(request.cookies))

    router.add_route("/login", login, ["POST"])
    router.add_route("/logout", logout, ["POST"])
    router.add_route("/me", show, ["GET"])
    router.add_route("/admin/me", show, ["GET"])
    return create_asgi_app(router=router)


async def test_cookie_jar_keeps_set_cookie_across_requests_and_honours_path() -> None:
    client = ASGITestClient(cookie_app())
    login = await client.post("/login")
    assert login.cookies == {"session": "abc123", "admin": "1"}
    assert (await client.get("/me")).json() == {"session": "abc123"}
    assert (await client.get("/admin/me")).json() == {"session": "abc123", "admin": "1"}
    assert dict(client.cookies) == {"session": "abc123", "admin": "1"}


async def test_expired_set_cookie_deletes_the_cookie() -> None:
    client = ASGITestClient(cookie_app())
    await client.post("/login")
    await client.post("/logout")
    assert (await client.get("/me")).json() == {}


async def test_per_request_cookies_are_sent_but_not_stored() -> None:
    client = ASGITestClient(cookie_app(), cookies={"theme": "dark"})
    assert (await client.get("/me", cookies={"once": "1"})).json() == {
        "theme": "dark",
        "once": "1",
    }
    assert (await client.get("/me")).json() == {"theme": "dark"}


# --- redirects ----------------------------------------------------------------------------------
async def redirecting(scope: dict, receive: Any, send: Any) -> None:
    path = scope["path"]
    await receive()
    targets = {"/301": (301, "/final"), "/303": (303, "/final"), "/307": (307, "final")}
    if path.startswith("/loop"):
        status, location = 302, "/loop"
    elif path in targets:
        status, location = targets[path]
    else:
        await echo_request(scope, _replay(b""), send)
        return
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"location", location.encode())],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def _replay(body: bytes) -> Any:
    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def test_redirects_are_not_followed_by_default() -> None:
    response = await ASGITestClient(redirecting).get("/301")
    assert response.status_code == 301 and response.headers["location"] == "/final"
    assert response.is_redirect


async def test_followed_redirects_switch_to_get_for_303_and_keep_method_for_307() -> None:
    client = ASGITestClient(redirecting, follow_redirects=True)
    after_303 = await client.post("/303", json={"a": 1})
    assert after_303.json()["method"] == "GET" and after_303.json()["path"] == "/final"
    assert [r.status_code for r in after_303.history] == [303]
    after_307 = await client.put("/307", body=b"kept")
    assert after_307.json()["method"] == "PUT" and after_307.url == "http://testserver/final"
    per_request = await ASGITestClient(redirecting).get("/301", follow_redirects=True)
    assert per_request.json()["path"] == "/final"


async def test_redirect_loop_raises_instead_of_hanging() -> None:
    client = ASGITestClient(redirecting, follow_redirects=True, max_redirects=5)
    with pytest.raises(TooManyRedirects):
        await client.get("/loop")


# --- ASGI semantics ---------------------------------------------------------------------------
async def test_streaming_response_is_collected_and_disconnect_comes_only_after_it() -> None:
    events: list[str] = []

    async def streaming(scope: dict, receive: Any, send: Any) -> None:
        await receive()  # the request body

        async def listen() -> None:
            message = await receive()
            events.append(message["type"])

        listener = asyncio.ensure_future(listen())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(3):
            await asyncio.sleep(0)
            events.append(f"chunk {i}")
            await send({"type": "http.response.body", "body": b"%d" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b"!", "more_body": False})
        await listener

    response = await ASGITestClient(streaming).get("/")
    assert response.content == b"012!"
    assert events == ["chunk 0", "chunk 1", "chunk 2", "http.disconnect"]


async def test_head_response_has_no_body() -> None:
    response = await ASGITestClient(app).head("/api/test")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-length"] == "11"


async def failing(scope: dict, receive: Any, send: Any) -> None:
    if scope["path"] == "/after-start":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
    raise ValueError("boom")


async def test_exception_escaping_the_app_propagates_by_default() -> None:
    with pytest.raises(ValueError, match="boom"):
        await ASGITestClient(failing).get("/")


async def test_exception_becomes_500_when_server_exceptions_are_not_raised() -> None:
    client = ASGITestClient(failing, raise_server_exceptions=False)
    response = await client.get("/")
    assert response.status_code == 500 and response.text == "Internal Server Error"
    partial = await client.get("/after-start")
    assert partial.status_code == 200 and partial.content == b"part"


async def test_covet_app_handles_its_own_errors_in_both_modes() -> None:
    router = CovetRouter()

    async def broken(request: Request) -> Response:
        raise RuntimeError("handler bug")

    router.add_route("/", broken, ["GET"])
    for raise_errors in (True, False):
        client = ASGITestClient(
            create_asgi_app(router=router), raise_server_exceptions=raise_errors
        )
        response = await client.get("/")
        assert response.status_code == 500
        assert response.json() == {"detail": "Internal Server Error"}


async def test_app_returning_without_a_response_is_an_error_not_a_hang() -> None:
    async def silent(scope: dict, receive: Any, send: Any) -> None:
        return None

    with pytest.raises(RuntimeError, match="without sending a response"):
        await ASGITestClient(silent).get("/")
    response = await ASGITestClient(silent, raise_server_exceptions=False).get("/")
    assert response.status_code == 500


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([{"type": "http.response.body", "body": b"x"}], "before http.response.start"),
        (
            [
                {"type": "http.response.start", "status": 200},
                {"type": "http.response.body", "body": "text"},
            ],
            "body must be bytes",
        ),
        (
            [
                {"type": "http.response.start", "status": 200},
                {"type": "http.response.body", "body": b""},
                {"type": "http.response.body", "body": b"late"},
            ],
            "after the response ended",
        ),
        ([{"type": "http.response.start", "status": 1000}], "invalid status"),
        ([{"type": "http.response.start", "status": 200}], "before completing"),
    ],
)
async def test_asgi_protocol_violations_are_reported(messages: list, error: str) -> None:
    async def bad(scope: dict, receive: Any, send: Any) -> None:
        for message in messages:
            await send(message)

    with pytest.raises((RuntimeError, TypeError), match=error):
        await ASGITestClient(bad).get("/")


async def test_app_waiting_forever_fails_with_timeout_when_one_is_set() -> None:
    async def stuck(scope: dict, receive: Any, send: Any) -> None:
        await receive()
        await receive()  # waits for a disconnect that only comes after a response

    with pytest.raises(asyncio.TimeoutError):
        await ASGITestClient(stuck, timeout=0.05).get("/")


# --- lifespan ----------------------------------------------------------------------------------
def lifespan_app(fail: str | None = None) -> tuple[Any, list[str]]:
    events: list[str] = []
    router = CovetRouter()

    async def show_state(request: Request) -> Response:
        return Response({"db": request.state.db})

    router.add_route("/state", show_state, ["GET"])
    application = create_asgi_app(router=router)

    async def raw(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            scope["state"]["db"] = "connected"
        await application(scope, receive, send)

    async def startup() -> None:
        events.append("startup")
        if fail == "startup":
            raise RuntimeError("database unreachable")

    async def shutdown() -> None:
        events.append("shutdown")
        if fail == "shutdown":
            raise RuntimeError("flush failed")

    application.add_startup_handler(startup)
    application.add_shutdown_handler(shutdown)
    return raw, events


async def test_async_with_runs_startup_and_shutdown_and_shares_state() -> None:
    application, events = lifespan_app()
    async with ASGITestClient(application) as client:
        assert events == ["startup"]
        assert (await client.get("/state")).json() == {"db": "connected"}
    assert events == ["startup", "shutdown"]


async def test_startup_failure_fails_loudly() -> None:
    application, _ = lifespan_app(fail="startup")
    with pytest.raises(LifespanError, match="database unreachable"):
        async with ASGITestClient(application):
            pass


async def test_shutdown_failure_is_reported() -> None:
    application, events = lifespan_app(fail="shutdown")
    with pytest.raises(LifespanError, match="flush failed"):
        async with ASGITestClient(application):
            pass
    assert events == ["startup", "shutdown"]


async def test_app_without_lifespan_is_served_in_auto_mode_and_rejected_in_on_mode() -> None:
    async with ASGITestClient(echo_request) as client:  # asserts scope type == http
        assert (await client.get("/")).status_code == 200
    with pytest.raises(LifespanError, match="does not support"):
        async with ASGITestClient(echo_request, lifespan="on"):
            pass


async def test_disabled_lifespan_of_a_covet_app_is_tolerated() -> None:
    application = create_asgi_app(router=router, enable_lifespan=False)
    async with ASGITestClient(application) as client:
        assert (await client.get("/api/test")).status_code == 200


# --- WebSockets ---------------------------------------------------------------------------------
async def ws_app(scope: dict, receive: Any, send: Any) -> None:
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    path = scope["path"]
    if path == "/reject":
        await send({"type": "websocket.close", "code": 4403, "reason": "no entry"})
        return
    if path == "/deny":
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "websocket.http.response.start", "status": 401, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": b"log in", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b" first"})
        return
    if path == "/crash-before-accept":
        raise RuntimeError("handshake bug")
    protocol = scope["subprotocols"][0] if scope["subprotocols"] else None
    await send(
        {"type": "websocket.accept", "subprotocol": protocol, "headers": [(b"x-accepted", b"1")]}
    )
    if path == "/close-after-hello":
        await send({"type": "websocket.send", "text": "hello"})
        await send({"type": "websocket.close", "code": 1001, "reason": "going away"})
        return
    if path == "/info":
        info = {
            "query": scope["query_string"].decode(),
            "headers": {n.decode(): v.decode() for n, v in scope["headers"]},
            "scheme": scope["scheme"],
        }
        await send({"type": "websocket.send", "text": orjson.dumps(info).decode()})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            ws_app.last_disconnect = message  # type: ignore[attr-defined]
            return
        if message.get("text") == "crash":
            raise RuntimeError("ws handler bug")
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": "echo: " + message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"][::-1]})


async def test_websocket_text_bytes_and_json_round_trips() -> None:
    client = ASGITestClient(ws_app)
    async with client.websocket_connect("/ws", subprotocols=["chat", "v2"]) as ws:
        assert ws.accepted_subprotocol == "chat"
        assert ws.extra_headers["x-accepted"] == "1"
        await ws.send_text("hi")
        assert await ws.receive_text() == "echo: hi"
        await ws.send_bytes(b"abc")
        assert await ws.receive_bytes() == b"cba"
        await ws.send_json({"n": 1})
        assert await ws.receive_text() == 'echo: {"n":1}'
        await ws.send_json([1, 2], mode="binary")
        assert await ws.receive_bytes() == b"]2,1["
        await ws.close(code=4000, reason="bye")
    assert ws_app.last_disconnect == {  # type: ignore[attr-defined]
        "type": "websocket.disconnect",
        "code": 4000,
        "reason": "bye",
    }


async def test_websocket_scope_carries_headers_query_and_cookies() -> None:
    client = ASGITestClient(ws_app, cookies={"sid": "s1"})
    async with client.websocket_connect(
        "/info?room=1", headers={"Authorization": "Bearer t"}
    ) as ws:
        info = await ws.receive_json()
    assert info["query"] == "room=1" and info["scheme"] == "ws"
    assert info["headers"]["authorization"] == "Bearer t"
    assert info["headers"]["cookie"] == "sid=s1"
    assert info["headers"]["upgrade"] == "websocket"


async def test_websocket_closed_before_accept_raises_rejected_with_code() -> None:
    with pytest.raises(WebSocketRejected) as info:
        async with ASGITestClient(ws_app).websocket_connect("/reject"):
            pytest.fail("the connection must not open")
    assert info.value.code == 4403 and info.value.reason == "no entry"
    assert info.value.status_code == 403 and info.value.response is None


async def test_websocket_denial_response_is_available_on_the_exception() -> None:
    with pytest.raises(WebSocketRejected) as info:
        async with ASGITestClient(ws_app).websocket_connect("/deny"):
            pass
    assert info.value.status_code == 401
    assert info.value.response is not None and info.value.response.text == "log in first"


async def test_websocket_close_from_the_app_raises_on_receive() -> None:
    async with ASGITestClient(ws_app).websocket_connect("/close-after-hello") as ws:
        assert await ws.receive_text() == "hello"
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive_text()
    assert info.value.code == 1001 and info.value.reason == "going away"


async def test_websocket_app_exceptions_propagate() -> None:
    with pytest.raises(RuntimeError, match="handshake bug"):
        async with ASGITestClient(ws_app).websocket_connect("/crash-before-accept"):
            pass
    with pytest.raises(RuntimeError, match="ws handler bug"):
        async with ASGITestClient(ws_app).websocket_connect("/ws") as ws:
            await ws.send_text("crash")
            await ws.receive_text()


async def test_websocket_receive_of_the_wrong_kind_is_a_type_error() -> None:
    async with ASGITestClient(ws_app).websocket_connect("/ws") as ws:
        await ws.send_text("x")
        with pytest.raises(TypeError, match="expected a binary message"):
            await ws.receive_bytes()


async def test_websocket_send_before_accept_is_a_protocol_error() -> None:
    async def eager(scope: dict, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.send", "text": "too early"})

    with pytest.raises(RuntimeError, match=r"before websocket\.accept"):
        async with ASGITestClient(eager).websocket_connect("/"):
            pass


# --- the sync client -----------------------------------------------------------------------------
def test_sync_client_runs_the_guide_requests_in_a_plain_function() -> None:
    with TestClient(app) as client:
        assert client.get("/api/test")["status_code"] == 200
        response = client.post("/api/data", json={"x": 1})
        assert response.status_code == 201 and response.json() == {"x": 1}


def test_sync_client_context_manager_runs_lifespan() -> None:
    application, events = lifespan_app()
    with TestClient(application) as client:
        assert events == ["startup"]
        assert client.get("/state").json() == {"db": "connected"}
    assert events == ["startup", "shutdown"]


def test_sync_client_without_context_manager_and_after_close() -> None:
    client = TestClient(app)
    assert client.get("/api/test").status_code == 200
    client.close()
    assert client.get("/api/test").status_code == 200  # a new loop is started
    client.close()


def test_sync_client_propagates_app_exceptions_and_keeps_cookies() -> None:
    with pytest.raises(ValueError, match="boom"):
        TestClient(failing).get("/")
    client = TestClient(cookie_app())
    client.post("/login")
    assert client.get("/me").json() == {"session": "abc123"}
    assert client.cookies["session"] == "abc123"
    client.close()


def test_sync_websocket_session() -> None:
    with TestClient(ws_app) as client:
        with client.websocket_connect("/ws", subprotocols=["chat"]) as ws:
            assert ws.accepted_subprotocol == "chat"
            ws.send_text("sync")
            assert ws.receive_text() == "echo: sync"
            ws.send_bytes(b"12")
            assert ws.receive_bytes() == b"21"
        with pytest.raises(WebSocketRejected):
            with client.websocket_connect("/reject"):
                pass


def test_import_covet_loads_no_test_tooling() -> None:
    code = (
        "import sys, covet; "
        "assert 'covet.testing' not in sys.modules, 'covet.testing'; "
        "assert 'covet.adapters' not in sys.modules, 'covet.adapters'; "
        "assert 'httpx' not in sys.modules, 'httpx'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_guide_path_exports_the_clients() -> None:
    from covet.core import asgi_integration

    assert asgi_integration.ASGITestClient is ASGITestClient
    assert asgi_integration.TestClient is TestClient


def test_websocket_closed_is_a_websocket_disconnect() -> None:
    assert issubclass(WebSocketClosed, covet.WebSocketDisconnect)


async def test_covet_websocket_route_through_the_client() -> None:
    ws_router = CovetRouter()

    async def chat(websocket: Any) -> None:
        await websocket.accept()
        while True:
            try:
                text = await websocket.receive_text()
            except covet.WebSocketDisconnect:
                return
            await websocket.send_text(text.upper())

    ws_router.add_route("/chat", chat, ["WEBSOCKET"])
    client = ASGITestClient(create_asgi_app(router=ws_router))
    async with client.websocket_connect("/chat") as ws:
        await ws.send_text("hello")
        assert await ws.receive_text() == "HELLO"
    with pytest.raises(WebSocketRejected):  # no such route: closed before accept
        async with client.websocket_connect("/nowhere"):
            pass


async def test_app_that_ignores_lifespan_shutdown_is_cancelled_not_awaited_forever() -> None:
    async def stubborn(scope: dict, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        await asyncio.Event().wait()  # never returns

    async with ASGITestClient(stubborn, close_timeout=0.01):
        pass


async def test_websocket_app_ignoring_disconnect_is_cancelled_on_exit() -> None:
    cancelled: list[bool] = []

    async def deaf(scope: dict, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async with ASGITestClient(deaf, close_timeout=0.01).websocket_connect("/"):
        pass
    assert cancelled == [True]


def test_sync_client_startup_failure_raises_and_stops_its_loop() -> None:
    application, _ = lifespan_app(fail="startup")
    client = TestClient(application)
    with pytest.raises(LifespanError, match="database unreachable"):
        with client:
            pytest.fail("the body must not run")
    assert not client._loop.running
