"""In-process test clients: drive an ASGI app through the ASGI interface, with no
sockets, so tests run fast and deterministically.

``ASGITestClient`` is the async client (``response = await client.get("/")``);
``TestClient`` is the same API, synchronous, for plain ``def test_...`` functions.

Both follow the ASGI semantics a real server has:

- the request body is delivered as ``http.request`` messages (optionally in chunks);
  ``http.disconnect`` is delivered only after the app finished its response, so an
  app that listens for disconnects while streaming does not stop early;
- a streaming response is collected completely;
- an exception that escapes the app is re-raised in the test
  (``raise_server_exceptions=True``); with ``False`` the client answers 500 instead,
  as a server would. A CovetPy app turns handler errors into 500 responses itself, so
  this only concerns exceptions its own error handling lets through;
- ``async with ASGITestClient(app) as client:`` runs the lifespan protocol;
- WebSockets are driven through asyncio queues with the app running as a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import os
import secrets
import sys
import threading
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Optional, TypeVar, Union
from urllib.parse import quote, unquote, urlencode, urljoin, urlsplit

import orjson

from covet.datastructures import Headers
from covet.exceptions import status_phrase
from covet.types import Message, RawHeaders
from covet.websockets import WebSocketDisconnect

T = TypeVar("T")
HeaderInput = Optional[Union[Mapping[str, str], Iterable[tuple[str, str]]]]
ParamInput = Optional[Union[Mapping[str, Any], Iterable[tuple[str, Any]]]]

#: Characters left as they are when a path is made into ``raw_path``: everything a
#: URL path may legally contain, including ``%`` so that existing escapes survive.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


class LifespanError(RuntimeError):
    """The app reported ``lifespan.startup.failed`` or ``lifespan.shutdown.failed``."""


class TooManyRedirects(RuntimeError):
    """``follow_redirects=True`` went past ``max_redirects``."""


class WebSocketClosed(WebSocketDisconnect):
    """The app closed the WebSocket (or ended without closing it: code 1006). A
    ``WebSocketDisconnect``, so tests may catch either."""

    def __str__(self) -> str:
        return f"WebSocket closed by the app with code {self.code}" + (
            f": {self.reason}" if self.reason else ""
        )


class WebSocketRejected(Exception):
    """The app refused the handshake: it closed before accepting (``code``, the
    status a server then answers is 403) or sent a denial response (``response``)."""

    def __init__(
        self, code: int | None = None, reason: str = "", response: TestResponse | None = None
    ) -> None:
        self.code = code
        self.reason = reason
        self.response = response
        self.status_code = response.status_code if response is not None else 403
        super().__init__(code, reason, response)

    def __str__(self) -> str:
        if self.response is not None:
            return f"WebSocket handshake rejected with an HTTP {self.status_code} response"
        detail = f" ({self.reason})" if self.reason else ""
        return f"WebSocket handshake rejected: closed with code {self.code}{detail}"


# -- cookies ------------------------------------------------------------------------------
def parse_set_cookie(header: str) -> tuple[str, str, dict[str, str]] | None:
    """``(name, value, attributes)`` from one ``Set-Cookie`` value (attribute names
    lowercased); None when the header has no ``name=value`` pair."""
    first, *attributes = header.split(";")
    name, sep, value = first.partition("=")
    name = name.strip()
    if not sep or not name:
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    attrs: dict[str, str] = {}
    for attribute in attributes:
        key, _, attr_value = attribute.partition("=")
        key = key.strip().lower()
        if key:
            attrs[key] = attr_value.strip()
    return name, value, attrs


def _is_expired(attrs: Mapping[str, str]) -> bool:
    if "max-age" in attrs:
        try:
            return int(attrs["max-age"]) <= 0
        except ValueError:
            return False
    if "expires" in attrs:
        try:
            expires = parsedate_to_datetime(attrs["expires"])
        except (TypeError, ValueError, IndexError):
            return False
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
        return expires <= datetime.now(timezone.utc)
    return False


def _path_matches(request_path: str, cookie_path: str) -> bool:
    if not cookie_path or cookie_path == "/" or request_path == cookie_path:
        return True
    prefix = cookie_path if cookie_path.endswith("/") else cookie_path + "/"
    return request_path.startswith(prefix)


class CookieJar(Mapping[str, str]):
    """The client's cookies: name → value. ``Set-Cookie`` headers from responses are
    stored (an expired ``Max-Age``/``Expires`` deletes the cookie) and sent back on
    later requests whose path is inside the cookie's ``Path``. ``Domain`` and
    ``Secure`` are not enforced: every request goes to the one app under test."""

    def __init__(self, cookies: Mapping[str, str] | None = None) -> None:
        self._cookies: dict[str, tuple[str, str]] = {}
        for name, value in (cookies or {}).items():
            self.set(name, value)

    def set(self, name: str, value: str, path: str = "/") -> None:
        self._cookies[name] = (value, path or "/")

    def __setitem__(self, name: str, value: str) -> None:
        self.set(name, value)

    def __delitem__(self, name: str) -> None:
        del self._cookies[name]

    def __getitem__(self, name: str) -> str:
        return self._cookies[name][0]

    def __iter__(self) -> Iterator[str]:
        return iter(self._cookies)

    def __len__(self) -> int:
        return len(self._cookies)

    def clear(self) -> None:
        self._cookies.clear()

    def update_from_headers(self, headers: Headers) -> None:
        for header in headers.getlist("set-cookie"):
            parsed = parse_set_cookie(header)
            if parsed is None:
                continue
            name, value, attrs = parsed
            if _is_expired(attrs):
                self._cookies.pop(name, None)
            else:
                self.set(name, value, attrs.get("path", "/"))

    def for_path(self, path: str) -> dict[str, str]:
        return {
            name: value
            for name, (value, cookie_path) in self._cookies.items()
            if _path_matches(path, cookie_path)
        }

    def __repr__(self) -> str:
        return f"CookieJar({dict(self)!r})"


# -- responses ----------------------------------------------------------------------------
class TestResponse:
    """The response an app sent. Readable as attributes (``.status_code``,
    ``.headers``, ``.text``, ``.content``, ``.json()``, ``.cookies``) and, as the guide
    shows, as ``response["status_code"]``."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        status_code: int,
        raw_headers: RawHeaders,
        body: bytes,
        url: str = "",
        method: str = "GET",
    ) -> None:
        self.status_code = status_code
        self.headers = Headers(raw=raw_headers)
        self.content = body
        self.url = url
        self.method = method
        self.history: list[TestResponse] = []
        self._cookies: dict[str, str] | None = None

    @property
    def body(self) -> bytes:
        return self.content

    @property
    def reason_phrase(self) -> str:
        return status_phrase(self.status_code)

    @property
    def encoding(self) -> str:
        content_type = self.headers.get("content-type", "")
        for param in content_type.split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return value.strip().strip('"')
        return "utf-8"

    @property
    def text(self) -> str:
        try:
            return self.content.decode(self.encoding, errors="replace")
        except LookupError:  # an unknown charset name
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return orjson.loads(self.content)

    @property
    def cookies(self) -> dict[str, str]:
        """The cookies this response set (name → value; a deletion has value "")."""
        if self._cookies is None:
            cookies = {}
            for header in self.headers.getlist("set-cookie"):
                parsed = parse_set_cookie(header)
                if parsed is not None:
                    cookies[parsed[0]] = parsed[1]
            self._cookies = cookies
        return self._cookies

    @property
    def is_redirect(self) -> bool:
        return self.status_code in _REDIRECT_CODES and "location" in self.headers

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def raise_for_status(self) -> TestResponse:
        if self.status_code >= 400:
            raise AssertionError(
                f"{self.method} {self.url} answered {self.status_code} "
                f"{self.reason_phrase}: {self.text[:500]}"
            )
        return self

    _KEYS = frozenset({"status_code", "headers", "body", "content", "text", "cookies", "url"})

    def __getitem__(self, key: str) -> Any:
        if key == "json":
            return self.json()
        if key in self._KEYS:
            return getattr(self, key)
        raise KeyError(key)

    def __repr__(self) -> str:
        return f"<TestResponse {self.status_code}>"


# -- request bodies ------------------------------------------------------------------------
def _str_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def _pairs(items: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Flattens ``{"k": [1, 2]}`` and ``[("k", 1), ("k", 2)]`` into repeated pairs."""
    source = items.items() if isinstance(items, Mapping) else items
    pairs: list[tuple[str, Any]] = []
    for key, value in source:
        if isinstance(value, (list, tuple)):
            pairs.extend((key, v) for v in value)
        else:
            pairs.append((key, value))
    return pairs


def encode_query(params: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    return urlencode([(k, _str_value(v)) for k, v in _pairs(params)])


def _quote_param(value: str) -> str:
    """A multipart ``name``/``filename`` parameter, escaped as HTML forms do."""
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _file_part(field: str, spec: Any) -> tuple[str | None, bytes, str]:
    """``(filename, content, content_type)`` for one ``files=`` entry: bytes, a file
    object, or ``(filename, bytes_or_file[, content_type])``."""
    filename: str | None
    content_type: str | None = None
    if isinstance(spec, tuple):
        if len(spec) not in (2, 3):
            raise TypeError(
                f"files[{field!r}]: expected (filename, content) or "
                f"(filename, content, content_type), got a {len(spec)}-tuple"
            )
        filename, content = spec[0], spec[1]
        if len(spec) == 3:
            content_type = spec[2]
    else:
        content = spec
        name = getattr(spec, "name", None)
        filename = os.path.basename(name) if isinstance(name, str) else field
    if hasattr(content, "read"):
        content = content.read()
    if isinstance(content, str):
        content = content.encode("utf-8")
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"files[{field!r}]: content must be bytes, str or a file object, "
            f"not {type(content).__name__}"
        )
    if content_type is None:
        guessed = mimetypes.guess_type(filename)[0] if filename else None
        content_type = guessed or "application/octet-stream"
    return filename, bytes(content), content_type


def encode_multipart(
    data: Mapping[str, Any] | Iterable[tuple[str, Any]] | None,
    files: Mapping[str, Any] | Iterable[tuple[str, Any]],
    boundary: str | None = None,
) -> tuple[bytes, str]:
    """``(body, content_type)`` of a ``multipart/form-data`` request with a random
    boundary that does not occur in any part."""
    parts: list[tuple[bytes, bytes]] = []  # (part headers, content)
    for name, value in _pairs(data or {}):
        disposition = f'form-data; name="{_quote_param(name)}"'
        content = value if isinstance(value, bytes) else _str_value(value).encode("utf-8")
        parts.append((f"Content-Disposition: {disposition}\r\n".encode(), content))
    file_items = files.items() if isinstance(files, Mapping) else files
    for name, spec in file_items:
        filename, content, content_type = _file_part(name, spec)
        disposition = f'form-data; name="{_quote_param(name)}"'
        if filename is not None:
            disposition += f'; filename="{_quote_param(filename)}"'
        headers = f"Content-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n"
        parts.append((headers.encode("utf-8"), content))
    while True:
        if boundary is None:
            boundary = secrets.token_hex(16)
        marker = boundary.encode("ascii")
        if not any(marker in content for _, content in parts):
            break
        boundary = None
    out = bytearray()
    for part_headers, part_content in parts:
        out += b"--" + marker + b"\r\n" + part_headers + b"\r\n" + part_content + b"\r\n"
    out += b"--" + marker + b"--\r\n"
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _encode_body(
    body: bytes | bytearray | str | None,
    json: Any,
    data: Any,
    files: Any,
) -> tuple[bytes, str | None]:
    given = [name for name, v in (("body", body), ("json", json), ("data", data)) if v is not None]
    if files is not None and (body is not None or json is not None):
        raise TypeError("files= can only be combined with data=, not with body= or json=")
    if len(given) > 1 and not (files is not None and given == ["data"]):
        raise TypeError(f"pass only one of body=, json=, data= (got {', '.join(given)})")
    if files is not None:
        if isinstance(data, (bytes, str)):
            raise TypeError("data= must be a dict of form fields when files= is given")
        return encode_multipart(data, files)
    if json is not None:
        return orjson.dumps(json), "application/json"
    if data is not None:
        if isinstance(data, (bytes, bytearray, str)):
            body = data
        else:
            return encode_query(data).encode("ascii"), "application/x-www-form-urlencoded"
    if body is None:
        return b"", None
    if isinstance(body, str):
        return body.encode("utf-8"), None
    return bytes(body), None


def _split(body: bytes, chunk_size: int | None) -> deque[bytes]:
    if not body:
        return deque()
    if not chunk_size:
        return deque([body])
    return deque(body[i : i + chunk_size] for i in range(0, len(body), chunk_size))


def _merge_headers(defaults: list[tuple[str, str]], *overrides: HeaderInput) -> RawHeaders:
    """Default headers, each replaced by any same-named header the caller gave."""
    given: list[tuple[str, str]] = []
    for headers in overrides:
        if headers:
            given.extend(headers.items() if isinstance(headers, Mapping) else headers)
    given_names = {name.lower() for name, _ in given}
    merged = [(n, v) for n, v in defaults if n not in given_names] + given
    return [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in merged]


# -- the async client ------------------------------------------------------------------------
class ASGITestClient:
    """``await client.get("/path")`` and friends against an ASGI app, in process.

    ``async with ASGITestClient(app) as client:`` also runs the app's lifespan
    (startup on enter, failing loudly on ``lifespan.startup.failed``; shutdown on
    exit). ``lifespan="auto"`` (default) tolerates apps that do not speak lifespan,
    ``"on"`` requires it, ``"off"`` skips it.
    """

    __test__ = False

    def __init__(
        self,
        app: Any,
        base_url: str = "http://testserver",
        root_path: str = "",
        client: tuple[str, int] = ("testclient", 50000),
        *,
        raise_server_exceptions: bool = True,
        headers: HeaderInput = None,
        cookies: Mapping[str, str] | None = None,
        follow_redirects: bool = False,
        max_redirects: int = 20,
        lifespan: str = "auto",
        timeout: float | None = None,
        close_timeout: float = 5.0,
    ) -> None:
        if lifespan not in ("auto", "on", "off"):
            raise ValueError(f"lifespan must be 'auto', 'on' or 'off', not {lifespan!r}")
        self.app = app
        self.base_url = base_url
        parts = urlsplit(base_url)
        self.scheme = parts.scheme or "http"
        self.host = parts.hostname or "testserver"
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.root_path = root_path
        self.client = client
        self.raise_server_exceptions = raise_server_exceptions
        self.default_headers = headers
        self.cookies = CookieJar(cookies)
        self.follow_redirects = follow_redirects
        self.max_redirects = max_redirects
        self.lifespan = lifespan
        self.timeout = timeout
        self.close_timeout = close_timeout
        self._lifespan_task: asyncio.Task[None] | None = None
        self._lifespan_receive: asyncio.Queue[Message] | None = None
        self._lifespan_send: asyncio.Queue[Message] | None = None
        self._lifespan_state: dict[str, Any] | None = None

    # -- URLs and scopes ------------------------------------------------------------------
    def _target(self, url: str) -> tuple[str, str, int, str, str]:
        """``(scheme, host, port, raw_path, query)`` of a path or absolute URL."""
        if "://" in url:
            parts = urlsplit(url)
            scheme = parts.scheme
            host = parts.hostname or self.host
            port = parts.port or (443 if scheme in ("https", "wss") else 80)
            path, query = parts.path or "/", parts.query
        else:
            scheme, host, port = self.scheme, self.host, self.port
            path, _, query = url.partition("?")
            path, _, _fragment = path.partition("#")
        if not path.startswith("/"):
            path = "/" + path
        return scheme, host, port, quote(path, safe=_PATH_SAFE), query

    def _host_header(self, scheme: str, host: str, port: int) -> str:
        default = 443 if scheme in ("https", "wss") else 80
        return host if port == default else f"{host}:{port}"

    def _base_scope(
        self,
        kind: str,
        scheme: str,
        host: str,
        port: int,
        raw_path: str,
        query: str,
        headers: RawHeaders,
    ) -> Message:
        full_raw = self.root_path + raw_path
        return {
            "type": kind,
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": scheme,
            "path": unquote(full_raw),
            "raw_path": full_raw.encode("latin-1"),
            "root_path": self.root_path,
            "query_string": query.encode("latin-1"),
            "headers": headers,
            "client": self.client,
            "server": (host, port),
            "state": dict(self._lifespan_state) if self._lifespan_state is not None else {},
        }

    def _cookie_header(self, path: str, cookies: Mapping[str, str] | None) -> str | None:
        merged = self.cookies.for_path(path)
        if cookies:
            merged.update(cookies)
        if not merged:
            return None
        return "; ".join(f"{name}={value}" for name, value in merged.items())

    # -- HTTP -------------------------------------------------------------------------------
    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | str | None = None,
        content: bytes | str | None = None,
        json: Any = None,
        data: Any = None,
        files: Any = None,
        headers: HeaderInput = None,
        cookies: Mapping[str, str] | None = None,
        params: ParamInput = None,
        follow_redirects: bool | None = None,
        chunk_size: int | None = None,
    ) -> TestResponse:
        """Sends one request. ``json=`` (orjson), ``data=`` (a dict → urlencoded
        form; bytes/str → raw body), ``files=`` (→ multipart/form-data, with
        ``data=`` as extra fields), ``body=``/``content=`` (raw bytes or str),
        ``params=`` (added to any query in ``url``), ``cookies=`` (on top of the
        cookie jar, for this request only), ``chunk_size=`` (deliver the body in
        several ``http.request`` messages)."""
        if body is not None and content is not None:
            raise TypeError("pass body= or content=, not both")
        payload, content_type = _encode_body(
            body if body is not None else content, json, data, files
        )
        follow = self.follow_redirects if follow_redirects is None else follow_redirects
        method = method.upper()
        response = await self._send_once(
            method, url, payload, content_type, headers, cookies, params, chunk_size
        )
        history: list[TestResponse] = []
        while follow and response.is_redirect:
            if len(history) >= self.max_redirects:
                raise TooManyRedirects(f"exceeded {self.max_redirects} redirects from {url}")
            history.append(response)
            url = urljoin(response.url, response.headers["location"])
            status = response.status_code
            if status == 303 or (status in (301, 302) and method not in ("GET", "HEAD")):
                method, payload, content_type = "GET", b"", None
            response = await self._send_once(
                method, url, payload, content_type, headers, cookies, None, chunk_size
            )
        response.history = history
        return response

    async def _send_once(
        self,
        method: str,
        url: str,
        payload: bytes,
        content_type: str | None,
        headers: HeaderInput,
        cookies: Mapping[str, str] | None,
        params: ParamInput,
        chunk_size: int | None,
    ) -> TestResponse:
        scheme, host, port, raw_path, query = self._target(url)
        if params:
            query = "&".join(filter(None, [query, encode_query(params)]))
        defaults = [("host", self._host_header(scheme, host, port)), ("user-agent", "testclient")]
        if content_type:
            defaults.append(("content-type", content_type))
        if payload or method in ("POST", "PUT", "PATCH"):
            defaults.append(("content-length", str(len(payload))))
        cookie = self._cookie_header(unquote(raw_path), cookies)
        if cookie:
            defaults.append(("cookie", cookie))
        raw_headers = _merge_headers(defaults, self.default_headers, headers)
        scope = self._base_scope("http", scheme, host, port, raw_path, query, raw_headers)
        scope["method"] = method
        full_url = f"{scheme}://{self._host_header(scheme, host, port)}{self.root_path}{raw_path}"
        if query:
            full_url += "?" + query
        response = await self._run_http(scope, _split(payload, chunk_size), full_url)
        self.cookies.update_from_headers(response.headers)
        return response

    async def _run_http(self, scope: Message, chunks: deque[bytes], url: str) -> TestResponse:
        status: int | None = None
        raw_headers: RawHeaders = []
        body: list[bytes] = []
        request_complete = False
        response_complete = asyncio.Event()

        async def receive() -> Message:
            nonlocal request_complete
            if not request_complete:
                chunk = chunks.popleft() if chunks else b""
                request_complete = not chunks
                return {"type": "http.request", "body": chunk, "more_body": not request_complete}
            # A client stays connected until it has the whole response.
            await response_complete.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status, raw_headers
            kind = message["type"]
            if kind == "http.response.start":
                if status is not None:
                    raise RuntimeError("ASGI protocol error: http.response.start sent twice")
                code = message["status"]
                if not isinstance(code, int) or not 100 <= code <= 599:
                    raise RuntimeError(f"ASGI protocol error: invalid status {code!r}")
                status = code
                raw_headers = [(bytes(n).lower(), bytes(v)) for n, v in message.get("headers", ())]
            elif kind == "http.response.body":
                if status is None:
                    raise RuntimeError(
                        "ASGI protocol error: http.response.body before http.response.start"
                    )
                if response_complete.is_set():
                    raise RuntimeError("ASGI protocol error: body sent after the response ended")
                chunk = message.get("body", b"")
                if not isinstance(chunk, (bytes, bytearray, memoryview)):
                    raise TypeError(
                        f"ASGI protocol error: body must be bytes, not {type(chunk).__name__}"
                    )
                body.append(bytes(chunk))
                if not message.get("more_body", False):
                    response_complete.set()
            else:
                raise RuntimeError(f"ASGI protocol error: unexpected message type {kind!r}")

        try:
            call = self.app(scope, receive, send)
            if self.timeout is not None:
                await asyncio.wait_for(call, self.timeout)
            else:
                await call
        except Exception:
            if self.raise_server_exceptions:
                raise
            if status is None:  # what a server answers when the app fails before responding
                return _internal_error(scope["method"], url)
        else:
            if status is None:
                if self.raise_server_exceptions:
                    raise RuntimeError("the app returned without sending a response")
                return _internal_error(scope["method"], url)
            if not response_complete.is_set() and self.raise_server_exceptions:
                raise RuntimeError("the app returned before completing the response body")
        assert status is not None
        return TestResponse(status, raw_headers, b"".join(body), url, scope["method"])

    async def get(self, url: str, **kwargs: Any) -> TestResponse:
        return await self.request("GET", url, **kwargs)

    async def head(self, url: str, **kwargs: Any) -> TestResponse:
        return await self.request("HEAD", url, **kwargs)

    async def options(self, url: str, **kwargs: Any) -> TestResponse:
        return await self.request("OPTIONS", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> TestResponse:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> TestResponse:
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> TestResponse:
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> TestResponse:
        return await self.request("DELETE", url, **kwargs)

    # -- lifespan ---------------------------------------------------------------------------
    async def __aenter__(self) -> ASGITestClient:
        await self.startup()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self.shutdown(raise_errors=exc_type is None)

    async def startup(self) -> None:
        """Sends ``lifespan.startup`` and waits for the app's answer."""
        if self.lifespan == "off" or self._lifespan_task is not None:
            return
        self._lifespan_state = {}
        receive_queue: asyncio.Queue[Message] = asyncio.Queue()
        send_queue: asyncio.Queue[Message] = asyncio.Queue()
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self._lifespan_state,
        }
        self._lifespan_receive, self._lifespan_send = receive_queue, send_queue
        self._lifespan_task = asyncio.ensure_future(
            _as_coroutine(self.app(scope, receive_queue.get, send_queue.put))
        )
        await receive_queue.put({"type": "lifespan.startup"})
        message = await self._next_lifespan_message()
        if message is None:  # the app ended without answering
            task, self._lifespan_task = self._lifespan_task, None
            error = None if task.cancelled() else task.exception()
            if self.lifespan == "on":
                raise LifespanError("the app does not support the lifespan protocol") from error
            return  # "auto": an app that does not speak lifespan is served without it
        if message["type"] == "lifespan.startup.failed":
            task, self._lifespan_task = self._lifespan_task, None
            await end_task(task, self.close_timeout)
            raise LifespanError(f"lifespan startup failed: {message.get('message', '')}")
        if message["type"] != "lifespan.startup.complete":
            raise LifespanError(f"unexpected lifespan message {message['type']!r}")

    async def shutdown(self, raise_errors: bool = True) -> None:
        """Sends ``lifespan.shutdown`` and waits for the app to finish."""
        task, queue = self._lifespan_task, self._lifespan_receive
        if task is None or queue is None:
            return
        try:
            await queue.put({"type": "lifespan.shutdown"})
            message = await self._next_lifespan_message()
            await end_task(task, self.close_timeout)
        finally:
            self._lifespan_task = None
        error = None if task.cancelled() else task.exception()
        if not raise_errors:
            return
        if message is not None and message["type"] == "lifespan.shutdown.failed":
            raise LifespanError(f"lifespan shutdown failed: {message.get('message', '')}")
        if message is None:
            raise LifespanError("the app ended without completing lifespan shutdown") from error
        if error is not None:
            raise error

    async def _next_lifespan_message(self) -> Message | None:
        """The app's next lifespan message, or None if the app task ended first."""
        assert self._lifespan_task is not None and self._lifespan_send is not None
        getter = asyncio.ensure_future(self._lifespan_send.get())
        await asyncio.wait({getter, self._lifespan_task}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await getter
        if not self._lifespan_send.empty():
            return self._lifespan_send.get_nowait()
        return None

    # -- WebSocket --------------------------------------------------------------------------
    def websocket_connect(
        self,
        url: str,
        subprotocols: Iterable[str] | None = None,
        headers: HeaderInput = None,
        *,
        cookies: Mapping[str, str] | None = None,
        params: ParamInput = None,
    ) -> _WebSocketConnect:
        """``async with client.websocket_connect("/ws") as ws:``; raises
        ``WebSocketRejected`` if the app does not accept the connection."""
        scheme, host, port, raw_path, query = self._target(url)
        scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
        if params:
            query = "&".join(filter(None, [query, encode_query(params)]))
        subprotocols = list(subprotocols or [])
        defaults = [
            ("host", self._host_header(scheme, host, port)),
            ("user-agent", "testclient"),
            ("connection", "upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]
        if subprotocols:
            defaults.append(("sec-websocket-protocol", ", ".join(subprotocols)))
        cookie = self._cookie_header(unquote(raw_path), cookies)
        if cookie:
            defaults.append(("cookie", cookie))
        raw_headers = _merge_headers(defaults, self.default_headers, headers)
        scope = self._base_scope("websocket", scheme, host, port, raw_path, query, raw_headers)
        scope["subprotocols"] = subprotocols
        scope["extensions"] = {"websocket.http.response": {}}
        return _WebSocketConnect(self, scope)


async def end_task(task: asyncio.Future[Any], grace: float) -> None:
    """Waits up to ``grace`` seconds for an app task that should be ending, then
    cancels it, so a misbehaving app cannot hang the test. Its exception, if any, stays
    on the task for the caller to inspect."""
    if not task.done():
        await asyncio.wait({task}, timeout=grace)
    if not task.done():
        task.cancel()
        await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # marks it retrieved: asyncio would otherwise log it at exit


def _internal_error(method: str, url: str) -> TestResponse:
    body = b"Internal Server Error"
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"21")]
    return TestResponse(500, headers, body, url, method)


class _WebSocketConnect:
    def __init__(self, client: ASGITestClient, scope: Message) -> None:
        self._session = WebSocketTestSession(client, scope)

    async def __aenter__(self) -> WebSocketTestSession:
        await self._session._connect()
        return self._session

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self._session._finish(raise_errors=exc_type is None)


class WebSocketTestSession:
    """One WebSocket connection to the app, which runs as a task fed by queues."""

    __test__ = False

    def __init__(self, client: ASGITestClient, scope: Message) -> None:
        self._client = client
        self.scope = scope
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._accepted = False
        self._app_closed = False
        self._client_closed = False
        self.accepted_subprotocol: str | None = None
        self.extra_headers: Headers = Headers(raw=[])
        self.close_code: int | None = None
        self.close_reason: str = ""

    # -- the app's side ---------------------------------------------------------------------
    async def _app_send(self, message: Message) -> None:
        kind = message["type"]
        if self._app_closed:
            raise RuntimeError(f"ASGI protocol error: {kind!r} sent after websocket.close")
        if kind == "websocket.accept":
            if self._accepted:
                raise RuntimeError("ASGI protocol error: websocket.accept sent twice")
            self._accepted = True
        elif kind == "websocket.send":
            if not self._accepted:
                raise RuntimeError("ASGI protocol error: websocket.send before websocket.accept")
            if message.get("text") is None and message.get("bytes") is None:
                raise RuntimeError("ASGI protocol error: websocket.send without text or bytes")
        elif kind == "websocket.close":
            self._app_closed = True
            # What a server answers to a close: the app's later receive() ends at once.
            await self._to_app.put(
                {"type": "websocket.disconnect", "code": message.get("code") or 1000}
            )
        elif kind.startswith("websocket.http.response."):
            if self._accepted:
                raise RuntimeError("ASGI protocol error: denial response after accept")
        else:
            raise RuntimeError(f"ASGI protocol error: unexpected message type {kind!r}")
        await self._from_app.put(message)

    async def _run_app(self) -> None:
        await self._client.app(self.scope, self._to_app.get, self._app_send)

    # -- handshake and teardown --------------------------------------------------------------
    async def _next(self) -> Message | None:
        """The app's next message, or None once the app task ended with nothing queued."""
        if not self._from_app.empty():
            return self._from_app.get_nowait()
        assert self._task is not None
        if self._task.done():
            return None
        getter = asyncio.ensure_future(self._from_app.get())
        await asyncio.wait({getter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await getter
        return self._from_app.get_nowait() if not self._from_app.empty() else None

    def _raise_app_error(self) -> None:
        assert self._task is not None
        if self._task.done() and not self._task.cancelled():
            error = self._task.exception()
            if error is not None and self._client.raise_server_exceptions:
                raise error

    async def _connect(self) -> None:
        self._task = asyncio.ensure_future(self._run_app())
        await self._to_app.put({"type": "websocket.connect"})
        message = await self._next()
        if message is None:
            self._raise_app_error()
            raise WebSocketRejected(code=1006, reason="the app ended without accepting")
        kind = message["type"]
        if kind == "websocket.accept":
            self.accepted_subprotocol = message.get("subprotocol")
            self.extra_headers = Headers(
                raw=[(bytes(n).lower(), bytes(v)) for n, v in message.get("headers", ())]
            )
            return
        if kind == "websocket.close":
            await self._wait_app()
            raise WebSocketRejected(
                code=message.get("code") or 1000, reason=message.get("reason") or ""
            )
        # websocket.http.response.start: collect the denial response.
        status = message["status"]
        raw = [(bytes(n).lower(), bytes(v)) for n, v in message.get("headers", ())]
        body = bytearray()
        while True:
            part = await self._next()
            if part is None:
                self._raise_app_error()
                break
            body += part.get("body", b"")
            if not part.get("more_body", False):
                break
        await self._wait_app()
        raise WebSocketRejected(response=TestResponse(status, raw, bytes(body)))

    async def _wait_app(self) -> None:
        assert self._task is not None
        await end_task(self._task, self._client.close_timeout)

    async def _finish(self, raise_errors: bool) -> None:
        if not self._client_closed and not self._app_closed:
            await self.close()
        await self._wait_app()
        if raise_errors:
            self._raise_app_error()
        elif self._task is not None and self._task.done() and not self._task.cancelled():
            self._task.exception()  # retrieved, so asyncio does not log it as unhandled

    # -- the test's side --------------------------------------------------------------------
    async def send(self, message: Message) -> None:
        if self._client_closed:
            raise RuntimeError("the WebSocket was closed by the test")
        await self._to_app.put(message)

    async def send_text(self, data: str) -> None:
        await self.send({"type": "websocket.receive", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        await self.send({"type": "websocket.receive", "bytes": bytes(data)})

    async def send_json(self, data: Any, mode: str = "text") -> None:
        encoded = orjson.dumps(data)
        if mode == "text":
            await self.send_text(encoded.decode("utf-8"))
        elif mode == "binary":
            await self.send_bytes(encoded)
        else:
            raise ValueError(f"mode must be 'text' or 'binary', not {mode!r}")

    async def receive(self) -> Message:
        """The app's next message (``websocket.send`` or ``websocket.close``)."""
        message = await self._next()
        if message is None:
            self._raise_app_error()
            self._app_closed = True
            self.close_code, self.close_reason = 1006, "the app ended without closing"
            return {"type": "websocket.close", "code": 1006, "reason": self.close_reason}
        return message

    async def _receive_data(self) -> Message:
        message = await self.receive()
        if message["type"] == "websocket.close":
            self.close_code = message.get("code") or 1000
            self.close_reason = message.get("reason") or ""
            raise WebSocketClosed(self.close_code, self.close_reason)
        return message

    async def receive_text(self) -> str:
        message = await self._receive_data()
        text = message.get("text")
        if text is None:
            raise TypeError("expected a text message, the app sent bytes")
        return text

    async def receive_bytes(self) -> bytes:
        message = await self._receive_data()
        data = message.get("bytes")
        if data is None:
            raise TypeError("expected a binary message, the app sent text")
        return data

    async def receive_json(self, mode: str = "text") -> Any:
        if mode not in ("text", "binary"):
            raise ValueError(f"mode must be 'text' or 'binary', not {mode!r}")
        message = await self._receive_data()
        data = message.get("text") if mode == "text" else message.get("bytes")
        if data is None:
            raise TypeError(f"expected a {mode} message carrying JSON")
        return orjson.loads(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Closes from the test's side: the app receives ``websocket.disconnect``."""
        if self._client_closed:
            return
        self._client_closed = True
        await self._to_app.put({"type": "websocket.disconnect", "code": code, "reason": reason})


# -- the sync client ----------------------------------------------------------------------------
class _LoopThread:
    """A private event loop running in a daemon thread; coroutines are submitted
    with ``run_coroutine_threadsafe`` and waited for from the calling thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, name="covet-testclient-loop", daemon=True
        )
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Awaitable[T]) -> T:
        if threading.current_thread() is self._thread:
            raise RuntimeError("the sync TestClient cannot be used from inside its own app")
        return asyncio.run_coroutine_threadsafe(_as_coroutine(coro), self.loop).result()

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        if threading.current_thread() is self._thread:
            self.loop.call_soon(self.loop.stop)
            return

        async def cancel_pending() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel_pending(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


class TestClient:
    """The synchronous test client: ``ASGITestClient``'s API without ``await``, for
    plain ``def test_...`` functions. The app runs on a private event loop in a
    background thread. ``with TestClient(app) as client:`` runs the lifespan and
    stops the loop on exit; otherwise call ``close()`` (or let it be collected)."""

    __test__ = False

    def __init__(self, app: Any, **kwargs: Any) -> None:
        self.async_client = ASGITestClient(app, **kwargs)
        self._portal: _LoopThread | None = None
        self._finalizer: weakref.finalize | None = None
        self._lock = threading.Lock()

    @property
    def app(self) -> Any:
        return self.async_client.app

    @property
    def cookies(self) -> CookieJar:
        return self.async_client.cookies

    def _run(self, coro: Awaitable[T]) -> T:
        with self._lock:
            if self._portal is None:
                self._portal = _LoopThread()
                self._finalizer = weakref.finalize(self, self._portal.stop)
            portal = self._portal
        return portal.run(coro)

    def close(self) -> None:
        """Stops the background loop (a later request starts a new one)."""
        with self._lock:
            finalizer, self._finalizer, self._portal = self._finalizer, None, None
        if finalizer is not None:
            finalizer()

    def __enter__(self) -> TestClient:
        try:
            self._run(self.async_client.startup())
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self._run(self.async_client.shutdown(raise_errors=exc_type is None))
        finally:
            self.close()

    def request(self, method: str, url: str, **kwargs: Any) -> TestResponse:
        return self._run(self.async_client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> TestResponse:
        return self.request("HEAD", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> TestResponse:
        return self.request("OPTIONS", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> TestResponse:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> TestResponse:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> TestResponse:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> TestResponse:
        return self.request("DELETE", url, **kwargs)

    @contextlib.contextmanager
    def websocket_connect(
        self,
        url: str,
        subprotocols: Iterable[str] | None = None,
        headers: HeaderInput = None,
        **kwargs: Any,
    ) -> Iterator[SyncWebSocketSession]:
        connect = self.async_client.websocket_connect(url, subprotocols, headers, **kwargs)
        session = self._run(_enter_websocket(connect))
        try:
            yield SyncWebSocketSession(session, self._run)
        except BaseException:
            exc_type, exc, tb = sys.exc_info()
            self._run(connect.__aexit__(exc_type, exc, tb))
            raise
        self._run(connect.__aexit__(None, None, None))


async def _enter_websocket(connect: _WebSocketConnect) -> WebSocketTestSession:
    return await connect.__aenter__()


class SyncWebSocketSession:
    """``WebSocketTestSession`` with blocking methods, for ``TestClient``."""

    __test__ = False

    def __init__(self, session: WebSocketTestSession, run: Callable[[Awaitable[Any]], Any]) -> None:
        self.session = session
        self._run = run

    @property
    def accepted_subprotocol(self) -> str | None:
        return self.session.accepted_subprotocol

    @property
    def extra_headers(self) -> Headers:
        return self.session.extra_headers

    def send(self, message: Message) -> None:
        self._run(self.session.send(message))

    def send_text(self, data: str) -> None:
        self._run(self.session.send_text(data))

    def send_bytes(self, data: bytes) -> None:
        self._run(self.session.send_bytes(data))

    def send_json(self, data: Any, mode: str = "text") -> None:
        self._run(self.session.send_json(data, mode))

    def receive(self) -> Message:
        return self._run(self.session.receive())

    def receive_text(self) -> str:
        return self._run(self.session.receive_text())

    def receive_bytes(self) -> bytes:
        return self._run(self.session.receive_bytes())

    def receive_json(self, mode: str = "text") -> Any:
        return self._run(self.session.receive_json(mode))

    def close(self, code: int = 1000, reason: str = "") -> None:
        self._run(self.session.close(code, reason))


__all__ = [
    "ASGITestClient",
    "CookieJar",
    "LifespanError",
    "SyncWebSocketSession",
    "TestClient",
    "TestResponse",
    "TooManyRedirects",
    "WebSocketClosed",
    "WebSocketRejected",
    "WebSocketTestSession",
    "encode_multipart",
    "parse_set_cookie",
]
