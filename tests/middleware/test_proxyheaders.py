"""ProxyHeadersMiddleware: X-Forwarded-For/-Proto/-Host are believed only from trusted
peers, the client is the rightmost untrusted hop, and everything downstream (rate
limit key, HTTPS redirect, request.url, url_for, the server's access log) sees the
resolved values."""

from __future__ import annotations

import http.client
import ipaddress
from typing import Any

import pytest

from covet.app import create_asgi_app
from covet.middleware import (
    HTTPSRedirectMiddleware,
    ProxyHeadersMiddleware,
    RateLimitMiddleware,
)
from covet.middleware.proxyheaders import parse_forwarded_address
from covet.requests import Request
from covet.routing import CovetRouter

PROXY = "10.0.0.2"  # the trusted reverse proxy, as the server sees it
REAL = "203.0.113.5"  # the client the proxy received the request from


def http_scope(
    peer: str | None, *headers: tuple[bytes, bytes], kind: str = "http"
) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": kind,
        "scheme": "http" if kind == "http" else "ws",
        "path": "/whoami",
        "raw_path": b"/whoami",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"internal:8000"), *headers],
        "server": ("10.0.0.1", 8000),
        "client": (peer, 41000) if peer is not None else None,
    }
    if kind == "http":
        scope["method"] = "GET"
    return scope


async def resolved(trusted: Any, scope: dict[str, Any]) -> dict[str, Any]:
    """The scope the wrapped app receives."""
    seen: dict[str, Any] = {}

    async def app(inner: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(inner)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        pass

    await ProxyHeadersMiddleware(app, trusted_hosts=trusted)(scope, receive, send)
    return seen


def host_header(scope: dict[str, Any]) -> list[bytes]:
    return [v for n, v in scope["headers"] if n == b"host"]


# -- trust ---------------------------------------------------------------------------
async def test_nothing_is_trusted_by_default() -> None:
    scope = http_scope(
        "127.0.0.1", (b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-proto", b"https")
    )
    seen = await resolved((), scope)
    assert seen["client"] == ("127.0.0.1", 41000) and seen["scheme"] == "http"


async def test_untrusted_peer_cannot_set_client_scheme_or_host() -> None:
    scope = http_scope(
        "198.51.100.7",
        (b"x-forwarded-for", b"1.2.3.4"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"evil.example"),
    )
    seen = await resolved([PROXY, "10.1.0.0/16"], scope)
    assert seen["client"] == ("198.51.100.7", 41000)
    assert seen["scheme"] == "http"
    assert host_header(seen) == [b"internal:8000"]


@pytest.mark.parametrize("trusted", [[PROXY], ["10.0.0.0/8"], "10.0.0.2, 192.168.0.0/16", ["*"]])
async def test_trusted_peer_sets_client_scheme_and_host(trusted: Any) -> None:
    scope = http_scope(
        PROXY,
        (b"x-forwarded-for", REAL.encode()),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"www.example.com"),
    )
    seen = await resolved(trusted, scope)
    assert seen["client"] == (REAL, 0)
    assert seen["scheme"] == "https"
    assert host_header(seen) == [b"www.example.com"]


@pytest.mark.parametrize("entry", ["10.0.0.256", "example.com", "10.0.0.0/33", "", "10.0.0.0/x"])
def test_invalid_trusted_host_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="trusted_hosts"):
        ProxyHeadersMiddleware(None, trusted_hosts=[entry] if entry else ["  "])  # type: ignore[arg-type]


async def test_ipv4_mapped_peer_matches_an_ipv4_rule() -> None:
    scope = http_scope("::ffff:10.0.0.2", (b"x-forwarded-for", REAL.encode()))
    assert (await resolved(["10.0.0.0/8"], scope))["client"] == (REAL, 0)


async def test_peer_without_an_address_is_trusted_only_with_star() -> None:
    scope = http_scope(None, (b"x-forwarded-for", REAL.encode()))
    assert (await resolved([PROXY], scope))["client"] is None
    assert (await resolved(["*"], http_scope(None, (b"x-forwarded-for", REAL.encode()))))[
        "client"
    ] == (REAL, 0)


# -- X-Forwarded-For -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # The client's own (spoofed) entries stay left of what the proxy appended.
        ("1.1.1.1, " + REAL, REAL),
        ("127.0.0.1, 10.0.0.9, " + REAL, REAL),
        # Trusted proxies further along the chain are skipped.
        (REAL + ", 10.0.0.3", REAL),
        ("1.1.1.1, " + REAL + ", 10.0.0.3, 10.0.0.4", REAL),
        # Every hop trusted: the leftmost one.
        ("10.0.0.7, 10.0.0.3", "10.0.0.7"),
        # A non-address beyond the trusted hops: the last trusted hop.
        ("unknown, 10.0.0.3", "10.0.0.3"),
        ("<script>, " + REAL, REAL),
        ("  " + REAL + "  ", REAL),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]:4711", "2001:db8::1"),
    ],
)
async def test_client_is_the_rightmost_untrusted_address(header: str, expected: str) -> None:
    scope = http_scope(PROXY, (b"x-forwarded-for", header.encode()))
    assert (await resolved(["10.0.0.0/8"], scope))["client"][0] == expected


async def test_forwarded_port_is_kept_and_several_header_lines_are_one_list() -> None:
    scope = http_scope(
        PROXY,
        (b"x-forwarded-for", b"1.1.1.1"),
        (b"x-forwarded-for", REAL.encode() + b":5123"),
    )
    assert (await resolved([PROXY], scope))["client"] == (REAL, 5123)


@pytest.mark.parametrize("header", [b"", b" , ", b"garbage", b"1.2.3.4:99999", b"[::1"])
async def test_unusable_forwarded_for_keeps_the_direct_peer(header: bytes) -> None:
    scope = http_scope(PROXY, (b"x-forwarded-for", header))
    assert (await resolved([PROXY], scope))["client"] == (PROXY, 41000)


def test_parse_forwarded_address() -> None:
    assert parse_forwarded_address("1.2.3.4:80") == (ipaddress.ip_address("1.2.3.4"), 80)
    assert parse_forwarded_address("[::1]") == (ipaddress.ip_address("::1"), 0)
    for bad in ("1.2.3.4:", "1.2.3.4:0x50", "[::1]x", "1.2.3", "::1]:80", "1.2.3.4:+80"):
        assert parse_forwarded_address(bad) is None, bad


# -- X-Forwarded-Proto ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "value", "scheme"),
    [
        ("http", b"https", "https"),
        ("http", b"HTTP", "http"),
        ("http", b"wss", "https"),
        ("websocket", b"https", "wss"),
        ("websocket", b"http", "ws"),
        ("http", b"http, https", "https"),  # the value the trusted peer appended
        ("http", b"javascript", "http"),
        ("http", b"https\r\n", "https"),
        ("http", b"ftp", "http"),
    ],
)
async def test_forwarded_proto_sets_only_known_schemes(
    kind: str, value: bytes, scheme: str
) -> None:
    scope = http_scope(PROXY, (b"x-forwarded-proto", value), kind=kind)
    assert (await resolved([PROXY], scope))["scheme"] == scheme


# -- X-Forwarded-Host ----------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        b"evil.com/path",
        b"a b",
        b"host\r\nx-injected: 1",
        b"[::1",
        b"user@evil.com",
        b"evil.com?x",
        b"x" * 300,
        b"",
    ],
)
async def test_invalid_forwarded_host_is_ignored(value: bytes) -> None:
    scope = http_scope(PROXY, (b"x-forwarded-host", value))
    assert host_header(await resolved([PROXY], scope)) == [b"internal:8000"]


async def test_forwarded_host_with_port_and_ipv6_replaces_the_host_header() -> None:
    for value in (b"www.example.com:8443", b"[2001:db8::1]:443", b"other.com, www.example.com"):
        seen = await resolved([PROXY], http_scope(PROXY, (b"x-forwarded-host", value)))
        assert host_header(seen) == [value.split(b", ")[-1]]


# -- downstream consumers ------------------------------------------------------------
def proxied_app(**rate: Any) -> Any:
    router = CovetRouter()

    async def whoami(request: Request) -> dict[str, Any]:
        return {
            "client": request.client.host if request.client else None,
            "url": str(request.url),
            "self": str(request.url_for("whoami")),
        }

    router.add_route("/whoami", whoami, ["GET"], name="whoami")
    app: Any = create_asgi_app(router=router)
    if rate:
        app = RateLimitMiddleware(app, **rate)
    return ProxyHeadersMiddleware(app, trusted_hosts=[PROXY])


async def call(app: Any, scope: dict[str, Any]) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    headers = {bytes(k): bytes(v) for k, v in sent[0].get("headers", ())}
    return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


async def test_spoofed_leftmost_forwarded_for_does_not_change_the_rate_limit_key() -> None:
    app = proxied_app(requests_per_minute=2)
    statuses = []
    for spoof in (b"1.1.1.1", b"2.2.2.2", b"3.3.3.3", b"127.0.0.1"):
        # The client sends its own X-Forwarded-For; the proxy appends the real address.
        scope = http_scope(PROXY, (b"x-forwarded-for", spoof + b", " + REAL.encode()))
        statuses.append((await call(app, scope))[0])
    assert statuses == [200, 200, 429, 429]
    # Another real client has its own bucket.
    other = http_scope(PROXY, (b"x-forwarded-for", b"203.0.113.99"))
    assert (await call(app, other))[0] == 200


async def test_untrusted_peer_cannot_choose_its_rate_limit_bucket() -> None:
    app = proxied_app(requests_per_minute=1)
    first = http_scope("198.51.100.7", (b"x-forwarded-for", b"1.1.1.1"))
    second = http_scope("198.51.100.7", (b"x-forwarded-for", b"2.2.2.2"))
    assert (await call(app, first))[0] == 200
    assert (await call(app, second))[0] == 429


async def test_https_redirect_honours_the_trusted_forwarded_proto_only() -> None:
    app = ProxyHeadersMiddleware(
        HTTPSRedirectMiddleware(create_asgi_app(router=CovetRouter())), trusted_hosts=[PROXY]
    )
    trusted = http_scope(PROXY, (b"x-forwarded-proto", b"https"))
    assert (await call(app, trusted))[0] == 404  # no redirect: reached the app
    spoofed = http_scope("198.51.100.7", (b"x-forwarded-proto", b"https"))
    status, headers, _ = await call(app, spoofed)
    assert status == 307 and headers[b"location"] == b"https://internal:8000/whoami"


async def test_request_url_and_url_for_use_the_resolved_scheme_and_host() -> None:
    app = proxied_app()
    scope = http_scope(
        PROXY,
        (b"x-forwarded-for", REAL.encode()),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"www.example.com"),
    )
    status, _, body = await call(app, scope)
    assert status == 200
    assert body == (
        b'{"client":"203.0.113.5","url":"https://www.example.com/whoami",'
        b'"self":"https://www.example.com/whoami"}'
    )
    spoofed = http_scope(
        "198.51.100.7", (b"x-forwarded-proto", b"https"), (b"x-forwarded-host", b"evil.com")
    )
    _, _, body = await call(app, spoofed)
    assert b"evil.com" not in body and b"http://internal:8000/whoami" in body


def test_uvicorn_access_log_shows_the_resolved_client(serve: Any) -> None:
    server = serve(
        "apps.proxy_app:app", "--no-proxy-headers", "--access-log", "--log-level", "info"
    )
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request(
        "GET",
        "/whoami",
        headers={"X-Forwarded-For": "1.1.1.1, " + REAL, "X-Forwarded-Proto": "https"},
    )
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    assert response.status == 200
    assert b'"client":"203.0.113.5"' in payload
    assert b'"url":"https://127.0.0.1:' in payload
    server.stop()
    assert server.process.stdout is not None
    log = server.process.stdout.read().decode()
    assert f'{REAL}:0 - "GET /whoami HTTP/1.1" 200' in log
    assert "1.1.1.1" not in log
