"""TrustedHostMiddleware compares hosts literally: ``*.example.com`` is a literal
suffix, and a Host header that is not a plain ``host[:port]`` never matches."""

from __future__ import annotations

from typing import Any

import pytest

from covet.middleware import TrustedHostMiddleware


async def ok_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def status_for(allowed: list[str], host: bytes) -> int:
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"host", host)]}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await TrustedHostMiddleware(ok_app, allowed, www_redirect=False)(scope, receive, send)
    return int(sent[0]["status"])


@pytest.mark.parametrize(
    "host",
    [
        b"a.example.com.evil.com",
        b"evil.com/x.example.com",
        b"evil.com@a.example.com",
        b"evil.com?.example.com",
        b"evil.com#.example.com",
        b"evil.com .example.com",
        b"evil.com\r\nx.example.com",
        b"aexample.com",
        b"example.com",
        b"a.example.com:notaport",
        b"a.example.com:99999",
        b"[::1",
        b"a." + b"b" * 300 + b".example.com",
    ],
)
async def test_subdomain_wildcard_is_a_literal_suffix_of_a_valid_host(host: bytes) -> None:
    assert await status_for(["*.example.com"], host) == 400


@pytest.mark.parametrize("host", [b"a.example.com", b"A.b.Example.COM:8443", b"a.example.com."])
async def test_subdomain_wildcard_matches_real_subdomains(host: bytes) -> None:
    assert await status_for(["*.example.com"], host) == 200


@pytest.mark.parametrize(
    "host", [b"example.com.evil.com", b"exampleXcom", b"evil.com/example.com", b"example.com/"]
)
async def test_exact_host_is_matched_literally(host: bytes) -> None:
    # "." in the configuration is a dot, not a regex wildcard.
    assert await status_for(["example.com"], host) == 400


async def test_exact_hosts_with_ports_and_ipv6() -> None:
    assert await status_for(["example.com"], b"example.com:8000") == 200
    assert await status_for(["[::1]"], b"[::1]:8000") == 200
    assert await status_for(["[::1]"], b"[::2]:8000") == 400
