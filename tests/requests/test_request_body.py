"""How request.stream(), body(), json() and form() combine, and disconnects."""

from __future__ import annotations

from typing import Any

import pytest

from covet import ClientDisconnect, Limits, Request
from covet.limits import DEFAULT_LIMITS
from covet.testing import ASGITestClient
from formhelpers import BOUNDARY, drive, encode_multipart, http_scope, make_app


def receiver(chunks: list[bytes]) -> Any:
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    return receive


def request_for(chunks: list[bytes], headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    return Request(http_scope(headers=headers or []), receiver(chunks))


async def test_stream_yields_the_chunks_as_delivered() -> None:
    request = request_for([b"ab", b"", b"cd", b"e"])
    assert [chunk async for chunk in request.stream()] == [b"ab", b"cd", b"e"]


async def test_body_is_cached_and_stream_after_body_replays_it() -> None:
    request = request_for([b"ab", b"cd"])
    assert await request.body() == b"abcd"
    assert await request.body() == b"abcd"
    assert [chunk async for chunk in request.stream()] == [b"abcd"]
    assert [chunk async for chunk in request.stream()] == [b"abcd"]


async def test_body_after_stream_is_a_clear_runtime_error() -> None:
    request = request_for([b"ab"])
    assert [chunk async for chunk in request.stream()] == [b"ab"]
    with pytest.raises(RuntimeError, match=r"request\.body\(\) cannot be used after the body"):
        await request.body()
    with pytest.raises(RuntimeError, match="already consumed"):
        async for _ in request.stream():
            pass


async def test_json_is_cached_and_malformed_json_is_400() -> None:
    request = request_for([b'{"a":', b" [1, 2]}"])
    first = await request.json()
    assert first == {"a": [1, 2]} and await request.json() is first

    async def handler(request: Any) -> Any:
        return await request.json()

    response = await ASGITestClient(make_app(handler)).post("/", body=b"{nope")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Malformed JSON body")


def multipart_request() -> Request:
    body, ctype = encode_multipart([("a", "1"), ("f", ("x.txt", b"hello", None))])
    return request_for([body[:30], body[30:]], [(b"content-type", ctype.encode())])


async def test_form_after_body_parses_the_cached_body() -> None:
    request = multipart_request()
    body = await request.body()
    form = await request.form()
    assert form["a"] == "1"
    assert await form["f"].read() == b"hello"
    assert await request.body() == body  # still available
    await request.close()
    assert form["f"].closed


async def test_body_after_a_streamed_multipart_form_is_a_clear_runtime_error() -> None:
    request = multipart_request()
    form = await request.form()
    assert form["a"] == "1"
    with pytest.raises(RuntimeError, match=r"multipart request\.form"):
        await request.body()
    with pytest.raises(RuntimeError):
        await request.json()
    await request.close()


async def test_body_after_urlencoded_form_returns_the_body() -> None:
    request = request_for(
        [b"a=1&", b"b=2"], [(b"content-type", b"application/x-www-form-urlencoded")]
    )
    form = await request.form()
    assert dict(form) == {"a": "1", "b": "2"}
    assert await request.body() == b"a=1&b=2"
    assert await request.form() is form


async def test_close_without_a_form_is_a_no_op() -> None:
    request = request_for([b""])
    await request.close()
    assert request._form is None


async def test_request_without_an_app_uses_the_default_limits() -> None:
    request = request_for([b""])
    assert request.limits is DEFAULT_LIMITS
    request.scope["app"] = object()  # not a covet app: still the defaults
    assert request.limits is DEFAULT_LIMITS


async def test_request_reads_its_apps_limits() -> None:
    limits = Limits(max_body_size=3)

    async def handler(request: Any) -> dict[str, Any]:
        assert request.limits is limits
        return {"body": (await request.body()).decode()}

    client = ASGITestClient(make_app(handler, limits=limits))
    assert (await client.post("/", body=b"abc")).json() == {"body": "abc"}
    assert (await client.post("/", body=b"abcd")).status_code == 413


async def test_disconnect_while_reading_the_body_raises_client_disconnect() -> None:
    outcome: dict[str, Any] = {}

    async def handler(request: Any) -> dict[str, Any]:
        try:
            await request.body()
        except ClientDisconnect:
            outcome["raised"] = True
            raise
        return {}

    await drive(make_app(handler), [b"a", b"b", b"c"], disconnect_after=2)
    assert outcome == {"raised": True}


async def test_get_without_body_reads_empty() -> None:
    async def handler(request: Any) -> dict[str, Any]:
        return {"body": (await request.body()).decode(), "chunks": 0}

    response = await ASGITestClient(make_app(handler)).get("/")
    assert response.json() == {"body": "", "chunks": 0}


async def test_plain_get_does_not_touch_the_form_machinery() -> None:
    seen: list[Request] = []

    async def handler(request: Request) -> str:
        seen.append(request)
        return "ok"

    await ASGITestClient(make_app(handler)).get("/")
    request = seen[0]
    assert request._form is None and request._body is None and request._headers is None


async def test_streamed_multipart_form_over_many_chunks_with_content_length() -> None:
    body, ctype = encode_multipart([("f", ("a.bin", b"0123456789" * 1000, None))])
    received: dict[str, Any] = {}

    async def handler(request: Any) -> dict[str, Any]:
        async with request.form() as form:
            received["size"] = form["f"].size
        return {}

    headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]
    chunks = [body[i : i + 333] for i in range(0, len(body), 333)]
    result = await drive(make_app(handler), chunks, headers=headers)
    assert result.status == 200
    assert received == {"size": 10_000}
    assert BOUNDARY in ctype
