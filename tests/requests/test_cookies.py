"""Response.set_cookie / delete_cookie: attributes, and validation against injection;
request.cookies: parsed like Starlette's cookie_parser."""

from __future__ import annotations

import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from covet import _core
from covet.app import create_asgi_app
from covet.responses import JSONResponse, Response
from covet.routing import CovetRouter
from covet.testing import ASGITestClient


def set_cookies(response: Response) -> list[str]:
    return [v.decode("latin-1") for n, v in response.raw_headers if n == b"set-cookie"]


def test_set_cookie_defaults_to_path_root_and_samesite_lax() -> None:
    response = Response()
    response.set_cookie("session", "abc123")
    assert set_cookies(response) == ["session=abc123; Path=/; SameSite=Lax"]


def test_set_cookie_with_every_attribute() -> None:
    response = Response()
    response.set_cookie(
        "sid",
        "v",
        max_age=3600,
        expires=datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        path="/app",
        domain="example.com",
        secure=True,
        httponly=True,
        samesite="strict",
        partitioned=True,
    )
    assert set_cookies(response) == [
        "sid=v; Max-Age=3600; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Path=/app; "
        "Domain=example.com; Secure; HttpOnly; SameSite=Strict; Partitioned"
    ]


def test_set_cookie_expires_as_seconds_from_now() -> None:
    response = Response()
    response.set_cookie("a", "1", expires=60)
    expires = set_cookies(response)[0].split("Expires=")[1].split(";")[0]
    delta = parsedate_to_datetime(expires) - datetime.datetime.now(datetime.timezone.utc)
    assert 50 <= delta.total_seconds() <= 61


def test_set_cookie_naive_datetime_is_utc_and_string_is_kept() -> None:
    response = Response()
    response.set_cookie("a", "1", expires=datetime.datetime(2030, 1, 1))
    response.set_cookie("b", "2", expires="Wed, 02 Jan 2030 00:00:00 GMT")
    first, second = set_cookies(response)
    assert "Expires=Tue, 01 Jan 2030 00:00:00 GMT" in first
    assert "Expires=Wed, 02 Jan 2030 00:00:00 GMT" in second


def test_multiple_cookies_are_separate_headers() -> None:
    response = JSONResponse({"ok": True})
    response.set_cookie("a", "1")
    response.set_cookie("b", "2", samesite=None)
    assert set_cookies(response) == ["a=1; Path=/; SameSite=Lax", "b=2; Path=/"]


def test_quoted_cookie_value_is_allowed() -> None:
    response = Response()
    response.set_cookie("a", '"quoted"')
    assert set_cookies(response)[0].startswith('a="quoted";')


def test_delete_cookie_expires_it_with_matching_path_and_domain() -> None:
    response = Response()
    response.delete_cookie("sid", path="/app", domain="example.com", secure=True, httponly=True)
    assert set_cookies(response) == [
        "sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/app; "
        "Domain=example.com; Secure; HttpOnly; SameSite=Lax"
    ]


@pytest.mark.parametrize("value", ["a\r\nSet-Cookie: evil=1", "a\nb", "a\x00", "a\x7f", "a\tb"])
def test_cookie_value_cannot_inject_headers(value: str) -> None:
    with pytest.raises(ValueError, match="control characters"):
        Response().set_cookie("sid", value)


@pytest.mark.parametrize("name", ["", "a b", "a=b", "a;b", "a\r\nb", "a\x00", "é", "a,b"])
def test_cookie_name_must_be_a_token(name: str) -> None:
    with pytest.raises(ValueError, match="cookie name"):
        Response().set_cookie(name, "v")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"path": "/a;Domain=evil.com"},
        {"path": "/a\r\nX: y"},
        {"domain": "evil.com; Secure"},
        {"domain": "exa mple.com"},
        {"domain": "a\nb"},
        {"expires": "Wed; HttpOnly"},
        {"expires": "x\r\ny"},
    ],
)
def test_cookie_attributes_cannot_inject(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Response().set_cookie("sid", "v", **kwargs)


def test_cookie_attribute_types_are_checked() -> None:
    with pytest.raises(TypeError):
        Response().set_cookie("sid", "v", max_age="3600")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Response().set_cookie("sid", "v", expires=[1])  # type: ignore[arg-type]


def test_samesite_must_be_strict_lax_or_none() -> None:
    with pytest.raises(ValueError, match="samesite"):
        Response().set_cookie("sid", "v", samesite="sometimes")


def test_samesite_none_requires_secure() -> None:
    with pytest.raises(ValueError, match="secure=True"):
        Response().set_cookie("sid", "v", samesite="none")
    response = Response()
    response.set_cookie("sid", "v", samesite="None", secure=True)
    assert set_cookies(response) == ["sid=v; Path=/; Secure; SameSite=None"]


def test_partitioned_requires_secure() -> None:
    with pytest.raises(ValueError, match="partitioned"):
        Response().set_cookie("sid", "v", partitioned=True)


def test_cookie_prefixes_are_enforced() -> None:
    with pytest.raises(ValueError, match="__Secure-"):
        Response().set_cookie("__Secure-id", "v")
    with pytest.raises(ValueError, match="__Host-"):
        Response().set_cookie("__Host-id", "v", secure=True, domain="example.com")
    with pytest.raises(ValueError, match="__Host-"):
        Response().set_cookie("__Host-id", "v", secure=True, path="/app")
    response = Response()
    response.set_cookie("__Host-id", "v", secure=True)
    assert set_cookies(response) == ["__Host-id=v; Path=/; Secure; SameSite=Lax"]


async def test_cookies_reach_the_client_through_the_app() -> None:
    router = CovetRouter()

    @router.get("/login")
    async def login(request: Any) -> Response:
        response = JSONResponse({"ok": True})
        response.set_cookie("sid", "abc", httponly=True)
        return response

    @router.get("/logout")
    async def logout(request: Any) -> Response:
        response = Response(None, 204)
        response.delete_cookie("sid")
        return response

    client = ASGITestClient(create_asgi_app(router))
    response = await client.get("/login")
    assert response.headers.getlist("set-cookie") == ["sid=abc; Path=/; HttpOnly; SameSite=Lax"]
    assert response.cookies == {"sid": "abc"}
    response = await client.get("/logout")
    assert response.status_code == 204
    assert response.headers["set-cookie"].startswith("sid=; Max-Age=0; Expires=Thu, 01 Jan 1970")


# -- request.cookies: parsed like Starlette's cookie_parser --------------------------------


def starlette_like_cookies(header: str) -> dict[str, str]:
    """The reference: Starlette's documented rules, with the stdlib's unquoting."""
    from http.cookies import _unquote

    result: dict[str, str] = {}
    for chunk in header.split(";"):
        name, sep, value = chunk.partition("=")
        if not sep:
            name, value = "", chunk
        name, value = name.strip(), value.strip()
        if name or value:
            result[name] = _unquote(value)
    return result


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ("a=1; a=2; a=3", {"a": "3"}),
        ("flag; a=1", {"": "flag", "a": "1"}),
        ("=v; flag", {"": "flag"}),
        ("a=; b", {"a": "", "": "b"}),
        (" ; = ;;", {}),
        ('a="x\\054y"', {"a": "x,y"}),
        ('a="say \\"hi\\""', {"a": 'say "hi"'}),
        ('a="back\\\\slash"', {"a": "back\\slash"}),
        ('a="\\377\\400"', {"a": "\xff400"}),
        ('a="unterminated', {"a": '"unterminated'}),
        ('a="', {"a": '"'}),
        ('a=""', {"a": ""}),
        ("a=x\\054y", {"a": "x\\054y"}),
        ("tok=a=b", {"tok": "a=b"}),
        ("\x1ca\x1f=\x85b\xa0", {"a": "b"}),
    ],
)
def test_cookie_header_parsing_matches_starlette(header: str, expected: dict[str, str]) -> None:
    assert starlette_like_cookies(header) == expected
    assert _core.parse_cookies(header) == expected


def test_repeated_cookie_name_keeps_the_last_value_in_first_position() -> None:
    parsed = _core.parse_cookies("a=1; b=2; a=3")
    assert list(parsed.items()) == [("a", "3"), ("b", "2")]


COOKIE_TEXT = st.text(
    alphabet=st.sampled_from(list('ab=; \t"\\0123478\n\x1c\xa0\x85\xe9,')), max_size=40
)


@settings(max_examples=500, derandomize=True, database=None)
@given(COOKIE_TEXT)
def test_cookie_parsing_matches_the_reference_on_arbitrary_headers(header: str) -> None:
    assert _core.parse_cookies(header) == starlette_like_cookies(header)


@settings(max_examples=200, derandomize=True, database=None)
@given(st.text(st.characters(max_codepoint=0xFF), max_size=20))
def test_set_cookie_values_read_back_unchanged(value: str) -> None:
    if any(ch < " " or ch == "\x7f" for ch in value):
        return  # refused by set_cookie (control characters)
    response = Response()
    response.set_cookie("sid", value)
    header = set_cookies(response)[0].split("; Path=")[0]
    assert _core.parse_cookies(header) == {"sid": value}


async def test_request_cookies_through_the_app() -> None:
    router = CovetRouter()

    @router.get("/")
    async def cookies(request: Any) -> dict[str, str]:
        return dict(request.cookies)

    client = ASGITestClient(create_asgi_app(router))
    response = await client.get(
        "/", headers={"cookie": 'sid=old; theme="dark\\054 blue"; legacy; sid=new'}
    )
    assert response.json() == {"sid": "new", "theme": "dark, blue", "": "legacy"}
