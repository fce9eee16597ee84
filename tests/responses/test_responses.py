"""Response classes through the ASGI interface: JSON options, text/HTML, redirects,
streaming (sync and async, disconnects), server-sent events."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest

from covet import _core
from covet.app import create_asgi_app
from covet.responses import (
    EventSourceResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    ServerSentEvent,
    StreamingResponse,
)
from covet.routing import CovetRouter
from covet.testing import ASGITestClient


async def call(
    response: Response, method: str = "GET", receive: Any = None
) -> tuple[int, dict[str, str], bytes, list[dict[str, Any]]]:
    """Drives a response as a server would; returns status, headers, body, messages."""
    messages: list[dict[str, Any]] = []

    async def default_receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the client never leaves
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {"type": "http", "method": method, "headers": [], "path": "/"}
    await response(scope, receive or default_receive, send)
    start = messages[0]
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], headers, body, messages


def app_with(handler: Any, path: str = "/") -> ASGITestClient:
    router = CovetRouter()
    router.add_route(path, handler, ["GET", "POST"])
    return ASGITestClient(create_asgi_app(router))


# -- JSON ----------------------------------------------------------------------------------
@dataclasses.dataclass
class Point:
    x: int
    y: int


async def test_json_response_serialises_dataclasses_datetimes_and_uuids_by_default() -> None:
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    status, headers, body, _ = await call(
        JSONResponse({"p": Point(1, 2), "when": when, "id": ident}, status_code=201)
    )
    assert status == 201
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(body))
    assert orjson.loads(body) == {
        "p": {"x": 1, "y": 2},
        "when": "2024-01-02T03:04:05+00:00",
        "id": str(ident),
    }


async def test_json_response_option_argument_is_passed_to_orjson() -> None:
    _, _, body, _ = await call(JSONResponse({"b": 1, "a": 2}, option=orjson.OPT_SORT_KEYS))
    assert body == b'{"a":2,"b":1}'
    _, _, body, _ = await call(JSONResponse({1: "a"}, option=orjson.OPT_NON_STR_KEYS))
    assert body == b'{"1":"a"}'


async def test_json_response_option_class_attribute_applies_to_subclasses() -> None:
    class SortedJSON(JSONResponse):
        option = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS

    _, _, body, _ = await call(SortedJSON({"b": 1, "a": 2}))
    assert body == b'{"a":2,"b":1}'
    with pytest.raises(TypeError):  # passthrough: dataclasses are no longer serialised
        SortedJSON(Point(1, 2))


async def test_json_response_unserialisable_content_is_a_500_through_the_app() -> None:
    async def handler(request: Any) -> JSONResponse:
        return JSONResponse({"x": object()})

    response = await app_with(handler).get("/")
    assert response.status_code == 500


async def test_plain_text_and_html_responses_set_charset_and_length() -> None:
    status, headers, body, _ = await call(PlainTextResponse("héllo"))
    assert (status, body) == (200, "héllo".encode())
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["content-length"] == str(len(body))
    _, headers, body, _ = await call(HTMLResponse("<p>hi</p>", status_code=404))
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert body == b"<p>hi</p>"


async def test_head_request_gets_headers_without_body() -> None:
    status, headers, body, _ = await call(PlainTextResponse("hello"), method="HEAD")
    assert (status, body, headers["content-length"]) == (200, b"", "5")


# -- redirects -------------------------------------------------------------------------------
async def test_redirect_response_defaults_to_307_with_location() -> None:
    status, headers, body, _ = await call(RedirectResponse("/next?a=1"))
    assert (status, headers["location"], body) == (307, "/next?a=1", b"")
    assert headers["content-length"] == "0"


async def test_redirect_response_custom_status_and_percent_encoding() -> None:
    status, headers, _, _ = await call(RedirectResponse("/caf\u00e9 menu", status_code=301))
    assert status == 301
    assert headers["location"] == "/caf%C3%A9%20menu"


async def test_redirect_location_cannot_inject_headers() -> None:
    _, headers, _, messages = await call(RedirectResponse("/x\r\nSet-Cookie: evil=1"))
    assert headers["location"] == "/x%0D%0ASet-Cookie:%20evil=1"
    assert all(name != b"set-cookie" for name, _ in messages[0]["headers"])


async def test_redirect_replaces_a_location_given_in_headers() -> None:
    _, _, _, messages = await call(RedirectResponse("/a", headers={"location": "/b"}))
    locations = [v for n, v in messages[0]["headers"] if n == b"location"]
    assert locations == [b"/a"]


# -- streaming -------------------------------------------------------------------------------
async def test_streaming_async_generator_sends_chunks_with_more_body() -> None:
    async def numbers() -> AsyncIterator[str]:
        for i in range(3):
            yield f"{i},"

    status, headers, body, messages = await call(
        StreamingResponse(numbers(), media_type="text/csv")
    )
    assert (status, body) == (200, b"0,1,2,")
    assert headers["content-type"] == "text/csv; charset=utf-8"
    assert "content-length" not in headers
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    assert [m["more_body"] for m in bodies] == [True, True, True, False]


async def test_streaming_sync_iterator_runs_in_a_thread() -> None:
    threads: list[str] = []

    def chunks() -> Iterator[bytes]:
        for part in (b"a", b"b"):
            threads.append(threading.current_thread().name)
            yield part

    _, _, body, _ = await call(StreamingResponse(chunks()))
    assert body == b"ab"
    assert threads and threading.main_thread().name not in threads


async def test_streaming_through_the_app_and_test_client() -> None:
    async def handler(request: Any) -> StreamingResponse:
        async def gen() -> AsyncIterator[bytes]:
            yield b"hello "
            await asyncio.sleep(0)
            yield b"world"

        return StreamingResponse(gen(), headers={"x-kind": "stream"})

    response = await app_with(handler).get("/")
    assert response.status_code == 200
    assert response.content == b"hello world"
    assert response.headers["x-kind"] == "stream"


async def test_streaming_head_sends_no_body_and_closes_the_generator() -> None:
    closed = False

    async def gen() -> AsyncIterator[bytes]:
        nonlocal closed
        try:
            yield b"never"
        finally:
            closed = True

    iterator = gen()
    await iterator.asend(None)  # started, suspended at the yield
    status, _, body, _ = await call(StreamingResponse(iterator), method="HEAD")
    assert (status, body, closed) == (200, b"", True)


async def test_streaming_stops_and_closes_async_generator_when_client_disconnects() -> None:
    closed = asyncio.Event()
    produced = 0
    disconnect = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        nonlocal produced
        try:
            while True:
                produced += 1
                if produced == 3:
                    disconnect.set()
                yield b"x"
                await asyncio.sleep(0.01)
        finally:
            closed.set()

    async def receive() -> dict[str, Any]:
        await disconnect.wait()
        return {"type": "http.disconnect"}

    _, _, _, messages = await asyncio.wait_for(
        call(StreamingResponse(endless()), receive=receive), 5
    )
    assert closed.is_set()
    assert produced < 10
    # No final (more_body=False) message goes to a client that left.
    assert all(m.get("more_body", False) for m in messages[1:])


async def test_streaming_stops_a_generator_blocked_between_items_on_disconnect() -> None:
    closed = asyncio.Event()

    async def waits_forever() -> AsyncIterator[bytes]:
        try:
            yield b"first"
            await asyncio.Event().wait()  # e.g. waiting for the next event to publish
            yield b"never"
        finally:
            closed.set()

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return {"type": "http.disconnect"}

    _, _, body, _ = await asyncio.wait_for(
        call(StreamingResponse(waits_forever()), receive=receive), 5
    )
    assert body == b"first"
    assert closed.is_set()


async def test_streaming_closes_sync_generator_when_client_disconnects() -> None:
    closed = threading.Event()

    def endless() -> Iterator[bytes]:
        try:
            while True:
                yield b"x"
        finally:
            closed.set()

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return {"type": "http.disconnect"}

    await asyncio.wait_for(call(StreamingResponse(endless()), receive=receive), 5)
    for _ in range(100):  # the close may run when the in-flight next() returns
        if closed.is_set():
            break
        await asyncio.sleep(0.01)
    assert closed.is_set()


async def test_streaming_ignores_request_body_messages_while_watching_for_disconnect() -> None:
    messages = [
        {"type": "http.request", "body": b"ignored", "more_body": False},
    ]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def gen() -> AsyncIterator[bytes]:
        for part in (b"a", b"b", b"c"):
            await asyncio.sleep(0.01)
            yield part

    _, _, body, _ = await call(StreamingResponse(gen()), receive=receive)
    assert body == b"abc"


async def test_streaming_rejects_non_bytes_chunks_with_a_clear_error() -> None:
    async def gen() -> AsyncIterator[Any]:
        yield 42

    with pytest.raises(TypeError, match="str or bytes"):
        await call(StreamingResponse(gen()))


def test_streaming_response_rejects_non_iterables() -> None:
    with pytest.raises(TypeError):
        StreamingResponse(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        StreamingResponse(b"bytes are not a stream")  # type: ignore[arg-type]


async def test_generator_error_mid_stream_propagates() -> None:
    async def gen() -> AsyncIterator[bytes]:
        yield b"a"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await call(StreamingResponse(gen()))


# -- server-sent events -----------------------------------------------------------------
def test_server_sent_event_encoding_splits_data_lines() -> None:
    event = ServerSentEvent("line1\nline2\r\nline3\rline4", event="update", id=7, retry=3000)
    assert event.encode() == (
        b"event: update\nid: 7\nretry: 3000\ndata: line1\ndata: line2\ndata: line3\ndata: line4\n\n"
    )


def test_server_sent_event_json_data_and_comments() -> None:
    assert ServerSentEvent({"a": 1}).encode() == b'data: {"a":1}\n\n'
    assert ServerSentEvent(comment="keep\nalive").encode() == b": keep\n: alive\n\n"
    assert ServerSentEvent("").encode() == b"data: \n\n"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"event": "a\nb"},
        {"event": "a\rb"},
        {"id": "1\n2"},
        {"id": "1\x002"},
        {"retry": -1},
        {"retry": 1.5},
        {"retry": True},
    ],
)
def test_server_sent_event_rejects_field_injection(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ServerSentEvent("x", **kwargs)


async def test_event_source_response_streams_events_with_no_cache_headers() -> None:
    async def events() -> AsyncIterator[Any]:
        yield ServerSentEvent("hello", event="greeting")
        yield {"data": {"n": 1}, "id": "2"}
        yield "plain"

    status, headers, body, _ = await call(EventSourceResponse(events()))
    assert status == 200
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers["cache-control"] == "no-cache"
    assert headers["x-accel-buffering"] == "no"
    assert body == (b'event: greeting\ndata: hello\n\nid: 2\ndata: {"n":1}\n\ndata: plain\n\n')


async def test_event_source_response_sends_keepalive_pings_while_idle() -> None:
    async def slow() -> AsyncIterator[str]:
        await asyncio.sleep(0.25)
        yield "done"

    _, _, body, _ = await call(EventSourceResponse(slow(), ping_interval=0.05))
    assert body.endswith(b"data: done\n\n")
    assert body.count(b": ping\n\n") >= 2
    assert body.startswith(b": ping\n\n")


async def test_event_source_pings_disabled_with_none_class_attribute() -> None:
    class Quiet(EventSourceResponse):
        ping_interval = None

    async def slow() -> AsyncIterator[str]:
        await asyncio.sleep(0.05)
        yield "done"

    _, _, body, _ = await call(Quiet(slow()))
    assert body == b"data: done\n\n"


async def test_event_source_closes_generator_when_client_disconnects() -> None:
    closed = asyncio.Event()

    async def forever() -> AsyncIterator[str]:
        try:
            while True:
                yield "tick"
                await asyncio.sleep(0.01)
        finally:
            closed.set()

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return {"type": "http.disconnect"}

    _, _, body, _ = await asyncio.wait_for(call(EventSourceResponse(forever()), receive=receive), 5)
    assert body.startswith(b"data: tick\n\n")
    assert closed.is_set()


def test_event_source_ping_interval_must_be_positive() -> None:
    async def gen() -> AsyncIterator[str]:
        yield "x"

    with pytest.raises(ValueError):
        EventSourceResponse(gen(), ping_interval=0)


# -- headers -------------------------------------------------------------------------------
async def test_response_headers_are_validated_against_injection() -> None:
    response = PlainTextResponse("x")
    with pytest.raises(_core.InvalidHeaderError):
        response.headers["x-a"] = "ok\r\nset-cookie: evil=1"
    with pytest.raises(_core.InvalidHeaderError):
        PlainTextResponse("x", headers={"x-a": "bad\nvalue"})


# -- over real HTTP --------------------------------------------------------------------------
def test_streaming_and_event_stream_over_real_http(serve: Any) -> None:
    import http.client

    server = serve("apps.responses_app:app")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/stream")
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("transfer-encoding") == "chunked"
        assert response.read() == b"chunk-0\nchunk-1\nchunk-2\n"

        conn.request("GET", "/sync-stream")
        response = conn.getresponse()
        assert response.read() == b"abc"

        conn.request("GET", "/events")
        response = conn.getresponse()
        assert response.getheader("content-type") == "text/event-stream; charset=utf-8"
        assert response.read() == b"event: n\ndata: 0\n\nevent: n\ndata: 1\n\n"
    finally:
        conn.close()


def test_streaming_generator_is_closed_when_a_real_client_disconnects(serve: Any) -> None:
    import http.client
    import time

    server = serve("apps.responses_app:app")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/endless")
    response = conn.getresponse()
    assert response.status == 200
    assert response.read(5) == b"tick\n"
    conn.close()  # the client goes away mid-stream

    status = None
    for _ in range(100):
        probe = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        probe.request("GET", "/endless-state")
        status = orjson.loads(probe.getresponse().read())
        probe.close()
        if status["closed"]:
            break
        time.sleep(0.05)
    assert status == {"started": True, "closed": True}


@pytest.mark.parametrize(
    "make",
    [
        lambda c: Response(c),
        lambda c: Response(c, headers={"x-a": "1"}),
        lambda c: JSONResponse(c),
        lambda c: JSONResponse(c, headers={"x-a": "1"}),
    ],
)
def test_json_with_int_keys_renders_like_json_dumps_instead_of_failing(make) -> None:
    assert make({200: 3, "a": [1]}).body == b'{"200":3,"a":[1]}'


def test_unserializable_json_still_raises_type_error() -> None:
    with pytest.raises(TypeError):
        Response({"a": object()})
    with pytest.raises(TypeError):
        JSONResponse({"a": object()}, headers={"x": "1"})


@pytest.mark.parametrize("length", [0, 1, 13, 4095, 4096, 70_000])
def test_content_length_is_right_at_every_size_shared_headers_included(length: int) -> None:
    first, second = Response(b"x" * length), Response(b"y" * length)
    assert first.headers["content-length"] == second.headers["content-length"] == str(length)


def test_changing_one_responses_length_header_leaves_another_of_the_same_size_alone() -> None:
    first, second = PlainTextResponse("same"), PlainTextResponse("size")
    first.headers["content-length"] = "99"
    del first.headers["content-type"]
    assert first.headers.get("content-length") == "99" and "content-type" not in first.headers
    assert second.raw_headers == [
        (b"content-length", b"4"),
        (b"content-type", b"text/plain; charset=utf-8"),
    ]


async def test_a_subclass_that_sets_its_fields_itself_is_sent_as_set() -> None:
    class Teapot(Response):
        def __init__(self) -> None:  # no super().__init__: the fields set one by one
            self.status_code = 418
            self.body = b"short and stout"
            self.raw_headers = [(b"content-length", b"15")]

    async def teapot(request: Any) -> Response:
        return Teapot()

    router = CovetRouter()
    router.add_route("/", teapot, ["GET"])
    client = ASGITestClient(create_asgi_app(router=router))
    response = await client.get("/")
    assert response.status_code == 418 and response.content == b"short and stout"


def test_a_response_field_never_set_reads_as_a_clear_attribute_error() -> None:
    class Unset(Response):
        def __init__(self) -> None:
            pass

    response = Unset()
    with pytest.raises(AttributeError, match="no body"):
        _ = response.body
    assert response.background is None
    response.status_code = 204
    assert response.status_code == 204


def test_orjson_option_on_a_response_that_is_not_json_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="option= is for responses that render JSON"):
        PlainTextResponse("text", option=orjson.OPT_SORT_KEYS)  # type: ignore[call-arg]
    sorted_json = JSONResponse({"b": 1, "a": 2}, option=orjson.OPT_SORT_KEYS)
    assert sorted_json.body == b'{"a":2,"b":1}' and sorted_json.option == orjson.OPT_SORT_KEYS


@pytest.mark.parametrize("name", ["status_code", "body", "raw_headers", "background"])
def test_a_class_attribute_hiding_a_rust_field_is_refused_at_class_creation(name: str) -> None:
    with pytest.raises(TypeError, match=f"{name}: a response's {name} is set per instance"):
        type("Shadowing", (Response,), {name: None})
