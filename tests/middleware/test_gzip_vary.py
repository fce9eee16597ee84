"""GZipMiddleware adds ``Vary: Accept-Encoding`` to every response it would have
compressed, also when this client did not accept gzip (as Starlette does), so a
shared cache never serves one client's encoding to another."""

from __future__ import annotations

from typing import Any

import pytest

from covet.middleware import GZipMiddleware

BIG = b"a very compressible line\n" * 100


def endpoint(*messages: dict[str, Any]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        for message in messages:
            await send(dict(message))

    return app


def start(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/plain"), *headers],
    }


def body(data: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


async def call(
    app: Any, accept_encoding: bytes | None, method: str = "GET"
) -> tuple[dict[str, bytes], list[bytes], bytes]:
    headers = [] if accept_encoding is None else [(b"accept-encoding", accept_encoding)]
    scope = {"type": "http", "method": method, "path": "/", "headers": headers}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await GZipMiddleware(app)(scope, receive, send)
    raw = sent[0]["headers"]
    varies = [bytes(v) for k, v in raw if bytes(k).lower() == b"vary"]
    content = b"".join(m.get("body", b"") for m in sent[1:])
    return {bytes(k).lower(): bytes(v) for k, v in raw}, varies, content


@pytest.mark.parametrize("accept", [None, b"identity", b"gzip;q=0", b"br", b"*;q=0"])
async def test_uncompressed_whole_response_still_varies_on_accept_encoding(
    accept: bytes | None,
) -> None:
    headers, varies, content = await call(endpoint(start(), body(BIG)), accept)
    assert varies == [b"Accept-Encoding"]
    assert b"content-encoding" not in headers
    assert content == BIG


async def test_uncompressed_streaming_response_still_varies_on_accept_encoding() -> None:
    app = endpoint(start(), body(BIG[:10], True), body(BIG[10:], True), body(b""))
    headers, varies, content = await call(app, None)
    assert varies == [b"Accept-Encoding"]
    assert b"content-encoding" not in headers
    assert content == BIG


async def test_vary_is_merged_with_the_apps_own_when_not_compressing() -> None:
    _, varies, _ = await call(endpoint(start((b"vary", b"Cookie")), body(BIG)), None)
    assert varies == [b"Cookie, Accept-Encoding"]


async def test_compressed_and_uncompressed_answers_carry_the_same_vary() -> None:
    app = endpoint(start(), body(BIG))
    gzip_headers, gzip_vary, _ = await call(app, b"gzip")
    _, plain_vary, _ = await call(app, None)
    assert gzip_headers[b"content-encoding"] == b"gzip"
    assert gzip_vary == plain_vary == [b"Accept-Encoding"]


@pytest.mark.parametrize(
    "app",
    [
        endpoint(start(), body(b"tiny")),  # never compressed: below minimum_size
        endpoint(start((b"content-encoding", b"br")), body(BIG)),  # already encoded
        endpoint(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"image/png")],
            },
            body(BIG),
        ),  # an excluded media type
    ],
    ids=["small", "encoded", "png"],
)
async def test_responses_never_compressed_get_no_vary(app: Any) -> None:
    for accept in (None, b"gzip"):
        _, varies, _ = await call(app, accept)
        assert varies == []


async def test_head_passes_through_untouched() -> None:
    headers, varies, _ = await call(endpoint(start(), body(b"")), None, method="HEAD")
    assert varies == [] and headers[b"content-type"] == b"text/plain"
