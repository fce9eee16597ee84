"""The small header helpers the built-in middleware share, and the ASGI type
aliases (from ``covet.types``) they are written against."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from covet.types import ASGIApp, Message, RawHeaders, Receive, Scope, Send

__all__ = [
    "ASGIApp",
    "Message",
    "RawHeaders",
    "Receive",
    "Scope",
    "Send",
    "add_vary",
    "get_header",
    "plain_response_headers",
    "without",
]

TEXT_PLAIN = b"text/plain; charset=utf-8"


def get_header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of request header ``name`` (lowercase bytes), or None."""
    for key, value in scope["headers"]:
        if key == name:
            found: bytes = value
            return found
    return None


def plain_response_headers(body: bytes, extra: Iterable[tuple[bytes, bytes]] = ()) -> RawHeaders:
    """Headers for a small text/plain response, rendered once by the caller."""
    return [
        (b"content-type", TEXT_PLAIN),
        (b"content-length", str(len(body)).encode("ascii")),
        *extra,
    ]


async def send_response(send: Send, status: int, headers: RawHeaders, body: bytes) -> None:
    """Send a complete response. ``headers`` is passed as is (never mutated here)."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def without(headers: Iterable[Any], names: frozenset[bytes]) -> RawHeaders:
    """A new header list without the headers in ``names`` (lowercase)."""
    return [(k, v) for k, v in headers if bytes(k).lower() not in names]


def add_vary(headers: RawHeaders, token: bytes) -> None:
    """Add ``token`` to the response's ``Vary`` header (merging, not duplicating).

    ``headers`` must be a list the caller owns: it is modified in place.
    """
    lowered = token.lower()
    for i, (key, value) in enumerate(headers):
        if bytes(key).lower() == b"vary":
            tokens = [t.strip().lower() for t in bytes(value).split(b",")]
            if lowered in tokens or b"*" in tokens:
                return
            headers[i] = (b"vary", bytes(value) + b", " + token)
            return
    headers.append((b"vary", token))
