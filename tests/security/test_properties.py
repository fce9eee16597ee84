"""Property tests: the app, driven in-process with hand-built ASGI scopes carrying
arbitrary bytes in the path, raw_path, query string, header names and values and
bodies (urlencoded, multipart and JSON content types), never answers 500 and lets
no exception escape.

Every handler below only reads the request (form, JSON, cookies, query, typed path
parameters); whatever the client sends must end as a 2xx or a 4xx. The runs are
deterministic (``derandomize=True``, no example database) and kept small.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from covet import Limits, Request, UploadFile
from covet.app import create_asgi_app
from covet.routing import CovetRouter

PROPERTY_SETTINGS = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


async def read_form(request: Request) -> dict[str, Any]:
    async with request.form() as form:
        sizes = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                sizes[key] = len(await value.read())
            else:
                sizes[key] = len(value)
        return {"fields": sizes}


async def read_json(request: Request) -> dict[str, Any]:
    return {"type": type(await request.json()).__name__}


async def read_everything(request: Request) -> dict[str, Any]:
    return {
        "query": request.query.multi_items(),
        "cookies": dict(request.cookies),
        "headers": len(request.headers),
        "url": str(request.url),
        "body": len(await request.body()),
    }


async def typed(request: Request) -> dict[str, str]:
    return {name: repr(value) for name, value in request.path_params.items()}


def build_app() -> Any:
    sub = CovetRouter()
    sub.add_route("/", read_everything, ["GET", "POST"])
    sub.add_route("/{name}", typed, ["GET"])
    router = CovetRouter()
    router.add_route("/", read_everything, ["GET", "POST", "PUT"])
    router.add_route("/form", read_form, ["POST", "PUT"])
    router.add_route("/json", read_json, ["POST"])
    router.add_route("/items/{item_id:int}", typed, ["GET", "DELETE"])
    router.add_route("/items/{item_id:int}/{price:float}", typed, ["GET"])
    router.add_route("/users/{user:uuid}", typed, ["GET"])
    router.add_route("/users/{name}", typed, ["GET", "POST"])
    router.add_route("/files/{rest:path}", typed, ["GET"])
    router.mount("/sub", sub)
    # Small limits so that arbitrary input reaches them too.
    limits = Limits(
        max_body_size=64 * 1024,
        max_form_fields=8,
        max_files=4,
        max_field_size=256,
        max_part_header_size=512,
        max_part_headers=8,
        max_url_length=2048,
        max_header_count=32,
    )
    return create_asgi_app(router, limits=limits)


APP = build_app()

METHODS = st.sampled_from(["GET", "POST", "PUT", "HEAD", "OPTIONS", "DELETE", "PATCH", "BREW"])
SEGMENT = st.text(max_size=12).filter(lambda text: "/" not in text)
ROUTE_PATHS = st.one_of(
    st.integers().map(lambda n: f"/items/{n}"),
    st.tuples(st.integers(), st.floats()).map(lambda p: f"/items/{p[0]}/{p[1]}"),
    st.uuids().map(lambda u: f"/users/{u}"),
    SEGMENT.map(lambda name: f"/users/{name}"),
    st.lists(SEGMENT, max_size=4).map(lambda parts: "/files/" + "/".join(parts)),
    SEGMENT.map(lambda name: f"/sub/{name}"),
    st.sampled_from(["/", "/form", "/json", "/sub", "/sub/", "/items/", "//", "/items/1/"]),
)
PATHS = st.one_of(ROUTE_PATHS, st.text(max_size=60))


@st.composite
def raw_paths(draw: st.DrawFn, path: str) -> bytes:
    """``path`` as a client could send it: as is, with some bytes percent-escaped
    (either case), with a malformed escape, or replaced by arbitrary bytes."""
    encoded = path.encode("utf-8", "surrogateescape")
    how = draw(st.sampled_from(["plain", "plain", "escaped", "escaped", "broken", "arbitrary"]))
    if how == "plain":
        return encoded
    if how == "arbitrary":
        return draw(st.binary(max_size=60))
    if how == "broken":
        at = draw(st.integers(min_value=0, max_value=len(encoded)))
        junk = draw(st.sampled_from([b"%", b"%4", b"%zz", b"%FF", b"%C3", b"%00", b"%2F"]))
        return encoded[:at] + junk + encoded[at:]
    out = bytearray()
    for byte in encoded:
        if byte == 0x2F or not draw(st.booleans()):
            out.append(byte)
        else:
            out += (b"%%%02X" if draw(st.booleans()) else b"%%%02x") % byte
    return bytes(out)


HEADER_NAMES = st.one_of(
    st.sampled_from([b"cookie", b"content-type", b"content-length", b"host", b"range", b"accept"]),
    st.binary(max_size=20),
)
HEADERS = st.lists(st.tuples(HEADER_NAMES, st.binary(max_size=80)), max_size=8)


async def call(
    scope: dict[str, Any], chunks: list[bytes]
) -> tuple[int | None, list[dict[str, Any]]]:
    """Runs one request: ``chunks`` as the body, then a disconnect."""
    pending = list(chunks)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            body = pending.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(pending)}
        await asyncio.sleep(0)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await APP(scope, receive, send)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    return (starts[0]["status"] if starts else None), sent


def scope_for(
    method: str,
    path: str,
    raw_path: bytes | None,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape") if raw_path is None else raw_path,
        "root_path": "",
        "query_string": query,
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(body) + 1) for c in cuts})
    pieces, last = [], 0
    for point in points:
        pieces.append(body[last:point])
        last = point
    pieces.append(body[last:])
    return pieces


def check(scope: dict[str, Any], chunks: list[bytes]) -> None:
    status, sent = asyncio.run(call(scope, chunks))
    assert status is not None, f"no response for {scope['method']} {scope['path']!r}"
    assert status != 500, (scope, chunks, sent)
    assert 100 <= status <= 599


@PROPERTY_SETTINGS
@given(
    method=METHODS,
    path_and_raw=PATHS.flatmap(lambda path: st.tuples(st.just(path), raw_paths(path))),
    query=st.binary(max_size=120),
    headers=HEADERS,
    body=st.binary(max_size=200),
)
def test_arbitrary_request_lines_and_headers_never_500(
    method: str,
    path_and_raw: tuple[str, bytes],
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> None:
    path, raw_path = path_and_raw
    check(scope_for(method, path, raw_path, query, [(b"host", b"testserver"), *headers]), [body])


CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            b"application/x-www-form-urlencoded",
            b"application/x-www-form-urlencoded; charset=utf-8",
            b"application/x-www-form-urlencoded; charset=rot13",
            b"multipart/form-data",
            b"multipart/form-data; boundary=X",
            b'multipart/form-data; boundary="a b"; boundary=c',
            b"application/json",
            b"application/json; charset=latin-1",
            b"text/plain",
        ]
    ),
    st.binary(max_size=60),
)


@PROPERTY_SETTINGS
@given(
    path=st.sampled_from(["/form", "/json", "/", "/sub/"]),
    content_type=CONTENT_TYPES,
    body=st.binary(max_size=400),
    cuts=st.lists(st.integers(min_value=0), max_size=4),
    content_length=st.one_of(st.none(), st.binary(max_size=6), st.integers().map(str)),
)
def test_arbitrary_bodies_never_500(
    path: str,
    content_type: bytes,
    body: bytes,
    cuts: list[int],
    content_length: bytes | str | None,
) -> None:
    headers = [(b"host", b"testserver"), (b"content-type", content_type)]
    if content_length is not None:
        value = content_length.encode() if isinstance(content_length, str) else content_length
        headers.append((b"content-length", value))
    check(scope_for("POST", path, None, b"", headers), split(body, cuts))


BCHARS = "abcXYZ0129'()+_,-./:=? "
#: Characters a quoted header parameter or a header line cannot carry as they are.
UNQUOTABLE = {ord(c): None for c in '"\\\r\n'}
CHARSETS = st.one_of(
    st.none(),
    st.sampled_from(["utf-8", "latin-1", "utf-16", "rot13", "base64", "idna", "undefined", "\x00"]),
)
WELL_FORMED_HEADER_LINES = st.tuples(
    st.sampled_from(["X-A", "Content-Type", "content-transfer-encoding"]),
    st.text().map(lambda text: text.translate(UNQUOTABLE)),
).map(lambda nv: f"{nv[0]}: {nv[1]}".encode("utf-8", "surrogateescape"))
# Mostly well-formed lines, so that most bodies get past the part headers (the junk
# choice sits mid-list: Hypothesis favours the ends of what it samples from).
PART_HEADER_LINES = st.sampled_from([False, False, False, True, False, False, False]).flatmap(
    lambda junk: st.binary(max_size=30) if junk else WELL_FORMED_HEADER_LINES
)


@st.composite
def multipart_bodies(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A multipart body that is mostly well formed, with arbitrary names, filenames,
    charsets, header lines and contents, sometimes truncated or with junk appended."""
    boundary = draw(st.text(alphabet=BCHARS, min_size=1, max_size=20)).rstrip() or "b"
    # A preamble, ended by CRLF: the first delimiter must start a line.
    preamble = draw(st.binary(max_size=20))
    out = bytearray(preamble + b"\r\n" if preamble else b"")
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        out += b"--" + boundary.encode() + b"\r\n"
        name = draw(st.text(max_size=20)).translate(UNQUOTABLE)
        disposition = f'form-data; name="{name}"'
        filename = draw(st.one_of(st.none(), st.text(max_size=20)))
        if filename is not None:
            disposition += f'; filename="{filename.translate(UNQUOTABLE)}"'
        out += b"Content-Disposition: " + disposition.encode() + b"\r\n"
        charset = draw(CHARSETS)
        if charset is not None:
            out += f'Content-Type: text/plain; charset="{charset}"\r\n'.encode()
        for header in draw(st.lists(PART_HEADER_LINES, max_size=2)):
            out += header + b"\r\n"
        out += b"\r\n" + draw(st.binary(max_size=300)) + b"\r\n"
    if draw(st.sampled_from([True, True, False, True, True])):  # mostly closed
        out += b"--" + boundary.encode() + b"--\r\n"
    out += draw(st.binary(max_size=20))  # epilogue or junk
    return f'multipart/form-data; boundary="{boundary}"'.encode(), bytes(out)


@PROPERTY_SETTINGS
@given(form=multipart_bodies(), cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_arbitrary_multipart_forms_never_500(form: tuple[bytes, bytes], cuts: list[int]) -> None:
    content_type, body = form
    headers = [(b"host", b"testserver"), (b"content-type", content_type)]
    check(scope_for("POST", "/form", None, b"", headers), split(body, cuts))


@PROPERTY_SETTINGS
@given(
    pairs=st.lists(st.tuples(st.binary(max_size=30), st.binary(max_size=300)), max_size=10),
    separator=st.sampled_from([b"&", b";", b"&&"]),
)
def test_arbitrary_urlencoded_forms_never_500(
    pairs: list[tuple[bytes, bytes]], separator: bytes
) -> None:
    body = separator.join(k + b"=" + v for k, v in pairs)
    headers = [
        (b"host", b"testserver"),
        (b"content-type", b"application/x-www-form-urlencoded"),
    ]
    check(scope_for("POST", "/form", None, b"", headers), [body])
