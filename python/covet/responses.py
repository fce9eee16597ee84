"""Response classes.

A plain ``Response`` renders its body and raw ASGI headers once, at construction, so
sending it is two ``send`` calls and nothing else. ``StreamingResponse``,
``EventSourceResponse`` and ``FileResponse`` produce their bodies while sending; they
watch ``receive()`` for ``http.disconnect`` at the same time and stop (closing the
body iterator) as soon as the client goes away.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import mimetypes
import os
import re
import secrets
import stat as stat_module
import time
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterable, Mapping
from datetime import datetime, timezone
from email.utils import format_datetime, formatdate, parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Union
from urllib.parse import quote

import orjson

from covet import _core
from covet.background import BackgroundTask, run_task
from covet.concurrency import run_in_threadpool
from covet.datastructures import MutableHeaders
from covet.types import Receive, Scope, Send

logger = logging.getLogger("covet.responses")

HeadersInput = Union[Mapping[str, str], Iterable[tuple[str, str]], None]
Content = Union[str, bytes, bytearray, memoryview]
ContentStream = Union[AsyncIterable[Any], Iterable[Any]]

# -- cookies -------------------------------------------------------------------------
# RFC 6265 §4.1.1: cookie-name is a token; cookie-value is cookie-octets, optionally
# in double quotes; attribute values may not contain CTLs or ";".
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_COOKIE_OCTETS = r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*"
_COOKIE_VALUE = re.compile(rf'{_COOKIE_OCTETS}|"{_COOKIE_OCTETS}"')
_ATTRIBUTE_VALUE = re.compile(r"[\x20-\x3a\x3c-\x7e]*")
_DOMAIN = re.compile(
    r"\.?[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}
_EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Inside the double quotes of a quoted value, what http.cookies.SimpleCookie leaves
# as is (so Python's cookie parsers, Starlette's included, read the value back);
# everything else is a backslash escape: \" and \\, or a three-digit octal code.
_QUOTED_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~: ()/<=>?@[]{}"
)


def _escape_cookie_char(char: str) -> str:
    if char in _QUOTED_SAFE:
        return char
    if char in '"\\':
        return "\\" + char
    return f"\\{ord(char):03o}"


def _cookie_value(key: str, value: str) -> str:
    """``value`` as it goes on the wire: as is when it is RFC 6265 cookie-octets
    (optionally quoted), otherwise double-quoted with SimpleCookie's escapes, as
    Starlette does (``"Hello, cookies!"`` -> ``"Hello\\054 cookies!"``). Control
    characters and characters beyond Latin-1 are refused."""
    if not isinstance(value, str):
        raise TypeError(f"cookie {key!r}: the value must be a str, not {type(value).__name__}")
    if _COOKIE_VALUE.fullmatch(value):
        return value
    if _CONTROL.search(value):
        raise ValueError(
            f"invalid value for cookie {key!r}: control characters (CR, LF, NUL, ...) "
            "are not allowed"
        )
    if max(map(ord, value)) > 0xFF:
        raise ValueError(
            f"invalid value for cookie {key!r}: characters beyond Latin-1 cannot be sent "
            "in a header; encode the value first, e.g. with urllib.parse.quote"
        )
    return '"' + "".join(map(_escape_cookie_char, value)) + '"'


def _cookie_date(expires: int | float | datetime | str) -> str:
    if isinstance(expires, datetime):
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
        return format_datetime(expires.astimezone(timezone.utc), usegmt=True)
    if isinstance(expires, str):
        if not _ATTRIBUTE_VALUE.fullmatch(expires):
            raise ValueError(f"invalid cookie expires {expires!r}")
        return expires
    if isinstance(expires, bool) or not isinstance(expires, (int, float)):
        raise TypeError("cookie expires must be seconds from now, a datetime or a str")
    return formatdate(time.time() + expires, usegmt=True)


def format_set_cookie(
    key: str,
    value: str = "",
    max_age: int | None = None,
    expires: int | float | datetime | str | None = None,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = False,
    httponly: bool = False,
    samesite: str | None = "lax",
    partitioned: bool = False,
) -> str:
    """The value of a ``Set-Cookie`` header; raises ``ValueError`` for anything that
    could inject attributes or headers, or that browsers would silently reject.

    Rules (RFC 6265 and RFC 6265bis): the name must be a token. A value made of
    cookie-octets (optionally in double quotes) is sent as is; any other value is
    double-quoted with ``http.cookies.SimpleCookie``'s escapes, as Starlette does
    (a space stays, ``,`` ``;`` ``"`` ``\\`` and non-ASCII are backslash-escaped),
    so it cannot add attributes; ``request.cookies`` reads it back. Control
    characters (CR, LF, NUL, ...) and characters beyond Latin-1 in a value raise
    ``ValueError``. ``path`` and ``expires`` may not contain controls or ``;``;
    ``domain`` must be a host name. ``samesite`` is ``"strict"``, ``"lax"``, ``"none"`` or None
    (attribute omitted). ``samesite="none"`` and ``partitioned=True`` require
    ``secure=True``, and the ``__Secure-``/``__Host-`` name prefixes are enforced,
    because browsers drop such cookies without telling anyone.
    """
    if not isinstance(key, str) or not _TOKEN.fullmatch(key):
        raise ValueError(f"invalid cookie name {key!r}: it must be an RFC 9110 token")
    parts = [f"{key}={_cookie_value(key, value)}"]
    if max_age is not None:
        if isinstance(max_age, bool) or not isinstance(max_age, int):
            raise TypeError("cookie max_age must be an int (seconds)")
        parts.append(f"Max-Age={max_age}")
    if expires is not None:
        parts.append(f"Expires={_cookie_date(expires)}")
    if path is not None:
        if not _ATTRIBUTE_VALUE.fullmatch(path):
            raise ValueError(f"invalid cookie path {path!r}")
        parts.append(f"Path={path}")
    if domain is not None:
        if not _DOMAIN.fullmatch(domain):
            raise ValueError(f"invalid cookie domain {domain!r}")
        parts.append(f"Domain={domain}")
    if secure:
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    if samesite is not None:
        canonical = _SAMESITE.get(samesite.lower()) if isinstance(samesite, str) else None
        if canonical is None:
            raise ValueError(f"samesite must be 'strict', 'lax', 'none' or None, not {samesite!r}")
        if canonical == "None" and not secure:
            raise ValueError("samesite='none' requires secure=True (browsers reject it otherwise)")
        parts.append(f"SameSite={canonical}")
    if partitioned:
        if not secure:
            raise ValueError("partitioned=True requires secure=True")
        parts.append("Partitioned")
    lowered = key.lower()
    if lowered.startswith(("__secure-", "__host-")) and not secure:
        raise ValueError(f"cookie {key!r}: the __Secure-/__Host- prefixes require secure=True")
    if lowered.startswith("__host-") and (domain is not None or path != "/"):
        raise ValueError(f"cookie {key!r}: the __Host- prefix requires path='/' and no domain")
    return "; ".join(parts)


class Response(_core.ResponseBase):
    """An HTTP response.

    ``content`` may be a dict or list (rendered as JSON with orjson), a str
    (text/plain), bytes (application/octet-stream unless ``media_type`` says
    otherwise) or None (empty body). ``background`` runs after the response has
    been sent (``covet.background``).

    The class derives from a Rust type (``_core.ResponseBase``) whose ``__init__``
    renders the body and the validated ASGI header list into the Rust object
    (``status_code``, ``body``, ``raw_headers``, ``background``) in one call, with no
    Python frame.
    A subclass may define its own ``__init__`` (calling ``super().__init__(...)`` or
    setting the fields) or override ``render(content, media_type) -> (bytes,
    media_type)``; its bytes then go through the same call for the headers.
    """

    media_type: str | None = None
    charset = "utf-8"
    #: orjson options (JSONResponse).
    option: int | None = None
    #: JSONResponse: the content is always JSON, encoded with ``option``.
    _always_json = False
    #: The class defaults ``__init__`` reads in one lookup (with the content-type
    #: header made once); ``__init_subclass__`` sets it on every subclass.
    _render_spec = _core.RenderSpec(None, "utf-8", False, False, False)

    if TYPE_CHECKING:
        # Fields of the Rust base (``_core.ResponseBase``).
        status_code: int
        body: bytes
        raw_headers: list[tuple[bytes, bytes]]
        background: BackgroundTask | None

        def __init__(
            self,
            content: Any = None,
            status_code: int = 200,
            headers: HeadersInput = None,
            media_type: str | None = None,
            background: BackgroundTask | None = None,
        ) -> None: ...

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._render_spec = _core.RenderSpec(
            cls.media_type,
            cls.charset,
            cls._always_json,
            cls.render is not Response.render,
            cls.__call__ is not Response.__call__,
        )

    def render(self, content: Any, media_type: str | None) -> tuple[bytes, str | None]:
        """The body and media type for ``content`` (what ``__init__`` does when the
        class keeps this method; here for subclasses that extend it)."""
        body, _, media_type = _core.render_response(
            content,
            media_type,
            200,
            (self.option or 0) if self._always_json else None,
            None,
            self.charset,
        )
        return body, media_type

    @property
    def headers(self) -> MutableHeaders:
        """Validated, case-insensitive access to the headers that will be sent."""
        return MutableHeaders(raw=self.raw_headers)

    def set_cookie(
        self,
        key: str,
        value: str = "",
        max_age: int | None = None,
        expires: int | float | datetime | str | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Adds a ``Set-Cookie`` header. ``expires`` is seconds from now, a datetime
        (naive means UTC) or a preformatted HTTP date; see ``format_set_cookie`` for
        the validation rules (bad input raises ``ValueError``)."""
        cookie = format_set_cookie(
            key, value, max_age, expires, path, domain, secure, httponly, samesite, partitioned
        )
        self.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))

    def delete_cookie(
        self,
        key: str,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = "lax",
    ) -> None:
        """Expires a cookie; ``path`` and ``domain`` must match the ones it was set with."""
        cookie = format_set_cookie(
            key, "", 0, _EPOCH, path, domain, secure, httponly, samesite, False
        )
        self.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        body = b"" if scope.get("method") == "HEAD" else self.body
        await send({"type": "http.response.body", "body": body})
        if self.background is not None:
            await run_task(self.background)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code}>"


class JSONResponse(Response):
    """JSON rendered with orjson. ``option`` (argument or class attribute) takes orjson
    flags such as ``orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY``; dataclasses,
    datetimes, UUIDs and enums are serialised by default."""

    media_type = "application/json"

    if TYPE_CHECKING:

        def __init__(
            self,
            content: Any = None,
            status_code: int = 200,
            headers: HeadersInput = None,
            media_type: str | None = None,
            background: BackgroundTask | None = None,
            *,
            option: int | None = None,
        ) -> None: ...

    _always_json = True


class PlainTextResponse(Response):
    media_type = "text/plain"


class HTMLResponse(Response):
    media_type = "text/html"


# Characters left alone when quoting a redirect target: URL delimiters and escapes.
_URL_SAFE = ":/%#?=@[]!$&'()*+,;~"


class RedirectResponse(Response):
    """A redirect (307 by default: the method and body are kept). The URL is
    percent-encoded where needed, so CR, LF, spaces and non-ASCII cannot reach the
    ``Location`` header raw."""

    def __init__(
        self,
        url: Any,
        status_code: int = 307,
        headers: HeadersInput = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(None, status_code, headers, background=background)
        location = quote(str(url), safe=_URL_SAFE).encode("ascii")
        self.raw_headers[:] = [(n, v) for n, v in self.raw_headers if n != b"location"]
        self.raw_headers.append((b"location", location))


# -- streaming -------------------------------------------------------------------------
_STOP = object()


def _next_or_stop(iterator: Any) -> Any:
    try:
        return next(iterator)
    except StopIteration:
        return _STOP


class iterate_in_threadpool:
    """Iterates a blocking iterator one item at a time in the default executor.

    ``aclose()`` closes the blocking iterator (a generator's ``finally`` runs) even
    if iteration never started, and even while an item is being produced in a
    thread: then as soon as that item is ready, since a running generator cannot be
    closed. A consumer that stops early must call it (``StreamingResponse`` does).
    """

    __slots__ = ("_closed", "_context", "_iterator", "_pending")

    def __init__(self, iterable: Iterable[Any]) -> None:
        self._iterator = iter(iterable)
        self._context = contextvars.copy_context()
        self._pending: asyncio.Future[Any] | None = None
        self._closed = False

    def __aiter__(self) -> iterate_in_threadpool:
        return self

    async def __anext__(self) -> Any:
        if self._closed:
            raise StopAsyncIteration
        loop = asyncio.get_running_loop()
        call = functools.partial(self._context.run, _next_or_stop, self._iterator)
        self._pending = loop.run_in_executor(None, call)
        # Shielded: cancelling the consumer must not mark the item done while the
        # thread is still inside next() (closing then would fail).
        item = await asyncio.shield(self._pending)
        self._pending = None
        if item is _STOP:
            await self.aclose()
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self._iterator, "close", None)
        if close is None:
            return
        pending = self._pending
        if pending is not None and not pending.done():
            pending.add_done_callback(lambda _: close())
        else:
            close()


async def _aclose(iterator: Any) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()
    else:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        # Unread request body. Yield to the loop in case ``receive`` does not suspend
        # (a non-conforming caller), so the sender is never starved.
        await asyncio.sleep(0)


async def _cancel(task: asyncio.Future[Any]) -> None:
    if not task.done():
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:
        logger.debug("task failed while being cancelled", exc_info=True)


async def send_until_disconnect(receive: Receive, sender: Awaitable[None]) -> bool:
    """Runs ``sender`` while watching ``receive()`` for ``http.disconnect``; cancels the
    sender when the client goes away. Returns True if the sender ran to completion.
    Exceptions from the sender propagate."""
    send_task = asyncio.ensure_future(sender)
    listen_task = asyncio.ensure_future(_wait_for_disconnect(receive))
    try:
        await asyncio.wait({send_task, listen_task}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        await _cancel(send_task)
        await _cancel(listen_task)
        raise
    if send_task.done():
        await _cancel(listen_task)
        send_task.result()
        return True
    await _cancel(send_task)
    return False


def _encode_chunk(chunk: Any, charset: str) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, str):
        return chunk.encode(charset)
    if isinstance(chunk, (bytearray, memoryview)):
        return bytes(chunk)
    raise TypeError(f"streamed chunks must be str or bytes, not {type(chunk).__name__}")


class StreamingResponse(Response):
    """A response whose body comes from an async or sync iterator of str/bytes.

    Sync iterators run in the thread pool, one item at a time. Each chunk is sent as
    it is produced (``more_body=True``). If the client disconnects, iteration stops and
    the iterator is closed (``aclose()``/``close()``), so ``finally`` blocks in a
    generator run. HEAD requests get the headers only.
    """

    def __init__(
        self,
        content: ContentStream,
        status_code: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.status_code = status_code
        if background is not None:
            self.background = background
        if isinstance(content, AsyncIterable):
            self.body_iterator: AsyncIterable[Any] = content
        elif isinstance(content, Iterable) and not isinstance(content, (str, bytes)):
            self.body_iterator = iterate_in_threadpool(content)
        else:
            raise TypeError("StreamingResponse content must be an iterator or async iterator")
        # The body comes later, in pieces: headers only, without content-length.
        self.body, self.raw_headers, self.media_type = _core.render_response(
            b"",
            self.media_type if media_type is None else media_type,
            status_code,
            None,
            headers,
            self.charset,
            True,
            True,
        )

    def chunks(self) -> AsyncIterable[Any]:
        """What is sent, item by item (subclasses transform the body iterator)."""
        return self.body_iterator

    async def _stream(self, send: Send) -> None:
        iterator = self.chunks()
        try:
            async for chunk in iterator:
                body = _encode_chunk(chunk, self.charset)
                if body:
                    await send({"type": "http.response.body", "body": body, "more_body": True})
        finally:
            await _aclose(iterator)
            if iterator is not self.body_iterator:
                await _aclose(self.body_iterator)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if scope.get("method") == "HEAD":
            await _aclose(self.body_iterator)
            await send({"type": "http.response.body", "body": b""})
        else:
            try:
                await send_until_disconnect(receive, self._stream(send))
            finally:
                # Also when the client left before streaming began: the body's
                # finally blocks run now, not whenever the garbage collector runs.
                await _aclose(self.body_iterator)
        if self.background is not None:
            await run_task(self.background)


# -- server-sent events ----------------------------------------------------------------
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class ServerSentEvent:
    """One ``text/event-stream`` event.

    ``data`` is a str (split into one ``data:`` line per line) or any value orjson can
    encode (sent as one JSON line). ``event`` and ``id`` may not contain line breaks
    (``id`` no NUL either), ``retry`` is the reconnection delay in milliseconds and
    ``comment`` adds ``:`` lines that clients ignore.
    """

    __slots__ = ("comment", "data", "event", "id", "retry")

    def __init__(
        self,
        data: Any = None,
        *,
        event: str | None = None,
        id: str | int | None = None,
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        if event is not None and _LINE_BREAK.search(event):
            raise ValueError("an SSE event name cannot contain line breaks")
        if id is not None:
            id = str(id)
            if _LINE_BREAK.search(id) or "\0" in id:
                raise ValueError("an SSE id cannot contain line breaks or NUL")
        if retry is not None and (
            isinstance(retry, bool) or not isinstance(retry, int) or retry < 0
        ):
            raise ValueError("an SSE retry must be a non-negative int (milliseconds)")
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
        self.comment = comment

    def encode(self, charset: str = "utf-8") -> bytes:
        lines: list[str] = []
        if self.comment is not None:
            lines.extend(f": {line}" for line in _LINE_BREAK.split(self.comment))
        if self.event is not None:
            lines.append(f"event: {self.event}")
        if self.id is not None:
            lines.append(f"id: {self.id}")
        if self.retry is not None:
            lines.append(f"retry: {self.retry}")
        if self.data is not None:
            data = self.data
            if isinstance(data, bytes):
                data = data.decode(charset)
            elif not isinstance(data, str):
                data = orjson.dumps(data).decode()
            lines.extend(f"data: {line}" for line in _LINE_BREAK.split(data))
        return ("\n".join(lines) + "\n\n").encode(charset)

    def __repr__(self) -> str:
        return f"ServerSentEvent(data={self.data!r}, event={self.event!r}, id={self.id!r})"


def _as_event(item: Any) -> ServerSentEvent:
    if isinstance(item, ServerSentEvent):
        return item
    if isinstance(item, Mapping):
        return ServerSentEvent(**item)
    return ServerSentEvent(item)


class EventSourceResponse(StreamingResponse):
    """A ``text/event-stream`` response. ``content`` yields ``ServerSentEvent``s, dicts
    of their fields, or plain data (str, bytes or JSON-encodable values). When nothing
    was sent for ``ping_interval`` seconds a comment line is sent to keep proxies from
    closing the connection (None disables pings). Caching and proxy buffering are
    turned off with ``Cache-Control: no-cache`` and ``X-Accel-Buffering: no``."""

    media_type = "text/event-stream"
    ping_interval: float | None = 15.0
    ping_message = b": ping\n\n"
    _stop_requested = False
    _stop: asyncio.Future[None] | None = None

    def __init__(
        self,
        content: ContentStream,
        status_code: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        *,
        ping_interval: float | None = None,
    ) -> None:
        super().__init__(content, status_code, headers, media_type, background)
        if ping_interval is not None:
            if ping_interval <= 0:
                raise ValueError("ping_interval must be positive (or None to use the default)")
            self.ping_interval = ping_interval
        names = {name for name, _ in self.raw_headers}
        if b"cache-control" not in names:
            self.raw_headers.append((b"cache-control", b"no-cache"))
        if b"x-accel-buffering" not in names:
            self.raw_headers.append((b"x-accel-buffering", b"no"))

    def stop(self) -> None:
        """Ends the stream: the response finishes properly right away (the event
        being produced is dropped) and the client sees its end. The app's graceful
        drain calls it on shutdown."""
        self._stop_requested = True
        if self._stop is not None and not self._stop.done():
            self._stop.set_result(None)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        live = getattr(scope.get("app"), "live_connections", None)
        if live is None:
            await super().__call__(scope, receive, send)
            return
        with live.stream(self):  # so that a shutdown can stop it
            await super().__call__(scope, receive, send)

    async def chunks(self) -> AsyncIterator[bytes]:
        iterator = self.body_iterator.__aiter__()
        pending: asyncio.Future[Any] | None = None
        stop = self._stop = asyncio.get_running_loop().create_future()
        try:
            while not self._stop_requested:
                if pending is None:
                    pending = asyncio.ensure_future(iterator.__anext__())
                done, _ = await asyncio.wait(
                    {pending, stop}, timeout=self.ping_interval, return_when=asyncio.FIRST_COMPLETED
                )
                if stop.done():
                    return
                if not done:
                    yield self.ping_message
                    continue
                finished, pending = pending, None
                try:
                    item = finished.result()
                except StopAsyncIteration:
                    return
                yield _as_event(item).encode(self.charset)
        finally:
            if pending is not None:
                await _cancel(pending)


# -- files -----------------------------------------------------------------------------
_ETAG = re.compile(r'(?:W/)?"[^"]*"')
# Headers a 304 repeats from the 200 it stands for (RFC 9110 §15.4.5).
_NOT_MODIFIED_HEADERS = frozenset(
    (b"cache-control", b"content-location", b"date", b"etag", b"expires", b"vary", b"last-modified")
)
_CONDITIONAL_HEADERS = frozenset(
    (
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
        b"range",
        b"if-range",
    )
)


def _http_date(value: str) -> float | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _sent_validator(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    """The value of the response header ``name`` (an ETag or Last-Modified the app
    passed in ``headers=``), stripped."""
    value = next(v for n, v in headers if n == name)
    return value.decode("latin-1").strip()


def _etag_matches(header: str, etag: str, *, weak: bool) -> bool:
    """Whether an ``If-Match``/``If-None-Match`` list matches ``etag`` (RFC 9110 §8.8.3.2:
    weak comparison ignores ``W/``; strong comparison fails for weak tags)."""
    if header.strip() == "*":
        return True
    for tag in _ETAG.findall(header):
        if weak:
            if tag.removeprefix("W/") == etag.removeprefix("W/"):
                return True
        elif not tag.startswith("W/") and tag == etag:
            return True
    return False


def content_disposition(disposition_type: str, filename: str) -> str:
    """``attachment; filename="..."``, with an RFC 5987 ``filename*`` for names that are
    not printable ASCII (the plain ``filename`` then carries an ASCII fallback)."""
    if all(0x20 <= ord(c) < 0x7F for c in filename):
        escaped = filename.replace("\\", "\\\\").replace('"', '\\"')
        return f'{disposition_type}; filename="{escaped}"'
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in ascii_name)
    encoded = quote(filename, safe="!#$&+^`|")
    return f"{disposition_type}; filename=\"{fallback or 'download'}\"; filename*=UTF-8''{encoded}"


class FileResponse(Response):
    """Sends a file from disk.

    The media type is guessed from ``filename`` or ``path`` (``mimetypes``), with
    ``application/octet-stream`` when unknown. The response carries ``Content-Length``,
    ``Last-Modified``, a strong ``ETag`` derived from size and mtime,
    ``Accept-Ranges: bytes`` and, when ``filename`` is given, ``Content-Disposition``
    (``content_disposition_type`` is ``"attachment"`` or ``"inline"``).

    Conditional requests: ``If-Match``/``If-Unmodified-Since`` (412),
    ``If-None-Match``/``If-Modified-Since`` (304 for GET and HEAD). ``Range`` on a GET:
    one range is a 206 with ``Content-Range``; several are a ``multipart/byteranges``
    206 (overlapping and adjacent ranges are merged); no satisfiable range is a 416
    with ``Content-Range: bytes */size``; ``If-Range`` is honoured. A header with more
    than ``max_ranges`` ranges, or a malformed one, is ignored (200 with the whole
    file), as RFC 9110 §14.2 permits.

    The body is sent with ``http.response.pathsend`` when the server offers it, else
    ``http.response.zerocopysend``, else in ``chunk_size`` reads in a thread. A file
    that is missing when the response is sent is answered with 404.
    """

    chunk_size = 64 * 1024

    def __init__(
        self,
        path: str | os.PathLike[str],
        status_code: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
        filename: str | None = None,
        stat_result: os.stat_result | None = None,
        content_disposition_type: str = "attachment",
        max_ranges: int = _core.DEFAULT_MAX_RANGES,
        background: BackgroundTask | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.status_code = status_code
        self.filename = filename
        self.stat_result = stat_result
        self.max_ranges = max_ranges
        if media_type is None:
            media_type = mimetypes.guess_type(filename or self.path)[0]
            media_type = media_type or "application/octet-stream"
        if background is not None:
            self.background = background
        # Content-Length is decided when sending (ranges, 304s): headers only here.
        self.body, raw, self.media_type = _core.render_response(
            b"", media_type, status_code, None, headers, self.charset, True, True
        )
        if filename is not None and all(name != b"content-disposition" for name, _ in raw):
            value = content_disposition(content_disposition_type, filename)
            raw.append((b"content-disposition", value.encode("latin-1")))
        self.raw_headers = raw

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await self._send_file(scope, receive, send)
        if self.background is not None:
            await run_task(self.background)

    async def _send_file(self, scope: Scope, receive: Any, send: Any) -> None:
        st = self.stat_result
        if st is None:
            try:
                st = await run_in_threadpool(os.stat, self.path)
            except (OSError, ValueError) as exc:
                logger.warning("FileResponse: cannot stat %r: %s", self.path, exc)
                st = None
        if st is None or not stat_module.S_ISREG(st.st_mode):
            if st is not None:
                logger.warning("FileResponse: %r is not a regular file", self.path)
            await PlainTextResponse("Not Found", 404)(scope, receive, send)
            return

        method = scope.get("method", "GET")
        size = st.st_size
        last_modified = formatdate(st.st_mtime, usegmt=True)
        etag = f'"{st.st_mtime_ns:x}-{size:x}"'
        headers = list(self.raw_headers)
        names = {name for name, _ in headers}
        # Validators the app set itself are the ones sent, so they are the ones that
        # If-Range, If-Match and If-None-Match are compared with.
        if b"last-modified" not in names:
            headers.append((b"last-modified", last_modified.encode("ascii")))
        else:
            last_modified = _sent_validator(headers, b"last-modified")
        if b"etag" not in names:
            headers.append((b"etag", etag.encode("ascii")))
        else:
            etag = _sent_validator(headers, b"etag")

        request: dict[bytes, str] = {}
        for name, value in scope.get("headers", ()):
            if name in _CONDITIONAL_HEADERS and name not in request:
                request[name] = value.decode("latin-1")

        if self.status_code == 200 and request:
            status = self._preconditions(request, method, etag, st.st_mtime)
            if status == 304:
                kept = [(n, v) for n, v in headers if n in _NOT_MODIFIED_HEADERS]
                await send({"type": "http.response.start", "status": 304, "headers": kept})
                await send({"type": "http.response.body", "body": b""})
                return
            if status == 412:
                await PlainTextResponse("Precondition Failed", 412)(scope, receive, send)
                return

        ranges: list[tuple[int, int]] | None = None
        range_header = request.get(b"range")
        if (
            range_header is not None
            and self.status_code == 200
            and method == "GET"
            and size > 0
            and self._if_range(request.get(b"if-range"), etag, last_modified)
        ):
            try:
                ranges = _core.parse_range(range_header, size, self.max_ranges)
            except _core.RangeNotSatisfiableError:
                headers = [
                    (n, v) for n, v in headers if n not in (b"content-type", b"content-disposition")
                ]
                headers.append((b"content-range", b"bytes */%d" % size))
                headers.append((b"content-length", b"0"))
                await send({"type": "http.response.start", "status": 416, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
            except _core.RangeHeaderError:
                ranges = None  # malformed or too many ranges: send the whole file

        if b"accept-ranges" not in names and self.status_code == 200:
            headers.append((b"accept-ranges", b"bytes"))
        status_code = self.status_code
        parts: list[tuple[bytes, int, int]]
        trailer = b""
        if ranges is None:
            parts = [(b"", 0, size)]
        elif len(ranges) == 1:
            first, last = ranges[0]
            status_code = 206
            headers.append((b"content-range", b"bytes %d-%d/%d" % (first, last, size)))
            parts = [(b"", first, last - first + 1)]
        else:
            status_code = 206
            boundary = secrets.token_hex(16).encode("ascii")
            content_type = next(v for n, v in headers if n == b"content-type")
            headers = [(n, v) for n, v in headers if n != b"content-type"]
            headers.append((b"content-type", b"multipart/byteranges; boundary=" + boundary))
            parts = []
            for index, (first, last) in enumerate(ranges):
                head = b"%s--%s\r\ncontent-type: %s\r\ncontent-range: bytes %d-%d/%d\r\n\r\n" % (
                    b"\r\n" if index else b"",
                    boundary,
                    content_type,
                    first,
                    last,
                    size,
                )
                parts.append((head, first, last - first + 1))
            trailer = b"\r\n--%s--\r\n" % boundary
        length = sum(len(head) + count for head, _, count in parts) + len(trailer)
        headers = [(n, v) for n, v in headers if n != b"content-length"]
        headers.append((b"content-length", b"%d" % length))

        await send({"type": "http.response.start", "status": status_code, "headers": headers})
        if method == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        extensions = scope.get("extensions") or {}
        if ranges is None and "http.response.pathsend" in extensions:
            await send({"type": "http.response.pathsend", "path": os.path.abspath(self.path)})
            return
        zerocopy = "http.response.zerocopysend" in extensions
        await send_until_disconnect(receive, self._send_parts(send, parts, trailer, zerocopy))

    @staticmethod
    def _preconditions(
        request: dict[bytes, str], method: str, etag: str, mtime: float
    ) -> int | None:
        """RFC 9110 §13.2.2 evaluation order; 304, 412 or None (carry on)."""
        if_match = request.get(b"if-match")
        if if_match is not None:
            if not (etag and _etag_matches(if_match, etag, weak=False)):
                return 412
        else:
            since = request.get(b"if-unmodified-since")
            date = _http_date(since) if since is not None else None
            if date is not None and int(mtime) > date:
                return 412
        if_none_match = request.get(b"if-none-match")
        if if_none_match is not None:
            if etag and _etag_matches(if_none_match, etag, weak=True):
                return 304 if method in ("GET", "HEAD") else 412
        elif method in ("GET", "HEAD"):
            since = request.get(b"if-modified-since")
            date = _http_date(since) if since is not None else None
            if date is not None and int(mtime) <= date:
                return 304
        return None

    @staticmethod
    def _if_range(if_range: str | None, etag: str, last_modified: str) -> bool:
        """Whether the Range header applies: no If-Range, or a validator that still
        matches (strong ETag comparison, or the exact Last-Modified date)."""
        if if_range is None:
            return True
        if_range = if_range.strip()
        if if_range.startswith(('"', "W/")):
            return bool(etag) and _etag_matches(if_range, etag, weak=False)
        if not last_modified:
            return False
        wanted = _http_date(if_range)
        return wanted is not None and wanted == _http_date(last_modified)

    async def _send_parts(
        self, send: Send, parts: list[tuple[bytes, int, int]], trailer: bytes, zerocopy: bool
    ) -> None:
        file = await run_in_threadpool(open, self.path, "rb")
        try:
            for head, offset, count in parts:
                if head:
                    await send({"type": "http.response.body", "body": head, "more_body": True})
                if zerocopy:
                    await send(
                        {
                            "type": "http.response.zerocopysend",
                            "file": file,
                            "offset": offset,
                            "count": count,
                            "more_body": True,
                        }
                    )
                    continue
                if offset:
                    await run_in_threadpool(file.seek, offset)
                remaining = count
                while remaining > 0:
                    chunk = await run_in_threadpool(file.read, min(self.chunk_size, remaining))
                    if not chunk:  # the file shrank since it was stat()ed
                        break
                    remaining -= len(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            await run_in_threadpool(file.close)
        await send({"type": "http.response.body", "body": trailer, "more_body": False})
