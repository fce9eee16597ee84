"""Redirect plain-text requests to their secure equivalent.

``http://host/path?q`` answers ``307 Temporary Redirect`` to ``https://host/path?q``
(307 keeps the method and body, so a POST stays a POST); a ``ws://`` handshake is
redirected to ``wss://`` when the server supports the ASGI WebSocket denial-response
extension, and is otherwise refused (close code 1008, which the server turns into
a 403). The default ports (80/443) are dropped from the target; other ports are kept.

Behind a TLS-terminating proxy put ``ProxyHeadersMiddleware`` (with the proxy in
its ``trusted_hosts``) before this one, so the proxy's ``X-Forwarded-Proto`` sets
``scope["scheme"]`` (uvicorn's ``--proxy-headers --forwarded-allow-ips=...`` does
the same in the server); otherwise every request looks like plain http and loops.
Put ``TrustedHostMiddleware`` before this one so the redirect can only point at
your own hosts.
"""

from __future__ import annotations

import re

from covet.middleware._asgi import (
    ASGIApp,
    Receive,
    Scope,
    Send,
    get_header,
    plain_response_headers,
    send_response,
)
from covet.middleware.trustedhost import INVALID_HOST_BODY, request_target

_INSECURE_SCHEMES = frozenset({"http", "ws"})
_HOST = re.compile(rb"(?P<name>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?")
_DEFAULT_PORTS = frozenset({b"80", b"443"})
_INVALID_HOST_HEADERS = plain_response_headers(INVALID_HOST_BODY)


def secure_location(scope: Scope) -> bytes | None:
    """The https/wss URL for this request, or None when the host is unusable."""
    raw = get_header(scope, b"host")
    if raw is None:
        server = scope.get("server")
        if not server:
            return None
        raw = f"{server[0]}:{server[1]}".encode("latin-1")
    match = _HOST.fullmatch(raw.strip())
    if match is None:
        return None
    netloc = match["name"]
    port = match["port"]
    if port is not None and port not in _DEFAULT_PORTS:
        netloc += b":" + port
    secure = b"https" if scope["type"] == "http" else b"wss"
    return secure + b"://" + netloc + request_target(scope)


class HTTPSRedirectMiddleware:
    """Redirect every ``http``/``ws`` request to ``https``/``wss``; secure requests
    pass through. A request whose Host header is not a valid host gets 400."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        # ASGI: a missing scheme means "http" / "ws".
        scheme = scope.get("scheme") or ("http" if kind == "http" else "ws")
        if scheme not in _INSECURE_SCHEMES:
            await self.app(scope, receive, send)
            return
        location = secure_location(scope)
        if kind == "http":
            if location is None:
                await send_response(send, 400, _INVALID_HOST_HEADERS, INVALID_HOST_BODY)
                return
            headers = [(b"location", location), (b"content-length", b"0")]
            await send_response(send, 307, headers, b"")
            return
        extensions = scope.get("extensions") or {}
        if location is not None and "websocket.http.response" in extensions:
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 307,
                    "headers": [(b"location", location), (b"content-length", b"0")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": b""})
            return
        await send({"type": "websocket.close", "code": 1008, "reason": "Use wss://"})
