"""request.url and url_for cannot be poisoned by a bad Host header or by a request
target that is not a path: both fall back to the server's own address."""

from __future__ import annotations

from typing import Any

import pytest

from covet.datastructures import URL, is_valid_host
from covet.requests import Request
from covet.routing import CovetRouter


class _App:
    def __init__(self) -> None:
        self.router = CovetRouter()
        self.router.add_route("/users/{id}", lambda r: None, ["GET"], name="user")

    def url_path_for(self, name: str, /, **params: Any) -> str:
        return self.router.url_path_for(name, **params)


def scope(host: bytes | None, path: str = "/x", server: Any = ("10.0.0.1", 8000)) -> dict[str, Any]:
    headers = [] if host is None else [(b"host", host)]
    return {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "query_string": b"q=1",
        "headers": headers,
        "server": server,
        "app": _App(),
    }


BAD_HOSTS = [
    b"evil.com/path",
    b"evil.com/",
    b"a b",
    b"host\r\nx",
    b"[::1",
    b"x" * 300,
    b"user@evil.com",
    b"good.com@evil.com",
    b"evil.com?x=",
    b"evil.com#frag",
    b"evil.com\\x",
    b"host:port",
    b"host:99999",
    b"",
]


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_bad_host_header_does_not_poison_request_url(host: bytes) -> None:
    request = Request(scope(host))
    assert str(request.url) == "http://10.0.0.1:8000/x?q=1"
    assert request.url.hostname == "10.0.0.1"
    assert request.url.port == 8000  # never a ValueError from a bad port


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_bad_host_header_does_not_poison_url_for(host: bytes) -> None:
    request = Request(scope(host))
    assert str(request.url_for("user", id=7)) == "http://10.0.0.1:8000/users/7"
    assert str(request.base_url) == "http://10.0.0.1:8000/"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (b"example.com", "http://example.com/x?q=1"),
        (b"Example.COM:8080", "http://Example.COM:8080/x?q=1"),
        (b"[2001:db8::1]:8443", "http://[2001:db8::1]:8443/x?q=1"),
        (b"127.0.0.1", "http://127.0.0.1/x?q=1"),
    ],
)
def test_valid_host_headers_are_used(host: bytes, expected: str) -> None:
    assert str(Request(scope(host)).url) == expected


@pytest.mark.parametrize(
    "path", ["@evil.com/x", "http://evil.com/x", "//evil.com/x", "evil.com", ":80@evil.com"]
)
def test_request_target_that_is_not_a_path_cannot_change_the_hostname(path: str) -> None:
    request = Request(scope(b"example.com", path=path))
    assert request.url.hostname == "example.com"
    assert request.url.path.startswith("/")
    # Without any authority it stays a relative URL, never one naming evil.com.
    bare = Request(scope(None, path=path, server=None))
    assert bare.url.hostname is None


def test_ipv6_server_address_is_bracketed_and_a_socket_path_is_dropped() -> None:
    assert str(URL.from_scope(scope(None, server=("::1", 8000)))) == "http://[::1]:8000/x?q=1"
    assert str(URL.from_scope(scope(None, server=("/run/app.sock", None)))) == "/x?q=1"


def test_is_valid_host() -> None:
    assert is_valid_host("a.example.com.evil.com")  # syntax only; trust is elsewhere
    assert is_valid_host("x" * 253 + ":65535")
    assert not is_valid_host("x" * 254 + ":65535")
    assert not is_valid_host(" example.com")
