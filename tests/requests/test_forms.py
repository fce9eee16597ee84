"""request.form() for urlencoded bodies, Content-Type handling and the FormData /
UploadFile types."""

from __future__ import annotations

import io
from typing import Any

import pytest

from covet import FormData, Limits, Request, Response, UploadFile, _core
from covet.datastructures import Headers
from covet.testing import ASGITestClient
from formhelpers import encode_multipart, make_app

URLENCODED = {"content-type": "application/x-www-form-urlencoded"}


async def form_items(request: Any) -> dict[str, Any]:
    form = await request.form()
    return {"items": [[k, v] for k, v in form.multi_items()]}


async def post(body: bytes, headers: dict[str, str], handler: Any = form_items) -> Any:
    return await ASGITestClient(make_app(handler)).post("/", body=body, headers=headers)


async def test_urlencoded_form_is_parsed_in_order_with_repeats_and_decoding() -> None:
    body = b"name=Ada+Lovelace&tag=a&tag=b&city=caf%C3%A9&empty=&flag&eq=a%3Db=c"
    response = await post(body, URLENCODED)
    assert response.status_code == 200, response.text
    assert response.json()["items"] == [
        ["name", "Ada Lovelace"],
        ["tag", "a"],
        ["tag", "b"],
        ["city", "caf\u00e9"],
        ["empty", ""],
        ["flag", ""],
        ["eq", "a=b=c"],
    ]


async def test_urlencoded_form_data_api() -> None:
    async def handler(request: Any) -> dict[str, Any]:
        form = await request.form()
        return {
            "last": form["tag"],
            "get": form.get("tag"),
            "all": form.getlist("tag"),
            "missing": form.get("nope"),
            "in": "tag" in form,
            "keys": list(form.keys()),
            "len": len(form),
        }

    response = await post(b"tag=a&x=1&tag=b", URLENCODED, handler)
    assert response.json() == {
        "last": "b",
        "get": "b",
        "all": ["a", "b"],
        "missing": None,
        "in": True,
        "keys": ["tag", "x"],
        "len": 2,
    }


async def test_guide_snippet_is_form_then_form() -> None:
    async def handler(request: Request) -> Response:
        # As in ASGI-GUIDE.md "Request Handling".
        if request.is_json():
            data = await request.json()
        elif request.is_form():
            form_data = await request.form()
            data = dict(form_data)
        return Response({"result": data})

    client = ASGITestClient(make_app(handler))
    assert (await client.post("/", data={"a": "1"})).json() == {"result": {"a": "1"}}
    assert (await client.post("/", json={"b": 2})).json() == {"result": {"b": 2}}


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8", "us-ascii", '"utf-8"'])
async def test_urlencoded_utf8_charset_parameter_is_accepted(charset: str) -> None:
    headers = {"content-type": f"application/x-www-form-urlencoded; charset={charset}"}
    response = await post(b"a=%C3%A9", headers)
    assert response.json()["items"] == [["a", "\u00e9"]]


async def test_unknown_charset_is_400_and_non_utf8_charset_is_415() -> None:
    bad = await post(b"a=1", {"content-type": "application/x-www-form-urlencoded; charset=klingon"})
    assert bad.status_code == 400
    assert bad.json()["detail"] == "Bad charset parameter 'klingon': unknown encoding"
    latin = await post(
        b"a=1", {"content-type": "application/x-www-form-urlencoded; charset=iso-8859-1"}
    )
    assert latin.status_code == 415
    assert "forms must be UTF-8" in latin.json()["detail"]


@pytest.mark.parametrize("charset", ["rot13", "base64", "zlib", "idna", "punycode", "undefined"])
async def test_urlencoded_charset_that_is_not_a_text_encoding_is_400(charset: str) -> None:
    response = await post(
        b"a=1", {"content-type": f"application/x-www-form-urlencoded; charset={charset}"}
    )
    assert response.status_code == 400
    assert "is not a text encoding" in response.json()["detail"]


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "multipart/mixed; boundary=x"]
)
async def test_form_with_a_non_form_content_type_is_415(content_type: str) -> None:
    response = await post(b"a=1", {"content-type": content_type})
    assert response.status_code == 415
    assert response.json()["detail"].startswith("Unsupported media type")


async def test_form_without_content_type_is_415() -> None:
    response = await ASGITestClient(make_app(form_items)).post("/", body=b"a=1")
    assert response.status_code == 415
    assert "the request has none" in response.json()["detail"]


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("multipart/form-data; boundary", "malformed parameter"),
        ('multipart/form-data; boundary="open', "unterminated quoted string"),
        ("form-data", "not of the form type/subtype"),
        ("application/x-www-form-urlencoded; charset=utf-8; charset=latin1", "appears twice"),
    ],
)
async def test_malformed_content_type_is_400(content_type: str, message: str) -> None:
    response = await post(b"a=1", {"content-type": content_type})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("Malformed Content-Type header") and message in detail


async def test_media_type_matching_is_case_insensitive() -> None:
    response = await post(b"a=1", {"content-type": "Application/X-WWW-Form-URLEncoded"})
    assert response.json()["items"] == [["a", "1"]]
    body, ctype = encode_multipart([("b", "2")])
    response = await post(
        body, {"content-type": ctype.replace("multipart/form-data", "MULTIPART/Form-Data")}
    )
    assert response.json()["items"] == [["b", "2"]]


def test_parse_content_type_binding() -> None:
    assert _core.parse_content_type('Multipart/Form-Data; Boundary="a b"; charset=utf-8') == (
        "multipart/form-data",
        {"boundary": "a b", "charset": "utf-8"},
    )
    with pytest.raises(_core.InvalidContentTypeError):
        _core.parse_content_type("text/plain; a=1; A=2")


def test_multipart_parser_binding_events_and_errors() -> None:
    parser = _core.MultipartParser(b"zz", max_fields=1)
    events = parser.feed(b'--zz\r\nContent-Disposition: form-data; name="a"\r\n\r\nhel')
    assert events == [
        (
            _core.MultipartParser.PART_START,
            "a",
            None,
            None,
            [(b"content-disposition", b'form-data; name="a"')],
        ),
        (_core.MultipartParser.DATA, b"hel"),
    ]
    assert not parser.complete
    assert parser.feed(b"lo\r\n--zz--") == [
        (_core.MultipartParser.DATA, b"lo"),
        (_core.MultipartParser.PART_END,),
        (_core.MultipartParser.END,),
    ]
    assert parser.complete
    parser.finish()
    limited = _core.MultipartParser(b"zz", max_fields=0)
    with pytest.raises(_core.FormLimitError, match="too many form fields"):
        limited.feed(b"--zz\r\nContent-Disposition: form-data; name=a\r\n\r\n")
    with pytest.raises(_core.MalformedMultipartError, match="invalid multipart boundary"):
        _core.MultipartParser(b"")
    truncated = _core.MultipartParser(b"zz")
    truncated.feed(b"--zz\r\n")
    with pytest.raises(_core.MalformedMultipartError, match="truncated"):
        truncated.finish()


def test_urlencoded_form_binding_limits() -> None:
    assert _core.parse_urlencoded_form(b"a=1&b=2", 2, 1) == [("a", "1"), ("b", "2")]
    with pytest.raises(_core.FormLimitError, match="too many form fields"):
        _core.parse_urlencoded_form(b"a=1&b=2", 1, 10)
    with pytest.raises(_core.FormLimitError, match="exceeds 1 bytes"):
        _core.parse_urlencoded_form(b"a=12", 5, 1)


@pytest.mark.parametrize(
    "body",
    [b"k" * 100_000, b"k" * 100_000 + b"=v", b"a=1&" + b"%6B" * 1001],
    ids=["key without '='", "key with a value", "percent-encoded key"],
)
async def test_oversized_urlencoded_key_is_413(body: bytes) -> None:
    app = make_app(form_items, Limits(max_field_size=1000))
    response = await ASGITestClient(app).post("/", body=body, headers=URLENCODED)
    assert response.status_code == 413
    assert response.json() == {"detail": "a form field's name exceeds 1000 bytes"}


async def test_urlencoded_key_at_the_field_size_limit_is_accepted() -> None:
    app = make_app(form_items, Limits(max_field_size=1000))
    body = b"k" * 999 + b"%6B&" + b"v" * 1000
    response = await ASGITestClient(app).post("/", body=body, headers=URLENCODED)
    assert response.status_code == 200
    assert response.json()["items"] == [["k" * 1000, ""], ["v" * 1000, ""]]


async def test_per_call_max_field_size_applies_to_keys() -> None:
    async def handler(request: Request) -> dict[str, int]:
        form = await request.form(max_field_size=3)
        return {"fields": len(form)}

    client = ASGITestClient(make_app(handler))
    assert (await client.post("/", body=b"abc", headers=URLENCODED)).json() == {"fields": 1}
    rejected = await client.post("/", body=b"abcd", headers=URLENCODED)
    assert rejected.status_code == 413


def test_urlencoded_form_binding_limits_keys() -> None:
    with pytest.raises(_core.FormLimitError, match="name exceeds 1 bytes"):
        _core.parse_urlencoded_form(b"ab", 5, 1)
    with pytest.raises(_core.FormLimitError, match="name exceeds 1 bytes"):
        _core.parse_urlencoded_form(b"ab=1", 5, 1)


async def test_form_data_and_upload_file_can_be_built_directly() -> None:
    upload = UploadFile(
        io.BytesIO(b"abc"), size=3, filename="a.txt", headers=Headers({"content-type": "text/csv"})
    )
    assert upload.content_type == "text/csv"
    assert not upload._in_memory  # not a SpooledTemporaryFile: treated as on disk
    assert await upload.read() == b"abc"
    form = FormData([("a", "1"), ("f", upload), ("a", "2")])
    assert form == FormData([("a", "1"), ("f", upload), ("a", "2")])
    # As in Starlette: the same pairs in another order are equal, other pairs are not.
    assert form == FormData([("a", "2"), ("f", upload), ("a", "1")])
    assert form != FormData([("a", "1"), ("f", upload), ("a", "3")])
    assert FormData({"x": "y"})["x"] == "y"
    assert "FormData([('a', '1')" in repr(form)
    await form.close()
    assert upload.closed
    with pytest.raises(TypeError):
        hash(form)


async def test_readme_upload_snippet_works_verbatim() -> None:
    # --- begin verbatim from README.md "Request bodies, forms and uploads" ---
    async def upload(request: Request):
        async with request.form() as form:  # or: form = await request.form()
            title = form["title"]  # str; form.getlist("tag") for repeats
            photo = form["photo"]  # UploadFile
            data = await photo.read()  # also seek(), write(), close()
            return {"title": title, "file": photo.filename, "size": len(data)}

    # --- end verbatim ---
    body, ctype = encode_multipart([("title", "t"), ("photo", ("p.png", b"\x89PNG", "image/png"))])
    response = await post(body, {"content-type": ctype}, upload)
    assert response.json() == {"title": "t", "file": "p.png", "size": 4}
