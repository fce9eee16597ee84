"""In-process test clients built on httpx: an httpx transport drives the app through
the ASGI interface, with no sockets, so tests run fast and deterministically. Needs
``httpx`` (``pip install covetpy[test]``).

``ASGITestClient`` is an ``httpx.AsyncClient`` (``response = await client.get("/")``),
``TestClient`` an ``httpx.Client`` for plain ``def test_...`` functions. URLs, query
and form encoding, multipart, cookies and redirects are httpx's; every response is a
``TestResponse``: an ``httpx.Response`` that can also be read as the guide shows
(``response["status_code"]``).

What the transport adds, following the ASGI semantics a real server has:

- the request body is delivered as ``http.request`` messages (``chunk_size=`` splits
  it); ``http.disconnect`` comes only once the app finished its response, or once the
  test stopped reading a streamed one (``client.stream(...)``);
- the response body is read as the app sends it; ``.content`` is the bytes the app
  sent (a ``Content-Encoding`` is not undone, so compression can be checked);
- an exception that escapes the app is re-raised in the test
  (``raise_server_exceptions=True``); with ``False`` the client answers 500 instead,
  or ends the body early, as a server would;
- ``async with ASGITestClient(app) as client:`` runs the lifespan protocol;
- WebSockets are driven through asyncio queues with the app running as a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote

import httpx
import orjson

# Two private httpx names, hence the `test` extra's httpx<0.29: the base class both
# clients share, and the decoder a response undoes Content-Encoding with.
from httpx._client import BaseClient
from httpx._decoders import ContentDecoder, IdentityDecoder

from covet.datastructures import Headers
from covet.types import Message, RawHeaders, Scope
from covet.websockets import WebSocketDisconnect

if TYPE_CHECKING:
    from httpx._client import UseClientDefault
    from httpx._types import (
        AuthTypes,
        CookieTypes,
        HeaderTypes,
        QueryParamTypes,
        RequestContent,
        RequestExtensions,
        RequestFiles,
        TimeoutTypes,
    )

T = TypeVar("T")
_Async = TypeVar("_Async", bound="ASGITestClient")
_Sync = TypeVar("_Sync", bound="TestClient")

# Request extensions carrying to the transport what httpx has no field for.
#: ``chunk_size=``; kept on redirects.
_CHUNK_SIZE = "covet.chunk_size"
#: Per-request ``cookies=``: they replace the client's cookies of the same names and
#: are kept on redirects (httpx would send both, and drop these on a redirect).
_COOKIES = "covet.cookies"
#: ``(path, query)`` of a URL longer than httpx accepts (limits are tested with
#: those); taken by the first request, not by a redirect.
_LONG_TARGET = "covet.long_target"
_MAX_URL_LENGTH = 65536  # httpx's
#: What a path may contain as sent: every URL path character, ``%`` keeping escapes.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
#: Headers httpx adds to every request that the test clients leave out: an app sees
#: what the test sends and nothing else (no ``Accept-Encoding`` turning on gzip).
_HTTPX_DEFAULT_HEADERS = ("accept", "accept-encoding", "connection")

#: ``follow_redirects=True`` went past ``max_redirects`` (httpx's exception).
TooManyRedirects = httpx.TooManyRedirects


class LifespanError(RuntimeError):
    """The app reported ``lifespan.startup.failed`` or ``lifespan.shutdown.failed``."""


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


# -- responses ----------------------------------------------------------------------------
class ResponseHeaders(httpx.Headers):
    """httpx's headers, plus Starlette's ``getlist`` name for ``get_list``."""

    def getlist(self, key: str) -> list[str]:
        return self.get_list(key)


class TestResponse(httpx.Response):
    """An ``httpx.Response`` that can also be read as the guide shows:
    ``response["status_code"]``, ``["headers"]``, ``["body"]`` (= ``["content"]``),
    ``["text"]``, ``["json"]``, ``["cookies"]``, ``["url"]``."""

    __test__ = False  # not a pytest test class
    _KEYS = frozenset({"status_code", "headers", "body", "content", "text", "cookies", "url"})
    headers: ResponseHeaders

    def __init__(self, status_code: int, **kwargs: Any) -> None:
        super().__init__(status_code, **kwargs)
        self.headers = ResponseHeaders(self.headers)

    @property
    def body(self) -> bytes:
        return self.content

    def __getitem__(self, key: str) -> Any:
        if key == "json":
            return self.json()
        if key in self._KEYS:
            return getattr(self, key)
        raise KeyError(key)

    def _get_content_decoder(self) -> ContentDecoder:
        # The body as the app sent it: tests of compression read the bytes on the wire.
        return IdentityDecoder()

    def __repr__(self) -> str:
        return f"<TestResponse [{self.status_code}]>"


def _internal_error() -> TestResponse:
    """What a server answers when the app fails before starting its response."""
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"21")]
    response = TestResponse(500, headers=headers, stream=httpx.ByteStream(b"Internal Server Error"))
    response.read()
    return response


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


# -- requests --------------------------------------------------------------------------------
def _file_entry(field: str, spec: Any) -> Any:
    """One ``files=`` value checked, and named after its field when it has no
    filename (bytes, or a file object without ``.name``)."""
    if isinstance(spec, tuple):
        if len(spec) not in (2, 3, 4):
            raise TypeError(
                f"files[{field!r}]: expected (filename, content[, content_type[, headers]]), "
                f"got a {len(spec)}-tuple"
            )
        if len(spec) == 4 and not isinstance(spec[3], Mapping):
            raise TypeError(f"files[{field!r}]: the 4th item of a 4-tuple must be a header dict")
        content = spec[1]
    else:
        content = spec
        spec = spec if isinstance(getattr(spec, "name", None), str) else (field, spec)
    if not isinstance(content, (bytes, str)) and not hasattr(content, "read"):
        raise TypeError(
            f"files[{field!r}]: content must be bytes, str or a binary file object, "
            f"not {type(content).__name__}"
        )
    return spec


def _body_arguments(
    body: bytes | str | None, content: Any, json: Any, data: Any, files: Any
) -> dict[str, Any]:
    """httpx's ``content=``/``json=``/``data=``/``files=``, after rejecting the
    combinations httpx would resolve silently by dropping one of them."""
    if body is not None and content is not None:
        raise TypeError("pass body= or content=, not both")
    content = body if body is not None else content
    given = [n for n, v in (("content", content), ("json", json), ("data", data)) if v is not None]
    if files is not None:
        if content is not None or json is not None:
            raise TypeError("files= can only be combined with data=, not with body= or json=")
        if data is not None and not isinstance(data, Mapping):
            raise TypeError("data= must be a dict of form fields when files= is given")
        items = files.items() if isinstance(files, Mapping) else files
        files = [(field, _file_entry(field, spec)) for field, spec in items]
    elif len(given) > 1:
        raise TypeError(f"pass only one of body=, json=, data= (got {', '.join(given)})")
    if isinstance(data, (bytes, bytearray, str)):  # a raw body: httpx's content=
        content, data = data, None
    elif data is not None and not isinstance(data, Mapping):
        raise TypeError(f"data= must be a dict of form fields, not {type(data).__name__}")
    return {"content": content, "json": json, "data": data, "files": files}


def encode_multipart(
    data: Mapping[str, Any] | None,
    files: Mapping[str, Any] | Iterable[tuple[str, Any]],
    boundary: str | None = None,
) -> tuple[bytes, str]:
    """``(body, content_type)`` of the ``multipart/form-data`` body the clients send
    for ``data=`` and ``files=`` (httpx's encoder; a random boundary unless given)."""
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"} if boundary else {}
    arguments = _body_arguments(None, None, None, data, files)
    request = httpx.Request("POST", "http://testserver/", headers=headers, **arguments)
    return request.read(), request.headers["content-type"]


def _latin1(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


def _raw_headers(headers: HeaderTypes | None) -> HeaderTypes | None:
    """Caller headers as bytes: str names and values go as latin-1, as servers read
    them (httpx takes ASCII only, and tests send other values on purpose)."""
    if headers is None or isinstance(headers, httpx.Headers):
        return headers
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(_latin1(name), _latin1(value)) for name, value in items]


def _with_cookies(headers: RawHeaders, cookies: httpx.Cookies) -> RawHeaders:
    """``headers`` with a request's own cookies in place of same-named client ones."""
    names = {cookie.name for cookie in cookies.jar}
    pairs = [
        pair
        for name, value in headers
        if name == b"cookie"
        for pair in value.split(b"; ")
        if pair and pair.partition(b"=")[0].decode("latin-1") not in names
    ]
    pairs += [_latin1(f"{cookie.name}={cookie.value}") for cookie in cookies.jar]
    return [(n, v) for n, v in headers if n != b"cookie"] + [(b"cookie", b"; ".join(pairs))]


def _target(
    url: httpx.URL | str, params: QueryParamTypes | None, extensions: dict[str, Any]
) -> httpx.URL | str:
    """The URL for httpx: ``params=`` added to the query already in ``url`` (httpx
    would replace it); a path too long for httpx travels as an extension."""
    if isinstance(url, str) and len(url) > _MAX_URL_LENGTH and url.startswith("/"):
        path, _, query = url.partition("?")
        query = "&".join(filter(None, [query, str(httpx.QueryParams(params or {}))]))
        extensions[_LONG_TARGET] = (path, query.encode("latin-1"))
        return "/"
    return url if params is None else httpx.URL(url).copy_merge_params(params)


def _chunks(body: bytes, chunk_size: int | None) -> deque[bytes]:
    if not chunk_size or len(body) <= chunk_size:
        return deque([body])
    return deque(body[i : i + chunk_size] for i in range(0, len(body), chunk_size))


# -- driving the app ------------------------------------------------------------------------
async def _next_message(
    queue: asyncio.Queue[Message], task: asyncio.Future[Any], timeout: float | None = None
) -> Message | None:
    """The app's next message, or None once its task ended with nothing queued.
    ``asyncio.TimeoutError`` if nothing came within ``timeout`` seconds."""
    if not queue.empty():
        return queue.get_nowait()
    if task.done():
        return None
    getter = asyncio.ensure_future(queue.get())
    done, _ = await asyncio.wait(
        {getter, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
    )
    if getter.done():
        return getter.result()
    getter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await getter
    if not queue.empty():
        return queue.get_nowait()
    if not done:
        raise asyncio.TimeoutError(f"the app sent nothing within {timeout} s")
    return None


async def _end_task(task: asyncio.Future[Any], grace: float) -> None:
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


def _task_error(task: asyncio.Future[Any]) -> BaseException | None:
    return task.exception() if task.done() and not task.cancelled() else None


class _AppDriver:
    """What both clients share: the app, the scope fields a server would set, and
    the lifespan, whose state every later scope gets a copy of."""

    def __init__(
        self,
        app: Any,
        root_path: str,
        client: tuple[str, int],
        raise_server_exceptions: bool,
        lifespan: str,
        close_timeout: float,
    ) -> None:
        if lifespan not in ("auto", "on", "off"):
            raise ValueError(f"lifespan must be 'auto', 'on' or 'off', not {lifespan!r}")
        self.app = app
        self.root_path = root_path
        self.client = client
        self.raise_server_exceptions = raise_server_exceptions
        self.lifespan = lifespan
        self.close_timeout = close_timeout
        # (app task, messages to it, messages from it) while the lifespan runs.
        self._lifespan: tuple[asyncio.Future[Any], asyncio.Queue[Message], asyncio.Queue[Message]]
        self._lifespan_running = False
        self._state: dict[str, Any] | None = None

    def scope(self, kind: str, request: httpx.Request) -> Scope:
        url = request.url
        scheme = url.scheme
        if kind == "websocket":
            scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
        path, query = url.raw_path.partition(b"?")[0].decode("ascii"), url.query
        long_target = request.extensions.pop(_LONG_TARGET, None)
        if long_target is not None:
            path, query = quote(long_target[0], safe=_PATH_SAFE), long_target[1]
        raw_path = self.root_path + path
        headers = [(name.lower(), value) for name, value in request.headers.raw]
        if request.extensions.get(_COOKIES):
            headers = _with_cookies(headers, request.extensions[_COOKIES])
        return {
            "type": kind,
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": scheme,
            "path": unquote(raw_path),
            "raw_path": raw_path.encode("latin-1"),
            "root_path": self.root_path,
            "query_string": query,
            "headers": headers,
            "client": self.client,
            "server": (url.host, url.port or (443 if scheme in ("https", "wss") else 80)),
            "state": dict(self._state) if self._state is not None else {},
        }

    async def open_http(self, request: httpx.Request, body: bytes) -> _HTTPExchange | None:
        """Starts the app on one request and returns once it sent
        ``http.response.start`` (the body is then read through the exchange); None
        when it failed before that and server exceptions are not raised."""
        scope = self.scope("http", request)
        scope["method"] = request.method
        exchange = _HTTPExchange(self, scope, _chunks(body, request.extensions.get(_CHUNK_SIZE)))
        timeout = request.extensions.get("timeout", {}).get("read")
        return exchange if await exchange.start(timeout) else None

    async def startup(self) -> None:
        """Sends ``lifespan.startup`` and waits for the app's answer."""
        if self.lifespan == "off" or self._lifespan_running:
            return
        self._state = {}
        asgi = {"version": "3.0", "spec_version": "2.0"}
        scope = {"type": "lifespan", "asgi": asgi, "state": self._state}
        to_app: asyncio.Queue[Message] = asyncio.Queue()
        from_app: asyncio.Queue[Message] = asyncio.Queue()
        task = asyncio.ensure_future(self.app(scope, to_app.get, from_app.put))
        await to_app.put({"type": "lifespan.startup"})
        message = await _next_message(from_app, task)
        if message is None:  # the app ended without answering
            error = _task_error(task)  # retrieved either way, or asyncio logs it
            if self.lifespan == "on":
                raise LifespanError("the app does not support the lifespan protocol") from error
            return  # "auto": an app that does not speak lifespan is served without it
        if message["type"] == "lifespan.startup.failed":
            await _end_task(task, self.close_timeout)
            raise LifespanError(f"lifespan startup failed: {message.get('message', '')}")
        self._lifespan, self._lifespan_running = (task, to_app, from_app), True
        if message["type"] != "lifespan.startup.complete":
            raise LifespanError(f"unexpected lifespan message {message['type']!r}")

    async def shutdown(self, raise_errors: bool = True) -> None:
        """Sends ``lifespan.shutdown`` and waits for the app to finish."""
        if not self._lifespan_running:
            return
        self._lifespan_running = False
        task, to_app, from_app = self._lifespan
        await to_app.put({"type": "lifespan.shutdown"})
        message = await _next_message(from_app, task)
        await _end_task(task, self.close_timeout)
        if not raise_errors:
            return
        if message is not None and message["type"] == "lifespan.shutdown.failed":
            raise LifespanError(f"lifespan shutdown failed: {message.get('message', '')}")
        error = _task_error(task)
        if message is None:
            raise LifespanError("the app ended without completing lifespan shutdown") from error
        if error is not None:
            raise error


class _HTTPExchange:
    """One request/response cycle with the app running as a task: the response start
    is awaited first, then the body is read piece by piece as the app sends it."""

    def __init__(self, driver: _AppDriver, scope: Scope, chunks: deque[bytes]) -> None:
        self._driver = driver
        self._scope = scope
        self._chunks = chunks
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Future[Any] | None = None
        self._deadline: float | None = None
        self._timed_out: asyncio.TimeoutError | None = None
        self._started = False
        self._complete = False  # the app sent its last body message
        self._body_read = False  # ... and the test has taken it
        self._disconnected = asyncio.Event()  # complete, or the test stopped reading
        self._finished = False
        self.status = 500
        self.headers: RawHeaders = []

    # -- the app's side ---------------------------------------------------------------------
    async def _receive(self) -> Message:
        if self._chunks:
            chunk = self._chunks.popleft()
            return {"type": "http.request", "body": chunk, "more_body": bool(self._chunks)}
        # A client stays connected until it has the whole response (or gives up on it).
        await self._disconnected.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self._started:
                raise RuntimeError("ASGI protocol error: http.response.start sent twice")
            code = message["status"]
            if not isinstance(code, int) or not 100 <= code <= 599:
                raise RuntimeError(f"ASGI protocol error: invalid status {code!r}")
            self._started = True
        elif kind == "http.response.body":
            if not self._started:
                raise RuntimeError(
                    "ASGI protocol error: http.response.body before http.response.start"
                )
            if self._complete:
                raise RuntimeError("ASGI protocol error: body sent after the response ended")
            chunk = message.get("body", b"")
            if not isinstance(chunk, (bytes, bytearray, memoryview)):
                raise TypeError(
                    f"ASGI protocol error: body must be bytes, not {type(chunk).__name__}"
                )
            if self._disconnected.is_set():
                return  # the test stopped reading: a server drops what comes after
            if not message.get("more_body", False):
                self._complete = True
                self._disconnected.set()
        else:
            raise RuntimeError(f"ASGI protocol error: unexpected message type {kind!r}")
        await self._from_app.put(message)

    # -- the test's side --------------------------------------------------------------------
    async def _next(self) -> Message | None:
        """The app's next message; None once the app ended, or ran out of time (it is
        then cancelled, and the timeout is its error)."""
        assert self._task is not None
        loop = asyncio.get_running_loop()
        remaining = None if self._deadline is None else max(0.0, self._deadline - loop.time())
        try:
            return await _next_message(self._from_app, self._task, remaining)
        except asyncio.TimeoutError as error:
            self._timed_out = error
            self._task.cancel()
            await asyncio.wait({self._task})
            return None

    def _error(self) -> BaseException | None:
        assert self._task is not None
        return self._timed_out or _task_error(self._task)

    async def start(self, timeout: float | None) -> bool:
        """Runs the app until it starts its response (``status``, ``headers``); False
        when it failed before that and server exceptions are not raised."""
        if timeout is not None:
            self._deadline = asyncio.get_running_loop().time() + timeout
        self._task = asyncio.ensure_future(self._driver.app(self._scope, self._receive, self._send))
        message = await self._next()
        if message is not None:
            self.status = message["status"]
            self.headers = [(bytes(n).lower(), bytes(v)) for n, v in message.get("headers", ())]
            return True
        self._finished = True
        error = self._error()  # retrieved either way, or asyncio logs it when collected
        if self._driver.raise_server_exceptions:
            raise error or RuntimeError("the app returned without sending a response")
        return False

    async def next_chunk(self) -> bytes | None:
        """The next piece of the body; None at its end, once the app has returned."""
        while not self._body_read and not self._finished:
            message = await self._next()
            if message is None:
                break
            self._body_read = not message.get("more_body", False)
            chunk = bytes(message.get("body", b""))
            if chunk:
                return chunk
        if self._finished:
            return None
        self._finished = True
        assert self._task is not None
        if not self._task.done():
            await self._next()  # nothing more can come: waits for the end, within the timeout
        error = self._error()
        if self._driver.raise_server_exceptions:
            if error is not None:
                raise error
            if not self._complete:
                raise RuntimeError("the app returned before completing the response body")
        return None

    async def aclose(self) -> None:
        """The test is done with the response: an app still sending sees
        ``http.disconnect`` and gets ``close_timeout`` seconds to end."""
        if self._finished or self._task is None:
            return
        self._finished = True
        self._disconnected.set()
        await _end_task(self._task, self._driver.close_timeout)
        error = _task_error(self._task)
        if error is not None and self._driver.raise_server_exceptions:
            raise error


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, exchange: _HTTPExchange) -> None:
        self._exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self._exchange.next_chunk()) is not None:
            yield chunk

    async def aclose(self) -> None:
        await self._exchange.aclose()


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, exchange: _HTTPExchange, run: Callable[[Awaitable[Any]], Any]) -> None:
        self._exchange = exchange
        self._run = run

    def __iter__(self) -> Iterator[bytes]:
        while (chunk := self._run(self._exchange.next_chunk())) is not None:
            yield chunk

    def close(self) -> None:
        self._run(self._exchange.aclose())


class _AsyncTransport(httpx.AsyncBaseTransport):
    """httpx's transport API in front of the app, on the caller's event loop."""

    def __init__(self, driver: _AppDriver) -> None:
        self.driver = driver

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        body = b"".join([part async for part in request.stream])
        exchange = await self.driver.open_http(request, body)
        if exchange is None:
            return _internal_error()
        return TestResponse(exchange.status, headers=exchange.headers, stream=_AsyncBody(exchange))


class _SyncTransport(httpx.BaseTransport):
    """The same for ``TestClient``: the app runs on the client's private loop."""

    def __init__(self, driver: _AppDriver, run: Callable[[Awaitable[Any]], Any]) -> None:
        self.driver = driver
        self._run = run

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        body = b"".join(request.stream)
        exchange: _HTTPExchange | None = self._run(self.driver.open_http(request, body))
        if exchange is None:
            return _internal_error()
        stream = _SyncBody(exchange, self._run)
        return TestResponse(exchange.status, headers=exchange.headers, stream=stream)


# -- what both clients add to httpx's -----------------------------------------------------------
class _ClientBase(BaseClient):
    """The constructor, request building and WebSocket handshake of both clients."""

    def __init__(
        self,
        app: Any,
        base_url: str = "http://testserver",
        root_path: str = "",
        client: tuple[str, int] = ("testclient", 50000),
        *,
        raise_server_exceptions: bool = True,
        headers: HeaderTypes | None = None,
        cookies: CookieTypes | None = None,
        follow_redirects: bool = False,
        max_redirects: int = 20,
        lifespan: str = "auto",
        timeout: float | None = None,
        close_timeout: float = 5.0,
    ) -> None:
        self.driver = _AppDriver(
            app, root_path, client, raise_server_exceptions, lifespan, close_timeout
        )
        given = httpx.Headers(_raw_headers(headers))
        given.setdefault("user-agent", "testclient")
        options: dict[str, Any] = {
            "base_url": base_url,
            "headers": given,
            "cookies": cookies,
            "follow_redirects": follow_redirects,
            "max_redirects": max_redirects,
            "timeout": timeout,
            "transport": self._make_transport(),
            "trust_env": False,
        }
        super().__init__(**options)
        for name in _HTTPX_DEFAULT_HEADERS:
            if name not in given:
                del self.headers[name]

    def _make_transport(self) -> Any:
        raise NotImplementedError

    @property
    def app(self) -> Any:
        return self.driver.app

    @property
    def raise_server_exceptions(self) -> bool:
        return self.driver.raise_server_exceptions

    @raise_server_exceptions.setter
    def raise_server_exceptions(self, value: bool) -> None:
        self.driver.raise_server_exceptions = value

    def build_request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        content: RequestContent | None = None,
        data: Any = None,
        files: RequestFiles | None = None,
        json: Any = None,
        params: QueryParamTypes | None = None,
        headers: HeaderTypes | None = None,
        cookies: CookieTypes | None = None,
        timeout: TimeoutTypes | UseClientDefault = httpx.USE_CLIENT_DEFAULT,
        extensions: RequestExtensions | None = None,
        body: bytes | str | None = None,
        chunk_size: int | None = None,
    ) -> httpx.Request:
        """httpx's ``build_request`` plus ``body=`` (``content=``), ``json=``/``data=``
        on any method and ``chunk_size=`` (the request body in pieces of that size);
        ``cookies=`` go with this request and its redirects, in place of the client's
        cookies of the same names."""
        merged = dict(extensions or {})
        if chunk_size is not None:
            if chunk_size < 1:
                raise ValueError(f"chunk_size must be at least 1, not {chunk_size}")
            merged[_CHUNK_SIZE] = chunk_size
        if cookies:
            merged[_COOKIES] = httpx.Cookies(cookies)
        return super().build_request(
            method,
            _target(url, params, merged),
            **_body_arguments(body, content, json, data, files),
            headers=_raw_headers(headers),
            timeout=timeout,
            extensions=merged,
        )

    def _websocket_scope(
        self,
        url: str,
        subprotocols: Iterable[str] | None,
        headers: HeaderTypes | None,
        cookies: CookieTypes | None,
        params: QueryParamTypes | None,
    ) -> tuple[Scope, str]:
        """The handshake's scope and URL: the client's URL, cookies and headers plus
        the upgrade headers (any of which the caller's ``headers=`` replace)."""
        request = self.build_request("GET", url, headers=headers, cookies=cookies, params=params)
        protocols = list(subprotocols or [])
        upgrade = {
            "connection": "upgrade",
            "upgrade": "websocket",
            "sec-websocket-version": "13",
            "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        }
        if protocols:
            upgrade["sec-websocket-protocol"] = ", ".join(protocols)
        explicit = httpx.Headers(_raw_headers(headers))
        for name, value in upgrade.items():
            if name not in explicit:
                request.headers[name] = value
        scope = self.driver.scope("websocket", request)
        scope["subprotocols"] = protocols
        scope["extensions"] = {"websocket.http.response": {}}
        return scope, str(request.url)


# -- the async client ------------------------------------------------------------------------
class ASGITestClient(_ClientBase, httpx.AsyncClient):
    """``await client.get("/path")`` and the rest of ``httpx.AsyncClient`` against an
    ASGI app, in process; ``body=``, ``chunk_size=`` and ``json=``/``data=`` on any
    method as ``build_request`` describes.

    ``async with ASGITestClient(app) as client:`` also runs the app's lifespan
    (startup on enter, failing loudly on ``lifespan.startup.failed``; shutdown on
    exit). ``lifespan="auto"`` (default) tolerates apps that do not speak lifespan,
    ``"on"`` requires it, ``"off"`` skips it. ``timeout`` is how long the app may take
    (seconds; None, the default: no limit), ``close_timeout`` how long an app that
    should be ending (disconnected, shut down) gets before it is cancelled.
    """

    __test__ = False

    def _make_transport(self) -> _AsyncTransport:
        return _AsyncTransport(self.driver)

    async def request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        auth: AuthTypes | UseClientDefault | None = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = httpx.USE_CLIENT_DEFAULT,
        **kwargs: Any,
    ) -> TestResponse:
        request = self.build_request(method, url, **kwargs)
        response = await self.send(request, auth=auth, follow_redirects=follow_redirects)
        assert isinstance(response, TestResponse)
        return response

    async def get(self, url: httpx.URL | str, **kwargs: Any) -> TestResponse:
        return await self.request("GET", url, **kwargs)

    async def head(self, url: httpx.URL | str, **kwargs: Any) -> TestResponse:
        return await self.request("HEAD", url, **kwargs)

    async def options(self, url: httpx.URL | str, **kwargs: Any) -> TestResponse:
        return await self.request("OPTIONS", url, **kwargs)

    async def post(self, url: httpx.URL | str, **kwargs: Any) -> TestResponse:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: httpx.URL | str, **kwargs: Any) -> TestResponse:
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: httpx.URL | str, **kwargs: Any) -> TestResponse:
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: httpx.URL | str, **kwargs: Any) -> TestResponse:
        return await self.request("DELETE", url, **kwargs)

    # The transport holds no connections: after the block the client stays usable, and
    # entering it again runs the lifespan again, as a restarted server would.
    async def __aenter__(self: _Async) -> _Async:
        await self.startup()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.shutdown(raise_errors=exc_type is None)

    async def startup(self) -> None:
        await self.driver.startup()

    async def shutdown(self, raise_errors: bool = True) -> None:
        await self.driver.shutdown(raise_errors)

    def websocket_connect(
        self,
        url: str,
        subprotocols: Iterable[str] | None = None,
        headers: HeaderTypes | None = None,
        *,
        cookies: CookieTypes | None = None,
        params: QueryParamTypes | None = None,
    ) -> _WebSocketConnect:
        """``async with client.websocket_connect("/ws") as ws:``; raises
        ``WebSocketRejected`` if the app does not accept the connection."""
        scope, ws_url = self._websocket_scope(url, subprotocols, headers, cookies, params)
        return _WebSocketConnect(self.driver, scope, ws_url)


class _WebSocketConnect:
    def __init__(self, driver: _AppDriver, scope: Scope, url: str) -> None:
        self._session = WebSocketTestSession(driver, scope, url)

    async def __aenter__(self) -> WebSocketTestSession:
        await self._session._connect()
        return self._session

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self._session._finish(raise_errors=exc_type is None)


class WebSocketTestSession:
    """One WebSocket connection to the app, which runs as a task fed by queues."""

    __test__ = False

    def __init__(self, driver: _AppDriver, scope: Scope, url: str = "") -> None:
        self._driver = driver
        self.scope = scope
        self.url = url
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Future[Any] | None = None
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

    # -- handshake and teardown --------------------------------------------------------------
    async def _next(self) -> Message | None:
        assert self._task is not None
        return await _next_message(self._from_app, self._task)

    def _raise_app_error(self) -> None:
        assert self._task is not None
        error = _task_error(self._task)
        if error is not None and self._driver.raise_server_exceptions:
            raise error

    async def _connect(self) -> None:
        self._task = asyncio.ensure_future(
            self._driver.app(self.scope, self._to_app.get, self._app_send)
        )
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
        request = httpx.Request("GET", self.url)
        response = TestResponse(
            status, headers=raw, stream=httpx.ByteStream(bytes(body)), request=request
        )
        response.read()
        raise WebSocketRejected(response=response)

    async def _wait_app(self) -> None:
        assert self._task is not None
        await _end_task(self._task, self._driver.close_timeout)

    async def _finish(self, raise_errors: bool) -> None:
        if not self._client_closed and not self._app_closed:
            await self.close()
        await self._wait_app()
        if raise_errors:
            self._raise_app_error()

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
        text = (await self._receive_data()).get("text")
        if text is None:
            raise TypeError("expected a text message, the app sent bytes")
        return str(text)

    async def receive_bytes(self) -> bytes:
        data = (await self._receive_data()).get("bytes")
        if data is None:
            raise TypeError("expected a binary message, the app sent text")
        return bytes(data)

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
    """A private event loop in a daemon thread, started on first use (and again after
    ``stop()``); coroutines are submitted from the calling thread and waited for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: tuple[asyncio.AbstractEventLoop, threading.Thread] | None = None

    @property
    def running(self) -> bool:
        return self._running is not None

    def run(self, coro: Awaitable[T]) -> T:
        with self._lock:
            if self._running is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=_serve, args=(loop,), name="covet-testclient-loop", daemon=True
                )
                thread.start()
                self._running = (loop, thread)
            loop, thread = self._running
        if threading.current_thread() is thread:
            raise RuntimeError("the sync TestClient cannot be used from inside its own app")
        return asyncio.run_coroutine_threadsafe(_as_coroutine(coro), loop).result()

    def stop(self) -> None:
        with self._lock:
            running, self._running = self._running, None
        if running is None:
            return
        loop, thread = running
        if threading.current_thread() is thread:
            loop.call_soon(loop.stop)
            return
        asyncio.run_coroutine_threadsafe(_cancel_pending(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()


async def _cancel_pending() -> None:
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


class TestClient(_ClientBase, httpx.Client):
    """The synchronous test client: ``ASGITestClient``'s API without ``await`` (and
    the rest of ``httpx.Client``), for plain ``def test_...`` functions. The app runs
    on a private event loop in a background thread. ``with TestClient(app) as client:``
    runs the lifespan and stops the loop on exit; otherwise call ``close()`` (or let
    the client be collected). A request after ``close()`` starts a new loop."""

    __test__ = False

    def _make_transport(self) -> _SyncTransport:
        self._loop = _LoopThread()
        weakref.finalize(self, self._loop.stop)
        return _SyncTransport(self.driver, self._loop.run)

    def _run(self, coro: Awaitable[T]) -> T:
        return self._loop.run(coro)

    def close(self) -> None:
        """Stops the background loop (a later request starts a new one)."""
        self._loop.stop()

    def __enter__(self: _Sync) -> _Sync:
        try:
            self._run(self.driver.startup())
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        try:
            self._run(self.driver.shutdown(raise_errors=exc_type is None))
        finally:
            self.close()

    def request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        auth: AuthTypes | UseClientDefault | None = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = httpx.USE_CLIENT_DEFAULT,
        **kwargs: Any,
    ) -> TestResponse:
        request = self.build_request(method, url, **kwargs)
        response = self.send(request, auth=auth, follow_redirects=follow_redirects)
        assert isinstance(response, TestResponse)
        return response

    def get(self, url: httpx.URL | str, **kwargs: Any) -> TestResponse:
        return self.request("GET", url, **kwargs)

    def head(self, url: httpx.URL | str, **kwargs: Any) -> TestResponse:
        return self.request("HEAD", url, **kwargs)

    def options(self, url: httpx.URL | str, **kwargs: Any) -> TestResponse:
        return self.request("OPTIONS", url, **kwargs)

    def post(self, url: httpx.URL | str, **kwargs: Any) -> TestResponse:
        return self.request("POST", url, **kwargs)

    def put(self, url: httpx.URL | str, **kwargs: Any) -> TestResponse:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: httpx.URL | str, **kwargs: Any) -> TestResponse:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: httpx.URL | str, **kwargs: Any) -> TestResponse:
        return self.request("DELETE", url, **kwargs)

    @contextlib.contextmanager
    def websocket_connect(
        self,
        url: str,
        subprotocols: Iterable[str] | None = None,
        headers: HeaderTypes | None = None,
        *,
        cookies: CookieTypes | None = None,
        params: QueryParamTypes | None = None,
    ) -> Iterator[SyncWebSocketSession]:
        scope, ws_url = self._websocket_scope(url, subprotocols, headers, cookies, params)
        connect = self._run(_open_websocket(self.driver, scope, ws_url))
        session = self._run(connect.__aenter__())
        try:
            yield SyncWebSocketSession(session, self._run)
        except BaseException:
            exc_type, exc, tb = sys.exc_info()
            self._run(connect.__aexit__(exc_type, exc, tb))
            raise
        self._run(connect.__aexit__(None, None, None))


async def _open_websocket(driver: _AppDriver, scope: Scope, url: str) -> _WebSocketConnect:
    # Made on the client's loop, which its queues belong to.
    return _WebSocketConnect(driver, scope, url)


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
        message: Message = self._run(self.session.receive())
        return message

    def receive_text(self) -> str:
        text: str = self._run(self.session.receive_text())
        return text

    def receive_bytes(self) -> bytes:
        data: bytes = self._run(self.session.receive_bytes())
        return data

    def receive_json(self, mode: str = "text") -> Any:
        return self._run(self.session.receive_json(mode))

    def close(self, code: int = 1000, reason: str = "") -> None:
        self._run(self.session.close(code, reason))


__all__ = [
    "ASGITestClient",
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
