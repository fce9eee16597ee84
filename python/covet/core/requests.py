"""The request object handed to HTTP handlers.

Everything beyond ``scope`` is computed on first access, so a handler pays only for
what it reads: a plain GET touches no header, query or cookie parser at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from covet import _core
from covet.core.datastructures import URL, Address, Headers, QueryParams, State
from covet.core.exceptions import ClientDisconnect, HTTPException

Scope = dict[str, Any]
Message = dict[str, Any]


async def _no_receive() -> Message:
    raise RuntimeError("this request has no body channel")


def _media_type(content_type: str | None) -> str:
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


class Request:
    """An HTTP request: a lazy view over the ASGI scope plus the body channel."""

    __slots__ = (
        "_body",
        "_cookies",
        "_headers",
        "_json",
        "_query",
        "_receive",
        "_state",
        "_stream_consumed",
        "path_params",
        "scope",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Any = _no_receive,
        path_params: dict[str, Any] | None = None,
    ) -> None:
        self.scope = scope
        self._receive = receive
        self.path_params: dict[str, Any] = path_params if path_params is not None else {}
        self._headers: Headers | None = None
        self._query: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._body: bytes | None = None
        self._json: Any = _UNSET
        self._state: State | None = None
        self._stream_consumed = False

    # -- request line -------------------------------------------------------------
    @property
    def method(self) -> str:
        return self.scope["method"]

    @property
    def path(self) -> str:
        return self.scope["path"]

    @property
    def url(self) -> URL:
        return URL.from_scope(self.scope)

    @property
    def base_url(self) -> URL:
        scope = dict(self.scope, path="/", query_string=b"")
        return URL.from_scope(scope)

    @property
    def client(self) -> Address | None:
        client = self.scope.get("client")
        return Address(client[0], client[1]) if client else None

    @property
    def app(self) -> Any:
        return self.scope.get("app")

    @property
    def state(self) -> State:
        """Per-request state, seeded with a copy of the lifespan state."""
        if self._state is None:
            self._state = State(dict(self.scope.get("state") or {}))
        return self._state

    # -- parsed views (parsed once, in Rust) ---------------------------------------
    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(raw=self.scope["headers"])
        return self._headers

    @property
    def query(self) -> QueryParams:
        if self._query is None:
            self._query = QueryParams(self.scope.get("query_string", b""))
        return self._query

    query_params = query

    @property
    def cookies(self) -> Mapping[str, str]:
        if self._cookies is None:
            header = self.headers.get("cookie")
            self._cookies = _core.parse_cookies(header) if header else {}
        return self._cookies

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
    async def stream(self) -> AsyncIterator[bytes]:
        """Yields the body in the chunks the server delivers; replays a read body."""
        if self._body is not None:
            yield self._body
            return
        if self._stream_consumed:
            raise RuntimeError("the request body stream was already consumed")
        self._stream_consumed = True
        while True:
            message = await self._receive()
            kind = message["type"]
            if kind == "http.request":
                chunk = message.get("body", b"")
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    return
            elif kind == "http.disconnect":
                raise ClientDisconnect()

    async def body(self) -> bytes:
        if self._body is None:
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

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"


_UNSET: Any = object()
