"""Cross-Origin Resource Sharing (CORS), as a pure ASGI middleware.

Requests without an ``Origin`` header pass straight through. A preflight request
(``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is answered here
without calling the app: ``200`` with the ``Access-Control-Allow-*`` headers, or
``400`` naming what is not allowed (origin, method or headers). Other requests from
an allowed origin get ``Access-Control-Allow-Origin`` (plus credentials and exposed
headers when configured) added to the app's response; requests from a disallowed
origin get the app's response unchanged, which the browser then refuses to expose.

With ``allow_credentials=True`` the wildcard origin is never sent: the request's
origin is echoed instead, with ``Vary: Origin`` so caches keep one copy per origin.
The same happens with ``allow_origins=["*"]`` for a request that carries a
``Cookie`` header (a credentialed request, which browsers refuse to answer with
``*``), as Starlette does.

Origins are compared literally (exact strings); only ``allow_origin_regex`` is a
regular expression, and no pattern is ever built from ``allow_origins``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from covet.middleware._asgi import (
    ASGIApp,
    Message,
    RawHeaders,
    Receive,
    Scope,
    Send,
    add_vary,
    plain_response_headers,
    send_response,
    without,
)

# Request headers a browser may send without asking (the CORS-safelisted ones).
SAFELISTED_HEADERS = frozenset({"accept", "accept-language", "content-language", "content-type"})
_CORS_RESPONSE_HEADERS = frozenset(
    {
        b"access-control-allow-origin",
        b"access-control-allow-credentials",
        b"access-control-expose-headers",
    }
)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _header_list(values: Iterable[str], what: str) -> list[str]:
    out: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise TypeError(f"{what} must be strings, got {value!r}")
        if value != "*" and not _TOKEN.fullmatch(value):
            raise ValueError(f"{what}: {value!r} is not a valid HTTP token")
        out.append(value)
    return out


class CORSMiddleware:
    """CORS for every HTTP route.

    - ``allow_origins``: exact origins (``"https://app.example.com"``) or ``"*"``.
      Default: none (only ``allow_origin_regex`` can allow an origin).
    - ``allow_origin_regex``: a regex the whole origin must match (``re.fullmatch``),
      e.g. ``r"https://[a-z0-9-]+\\.example\\.com"``.
    - ``allow_methods``: methods a preflight may ask for, or ``"*"``.
      Default ``("GET", "HEAD", "POST")`` (the methods browsers never preflight).
    - ``allow_headers``: request headers a preflight may ask for, or ``"*"``; the
      CORS-safelisted headers are always allowed. Default: only those.
    - ``allow_credentials``: send ``Access-Control-Allow-Credentials: true``
      (cookies/authorization); the origin is then always echoed, never ``*``.
    - ``expose_headers``: response headers scripts may read.
    - ``max_age``: seconds a browser may cache a preflight answer. Default 600.
    """

    def __init__(
        self,
        app: ASGIApp,
        allow_origins: Sequence[str] = (),
        allow_methods: Sequence[str] = ("GET", "HEAD", "POST"),
        allow_headers: Sequence[str] = (),
        allow_credentials: bool = False,
        allow_origin_regex: str | re.Pattern[str] | None = None,
        expose_headers: Sequence[str] = (),
        max_age: int = 600,
    ) -> None:
        if isinstance(allow_origins, str) or isinstance(allow_methods, str):
            raise TypeError("allow_origins and allow_methods take a list of strings")
        if isinstance(allow_headers, str) or isinstance(expose_headers, str):
            raise TypeError("allow_headers and expose_headers take a list of strings")
        if max_age < 0:
            raise ValueError("max_age must be >= 0")
        for origin in allow_origins:
            if origin != "*" and (
                origin.endswith("/") or ("://" not in origin and origin != "null")
            ):
                raise ValueError(
                    f"allow_origins entry {origin!r} is not an origin: use "
                    "scheme://host[:port] with no path or trailing slash"
                )
        self.app = app
        self.allow_credentials = allow_credentials
        self._allow_all_origins = "*" in allow_origins
        self._origins = frozenset(allow_origins)
        self._origin_regex = (
            re.compile(allow_origin_regex)
            if isinstance(allow_origin_regex, str)
            else allow_origin_regex
        )
        methods = [m.upper() for m in _header_list(allow_methods, "allow_methods")]
        self._allow_all_methods = "*" in methods
        self._methods = frozenset(methods)
        headers = [h.lower() for h in _header_list(allow_headers, "allow_headers")]
        self._allow_all_headers = "*" in headers
        self._headers = frozenset(headers) | SAFELISTED_HEADERS
        exposed = _header_list(expose_headers, "expose_headers")

        # Everything that does not depend on the request is rendered here, once.
        # Origin "*" is only sent when any origin is allowed and no credentials are.
        self._wildcard = self._allow_all_origins and not allow_credentials
        simple: RawHeaders = []
        if allow_credentials:
            simple.append((b"access-control-allow-credentials", b"true"))
        if exposed:
            simple.append((b"access-control-expose-headers", ", ".join(exposed).encode()))
        self._simple_headers = simple

        preflight: RawHeaders = []
        if not self._allow_all_methods:
            preflight.append((b"access-control-allow-methods", ", ".join(methods).encode()))
        if not self._allow_all_headers:
            preflight.append(
                (b"access-control-allow-headers", ", ".join(sorted(self._headers)).encode())
            )
        preflight.append((b"access-control-max-age", str(int(max_age)).encode()))
        if allow_credentials:
            preflight.append((b"access-control-allow-credentials", b"true"))
        self._preflight_headers = preflight

    def is_allowed_origin(self, origin: str) -> bool:
        if self._allow_all_origins or origin in self._origins:
            return True
        regex = self._origin_regex
        return regex is not None and regex.fullmatch(origin) is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin: bytes | None = None
        request_method: bytes | None = None
        request_headers: bytes | None = None
        has_cookie = False
        for key, value in scope["headers"]:
            if key == b"origin":
                origin = value
            elif key == b"cookie":
                has_cookie = True
            elif key == b"access-control-request-method":
                request_method = value
            elif key == b"access-control-request-headers":
                request_headers = (
                    value if request_headers is None else request_headers + b"," + value
                )
        if origin is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and request_method is not None:
            await self._preflight(send, origin, request_method, request_headers)
            return
        await self._simple(scope, receive, send, origin, has_cookie)

    def _origin_headers(self, origin: bytes, headers: RawHeaders, *, echo: bool = False) -> None:
        if self._wildcard and not echo:
            headers.append((b"access-control-allow-origin", b"*"))
        else:
            headers.append((b"access-control-allow-origin", origin))
            add_vary(headers, b"Origin")

    async def _preflight(
        self, send: Send, origin: bytes, method: bytes, requested: bytes | None
    ) -> None:
        failures: list[str] = []
        headers: RawHeaders = []
        if self.is_allowed_origin(origin.decode("latin-1")):
            self._origin_headers(origin, headers)
        else:
            failures.append("origin")
            headers.append((b"vary", b"Origin"))
        method_name = method.decode("latin-1").strip().upper()
        if not (self._allow_all_methods or method_name in self._methods):
            failures.append("method")
        names = [
            name
            for name in (n.strip().lower() for n in (requested or b"").decode("latin-1").split(","))
            if name
        ]
        if not self._allow_all_headers and any(name not in self._headers for name in names):
            failures.append("headers")
        if failures:
            body = f"Disallowed CORS {', '.join(failures)}".encode()
            await send_response(send, 400, plain_response_headers(body, headers), body)
            return
        headers.extend(self._preflight_headers)
        if self._allow_all_methods:
            headers.append((b"access-control-allow-methods", method_name.encode("latin-1")))
        if self._allow_all_headers and names:
            headers.append((b"access-control-allow-headers", ", ".join(names).encode("latin-1")))
        await send_response(send, 200, plain_response_headers(b"OK", headers), b"OK")

    async def _simple(
        self, scope: Scope, receive: Receive, send: Send, origin: bytes, has_cookie: bool
    ) -> None:
        if not self.is_allowed_origin(origin.decode("latin-1")):
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = without(message.get("headers", ()), _CORS_RESPONSE_HEADERS)
                # A credentialed request cannot be answered with "*": echo the origin.
                self._origin_headers(origin, headers, echo=has_cookie)
                headers.extend(self._simple_headers)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cors)
