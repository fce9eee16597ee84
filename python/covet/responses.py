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
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timezone
from email.utils import format_datetime, formatdate, parsedate_to_datetime
from typing import Any, Union
from urllib.parse import quote

import orjson

from covet import _core
from covet.datastructures import MutableHeaders
from covet.types import Receive, Scope, Send

logger = logging.getLogger("covet.responses")

HeadersInput = Union[Mapping[str, str], Iterable[tuple[str, str]], None]
Content = Union[str, bytes, bytearray, memoryview]
ContentStream = Union[AsyncIterable[Any], Iterable[Any]]

_content_type_cache: dict[tuple[str, str], bytes] = {}


def _content_type(media_type: str, charset: str) -> bytes:
    """The content-type header value, with a charset for text types; cached because a
    process renders a handful of media types millions of times."""
    key = (media_type, charset)
    value = _content_type_cache.get(key)
    if value is None:
        full = media_type
        if media_type.startswith("text/") and "charset=" not in media_type.lower():
            full = f"{media_type}; charset={charset}"
        value = _core.encode_headers([("content-type", full)])[0][1]
        _content_type_cache[key] = value
    return value


async def _run_in_thread(func: Callable[..., Any], *args: Any) -> Any:
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    return await loop.run_in_executor(None, functools.partial(context.run, func, *args))


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


def dumps_json(content: Any, option: int | None = None) -> bytes:
    """orjson, plus what ``json.dumps`` users expect: dict keys that are not str
    (``{200: 3}``) become strings. Tried only after the fast call refused them,
    so the common case pays nothing (``_core.render_response`` does the same)."""
    try:
        return orjson.dumps(content, option=option)
    except TypeError:
        return orjson.dumps(content, option=(option or 0) | orjson.OPT_NON_STR_KEYS)


def _rust_equivalent(method: Any) -> Any:
    """Marks a rendering method that ``_core.render_response`` reproduces exactly, so
    that a subclass keeping it may take the one-call fast path."""
    method._rust_equivalent = True
    return method


class Response:
    """An HTTP response.

    ``content`` may be a dict or list (rendered as JSON with orjson), a str
    (text/plain), bytes (application/octet-stream unless ``media_type`` says
    otherwise) or None (empty body).
    """

    media_type: str | None = None
    charset = "utf-8"

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
    ) -> None:
        self.status_code = status_code
        if media_type is None:
            media_type = self.media_type
        if headers is None and self._render_in_rust:
            # One Rust call renders the body and the header list (measured: 1.1 ->
            # 0.5 us for PlainTextResponse("...")); same result as the two methods.
            self.body, self.raw_headers, self.media_type = _core.render_response(
                content,
                media_type,
                status_code,
                (self.option or 0) if self._always_json else None,
            )
            return
        self.body, media_type = self.render(content, media_type)
        self.media_type = media_type
        self.raw_headers = self._init_headers(headers, media_type)

    #: Whether ``__init__`` may use ``_core.render_response``: true for classes whose
    #: ``render`` and ``_init_headers`` are the ones it reproduces, in UTF-8.
    _render_in_rust = True
    #: JSONResponse: always JSON, with ``option``.
    _always_json = False
    option: int | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._render_in_rust = (
            getattr(cls.render, "_rust_equivalent", False)
            and getattr(cls._init_headers, "_rust_equivalent", False)
            and cls.charset.lower() in ("utf-8", "utf8")
        )

    @_rust_equivalent
    def render(self, content: Any, media_type: str | None) -> tuple[bytes, str | None]:
        if content is None:
            return b"", media_type
        if isinstance(content, bytes):
            return content, media_type or "application/octet-stream"
        if isinstance(content, str):
            return content.encode(self.charset), media_type or "text/plain"
        if isinstance(content, (bytearray, memoryview)):
            return bytes(content), media_type or "application/octet-stream"
        return dumps_json(content), media_type or "application/json"

    @_rust_equivalent
    def _init_headers(
        self, headers: HeadersInput, media_type: str | None
    ) -> list[tuple[bytes, bytes]]:
        status = self.status_code
        if not headers and media_type is not None and 200 <= status and status not in (204, 304):
            # The common case, without the name set the general case needs.
            content_type = _content_type_cache.get((media_type, self.charset))
            if content_type is None:
                content_type = _content_type(media_type, self.charset)
            return [
                (b"content-length", b"%d" % len(self.body)),
                (b"content-type", content_type),
            ]
        raw: list[tuple[bytes, bytes]] = []
        if headers:
            items = headers.items() if isinstance(headers, Mapping) else headers
            raw = _core.encode_headers(list(items))
            names = {name for name, _ in raw}
        else:
            names = set()
        if b"content-length" not in names and not (
            self.status_code < 200 or self.status_code in (204, 304)
        ):
            raw.append((b"content-length", b"%d" % len(self.body)))
        if media_type is not None and b"content-type" not in names:
            raw.append((b"content-type", _content_type(media_type, self.charset)))
        return raw

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

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code}>"


class JSONResponse(Response):
    """JSON rendered with orjson. ``option`` (argument or class attribute) takes orjson
    flags such as ``orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY``; dataclasses,
    datetimes, UUIDs and enums are serialised by default."""

    media_type = "application/json"

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
        *,
        option: int | None = None,
    ) -> None:
        if option is not None:
            self.option = option
        super().__init__(content, status_code, headers, media_type)

    _always_json = True

    @_rust_equivalent
    def render(self, content: Any, media_type: str | None) -> tuple[bytes, str | None]:
        return dumps_json(content, self.option), media_type


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
    ) -> None:
        super().__init__(None, status_code, headers)
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


async def iterate_in_threadpool(iterable: Iterable[Any]) -> AsyncIterator[Any]:
    """Iterates a blocking iterator one item at a time in the default executor. The
    iterator is closed when the consumer stops early (even while an item is being
    produced in a thread: it is closed as soon as that item is ready)."""
    iterator = iter(iterable)
    pending: asyncio.Future[Any] | None = None
    try:
        while True:
            pending = asyncio.ensure_future(_run_in_thread(_next_or_stop, iterator))
            item = await pending
            pending = None
            if item is _STOP:
                return
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
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
    ) -> None:
        self.status_code = status_code
        if media_type is not None:
            self.media_type = media_type
        self.body = b""
        if isinstance(content, AsyncIterable):
            self.body_iterator: AsyncIterable[Any] = content
        elif isinstance(content, Iterable) and not isinstance(content, (str, bytes)):
            self.body_iterator = iterate_in_threadpool(content)
        else:
            raise TypeError("StreamingResponse content must be an iterator or async iterator")
        self.raw_headers = self._init_headers(headers, self.media_type)

    def _init_headers(
        self, headers: HeadersInput, media_type: str | None
    ) -> list[tuple[bytes, bytes]]:
        raw: list[tuple[bytes, bytes]] = []
        if headers:
            items = headers.items() if isinstance(headers, Mapping) else headers
            raw = _core.encode_headers(list(items))
        if media_type is not None and all(name != b"content-type" for name, _ in raw):
            raw.append((b"content-type", _content_type(media_type, self.charset)))
        return raw

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
            return
        await send_until_disconnect(receive, self._stream(send))


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

    def __init__(
        self,
        content: ContentStream,
        status_code: int = 200,
        headers: HeadersInput = None,
        media_type: str | None = None,
        *,
        ping_interval: float | None = None,
    ) -> None:
        super().__init__(content, status_code, headers, media_type)
        if ping_interval is not None:
            if ping_interval <= 0:
                raise ValueError("ping_interval must be positive (or None to use the default)")
            self.ping_interval = ping_interval
        names = {name for name, _ in self.raw_headers}
        if b"cache-control" not in names:
            self.raw_headers.append((b"cache-control", b"no-cache"))
        if b"x-accel-buffering" not in names:
            self.raw_headers.append((b"x-accel-buffering", b"no"))

    async def chunks(self) -> AsyncIterator[bytes]:  # type: ignore[override]
        iterator = self.body_iterator.__aiter__()
        pending: asyncio.Future[Any] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(iterator.__anext__())
                done, _ = await asyncio.wait({pending}, timeout=self.ping_interval)
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
    ) -> None:
        self.path = os.fspath(path)
        self.status_code = status_code
        self.filename = filename
        self.stat_result = stat_result
        self.max_ranges = max_ranges
        if media_type is None:
            media_type = mimetypes.guess_type(filename or self.path)[0]
            media_type = media_type or "application/octet-stream"
        self.media_type = media_type
        self.body = b""
        raw: list[tuple[bytes, bytes]] = []
        if headers:
            items = headers.items() if isinstance(headers, Mapping) else headers
            raw = _core.encode_headers(list(items))
        names = {name for name, _ in raw}
        if b"content-type" not in names:
            raw.append((b"content-type", _content_type(media_type, self.charset)))
        if filename is not None and b"content-disposition" not in names:
            value = content_disposition(content_disposition_type, filename)
            raw.append((b"content-disposition", value.encode("latin-1")))
        self.raw_headers = raw

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        st = self.stat_result
        if st is None:
            try:
                st = await _run_in_thread(os.stat, self.path)
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
        file = await _run_in_thread(open, self.path, "rb")
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
                    await _run_in_thread(file.seek, offset)
                remaining = count
                while remaining > 0:
                    chunk = await _run_in_thread(file.read, min(self.chunk_size, remaining))
                    if not chunk:  # the file shrank since it was stat()ed
                        break
                    remaining -= len(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            await _run_in_thread(file.close)
        await send({"type": "http.response.body", "body": trailer, "more_body": False})
