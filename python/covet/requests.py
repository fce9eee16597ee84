"""The request object handed to HTTP handlers.

Everything beyond ``scope`` is computed on first access, so a handler pays only for
what it reads: a plain GET touches no header, query or cookie parser at all.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Generator
from typing import Any

import orjson

from covet import _core
from covet.connection import HTTPConnection
from covet.datastructures import FormData
from covet.exceptions import ClientDisconnect, HTTPException
from covet.formparsers import parse_form
from covet.limits import DEFAULT_LIMITS, Limits
from covet.types import Message


async def _ready_message(receive: Any) -> Message | None:
    """The message ``receive()`` has ready now, or None: ``receive`` runs until it
    would wait and is then cancelled (what Starlette's cancelled anyio scope does)."""
    task: asyncio.Task[Message] = asyncio.ensure_future(receive())
    await asyncio.sleep(0)  # one loop step: the task runs until it completes or waits
    if not task.done():
        task.cancel()
        await asyncio.wait((task,))
        if task.cancelled():
            return None
    return task.result()


def _media_type(content_type: str | None) -> str:
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


_UNSET: Any = object()


class Request(_core.RequestBase, HTTPConnection):
    """An HTTP request: the scope views of ``HTTPConnection`` (``url``, ``headers``,
    ``query``, ``cookies``, ``path_params``, ``client``, ``state``) plus the body.

    ``Request(scope, receive=None, path_params=None)``: the three references live in
    the Rust base (``_core.RequestBase``, whose ``__init__`` is a C slot), which the
    driver fills without a Python call; without ``receive``, reading the body
    raises RuntimeError."""

    _body: bytes | None = None
    _json: Any = _UNSET
    _stream_consumed = False
    #: The parsed form (a field of the Rust base, which the driver reads).
    _form: FormData | None
    _is_disconnected = False
    # Messages is_disconnected() received while looking for a disconnect; stream()
    # takes them first, so peeking never loses a body chunk.
    _peeked: deque[Message] | None = None
    _peeked_size = 0
    _peeked_overflow = False

    @property
    def method(self) -> str:
        method: str = self.scope["method"]
        return method

    @property
    def content_type(self) -> str:
        """The media type of the body, lowercased, without parameters."""
        return _media_type(self.headers.get("content-type"))

    def is_json(self) -> bool:
        media = self.content_type
        return media == "application/json" or (
            media.startswith("application/") and media.endswith("+json")
        )

    def is_form(self) -> bool:
        return self.content_type in ("application/x-www-form-urlencoded", "multipart/form-data")

    # -- body -----------------------------------------------------------------------
    @property
    def limits(self) -> Limits:
        """The app's ``Limits`` (``create_asgi_app(limits=...)``), else the defaults."""
        limits = getattr(self.scope.get("app"), "limits", None)
        return limits if isinstance(limits, Limits) else DEFAULT_LIMITS

    def _check_content_length(self, max_size: int) -> None:
        """Rejects a declared body larger than ``max_size`` before reading any of it."""
        for name, value in self.scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    raise HTTPException(400, "Malformed Content-Length header")
                if int(value) > max_size:
                    raise HTTPException(
                        413, f"Request body too large: the limit is {max_size} bytes"
                    )

    async def stream(self) -> AsyncIterator[bytes]:
        """Yields the body in the chunks the server delivers; replays a read body.

        Enforces ``Limits.max_body_size`` (413): a larger ``Content-Length`` is
        rejected before reading, and the bytes are counted as they arrive. Raises
        ``ClientDisconnect`` if the client goes away first.
        """
        if self._body is not None:
            yield self._body
            return
        if self._stream_consumed:
            raise RuntimeError(
                "The request body was already consumed by request.stream() or a multipart "
                "request.form(); it can be read only once. Call `await request.body()` "
                "first to keep a copy."
            )
        self._stream_consumed = True
        max_size = self.limits.max_body_size
        if max_size is not None:
            self._check_content_length(max_size)
        received = 0
        while True:
            peeked = self._peeked
            if peeked:
                message = peeked.popleft()
                if not peeked and self._peeked_overflow:
                    raise HTTPException(
                        413, f"Request body too large: the limit is {max_size} bytes"
                    )
            else:
                message = await self._receive()
            kind = message["type"]
            if kind == "http.request":
                chunk = message.get("body", b"")
                if chunk:
                    if max_size is not None:
                        received += len(chunk)
                        if received > max_size:
                            raise HTTPException(
                                413, f"Request body too large: the limit is {max_size} bytes"
                            )
                    yield chunk
                if not message.get("more_body", False):
                    return
            elif kind == "http.disconnect":
                self._is_disconnected = True
                raise ClientDisconnect()

    async def is_disconnected(self) -> bool:
        """Whether the client has gone away, without waiting (Starlette's semantics):
        looks at ``receive()`` for a message that is ready now and returns True once
        an ``http.disconnect`` has been seen. A body chunk received on the way is
        kept for ``stream()``/``body()``/``form()``; only ``Limits.max_body_size``
        bytes are kept (past that, reading the body is the usual 413)."""
        if self._is_disconnected:
            return True
        message = await _ready_message(self._receive)
        if message is None:
            return False
        kind = message.get("type")
        if kind == "http.disconnect":
            self._is_disconnected = True
            return True
        if kind == "http.request":
            self._keep_peeked(message)
        return False

    def _keep_peeked(self, message: Message) -> None:
        if self._peeked is None:
            self._peeked = deque()
        max_size = self.limits.max_body_size
        size = len(message.get("body", b""))
        if max_size is not None and self._peeked_size + size > max_size:
            # The body is over the limit whatever happens next: keep only the fact.
            self._peeked_overflow = True
            message = {**message, "body": b""}
        else:
            self._peeked_size += size
        self._peeked.append(message)

    async def body(self) -> bytes:
        """The whole body (at most ``Limits.max_body_size`` bytes), read once and cached."""
        if self._body is None:
            if self._stream_consumed:
                raise RuntimeError(
                    "request.body() cannot be used after the body was streamed by "
                    "request.stream() or a multipart request.form(); call "
                    "`await request.body()` before them to keep a copy."
                )
            chunks = [chunk async for chunk in self.stream()]
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        """The body decoded as JSON (orjson); malformed JSON is a 400."""
        if self._json is _UNSET:
            body = await self.body()
            try:
                self._json = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise HTTPException(400, f"Malformed JSON body: {exc}") from None
        return self._json

    def form(
        self,
        *,
        max_fields: int | None = None,
        max_files: int | None = None,
        max_field_size: int | None = None,
    ) -> FormContext:
        """The body parsed as a form: ``form = await request.form()`` or
        ``async with request.form() as form:`` (which closes the uploads on exit).

        Urlencoded and multipart bodies are parsed in Rust; multipart is streamed,
        with file parts spooled to disk past ``Limits.spool_max_size``. The keyword
        arguments override the app's ``Limits`` for this call. The result is cached:
        later calls return the same ``FormData`` whatever their arguments. A
        malformed body is a 400, an exceeded limit a 413, a Content-Type other than
        urlencoded or multipart a 415. Uploads are closed when the response is sent.
        """
        return FormContext(self, max_fields, max_files, max_field_size)

    async def _load_form(
        self, max_fields: int | None, max_files: int | None, max_field_size: int | None
    ) -> FormData:
        if self._form is None:
            self._form = await parse_form(
                self,
                self.limits,
                max_fields=max_fields,
                max_files=max_files,
                max_field_size=max_field_size,
            )
        return self._form

    async def close(self) -> None:
        """Closes the uploads of a parsed form (the app calls this after the response)."""
        if self._form is not None:
            await self._form.close()

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"


class FormContext:
    """What ``request.form()`` returns: awaitable (the ``FormData``) and an async
    context manager that closes the form's uploads on exit."""

    __slots__ = ("_options", "_request")

    def __init__(
        self,
        request: Request,
        max_fields: int | None,
        max_files: int | None,
        max_field_size: int | None,
    ) -> None:
        self._request = request
        self._options = (max_fields, max_files, max_field_size)

    def __await__(self) -> Generator[Any, None, FormData]:
        return self._request._load_form(*self._options).__await__()

    async def __aenter__(self) -> FormData:
        return await self._request._load_form(*self._options)

    async def __aexit__(self, *exc_info: object) -> None:
        await self._request.close()
