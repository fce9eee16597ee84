"""GZipMiddleware: negotiation, size threshold, streaming, skips, header fixes."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import pytest

from covet.app import CovetASGIApp
from covet.middleware import GZipMiddleware, Middleware, MiddlewareStack
from covet.middleware.gzip import accepts_gzip
from covet.requests import Request
from covet.responses import Response
from covet.routing import CovetRouter
from covet.testing import ASGITestClient

BIG = b"".join(b"line %d of a very compressible body\n" % i for i in range(200))
GZ = {"accept-encoding": "gzip, deflate, br"}


def app_client(**options: Any) -> ASGITestClient:
    router = CovetRouter()

    async def big(request: Request) -> Response:
        return Response(BIG, media_type="text/plain", headers={"etag": '"v1"'})

    async def small(request: Request) -> Response:
        return Response(b"tiny", media_type="text/plain")

    async def png(request: Request) -> Response:
        return Response(BIG, media_type="image/png")

    async def svg(request: Request) -> Response:
        return Response(BIG, media_type="image/svg+xml")

    async def encoded(request: Request) -> Response:
        return Response(BIG, media_type="text/plain", headers={"content-encoding": "br"})

    async def vary(request: Request) -> Response:
        return Response(BIG, media_type="text/plain", headers={"vary": "Cookie"})

    async def not_modified(request: Request) -> Response:
        return Response(status_code=304, headers={"etag": '"v1"'})

    for path, handler in [
        ("/big", big),
        ("/small", small),
        ("/png", png),
        ("/svg", svg),
        ("/encoded", encoded),
        ("/vary", vary),
        ("/304", not_modified),
    ]:
        router.add_route(path, handler, ["GET"])
    stack = MiddlewareStack([Middleware(GZipMiddleware, **options)])
    return ASGITestClient(CovetASGIApp(router=router, middleware_stack=stack))


def streaming_app(chunks: list[bytes], media_type: bytes = b"application/x-ndjson") -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", media_type)],
            }
        )
        for i, chunk in enumerate(chunks):
            more = i < len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    return app


async def run(app: Any, headers: dict[str, str], method: str = "GET") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": "/",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    await app(scope, receive, send)
    return sent


async def test_large_body_is_compressed_with_fixed_length_and_vary() -> None:
    response = await app_client().get("/big", headers=GZ)
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert int(response.headers["content-length"]) == len(response.content)
    assert len(response.content) < len(BIG) // 4
    assert gzip.decompress(response.content) == BIG
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


async def test_strong_etag_becomes_weak_when_compressed() -> None:
    response = await app_client().get("/big", headers=GZ)
    assert response.headers["etag"] == 'W/"v1"'


async def test_body_below_minimum_size_is_untouched() -> None:
    response = await app_client().get("/small", headers=GZ)
    assert response.content == b"tiny"
    assert "content-encoding" not in response.headers
    assert response.headers["content-length"] == "4"


async def test_minimum_size_is_configurable() -> None:
    response = await app_client(minimum_size=1).get("/small", headers=GZ)
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(response.content) == b"tiny"


@pytest.mark.parametrize("accept", [None, "identity", "br, deflate", "gzip;q=0", "*;q=0"])
async def test_client_not_accepting_gzip_gets_identity(accept: str | None) -> None:
    headers = {"accept-encoding": accept} if accept is not None else {}
    response = await app_client().get("/big", headers=headers)
    assert response.content == BIG
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"gzip", True),
        (b"GZIP", True),
        (b"x-gzip", True),
        (b"br;q=1.0, gzip;q=0.5", True),
        (b"*", True),
        (b"*, gzip;q=0", False),
        (b"gzip;q=0.000", False),
        (b"gzip;q=bogus", False),
        (b"gzipped", False),
        (b"", False),
    ],
)
def test_accept_encoding_parsing(value: bytes, expected: bool) -> None:
    assert accepts_gzip(value) is expected


async def test_already_encoded_response_is_not_compressed_again() -> None:
    response = await app_client().get("/encoded", headers=GZ)
    assert response.headers["content-encoding"] == "br"
    assert response.content == BIG


async def test_compressed_media_types_are_skipped_but_svg_is_compressed() -> None:
    client = app_client()
    png = await client.get("/png", headers=GZ)
    assert "content-encoding" not in png.headers and png.content == BIG
    svg = await client.get("/svg", headers=GZ)
    assert svg.headers["content-encoding"] == "gzip"


async def test_existing_vary_is_merged() -> None:
    response = await app_client().get("/vary", headers=GZ)
    assert response.headers.getlist("vary") == ["Cookie, Accept-Encoding"]


async def test_304_is_untouched() -> None:
    response = await app_client().get("/304", headers=GZ)
    assert response.status_code == 304
    assert "content-encoding" not in response.headers


async def test_head_response_passes_through_with_original_headers() -> None:
    response = await app_client().head("/big", headers=GZ)
    assert response.status_code == 200
    assert response.content == b""
    assert "content-encoding" not in response.headers
    assert response.headers["content-length"] == str(len(BIG))


async def test_streaming_body_is_compressed_incrementally_and_each_chunk_is_flushed() -> None:
    chunks = [b'{"n": %d, "pad": "%s"}\n' % (i, b"x" * 50) for i in range(5)]
    sent = await run(GZipMiddleware(streaming_app(chunks)), GZ)

    start = sent[0]
    names = {bytes(k).lower(): bytes(v) for k, v in start["headers"]}
    assert names[b"content-encoding"] == b"gzip"
    assert b"content-length" not in names
    bodies = sent[1:]
    assert [m["more_body"] for m in bodies] == [True] * 4 + [False]
    # Every chunk decodes on arrival (the compressor is sync-flushed): a streaming
    # client never waits for the end of the response to see a record.
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    for chunk, message in zip(chunks, bodies):
        assert decoder.decompress(message["body"]) == chunk
    assert decoder.eof


async def test_streaming_small_chunks_are_compressed_even_when_each_is_below_minimum() -> None:
    chunks = [b"a", b"", b"b", b""]
    sent = await run(GZipMiddleware(streaming_app(chunks)), GZ)
    body = b"".join(m["body"] for m in sent[1:])
    assert gzip.decompress(body) == b"ab"
    assert sent[-1]["more_body"] is False


async def test_event_stream_is_never_compressed_or_buffered() -> None:
    chunks = [b"data: 1\n\n", b"data: 2\n\n"]
    sent = await run(GZipMiddleware(streaming_app(chunks, b"text/event-stream")), GZ)
    assert [m.get("body") for m in sent[1:]] == chunks
    assert all(bytes(k).lower() != b"content-encoding" for k, _ in sent[0]["headers"])


async def test_start_message_is_held_until_the_first_body_chunk() -> None:
    received: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        received.append(f"after start: {len(sent)}")
        await send({"type": "http.response.body", "body": BIG})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "headers": [(b"accept-encoding", b"gzip")]}
    await GZipMiddleware(app)(scope, None, send)
    assert received == ["after start: 0"]
    assert gzip.decompress(sent[1]["body"]) == BIG


async def test_app_error_before_body_propagates_and_sends_nothing() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await run(GZipMiddleware(app), GZ)


async def test_shared_response_headers_are_not_mutated() -> None:
    shared = Response(BIG, media_type="text/plain")
    before = list(shared.raw_headers)

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        await shared(scope, receive, send)

    client = ASGITestClient(GZipMiddleware(endpoint))
    for _ in range(2):
        response = await client.get("/", headers=GZ)
        assert gzip.decompress(response.content) == BIG
    assert shared.raw_headers == before


@pytest.mark.parametrize(
    "options", [{"compresslevel": 0}, {"compresslevel": 10}, {"minimum_size": -1}]
)
def test_invalid_options_fail_at_construction(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        GZipMiddleware(lambda *a: None, **options)
