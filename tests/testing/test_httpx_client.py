"""The test clients as httpx clients: responses are real ``httpx.Response`` objects
that also answer the guide's keys, requests are encoded by httpx, bodies stream
through the ASGI transport, and what httpx does differently from a test client's
needs (extra headers, decoding, cookie merging, URL limits) is kept out of the way."""

from __future__ import annotations

import asyncio
import gc
import gzip
import logging
import threading
import warnings
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx
import orjson
import pytest

from covet.testing import (
    ASGITestClient,
    TestClient,
    TestResponse,
    TooManyRedirects,
    encode_multipart,
    parse_set_cookie,
)


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with what it received, and sets a cookie on /login."""
    body = b""
    while True:
        message = await receive()
        body += message["body"]
        if not message["more_body"]:
            break
    payload = {
        "method": scope["method"],
        "path": scope["path"],
        "query": scope["query_string"].decode("latin-1"),
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
        "body": body.decode("latin-1"),
    }
    headers = [(b"content-type", b"application/json")]
    if scope["path"] == "/login":
        headers.append((b"set-cookie", b"sid=s1; Path=/"))
    if scope["path"] == "/bounce":
        await send({"type": "http.response.start", "status": 307, "headers": [(b"location", b"/")]})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": orjson.dumps(payload)})


def header(data: dict[str, Any], name: str) -> list[str]:
    return [v for n, v in data["headers"] if n == name]


# --- responses -----------------------------------------------------------------------------------
async def test_response_is_an_httpx_response_that_answers_every_guide_key() -> None:
    response = await ASGITestClient(echo).post("/login?x=1", json={"a": 1})
    assert isinstance(response, httpx.Response) and isinstance(response, TestResponse)
    assert response.request.method == "POST" and response.request.url == response.url
    assert response.url == httpx.URL("http://testserver/login?x=1")
    assert response.is_success and response.reason_phrase == "OK"
    assert response.http_version == "HTTP/1.1" and response.elapsed.total_seconds() >= 0
    assert response.json()["path"] == "/login" and response.text == response.content.decode()
    assert response.cookies == {"sid": "s1"} and isinstance(response.cookies, httpx.Cookies)
    assert isinstance(response.headers, httpx.Headers)
    for key in ("status_code", "headers", "content", "text", "cookies", "url"):
        assert response[key] is getattr(response, key) or response[key] == getattr(response, key)
    assert response["body"] == response.content and response["json"] == response.json()
    assert response.headers.getlist("set-cookie") == ["sid=s1; Path=/"]


async def test_raise_for_status_is_httpx_s() -> None:
    async def missing(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"no"})

    response = await ASGITestClient(missing).get("/x")
    with pytest.raises(httpx.HTTPStatusError, match="404"):
        response.raise_for_status()


async def test_content_encoding_is_not_undone() -> None:
    packed = gzip.compress(b"hello" * 100)

    async def gzipped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-encoding", b"gzip"), (b"content-length", b"%d" % len(packed))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": packed})

    response = await ASGITestClient(gzipped).get("/")
    assert response.content == packed and gzip.decompress(response.content) == b"hello" * 100


# --- requests ------------------------------------------------------------------------------------
async def test_only_the_headers_the_test_sends_reach_the_app() -> None:
    data = (await ASGITestClient(echo).get("/")).json()
    assert [name for name, _ in data["headers"]] == ["host", "user-agent"]
    assert header(data, "user-agent") == ["testclient"]
    chosen = ASGITestClient(echo, headers={"Accept-Encoding": "gzip"})
    assert header((await chosen.get("/")).json(), "accept-encoding") == ["gzip"]


@pytest.mark.parametrize(
    ("params", "query"),
    [
        (
            {"flag": True, "off": False, "none": None, "n": 3, "f": 1.5},
            "flag=true&off=false&none=&n=3&f=1.5",
        ),
        ({"tag": ["a", "b"], "t": ("x",)}, "tag=a&tag=b&t=x"),
        ([("k", "1"), ("k", "2")], "k=1&k=2"),
        (httpx.QueryParams("q=caf%C3%A9&q=2"), "q=caf%C3%A9&q=2"),
        ({"s": "a b&c=d/é"}, "s=a+b%26c%3Dd%2F%C3%A9"),
    ],
)
async def test_params_are_encoded_by_httpx_and_added_to_the_url_query(
    params: Any, query: str
) -> None:
    client = ASGITestClient(echo)
    assert (await client.get("/", params=params)).json()["query"] == query
    assert (await client.get("/?first=1", params=params)).json()["query"] == "first=1&" + query


async def test_body_json_and_data_are_accepted_on_every_method() -> None:
    client = ASGITestClient(echo)
    assert (await client.delete("/", json={"a": 1})).json()["body"] == '{"a":1}'
    assert (await client.get("/", body=b"raw")).json()["body"] == "raw"
    assert (await client.options("/", data={"k": "v"})).json()["body"] == "k=v"
    assert (await client.post("/", data=b"as content")).json()["body"] == "as content"


async def test_per_request_cookies_replace_same_named_client_cookies_and_survive_redirects() -> (
    None
):
    client = ASGITestClient(echo, cookies={"sid": "client", "theme": "dark"})
    data = (await client.get("/", cookies={"sid": "mine"})).json()
    assert sorted(header(data, "cookie")[0].split("; ")) == ["sid=mine", "theme=dark"]
    followed = await client.get("/bounce", cookies={"once": "1"}, follow_redirects=True)
    assert followed.history[0].status_code == 307
    assert "once=1" in header(followed.json(), "cookie")[0].split("; ")
    assert header((await client.get("/")).json(), "cookie") == ["sid=client; theme=dark"]


async def test_client_cookie_jar_is_httpx_s_and_keeps_set_cookie() -> None:
    client = ASGITestClient(echo)
    await client.get("/login")
    assert isinstance(client.cookies, httpx.Cookies) and client.cookies["sid"] == "s1"
    client.cookies.set("extra", "x")
    assert sorted(header((await client.get("/")).json(), "cookie")[0].split("; ")) == [
        "extra=x",
        "sid=s1",
    ]


async def test_a_url_longer_than_httpx_accepts_reaches_the_app_intact() -> None:
    query = "q=" + "x" * 100_000
    data = (await ASGITestClient(echo).get("/long path?" + query, params={"p": "1"})).json()
    assert data["path"] == "/long path" and data["query"] == query + "&p=1"


async def test_non_ascii_header_values_reach_the_app_as_latin1() -> None:
    data = (await ASGITestClient(echo).get("/", headers={"x-name": "café"})).json()
    assert header(data, "x-name") == ["café"]


async def test_no_httpx_deprecation_warnings_for_the_old_keywords() -> None:
    client = ASGITestClient(echo)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await client.post("/", data=b"raw", cookies={"a": "1"})
        await client.post("/", data="text", cookies={"b": "2"})


async def test_four_tuple_files_carry_their_part_headers() -> None:
    files = {"f": ("a.txt", b"x", "text/plain", {"X-Part": "1"})}
    data = (await ASGITestClient(echo).post("/", files=files)).json()
    raw = f"Content-Type: {header(data, 'content-type')[0]}\r\n\r\n{data['body']}".encode("latin-1")
    part = next(BytesParser(policy=HTTP).parsebytes(raw).iter_parts())
    assert part["x-part"] == "1" and part.get_filename() == "a.txt"


def test_encode_multipart_is_the_body_the_client_sends() -> None:
    body, content_type = encode_multipart({"t": "1"}, {"f": ("a.bin", b"\x00")}, boundary="b0")
    assert content_type == "multipart/form-data; boundary=b0"
    assert body.startswith(b'--b0\r\nContent-Disposition: form-data; name="t"\r\n\r\n1\r\n')
    assert body.endswith(b"\x00\r\n--b0--\r\n")


def test_parse_set_cookie_reads_name_value_and_attributes() -> None:
    assert parse_set_cookie('a="b c"; Path=/x; HttpOnly') == (
        "a",
        "b c",
        {"path": "/x", "httponly": ""},
    )
    assert parse_set_cookie("no pair") is None


async def test_too_many_redirects_is_httpx_s_exception() -> None:
    assert TooManyRedirects is httpx.TooManyRedirects

    async def loop(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 302, "headers": [(b"location", b"/")]})
        await send({"type": "http.response.body", "body": b""})

    with pytest.raises(httpx.TooManyRedirects):
        await ASGITestClient(loop, follow_redirects=True, max_redirects=3).get("/")


# --- streaming and disconnects -------------------------------------------------------------------
class Ticker:
    """An app that streams numbered chunks until the client disconnects."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.sent = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # no lifespan
        await receive()
        disconnected = asyncio.Event()

        async def listen() -> None:
            message = await receive()
            self.events.append(message["type"])
            disconnected.set()

        listener = asyncio.ensure_future(listen())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while not disconnected.is_set() and self.sent < 1000:
            await send(
                {"type": "http.response.body", "body": b"%d," % self.sent, "more_body": True}
            )
            self.sent += 1
            await asyncio.sleep(0.001)
        await listener
        self.events.append("ended")


async def test_stream_reads_chunks_as_sent_and_closing_early_disconnects_the_app() -> None:
    app = Ticker()
    async with ASGITestClient(app).stream("GET", "/") as response:
        assert response.status_code == 200
        chunks = response.aiter_raw()
        assert await chunks.__anext__() == b"0,"
        assert await chunks.__anext__() == b"1,"
    assert app.events == ["http.disconnect", "ended"]
    assert app.sent < 1000


def test_sync_stream_reads_chunks_and_closing_early_disconnects_the_app() -> None:
    app = Ticker()
    with TestClient(app) as client:
        with client.stream("GET", "/") as response:
            assert next(response.iter_raw()) == b"0,"
        assert app.events == ["http.disconnect", "ended"]


async def test_exception_after_the_response_started_propagates_by_default() -> None:
    async def half(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise ValueError("mid-body")

    with pytest.raises(ValueError, match="mid-body"):
        await ASGITestClient(half).get("/")


async def test_app_errors_swallowed_with_raise_false_are_not_logged_as_unretrieved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def failing(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"] == "/late":
            await send({"type": "http.response.start", "status": 200, "headers": []})
        raise ValueError("boom")

    client = ASGITestClient(failing, raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        assert (await client.get("/")).status_code == 500
        assert (await client.get("/late")).status_code == 200
        async with ASGITestClient(failing):  # a lifespan the app fails to speak
            pass
        gc.collect()
    assert "never retrieved" not in caplog.text


async def test_per_request_timeout_bounds_the_app() -> None:
    async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asyncio.sleep(10)

    with pytest.raises(asyncio.TimeoutError):
        await ASGITestClient(slow).get("/", timeout=0.05)
    assert (
        await ASGITestClient(slow, raise_server_exceptions=False, timeout=0.05).get("/")
    ).status_code == 500


# --- lifespan and the sync client ----------------------------------------------------------------
async def test_client_stays_usable_after_its_lifespan_block_and_can_enter_again() -> None:
    events: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].split(".")[1]
                events.append(kind)
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        await echo(scope, receive, send)

    client = ASGITestClient(app)
    async with client:
        pass
    assert (await client.get("/")).status_code == 200
    async with client:
        pass
    assert events == ["startup", "shutdown", "startup", "shutdown"]


def test_sync_client_is_an_httpx_client_and_leaves_no_loop_thread_after_close() -> None:
    def loop_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "covet-testclient-loop"]

    before = len(loop_threads())
    client = TestClient(echo, cookies={"a": "1"})
    assert isinstance(client, httpx.Client)
    response = client.get("/", params={"q": "1"})
    assert isinstance(response, httpx.Response) and response["status_code"] == 200
    assert response.json()["query"] == "q=1" and header(response.json(), "cookie") == ["a=1"]
    assert len(loop_threads()) == before + 1
    client.close()
    assert len(loop_threads()) == before
