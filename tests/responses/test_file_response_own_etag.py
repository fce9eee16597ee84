"""FileResponse with the app's own ETag / Last-Modified: the validator that is sent
is the one conditional requests (If-Range, If-Match, If-None-Match) compare with."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from covet.app import create_asgi_app
from covet.requests import Request
from covet.responses import FileResponse
from covet.routing import CovetRouter
from covet.testing import ASGITestClient

DATA = bytes(range(256)) * 4
OWN_ETAG = '"v42"'
OWN_DATE = "Wed, 21 Oct 2015 07:28:00 GMT"


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    return path


async def run(response: FileResponse, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    await response(scope, receive, send)
    start = messages[0]
    sent = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], sent, b"".join(m.get("body", b"") for m in messages[1:])


async def test_if_range_matches_the_apps_own_etag(data_file: Path) -> None:
    response = FileResponse(data_file, headers={"etag": OWN_ETAG})
    status, headers, body = await run(response, {"range": "bytes=0-1", "if-range": OWN_ETAG})
    assert headers["etag"] == OWN_ETAG
    assert (status, body) == (206, DATA[:2])
    assert headers["content-range"] == "bytes 0-1/1024"


async def test_if_range_with_the_generated_etag_is_stale_when_the_app_set_its_own(
    data_file: Path,
) -> None:
    generated = (await run(FileResponse(data_file), {}))[1]["etag"]
    response = FileResponse(data_file, headers={"etag": OWN_ETAG})
    status, _, body = await run(response, {"range": "bytes=0-1", "if-range": generated})
    assert (status, body) == (200, DATA)


async def test_if_range_matches_the_apps_own_last_modified(data_file: Path) -> None:
    response = FileResponse(data_file, headers={"last-modified": OWN_DATE})
    status, headers, body = await run(response, {"range": "bytes=2-3", "if-range": OWN_DATE})
    assert headers["last-modified"] == OWN_DATE
    assert (status, body) == (206, DATA[2:4])


async def test_weak_own_etag_never_satisfies_if_range(data_file: Path) -> None:
    # If-Range needs a strong comparison (RFC 9110 §13.1.5).
    response = FileResponse(data_file, headers={"etag": 'W/"v42"'})
    status, _, body = await run(response, {"range": "bytes=0-1", "if-range": 'W/"v42"'})
    assert (status, body) == (200, DATA)


async def test_if_none_match_with_the_apps_own_etag_is_a_304(data_file: Path) -> None:
    response = FileResponse(data_file, headers={"etag": OWN_ETAG})
    status, headers, body = await run(response, {"if-none-match": OWN_ETAG})
    assert (status, body) == (304, b"")
    assert headers["etag"] == OWN_ETAG


async def test_if_match_with_the_apps_own_etag_is_not_a_412(data_file: Path) -> None:
    response = FileResponse(data_file, headers={"etag": OWN_ETAG})
    status, _, body = await run(response, {"if-match": OWN_ETAG})
    assert (status, body) == (200, DATA)
    status, _, _ = await run(
        FileResponse(data_file, headers={"etag": OWN_ETAG}), {"if-match": '"x"'}
    )
    assert status == 412


async def test_resumed_download_of_a_file_with_an_app_etag_through_the_app(
    data_file: Path,
) -> None:
    router = CovetRouter()

    @router.get("/file")
    async def download(request: Request) -> FileResponse:
        return FileResponse(data_file, headers={"ETag": OWN_ETAG})

    client = ASGITestClient(create_asgi_app(router))
    first = await client.get("/file")
    etag = first.headers["etag"]
    resumed = await client.get("/file", headers={"range": "bytes=1000-", "if-range": etag})
    assert resumed.status_code == 206
    assert resumed.content == DATA[1000:]
