"""Response classes. A response renders its body and raw ASGI headers once, at
construction, so sending it is two ``send`` calls and nothing else."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from covet import _core
from covet.core.datastructures import MutableHeaders

Scope = dict[str, Any]
HeadersInput = Mapping[str, str] | Iterable[tuple[str, str]] | None

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
        self.body, media_type = self.render(content, media_type)
        self.media_type = media_type
        self.raw_headers = self._init_headers(headers, media_type)

    def render(self, content: Any, media_type: str | None) -> tuple[bytes, str | None]:
        if content is None:
            return b"", media_type
        if isinstance(content, bytes):
            return content, media_type or "application/octet-stream"
        if isinstance(content, str):
            return content.encode(self.charset), media_type or "text/plain"
        if isinstance(content, (bytearray, memoryview)):
            return bytes(content), media_type or "application/octet-stream"
        return orjson.dumps(content), media_type or "application/json"

    def _init_headers(
        self, headers: HeadersInput, media_type: str | None
    ) -> list[tuple[bytes, bytes]]:
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

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        body = b"" if scope.get("method") == "HEAD" else self.body
        await send({"type": "http.response.body", "body": body})

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code}>"


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any, media_type: str | None) -> tuple[bytes, str | None]:
        return orjson.dumps(content), media_type


class PlainTextResponse(Response):
    media_type = "text/plain"


class HTMLResponse(Response):
    media_type = "text/html"
