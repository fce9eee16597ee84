"""Every request limit, just below and just above, through the ASGI interface."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode

import pytest

import covet
from covet import Limits
from covet.app import CovetASGIApp
from covet.limits import DEFAULT_LIMITS, KiB, MiB
from covet.testing import ASGITestClient
from formhelpers import BOUNDARY, drive, encode_multipart, make_app


async def echo_form(request: Any) -> dict[str, Any]:
    form = await request.form()
    return {"fields": len(form.multi_items())}


async def echo_body(request: Any) -> dict[str, int]:
    return {"size": len(await request.body())}


async def echo_stream(request: Any) -> dict[str, int]:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return {"size": size}


async def echo_json(request: Any) -> Any:
    return {"value": await request.json()}


async def ok(request: Any) -> dict[str, bool]:
    return {"ok": True}


def test_defaults_are_documented_production_values() -> None:
    assert Limits() == DEFAULT_LIMITS
    assert dataclasses.asdict(Limits()) == {
        "max_body_size": 16 * MiB,
        "max_form_fields": 1000,
        "max_files": 1000,
        "max_field_size": 1 * MiB,
        "max_part_header_size": 16 * KiB,
        "max_part_headers": 32,
        "spool_max_size": 1 * MiB,
        "max_url_length": 8 * KiB,
        "max_header_count": 100,
    }
    assert covet.Limits is Limits
    assert "16 MiB" in (covet.limits.__doc__ or "")


def test_limits_are_frozen_and_validated() -> None:
    limits = Limits()
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.max_body_size = 1  # type: ignore[misc]
    for bad in (-1, True, 1.5, "10"):
        with pytest.raises(ValueError, match="max_files"):
            Limits(max_files=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_form_fields must be a non-negative int,"):
        Limits(max_form_fields=None)  # type: ignore[arg-type]
    assert Limits(max_body_size=None, max_url_length=None, max_header_count=None)


def test_app_limits_must_be_a_limits_object() -> None:
    with pytest.raises(TypeError, match=r"covet\.Limits"):
        CovetASGIApp(limits={"max_body_size": 1})  # type: ignore[arg-type]
    app = CovetASGIApp()
    assert app.limits is DEFAULT_LIMITS
    app.limits = Limits(max_header_count=3)
    assert app.limits.max_header_count == 3


# -- max_body_size --------------------------------------------------------------------


@pytest.mark.parametrize("handler", [echo_body, echo_stream, echo_form])
async def test_body_at_the_limit_is_accepted_and_one_byte_more_is_413(handler: Any) -> None:
    app = make_app(handler, limits=Limits(max_body_size=100))
    client = ASGITestClient(app)
    headers = {"content-type": "application/x-www-form-urlencoded"}
    accepted = await client.post("/", body=b"a=" + b"x" * 98, headers=headers)
    assert accepted.status_code == 200, accepted.text
    rejected = await client.post("/", body=b"a=" + b"x" * 99, headers=headers)
    assert rejected.status_code == 413
    assert rejected.json() == {"detail": "Request body too large: the limit is 100 bytes"}


async def test_oversized_content_length_is_rejected_before_reading_the_body() -> None:
    app = make_app(echo_body, limits=Limits(max_body_size=1000))
    result = await drive(app, [b"x" * 10], headers=[(b"content-length", b"1001")])
    assert result.status == 413
    assert result.receive_calls == 0
    result = await drive(app, [b"x" * 1000], headers=[(b"content-length", b"1000")])
    assert result.status == 200 and result.json() == {"size": 1000}


@pytest.mark.parametrize("handler", [echo_body, echo_stream, echo_json])
async def test_body_without_content_length_is_counted_while_streaming(handler: Any) -> None:
    # Chunked transfer: no Content-Length, so only counting can catch it.
    app = make_app(handler, limits=Limits(max_body_size=64))
    ok_body = [b"[" + b"1," * 30 + b"11", b"]"]  # 63 + 1 = 64 bytes
    assert sum(map(len, ok_body)) == 64
    accepted = await drive(app, ok_body)
    assert accepted.status == 200, accepted.body
    rejected = await drive(app, [b"[" + b"1," * 30, b"11", b"1]"])  # 61 + 2 + 2
    assert rejected.status == 413
    # It stopped reading at the first chunk past the limit.
    assert rejected.receive_calls == 3


async def test_oversized_streamed_multipart_upload_is_413_and_stops_reading() -> None:
    app = make_app(echo_form, limits=Limits(max_body_size=10 * KiB))
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n'
    calls: list[int] = []

    def endless() -> Any:
        yield head.encode()
        while True:
            calls.append(1)
            yield b"x" * KiB

    ctype = f"multipart/form-data; boundary={BOUNDARY}".encode()
    result = await drive(app, endless(), headers=[(b"content-type", ctype)])
    assert result.status == 413
    assert len(calls) < 15


async def test_max_body_size_none_disables_the_check() -> None:
    app = make_app(echo_body, limits=Limits(max_body_size=None))
    result = await drive(
        app, [b"x" * MiB] * 20, headers=[(b"content-length", str(20 * MiB).encode())]
    )
    assert result.json() == {"size": 20 * MiB}


async def test_malformed_content_length_is_400() -> None:
    app = make_app(echo_body)
    result = await drive(app, [b"x"], headers=[(b"content-length", b"1x")])
    assert result.status == 400
    assert result.json() == {"detail": "Malformed Content-Length header"}


# -- form fields and files ------------------------------------------------------------


def multipart(fields: int, files: int = 0) -> tuple[bytes, dict[str, str]]:
    items: list[tuple[str, Any]] = [(f"k{i}", "v") for i in range(fields)]
    items += [(f"f{i}", (f"f{i}.txt", b"data", None)) for i in range(files)]
    body, content_type = encode_multipart(items)
    return body, {"content-type": content_type}


def urlencoded(fields: int, value: str = "v") -> tuple[bytes, dict[str, str]]:
    body = urlencode([(f"k{i}", value) for i in range(fields)]).encode()
    return body, {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("encode", [multipart, urlencoded])
async def test_form_field_count_is_exact(encode: Any) -> None:
    client = ASGITestClient(make_app(echo_form, limits=Limits(max_form_fields=5)))
    body, headers = encode(5)
    assert (await client.post("/", body=body, headers=headers)).json() == {"fields": 5}
    body, headers = encode(6)
    rejected = await client.post("/", body=body, headers=headers)
    assert rejected.status_code == 413
    assert rejected.json() == {"detail": "too many form fields: the limit is 5"}


async def test_urlencoded_form_with_too_many_fields_is_rejected_by_default() -> None:
    # The peer that forgot urlencoded: 1000 is the default for both encodings.
    client = ASGITestClient(make_app(echo_form))
    body, headers = urlencoded(1000)
    assert (await client.post("/", body=body, headers=headers)).status_code == 200
    body, headers = urlencoded(1001)
    assert (await client.post("/", body=body, headers=headers)).status_code == 413


async def test_multipart_with_too_many_files_is_rejected_not_buffered() -> None:
    client = ASGITestClient(make_app(echo_form, limits=Limits(max_files=3)))
    body, headers = multipart(fields=10, files=3)
    assert (await client.post("/", body=body, headers=headers)).json() == {"fields": 13}
    body, headers = multipart(fields=0, files=4)
    rejected = await client.post("/", body=body, headers=headers)
    assert rejected.status_code == 413
    assert rejected.json() == {"detail": "too many files in the form: the limit is 3"}


async def test_many_tiny_files_hit_the_default_file_limit() -> None:
    # CVE-2023-30798: thousands of empty file parts, each a temp file, in one body.
    client = ASGITestClient(make_app(echo_form))
    body, headers = multipart(fields=0, files=1001)
    response = await client.post("/", body=body, headers=headers, chunk_size=64 * KiB)
    assert response.status_code == 413
    assert "too many files" in response.json()["detail"]


async def test_form_keyword_arguments_override_the_app_limits() -> None:
    async def handler(request: Any) -> dict[str, int]:
        form = await request.form(max_fields=2, max_files=1, max_field_size=3)
        return {"n": len(form)}

    client = ASGITestClient(make_app(handler))
    body, headers = multipart(fields=2, files=1)
    assert (await client.post("/", body=body, headers=headers)).json() == {"n": 3}
    for fields, files in ((3, 0), (0, 2)):
        body, headers = multipart(fields=fields, files=files)
        assert (await client.post("/", body=body, headers=headers)).status_code == 413
    body, headers = urlencoded(1, value="abcd")
    assert (await client.post("/", body=body, headers=headers)).status_code == 413


@pytest.mark.parametrize("kind", ["multipart", "urlencoded"])
async def test_field_size_is_exact(kind: str) -> None:
    client = ASGITestClient(make_app(echo_form, limits=Limits(max_field_size=100)))

    def encode(size: int) -> tuple[bytes, dict[str, str]]:
        if kind == "multipart":
            body, ctype = encode_multipart([("a", "x" * size)])
            return body, {"content-type": ctype}
        return urlencoded(1, value="x" * size)

    body, headers = encode(100)
    assert (await client.post("/", body=body, headers=headers, chunk_size=7)).status_code == 200
    body, headers = encode(101)
    rejected = await client.post("/", body=body, headers=headers, chunk_size=7)
    assert rejected.status_code == 413
    assert rejected.json() == {"detail": "a form field's value exceeds 100 bytes"}


async def test_field_size_does_not_limit_files() -> None:
    client = ASGITestClient(make_app(echo_form, limits=Limits(max_field_size=10)))
    body, ctype = encode_multipart([("f", ("a.bin", b"x" * 10_000, None))])
    response = await client.post("/", body=body, headers={"content-type": ctype})
    assert response.json() == {"fields": 1}


def part_with_header(header_value: str) -> tuple[bytes, dict[str, str]]:
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n'
        f"X-Pad: {header_value}\r\n\r\nv\r\n--{BOUNDARY}--"
    ).encode()
    return body, {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


async def test_part_header_size_is_exact() -> None:
    client = ASGITestClient(make_app(echo_form, limits=Limits(max_part_header_size=200)))
    block = len('Content-Disposition: form-data; name="a"\r\nX-Pad: ')
    body, headers = part_with_header("p" * (200 - block))
    assert (await client.post("/", body=body, headers=headers, chunk_size=5)).status_code == 200
    body, headers = part_with_header("p" * (201 - block))
    rejected = await client.post("/", body=body, headers=headers, chunk_size=5)
    assert rejected.status_code == 413
    assert rejected.json() == {"detail": "a multipart part's headers exceed 200 bytes"}


async def test_unterminated_part_headers_are_not_buffered_past_the_limit() -> None:
    app = make_app(echo_form)  # default 16 KiB
    head = f"--{BOUNDARY}\r\nX-Endless: ".encode()
    sent: list[int] = []

    def endless() -> Any:
        yield head
        while True:
            sent.append(1)
            yield b"h" * 1024

    ctype = f"multipart/form-data; boundary={BOUNDARY}".encode()
    result = await drive(app, endless(), headers=[(b"content-type", ctype)])
    assert result.status == 413
    assert len(sent) <= 17


async def test_part_header_count_is_exact() -> None:
    def with_headers(n: int) -> bytes:
        extra = "".join(f"X-{i}: v\r\n" for i in range(n - 1))
        return (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=a\r\n{extra}\r\n"
            f"v\r\n--{BOUNDARY}--"
        ).encode()

    client = ASGITestClient(make_app(echo_form, limits=Limits(max_part_headers=4)))
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    assert (await client.post("/", body=with_headers(4), headers=headers)).status_code == 200
    rejected = await client.post("/", body=with_headers(5), headers=headers)
    assert rejected.status_code == 413
    assert rejected.json() == {"detail": "a multipart part has more than 4 header lines"}


# -- URL length and header count ------------------------------------------------------


async def test_url_length_is_exact_and_counts_path_and_query() -> None:
    app = make_app(ok, limits=Limits(max_url_length=100), path="/{rest:path}")
    client = ASGITestClient(app)
    path = "/" + "p" * 49  # 50 bytes
    assert (await client.get(path + "?" + "q" * 50)).status_code == 200
    rejected = await client.get(path + "?" + "q" * 51)
    assert rejected.status_code == 414
    assert rejected.json() == {"detail": "URI too long: the limit is 100 bytes"}
    assert (await client.get("/" + "p" * 99)).status_code == 200
    assert (await client.get("/" + "p" * 100)).status_code == 414


async def test_default_url_limit_is_8_kib() -> None:
    client = ASGITestClient(make_app(ok))
    assert (await client.get("/?" + "q" * (8 * KiB - 1))).status_code == 200
    assert (await client.get("/?" + "q" * (8 * KiB))).status_code == 414


async def test_header_count_is_exact() -> None:
    app = make_app(ok, limits=Limits(max_header_count=10))
    # drive() sends a host header: 1 + 9 = 10 headers.
    accepted = await drive(app, [], method="GET", headers=[(b"x-h", b"v")] * 9)
    assert accepted.status == 200
    rejected = await drive(app, [], method="GET", headers=[(b"x-h", b"v")] * 10)
    assert rejected.status == 431
    assert rejected.json() == {"detail": "Too many request headers: the limit is 10"}


async def test_default_header_limit_is_100() -> None:
    app = make_app(ok)
    accepted = await drive(app, [], method="GET", headers=[(b"x-h", b"v")] * 99)
    assert accepted.status == 200
    rejected = await drive(app, [], method="GET", headers=[(b"x-h", b"v")] * 100)
    assert rejected.status == 431


async def test_url_and_header_checks_can_be_disabled() -> None:
    app = make_app(ok, limits=Limits(max_url_length=None, max_header_count=None))
    client = ASGITestClient(app)
    headers = {f"x-h{i}": "v" for i in range(500)}
    assert (await client.get("/?" + "q" * 100_000, headers=headers)).status_code == 200


async def test_only_one_head_check_can_be_disabled() -> None:
    app = make_app(ok, limits=Limits(max_url_length=None, max_header_count=2))
    client = ASGITestClient(app)
    assert (await client.get("/?" + "q" * 100_000)).status_code == 200
    assert (await client.get("/", headers={"a": "1", "b": "2"})).status_code == 431


async def test_limit_errors_go_through_custom_exception_handlers() -> None:
    async def on_431(request: Any, exc: Any) -> Any:
        return covet.PlainTextResponse(f"custom {exc.status_code}", status_code=431)

    app = make_app(ok, limits=Limits(max_header_count=1), exception_handlers={431: on_431})
    response = await ASGITestClient(app).get("/", headers={"x": "y"})
    assert response.status_code == 431
    assert response.text == "custom 431"


def test_limit_defaults_come_from_the_rust_core() -> None:
    from covet import _core
    from covet.websockets import DEFAULT_MAX_MESSAGE_SIZE

    defaults = Limits()
    for name, value in _core.DEFAULT_LIMITS.items():
        if name == "websocket_max_message_size":
            assert value == DEFAULT_MAX_MESSAGE_SIZE
        else:
            assert getattr(defaults, name) == value, name
    assert defaults.max_body_size == 16 * 1024 * 1024 and defaults.max_header_count == 100
