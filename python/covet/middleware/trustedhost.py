"""Reject requests whose ``Host`` header is not one of ours (Host-header attacks:
cache poisoning, password-reset links pointing elsewhere, open redirects).

Hosts are compared as plain strings (exact names, or a literal ``.example.com``
suffix for ``*.example.com``); no pattern is built from ``allowed_hosts``. A Host
header that is not a plain ``host[:port]`` (``covet.datastructures.is_valid_host``:
no path, userinfo, spaces or controls) is refused before any comparison, so
``evil.com/x.example.com`` cannot pass for a subdomain."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

from covet.datastructures import is_valid_host
from covet.middleware._asgi import (
    ASGIApp,
    Receive,
    Scope,
    Send,
    get_header,
    plain_response_headers,
    send_response,
)

INVALID_HOST_BODY = b"Invalid host header"
_INVALID_HOST_HEADERS = plain_response_headers(INVALID_HOST_BODY)


def host_without_port(host: str) -> str:
    """``example.com:8000`` -> ``example.com``; ``[::1]:8000`` -> ``[::1]``;
    lowercased, with a trailing dot (``example.com.``) removed."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        host = host[: end + 1] if end != -1 else host
    else:
        host = host.partition(":")[0]
    return host[:-1] if host.endswith(".") else host


class TrustedHostMiddleware:
    """Answer ``400 Invalid host header`` unless the request's host is allowed.

    - ``allowed_hosts``: exact hosts (``"example.com"``, ``"127.0.0.1"``,
      ``"[::1]"``), subdomain wildcards (``"*.example.com"`` matches
      ``api.example.com`` and ``a.b.example.com``, not ``example.com``) or ``"*"``
      (anything). Matching ignores case, the port and a trailing dot.
    - ``www_redirect``: when the host is not allowed but ``www.<host>`` is listed
      exactly, redirect (307) there instead of refusing. Default True.

    A request without a Host header is refused (unless ``"*"`` is allowed). A refused
    WebSocket handshake is closed with code 1008 (the server answers 403).
    """

    def __init__(
        self, app: ASGIApp, allowed_hosts: Iterable[str], www_redirect: bool = True
    ) -> None:
        if isinstance(allowed_hosts, str):
            raise TypeError("allowed_hosts takes a list of host names, not a string")
        exact: set[str] = set()
        suffixes: list[str] = []
        allow_any = False
        for pattern in allowed_hosts:
            pattern = pattern.strip().lower()
            if pattern == "*":
                allow_any = True
            elif pattern.startswith("*."):
                rest = pattern[2:]
                if not rest or "*" in rest:
                    raise ValueError(f"invalid allowed_hosts pattern {pattern!r}")
                suffixes.append("." + rest.rstrip("."))
            elif "*" in pattern or not pattern:
                raise ValueError(
                    f"invalid allowed_hosts pattern {pattern!r}: a wildcard is only "
                    "allowed as '*' or a leading '*.'"
                )
            else:
                exact.add(host_without_port(pattern))
        self.app = app
        self.allow_any = allow_any
        self.www_redirect = www_redirect
        self._exact = frozenset(exact)
        self._suffixes = tuple(suffixes)

    def is_allowed(self, host: str) -> bool:
        """Whether ``host`` (already without port, lowercased) is allowed."""
        return self.allow_any or host in self._exact or host.endswith(self._suffixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if self.allow_any or kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = get_header(scope, b"host")
        value = raw.decode("latin-1").strip() if raw else ""
        host = host_without_port(value) if is_valid_host(value) else ""
        if host and self.is_allowed(host):
            await self.app(scope, receive, send)
            return
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "Invalid host header"})
            return
        if host and self.www_redirect and "www." + host in self._exact:
            assert raw is not None
            await send_response(send, 307, _redirect_headers(scope, b"www." + raw.strip()), b"")
            return
        await send_response(send, 400, _INVALID_HOST_HEADERS, INVALID_HOST_BODY)


def _redirect_headers(scope: Scope, netloc: bytes) -> list[tuple[bytes, bytes]]:
    location = scope.get("scheme", "http").encode("ascii") + b"://" + netloc + request_target(scope)
    return [(b"location", location), (b"content-length", b"0")]


def request_target(scope: Scope) -> bytes:
    """The request's path (as received, percent-encoded) and query string."""
    path = scope.get("raw_path")
    if not path:
        path = quote(scope["path"]).encode("ascii")
    query = scope.get("query_string", b"")
    return path + b"?" + query if query else path
