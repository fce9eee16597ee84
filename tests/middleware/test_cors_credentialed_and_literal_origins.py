"""CORS: a credentialed request under ``allow_origins=["*"]`` gets its origin echoed
(never ``*``) with ``Vary: Origin``; origins are matched literally, never as
patterns built from the configuration."""

from __future__ import annotations

from typing import Any

import pytest

from covet.middleware import CORSMiddleware


async def ok_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def call(
    middleware: Any, headers: dict[str, str], method: str = "GET"
) -> tuple[int, list[tuple[bytes, bytes]]]:
    scope = {
        "type": "http",
        "method": method,
        "path": "/",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    return sent[0]["status"], [(bytes(k), bytes(v)) for k, v in sent[0]["headers"]]


def values(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [v for k, v in headers if k == name]


ORIGIN = "https://app.example.com"


async def test_wildcard_origins_echo_the_origin_for_a_request_with_cookies() -> None:
    cors = CORSMiddleware(ok_app, allow_origins=["*"])
    _, headers = await call(cors, {"origin": ORIGIN, "cookie": "sid=1"})
    assert values(headers, b"access-control-allow-origin") == [ORIGIN.encode()]
    assert values(headers, b"vary") == [b"Origin"]


async def test_wildcard_origins_send_star_without_cookies() -> None:
    cors = CORSMiddleware(ok_app, allow_origins=["*"])
    _, headers = await call(cors, {"origin": ORIGIN})
    assert values(headers, b"access-control-allow-origin") == [b"*"]
    assert values(headers, b"vary") == []


async def test_echoed_origin_keeps_the_apps_own_vary() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"vary", b"Cookie")]}
        )
        await send({"type": "http.response.body", "body": b""})

    _, headers = await call(
        CORSMiddleware(app, allow_origins=["*"]), {"origin": ORIGIN, "cookie": "a=b"}
    )
    assert values(headers, b"vary") == [b"Cookie, Origin"]


@pytest.mark.parametrize(
    "origin",
    [
        "https://app.example.com.evil.com",
        "https://appXexample.com",
        "https://evil.com/https://app.example.com",
        "HTTPS://APP.EXAMPLE.COM.evil",
        "https://app.example.co",
        "null",
    ],
)
async def test_allowed_origins_are_matched_literally(origin: str) -> None:
    cors = CORSMiddleware(ok_app, allow_origins=[ORIGIN])
    _, headers = await call(cors, {"origin": origin})
    assert values(headers, b"access-control-allow-origin") == []
    status, headers = await call(
        cors, {"origin": origin, "access-control-request-method": "GET"}, method="OPTIONS"
    )
    assert status == 400 and values(headers, b"access-control-allow-origin") == []


async def test_regex_metacharacters_in_allowed_origins_are_plain_characters() -> None:
    literal = "https://a+b.example.com"
    cors = CORSMiddleware(ok_app, allow_origins=[literal, "https://x.example.(com|org)"])
    for lookalike in (
        "https://aab.example.com",
        "https://aaab.example.com",
        "https://x.example.org",
    ):
        _, headers = await call(cors, {"origin": lookalike})
        assert values(headers, b"access-control-allow-origin") == [], lookalike
    _, headers = await call(cors, {"origin": literal})
    assert values(headers, b"access-control-allow-origin") == [literal.encode()]


async def test_allow_origin_regex_must_match_the_whole_origin() -> None:
    cors = CORSMiddleware(ok_app, allow_origin_regex=r"https://[a-z0-9-]+\.example\.com")
    _, headers = await call(cors, {"origin": "https://api.example.com"})
    assert values(headers, b"access-control-allow-origin") == [b"https://api.example.com"]
    for evil in ("https://api.example.com.evil.com", "https://api.example.com:443@evil.com"):
        _, headers = await call(cors, {"origin": evil})
        assert values(headers, b"access-control-allow-origin") == [], evil
