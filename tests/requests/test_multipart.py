"""multipart/form-data through the ASGI interface: parsing, chunking, spooling,
cleanup, malformed bodies, disconnects, a 100 MiB streamed upload and real HTTP."""

from __future__ import annotations

import hashlib
import http.client
import tracemalloc
from typing import Any

import pytest

from covet import FormData, Limits, UploadFile, formparsers
from covet.exceptions import ClientDisconnect
from covet.limits import MiB
from covet.testing import ASGITestClient
from formhelpers import BOUNDARY, drive, encode_multipart, make_app, temp_fds


async def describe(request: Any) -> dict[str, Any]:
    form = await request.form()
    out: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            content = await value.read()
            out.setdefault(key, []).append(
                {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "size": value.size,
                    "sha256": hashlib.sha256(content).hexdigest(),
                    "in_memory": value._in_memory,
                }
            )
        else:
            out.setdefault(key, []).append(value)
    return out


SAMPLE_FIELDS: list[tuple[str, Any]] = [
    ("title", "hello\r\nworld"),
    ("tag", "a"),
    ("tag", "b"),
    ("upload", ("r\u00e9sum\u00e9.bin", b"\r\n--" + BOUNDARY[:-1].encode() + b"\x00\xff", None)),
    ("doc", ("notes.txt", b"line1\nline2", "text/plain")),
    ("empty", ""),
    ("nofile", ("", b"", "application/octet-stream")),
]


async def post(app: Any, body: bytes, content_type: str, chunk_size: int | None = None) -> Any:
    return await ASGITestClient(app).post(
        "/", body=body, headers={"content-type": content_type}, chunk_size=chunk_size
    )


async def test_fields_and_files_are_parsed_with_metadata() -> None:
    body, content_type = encode_multipart(SAMPLE_FIELDS)
    response = await post(make_app(describe), body, content_type)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["title"] == ["hello\r\nworld"]
    assert data["tag"] == ["a", "b"]
    assert data["empty"] == [""]
    (upload,) = data["upload"]
    content = b"\r\n--" + BOUNDARY[:-1].encode() + b"\x00\xff"
    assert upload == {
        "filename": "r\u00e9sum\u00e9.bin",
        "content_type": None,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "in_memory": True,
    }
    assert data["doc"][0]["content_type"] == "text/plain"
    assert data["doc"][0]["size"] == 11
    assert data["nofile"][0]["filename"] == ""
    assert data["nofile"][0]["size"] == 0


async def test_form_data_is_a_multi_valued_immutable_mapping() -> None:
    seen: dict[str, Any] = {}

    async def handler(request: Any) -> dict[str, Any]:
        form = await request.form()
        assert isinstance(form, FormData)
        seen["form"] = form
        assert form["tag"] == "b" and form.get("tag") == "b"
        assert form.getlist("tag") == ["a", "b"]
        assert "upload" in form and "missing" not in form
        assert form.get("missing", "dflt") == "dflt"
        assert list(form) == ["title", "tag", "upload", "doc", "empty", "nofile"]
        assert len(form) == 6
        assert dict(form.items())["tag"] == "b"
        assert [k for k, _ in form.multi_items()] == [k for k, _ in SAMPLE_FIELDS]
        with pytest.raises(TypeError):
            form["title"] = "x"  # type: ignore[index]
        upload = form["doc"]
        assert upload.headers["content-type"] == "text/plain"
        assert upload.headers["content-disposition"].startswith("form-data;")
        assert await upload.read(5) == b"line1"
        assert await upload.read() == b"\nline2"
        await upload.seek(0)
        assert await upload.read() == b"line1\nline2"
        await upload.write(b"!")
        await upload.seek(0)
        assert await upload.read() == b"line1\nline2!"
        assert upload.size == 12
        assert "notes.txt" in repr(upload)
        return {}

    body, content_type = encode_multipart(SAMPLE_FIELDS)
    response = await post(make_app(handler), body, content_type)
    assert response.status_code == 200, response.text
    # The request ended: every upload was closed by the app.
    uploads = [v for _, v in seen["form"].multi_items() if isinstance(v, UploadFile)]
    assert len(uploads) == 3
    assert all(upload.closed for upload in uploads)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 16, 61, 64, 1000])
async def test_any_chunking_gives_the_same_form(chunk_size: int) -> None:
    body, content_type = encode_multipart(SAMPLE_FIELDS)
    app = make_app(describe)
    expected = (await post(app, body, content_type)).json()
    response = await post(app, body, content_type, chunk_size=chunk_size)
    assert response.json() == expected


async def test_boundary_split_across_two_chunks_at_every_offset() -> None:
    body, content_type = encode_multipart(
        [("a", "x" * 5), ("f", ("f.txt", b"--" + BOUNDARY.encode() + b"y", "text/plain"))]
    )
    app = make_app(describe)
    expected = (await post(app, body, content_type)).json()
    headers = [(b"content-type", content_type.encode())]
    for split in range(len(body) + 1):
        result = await drive(app, [body[:split], body[split:]], headers=headers)
        assert result.status == 200, (split, result.body)
        assert result.json() == expected, split


@pytest.mark.parametrize(
    ("size", "in_memory"), [(64 * 1024, True), (64 * 1024 + 1, False), (1000, True)]
)
async def test_uploads_spool_to_disk_exactly_past_the_threshold(size: int, in_memory: bool) -> None:
    body, content_type = encode_multipart([("f", ("big.bin", b"z" * size, None))])
    app = make_app(describe, limits=Limits(spool_max_size=64 * 1024))
    response = await post(app, body, content_type, chunk_size=10_000)
    (upload,) = response.json()["f"]
    assert upload["size"] == size
    assert upload["in_memory"] is in_memory
    assert upload["sha256"] == hashlib.sha256(b"z" * size).hexdigest()


async def test_spooled_upload_is_readable_and_seekable_from_disk() -> None:
    async def handler(request: Any) -> dict[str, Any]:
        form = await request.form()
        upload = form["f"]
        assert not upload._in_memory
        first = await upload.read(10)
        await upload.seek(100_000)
        rest = await upload.read()
        return {"first": first.decode(), "rest": len(rest)}

    content = bytes(range(48, 58)) * 20_000
    body, content_type = encode_multipart([("f", ("d.bin", content, None))])
    response = await post(make_app(handler, limits=Limits(spool_max_size=1024)), body, content_type)
    assert response.json() == {"first": "0123456789", "rest": 100_000}


async def test_async_with_form_closes_uploads_on_exit() -> None:
    async def handler(request: Any) -> dict[str, Any]:
        async with request.form() as form:
            upload = form["f"]
            assert not upload.closed
            assert await upload.read() == b"data"
        return {"closed": upload.closed}

    body, content_type = encode_multipart([("f", ("a.txt", b"data", None))])
    response = await post(make_app(handler), body, content_type)
    assert response.json() == {"closed": True}


async def test_uploads_are_closed_even_when_the_handler_fails() -> None:
    seen: list[UploadFile] = []

    async def handler(request: Any) -> None:
        form = await request.form()
        seen.append(form["f"])
        raise RuntimeError("boom")

    body, content_type = encode_multipart([("f", ("a.txt", b"data", None))])
    response = await post(make_app(handler), body, content_type)
    assert response.status_code == 500
    assert seen[0].closed


async def test_form_is_cached_and_returns_the_same_object() -> None:
    async def handler(request: Any) -> dict[str, bool]:
        first = await request.form()
        second = await request.form(max_fields=0)  # cached: arguments do not re-parse
        return {"same": first is second}

    body, content_type = encode_multipart([("a", "1")])
    assert (await post(make_app(handler), body, content_type)).json() == {"same": True}


async def test_part_charset_decodes_text_fields() -> None:
    body = (
        (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="latin"\r\n'
            "Content-Type: text/plain; charset=iso-8859-1\r\n\r\n"
        ).encode()
        + "caf\u00e9".encode("latin-1")
        + f"\r\n--{BOUNDARY}--".encode()
    )
    response = await post(make_app(describe), body, f"multipart/form-data; boundary={BOUNDARY}")
    assert response.json() == {"latin": ["caf\u00e9"]}


async def test_quoted_boundary_with_special_characters_is_accepted() -> None:
    boundary = "a'()+_,-./:=? b"
    body, _ = encode_multipart([("a", "1")], boundary=boundary)
    response = await post(make_app(describe), body, f'multipart/form-data; boundary="{boundary}"')
    assert response.json() == {"a": ["1"]}


@pytest.mark.parametrize("filename", [None, "a.txt"], ids=["field", "file"])
async def test_oversized_part_name_is_413(filename: str | None) -> None:
    name = "n" * 101
    value: Any = "v" if filename is None else (filename, b"content", None)
    body, content_type = encode_multipart([(name, value)])
    app = make_app(describe, Limits(max_field_size=100))
    response = await post(app, body, content_type)
    assert response.status_code == 413
    assert response.json() == {"detail": "a form field's name exceeds 100 bytes"}
    body, content_type = encode_multipart([(name[:100], value)])
    assert (await post(app, body, content_type)).status_code == 200


def part_with_charset(charset: str) -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="a"\r\n'
        f'Content-Type: text/plain; charset="{charset}"\r\n\r\n'
        f"caf\u00e9 \xff\r\n--{BOUNDARY}--"
    ).encode("latin-1")


NOT_TEXT_ENCODINGS = ["rot13", "base64", "hex", "zlib", "bz2", "uu", "quopri"]
NOT_CHARSETS = ["idna", "punycode", "undefined"]
UNKNOWN = ["no-such-charset", "utf\x00-8", ""]


@pytest.mark.parametrize("charset", NOT_TEXT_ENCODINGS + NOT_CHARSETS + UNKNOWN)
async def test_part_charset_that_is_not_a_text_encoding_is_400(charset: str) -> None:
    upload_fds = temp_fds()
    # A file part first: it must not be left open when the text field fails.
    file_part, _ = encode_multipart([("f", ("a.bin", b"x" * 100, None))])
    body = file_part[: -len(f"--{BOUNDARY}--\r\n")] + part_with_charset(charset)
    response = await post(make_app(describe), body, f"multipart/form-data; boundary={BOUNDARY}")
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("Bad charset parameter"), response.json()
    assert temp_fds() == upload_fds


@pytest.mark.parametrize("charset", ["utf-8", "iso-8859-1", "cp1252", "utf-16", "koi8-r"])
async def test_part_charset_that_is_a_text_encoding_decodes(charset: str) -> None:
    response = await post(
        make_app(describe),
        part_with_charset(charset),
        f"multipart/form-data; boundary={BOUNDARY}",
    )
    assert response.status_code == 200, response.text
    value = "caf\u00e9 \xff".encode("latin-1").decode(charset, errors="replace")
    assert response.json() == {"a": [value]}


MALFORMED: list[tuple[str, bytes, str, str]] = [
    ("missing boundary", b"--x\r\n", "multipart/form-data", "no boundary parameter"),
    (
        "invalid boundary",
        b"--x\r\n",
        'multipart/form-data; boundary="bad\\"quote"',
        "invalid boundary",
    ),
    (
        "boundary not in the body",
        b"just some text",
        "multipart/form-data; boundary=zzz",
        "does not contain the boundary",
    ),
    (
        "truncated upload",
        b'--zzz\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\npartial',
        "multipart/form-data; boundary=zzz",
        "truncated",
    ),
    (
        "part without a name",
        b"--zzz\r\nContent-Disposition: form-data\r\n\r\nv\r\n--zzz--",
        "multipart/form-data; boundary=zzz",
        "no name parameter",
    ),
    (
        "part without content-disposition",
        b"--zzz\r\nContent-Type: text/plain\r\n\r\nv\r\n--zzz--",
        "multipart/form-data; boundary=zzz",
        "no Content-Disposition",
    ),
    (
        "garbage after a boundary",
        b"--zzzGARBAGE\r\n",
        "multipart/form-data; boundary=zzz",
        "something other than CRLF",
    ),
    (
        "bad part charset",
        b"--zzz\r\nContent-Disposition: form-data; name=a\r\nContent-Type: text/plain; "
        b"charset=no-such-charset\r\n\r\nv\r\n--zzz--",
        "multipart/form-data; boundary=zzz",
        "Bad charset parameter",
    ),
    (
        "duplicate boundary parameter",
        b"--a\r\n",
        "multipart/form-data; boundary=a; boundary=b",
        "appears twice",
    ),
]


@pytest.mark.parametrize(("case", "body", "content_type", "message"), MALFORMED)
async def test_malformed_multipart_is_a_400_with_a_clear_message(
    case: str, body: bytes, content_type: str, message: str
) -> None:
    response = await post(make_app(describe), body, content_type)
    assert response.status_code == 400, case
    assert message in response.json()["detail"], response.json()


async def test_truncated_upload_leaves_no_temp_file() -> None:
    created: list[Any] = []
    original = formparsers.SpooledTemporaryFile

    def tracking(*args: Any, **kwargs: Any) -> Any:
        file = original(*args, **kwargs)
        created.append(file)
        return file

    formparsers.SpooledTemporaryFile = tracking  # type: ignore[misc,assignment]
    try:
        before = temp_fds()
        head = b'--zzz\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n'
        app = make_app(describe, limits=Limits(spool_max_size=1024))
        headers = [(b"content-type", b"multipart/form-data; boundary=zzz")]
        result = await drive(app, [head, b"x" * 5000, b"y" * 5000], headers=headers)
    finally:
        formparsers.SpooledTemporaryFile = original  # type: ignore[misc]
    assert result.status == 400
    assert len(created) == 1 and created[0]._rolled and created[0].closed
    assert temp_fds() == before


async def test_client_disconnect_mid_upload_raises_and_leaves_no_temp_file() -> None:
    outcome: dict[str, Any] = {}
    created: list[Any] = []
    original = formparsers.SpooledTemporaryFile

    def tracking(*args: Any, **kwargs: Any) -> Any:
        file = original(*args, **kwargs)
        created.append(file)
        return file

    async def handler(request: Any) -> dict[str, Any]:
        try:
            await request.form()
        except ClientDisconnect:
            outcome["disconnect"] = True
            outcome["fds_during"] = temp_fds()
            raise
        return {}

    head = b'--zzz\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n'
    chunks = [head] + [b"q" * 4096] * 10 + [b"\r\n--zzz--"]
    formparsers.SpooledTemporaryFile = tracking  # type: ignore[misc,assignment]
    try:
        before = temp_fds()
        app = make_app(handler, limits=Limits(spool_max_size=8192))
        headers = [(b"content-type", b"multipart/form-data; boundary=zzz")]
        await drive(app, chunks, headers=headers, disconnect_after=6)
    finally:
        formparsers.SpooledTemporaryFile = original  # type: ignore[misc]
    assert outcome["disconnect"] is True
    # The upload had spooled to disk (6 chunks > 8 KiB) and was closed and deleted.
    assert len(created) == 1 and created[0]._rolled and created[0].closed
    assert outcome["fds_during"] == before
    assert temp_fds() == before


async def test_100_mib_streamed_upload_keeps_memory_bounded() -> None:
    """A 100 MiB file in 64 KiB chunks, generated lazily. Peak Python memory growth
    (tracemalloc) stays under 8 MiB: the chunk in flight, the parser's output, and
    the 1 MiB in-memory spool before it rolls to disk."""
    chunk = bytes(range(256)) * 256  # 64 KiB, reused: the test holds no 100 MiB object
    count = 1600  # 1600 * 64 KiB = 100 MiB
    total = len(chunk) * count
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="big"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def body() -> Any:
        yield head
        for _ in range(count):
            yield chunk
        yield tail

    async def handler(request: Any) -> dict[str, Any]:
        form = await request.form()
        upload = form["big"]
        digest = hashlib.sha256()
        while piece := await upload.read(1024 * 1024):
            digest.update(piece)
        return {"size": upload.size, "sha256": digest.hexdigest(), "disk": not upload._in_memory}

    expected = hashlib.sha256()
    for _ in range(count):
        expected.update(chunk)

    app = make_app(handler, limits=Limits(max_body_size=200 * MiB))
    headers = [
        (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
        (b"content-length", str(len(head) + total + len(tail)).encode()),
    ]
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        result = await drive(app, body(), headers=headers)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.status == 200, result.body
    assert result.json() == {"size": total, "sha256": expected.hexdigest(), "disk": True}
    assert peak - baseline < 8 * MiB, f"peak growth {(peak - baseline) / MiB:.1f} MiB"


async def test_testclient_files_argument_round_trips() -> None:
    client = ASGITestClient(make_app(describe))
    response = await client.post(
        "/", data={"name": "x"}, files={"f": ("a.txt", b"hello", "text/plain")}
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["name"] == ["x"]
    assert data["f"][0]["filename"] == "a.txt"
    assert data["f"][0]["sha256"] == hashlib.sha256(b"hello").hexdigest()


def test_multipart_upload_over_real_http(serve: Any) -> None:
    server = serve("apps.forms_app:app")
    content = bytes(range(256)) * 12_000  # ~3 MiB: spools to disk on the server
    body, content_type = encode_multipart(
        [("title", "caf\u00e9"), ("f", ("photo.jpg", content, "image/jpeg"))]
    )
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", "/upload", body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    assert response.status == 200, payload
    import orjson

    assert orjson.loads(payload) == {
        "title": "caf\u00e9",
        "filename": "photo.jpg",
        "content_type": "image/jpeg",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "spooled": True,
    }


def test_oversized_upload_over_real_http_is_413_before_reading(serve: Any) -> None:
    server = serve("apps.forms_app:app")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        # Declares 5 MiB against a 4 MiB limit and sends only the headers.
        conn.putrequest("POST", "/upload")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
        conn.putheader("Content-Length", str(5 * MiB))
        conn.endheaders()
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    assert response.status == 413
    assert b"too large" in payload
