"""FileResponse: headers, conditional requests, ranges, send strategies, over ASGI and
real HTTP."""

from __future__ import annotations

import asyncio
import http.client
import os
import re
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from covet import _core
from covet.app import create_asgi_app
from covet.responses import FileResponse
from covet.routing import CovetRouter
from covet.testing import ASGITestClient

DATA = bytes(range(256)) * 4  # 1024 bytes, every offset distinguishable


class Sent:
    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = messages
        start = messages[0]
        self.status: int = start["status"]
        self.raw = start["headers"]
        self.headers = {k.decode(): v.decode() for k, v in start["headers"]}
        self.body = b"".join(m.get("body", b"") for m in messages[1:])


async def run(
    response: FileResponse,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> Sent:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": "/",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    if extensions is not None:
        scope["extensions"] = extensions
    await response(scope, receive, send)
    return Sent(messages)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    os.utime(path, (1_700_000_000, 1_700_000_000))
    return path


# -- headers -----------------------------------------------------------------------------
async def test_file_response_sends_file_with_validators(data_file: Path) -> None:
    sent = await run(FileResponse(data_file))
    assert sent.status == 200
    assert sent.body == DATA
    assert sent.headers["content-length"] == "1024"
    assert sent.headers["content-type"] == "application/octet-stream"
    assert sent.headers["accept-ranges"] == "bytes"
    assert sent.headers["last-modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert re.fullmatch(r'"[0-9a-f]+-400"', sent.headers["etag"])
    assert "content-disposition" not in sent.headers


async def test_etag_changes_when_the_file_changes(data_file: Path) -> None:
    first = (await run(FileResponse(data_file))).headers["etag"]
    data_file.write_bytes(DATA + b"!")
    second = (await run(FileResponse(data_file))).headers["etag"]
    assert first != second


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("page.html", "text/html; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("image.png", "image/png"),
        ("doc.json", "application/json"),
        ("noext", "application/octet-stream"),
    ],
)
async def test_media_type_is_guessed_from_the_name(
    tmp_path: Path, name: str, media_type: str
) -> None:
    path = tmp_path / name
    path.write_bytes(b"x")
    sent = await run(FileResponse(path))
    assert sent.headers["content-type"] == media_type


async def test_explicit_media_type_and_filename_guess(data_file: Path) -> None:
    sent = await run(FileResponse(data_file, media_type="application/x-custom"))
    assert sent.headers["content-type"] == "application/x-custom"
    sent = await run(FileResponse(data_file, filename="report.pdf"))
    assert sent.headers["content-type"] == "application/pdf"


async def test_content_disposition_ascii_filename(data_file: Path) -> None:
    sent = await run(FileResponse(data_file, filename="report 2024.pdf"))
    assert sent.headers["content-disposition"] == 'attachment; filename="report 2024.pdf"'


async def test_content_disposition_escapes_quotes_in_filename(data_file: Path) -> None:
    sent = await run(FileResponse(data_file, filename='a"b\\c.txt'))
    assert sent.headers["content-disposition"] == 'attachment; filename="a\\"b\\\\c.txt"'


async def test_content_disposition_non_ascii_filename_uses_rfc5987(data_file: Path) -> None:
    sent = await run(
        FileResponse(data_file, filename="résumé €.pdf", content_disposition_type="inline")
    )
    assert sent.headers["content-disposition"] == (
        "inline; filename=\"resume .pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E2%82%AC.pdf"
    )


async def test_filename_with_newline_cannot_inject_headers(data_file: Path) -> None:
    sent = await run(FileResponse(data_file, filename="a\r\nSet-Cookie: x=1.txt"))
    assert all(name != b"set-cookie" for name, _ in sent.raw)
    assert "\n" not in sent.headers["content-disposition"]


async def test_head_sends_headers_only(data_file: Path) -> None:
    sent = await run(FileResponse(data_file), method="HEAD")
    assert (sent.status, sent.body, sent.headers["content-length"]) == (200, b"", "1024")


async def test_missing_file_is_a_404_not_a_crash(tmp_path: Path) -> None:
    sent = await run(FileResponse(tmp_path / "nope.txt"))
    assert sent.status == 404
    sent = await run(FileResponse(tmp_path))  # a directory
    assert sent.status == 404


async def test_large_file_is_sent_in_64k_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    payload = os.urandom(200_000)
    path.write_bytes(payload)
    sent = await run(FileResponse(path))
    assert sent.body == payload
    chunks = [m for m in sent.messages[1:] if m.get("body")]
    assert max(len(m["body"]) for m in chunks) == 64 * 1024
    assert sent.messages[-1]["more_body"] is False


# -- conditional requests ----------------------------------------------------------------
async def test_if_none_match_with_current_etag_is_304(data_file: Path) -> None:
    etag = (await run(FileResponse(data_file))).headers["etag"]
    sent = await run(FileResponse(data_file), headers={"if-none-match": f'"other", {etag}'})
    assert sent.status == 304
    assert sent.body == b""
    assert sent.headers["etag"] == etag
    assert "content-length" not in sent.headers and "content-type" not in sent.headers


async def test_if_none_match_weak_comparison_and_star(data_file: Path) -> None:
    etag = (await run(FileResponse(data_file))).headers["etag"]
    assert (
        await run(FileResponse(data_file), headers={"if-none-match": "W/" + etag})
    ).status == 304
    assert (await run(FileResponse(data_file), headers={"if-none-match": "*"})).status == 304
    assert (await run(FileResponse(data_file), headers={"if-none-match": '"x"'})).status == 200


async def test_if_modified_since(data_file: Path) -> None:
    later = formatdate(1_700_000_100, usegmt=True)
    earlier = formatdate(1_699_999_000, usegmt=True)
    assert (await run(FileResponse(data_file), headers={"if-modified-since": later})).status == 304
    sent = await run(FileResponse(data_file), headers={"if-modified-since": earlier})
    assert (sent.status, sent.body) == (200, DATA)
    # A garbage date is ignored.
    assert (await run(FileResponse(data_file), headers={"if-modified-since": "x"})).status == 200


async def test_if_none_match_takes_precedence_over_if_modified_since(data_file: Path) -> None:
    later = formatdate(1_700_000_100, usegmt=True)
    sent = await run(
        FileResponse(data_file), headers={"if-none-match": '"stale"', "if-modified-since": later}
    )
    assert sent.status == 200


async def test_if_match_and_if_unmodified_since_failures_are_412(data_file: Path) -> None:
    assert (await run(FileResponse(data_file), headers={"if-match": '"nope"'})).status == 412
    earlier = formatdate(1_699_999_000, usegmt=True)
    sent = await run(FileResponse(data_file), headers={"if-unmodified-since": earlier})
    assert sent.status == 412
    etag = (await run(FileResponse(data_file))).headers["etag"]
    assert (await run(FileResponse(data_file), headers={"if-match": etag})).status == 200


# -- ranges ------------------------------------------------------------------------------
async def test_single_range_is_206_with_content_range(data_file: Path) -> None:
    sent = await run(FileResponse(data_file), headers={"range": "bytes=10-19"})
    assert sent.status == 206
    assert sent.headers["content-range"] == "bytes 10-19/1024"
    assert sent.headers["content-length"] == "10"
    assert sent.body == DATA[10:20]


async def test_suffix_and_open_ranges(data_file: Path) -> None:
    sent = await run(FileResponse(data_file), headers={"range": "bytes=-24"})
    assert (sent.headers["content-range"], sent.body) == ("bytes 1000-1023/1024", DATA[-24:])
    sent = await run(FileResponse(data_file), headers={"range": "bytes=1020-"})
    assert (sent.headers["content-range"], sent.body) == ("bytes 1020-1023/1024", DATA[1020:])


async def test_multiple_ranges_are_multipart_byteranges(data_file: Path) -> None:
    sent = await run(FileResponse(data_file), headers={"range": "bytes=0-3, 100-103"})
    assert sent.status == 206
    match = re.fullmatch(
        r"multipart/byteranges; boundary=([0-9a-f]+)", sent.headers["content-type"]
    )
    assert match is not None
    boundary = match.group(1).encode()
    assert sent.headers["content-length"] == str(len(sent.body))
    assert sent.body == (
        b"--" + boundary + b"\r\ncontent-type: application/octet-stream\r\n"
        b"content-range: bytes 0-3/1024\r\n\r\n" + DATA[0:4] + b"\r\n"
        b"--" + boundary + b"\r\ncontent-type: application/octet-stream\r\n"
        b"content-range: bytes 100-103/1024\r\n\r\n" + DATA[100:104] + b"\r\n"
        b"--" + boundary + b"--\r\n"
    )


async def test_overlapping_ranges_are_merged_into_one_part(data_file: Path) -> None:
    sent = await run(FileResponse(data_file), headers={"range": "bytes=0-9,5-14,15-19"})
    assert sent.status == 206
    assert sent.headers["content-range"] == "bytes 0-19/1024"
    assert sent.body == DATA[:20]


async def test_unsatisfiable_range_is_416_with_size(data_file: Path) -> None:
    sent = await run(FileResponse(data_file), headers={"range": "bytes=5000-6000"})
    assert sent.status == 416
    assert sent.headers["content-range"] == "bytes */1024"
    assert sent.body == b""


@pytest.mark.parametrize("header", ["bytes=abc", "bytes=9-3", "items=0-1", "bytes="])
async def test_malformed_range_is_ignored_and_the_whole_file_sent(
    data_file: Path, header: str
) -> None:
    sent = await run(FileResponse(data_file), headers={"range": header})
    assert (sent.status, sent.body) == (200, DATA)


async def test_too_many_ranges_are_ignored_not_amplified(data_file: Path) -> None:
    header = "bytes=" + ",".join(f"{i * 2}-{i * 2}" for i in range(17))
    sent = await run(FileResponse(data_file), headers={"range": header})
    assert (sent.status, sent.body) == (200, DATA)
    # The cap is a setting.
    sent = await run(FileResponse(data_file, max_ranges=32), headers={"range": header})
    assert sent.status == 206


async def test_range_ignored_for_head_and_empty_files(data_file: Path, tmp_path: Path) -> None:
    sent = await run(FileResponse(data_file), method="HEAD", headers={"range": "bytes=0-1"})
    assert (sent.status, sent.headers["content-length"]) == (200, "1024")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    sent = await run(FileResponse(empty), headers={"range": "bytes=0-1"})
    assert (sent.status, sent.body) == (200, b"")


async def test_if_range_with_matching_etag_or_date_applies_the_range(data_file: Path) -> None:
    full = await run(FileResponse(data_file))
    for validator in (full.headers["etag"], full.headers["last-modified"]):
        sent = await run(
            FileResponse(data_file), headers={"range": "bytes=0-0", "if-range": validator}
        )
        assert (sent.status, sent.body) == (206, DATA[:1])


async def test_if_range_with_stale_validator_sends_the_whole_file(data_file: Path) -> None:
    etag = (await run(FileResponse(data_file))).headers["etag"]
    for validator in ('"stale"', "W/" + etag, formatdate(1_600_000_000, usegmt=True)):
        sent = await run(
            FileResponse(data_file), headers={"range": "bytes=0-0", "if-range": validator}
        )
        assert (sent.status, sent.body) == (200, DATA)


def test_parse_range_binding_returns_merged_inclusive_pairs() -> None:
    assert _core.parse_range("bytes=0-99, 200-, -50", 1000) == [(0, 99), (200, 999)]
    assert _core.parse_range(b"bytes=0-0", 1, 16) == [(0, 0)]
    with pytest.raises(_core.RangeNotSatisfiableError):
        _core.parse_range("bytes=10-", 10)
    with pytest.raises(_core.MalformedRangeError):
        _core.parse_range("bytes=x", 10)
    with pytest.raises(_core.TooManyRangesError):
        _core.parse_range("bytes=0-0,2-2", 10, 1)
    assert issubclass(_core.TooManyRangesError, _core.RangeHeaderError)


# -- send strategies -----------------------------------------------------------------------
async def test_pathsend_extension_is_used_when_offered(data_file: Path) -> None:
    sent = await run(FileResponse(data_file), extensions={"http.response.pathsend": {}})
    assert sent.messages[1] == {"type": "http.response.pathsend", "path": str(data_file)}
    assert len(sent.messages) == 2


async def test_zerocopysend_extension_is_used_for_ranges(data_file: Path) -> None:
    sent = await run(
        FileResponse(data_file),
        headers={"range": "bytes=100-199"},
        extensions={"http.response.zerocopysend": {}, "http.response.pathsend": {}},
    )
    zerocopy = [m for m in sent.messages if m["type"] == "http.response.zerocopysend"]
    assert len(zerocopy) == 1
    assert (zerocopy[0]["offset"], zerocopy[0]["count"]) == (100, 100)
    assert zerocopy[0]["file"].name == str(data_file)
    assert zerocopy[0]["file"].closed  # closed once the response is complete
    assert sent.messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


async def test_file_sending_stops_when_the_client_disconnects(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * (64 * 1024 * 50))
    sent_chunks = 0
    gone = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal sent_chunks
        if message.get("body"):
            sent_chunks += 1
            if sent_chunks == 2:
                gone.set()
            await asyncio.sleep(0.01)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    await asyncio.wait_for(FileResponse(path)(scope, receive, send), 5)
    assert sent_chunks < 50


# -- through the app and over real HTTP --------------------------------------------------------
async def test_file_response_from_a_handler_through_the_app(data_file: Path) -> None:
    router = CovetRouter()

    @router.get("/download")
    async def download(request: Any) -> FileResponse:
        return FileResponse(data_file, filename="data.bin")

    client = ASGITestClient(create_asgi_app(router))
    response = await client.get("/download", headers={"range": "bytes=0-9"})
    assert response.status_code == 206
    assert response.content == DATA[:10]
    assert response.headers["content-disposition"] == 'attachment; filename="data.bin"'


def test_file_response_over_real_http(serve: Any, tmp_path: Path) -> None:
    (tmp_path / "data.bin").write_bytes(DATA)
    server = serve("apps.responses_app:app", env={"COVET_TEST_STATIC_DIR": str(tmp_path)})
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/file")
        response = conn.getresponse()
        assert response.status == 200
        assert response.read() == DATA
        etag = response.getheader("etag")
        assert response.getheader("content-length") == "1024"

        conn.request("GET", "/file", headers={"Range": "bytes=1000-"})
        response = conn.getresponse()
        assert response.status == 206
        assert response.getheader("content-range") == "bytes 1000-1023/1024"
        assert response.read() == DATA[1000:]

        conn.request("GET", "/file", headers={"If-None-Match": etag})
        response = conn.getresponse()
        assert (response.status, response.read()) == (304, b"")

        conn.request("HEAD", "/file")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"")
        assert response.getheader("content-length") == "1024"
    finally:
        conn.close()
