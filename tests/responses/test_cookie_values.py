"""Cookie values outside RFC 6265 cookie-octets are quoted (as Starlette does, with
``http.cookies.SimpleCookie``'s escapes) instead of failing the response with a 500."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest

from covet.app import create_asgi_app
from covet.requests import Request
from covet.responses import PlainTextResponse, Response, format_set_cookie
from covet.routing import CovetRouter
from covet.testing import ASGITestClient


def set_cookie_headers(response: Response) -> list[str]:
    return [v.decode("latin-1") for n, v in response.raw_headers if n == b"set-cookie"]


def test_cookie_value_with_comma_and_space_is_quoted_not_a_500() -> None:
    response = Response()
    response.set_cookie("k", "Hello, cookies!")
    assert set_cookie_headers(response) == ['k="Hello\\054 cookies!"; Path=/; SameSite=Lax']


@pytest.mark.parametrize(
    "value",
    ["Hello, cookies!", "a;Domain=evil.com", 'say "hi"', "back\\slash", "café", "a b", "ÿ,;"],
)
def test_quoted_cookie_value_reads_back_exactly_with_simplecookie(value: str) -> None:
    header = format_set_cookie("k", value)
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    assert jar["k"].value == value
    # Nothing in the value became an attribute or a second cookie.
    assert list(jar) == ["k"] and jar["k"]["domain"] == ""
    assert header.encode("latin-1").isascii()


def test_semicolon_in_cookie_value_cannot_add_an_attribute() -> None:
    header = format_set_cookie("sid", "x; Domain=evil.com; HttpOnly")
    attributes = [part.strip() for part in header.split(";")]
    # The value is one quoted token; the only attributes are the ones asked for.
    assert header.startswith('sid="x\\073 Domain=evil.com\\073 HttpOnly"; ')
    assert attributes[-2:] == ["Path=/", "SameSite=Lax"]


def test_cookie_octets_values_are_not_quoted() -> None:
    # Tokens and base64 stay exactly as given, so existing cookies do not change.
    assert format_set_cookie("k", "abc==/+x", samesite=None) == "k=abc==/+x; Path=/"
    assert format_set_cookie("k", '"already"', samesite=None) == 'k="already"; Path=/'
    assert format_set_cookie("k", "", samesite=None) == "k=; Path=/"


@pytest.mark.parametrize(
    "value", ["a\r\nSet-Cookie: x=1", "a\rb", "a\nb", "\x00", "a\x1bb", "\x7f"]
)
def test_control_characters_in_cookie_value_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="control characters"):
        format_set_cookie("k", value)


def test_cookie_value_beyond_latin1_is_refused_with_advice() -> None:
    with pytest.raises(ValueError, match=r"urllib\.parse\.quote"):
        format_set_cookie("k", "snow ☃")


def test_cookie_value_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        format_set_cookie("k", 12)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["a b", "a;b", "a\r\nb", "", "é", 'a"'])
def test_invalid_cookie_names_are_still_refused(name: str) -> None:
    with pytest.raises(ValueError, match="cookie name"):
        format_set_cookie(name, "Hello, cookies!")


async def test_set_cookie_with_a_comma_answers_200_and_the_value_round_trips() -> None:
    router = CovetRouter()

    @router.get("/set")
    async def set_it(request: Request) -> Response:
        response = PlainTextResponse("ok")
        response.set_cookie("greeting", "Hello, cookies!")
        return response

    @router.get("/read")
    async def read_it(request: Request) -> dict[str, str]:
        return dict(request.cookies)

    client = ASGITestClient(create_asgi_app(router))
    response = await client.get("/set")
    assert response.status_code == 200
    sent = response.headers["set-cookie"]
    assert sent.startswith('greeting="Hello\\054 cookies!";')
    # A browser returns the quoted value as it received it.
    quoted = sent.split(";", 1)[0]
    response = await client.get("/read", headers={"cookie": f"{quoted}; plain=1"})
    assert response.json() == {"greeting": "Hello, cookies!", "plain": "1"}


async def test_request_cookies_unescape_only_quoted_values() -> None:
    router = CovetRouter()

    @router.get("/read")
    async def read_it(request: Request) -> dict[str, str]:
        return dict(request.cookies)

    client = ASGITestClient(create_asgi_app(router))
    header = 'a="x\\"y\\\\z\\351"; b=raw\\054; c="\\"'
    response = await client.get("/read", headers={"cookie": header})
    assert response.json() == {"a": 'x"y\\zé', "b": "raw\\054", "c": "\\"}
