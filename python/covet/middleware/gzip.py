"""Gzip response compression, as a pure ASGI middleware.

A response is compressed when the client accepts gzip (``Accept-Encoding``, honouring
``q=0``), the body is at least ``minimum_size`` bytes, and the response is not
already encoded (``Content-Encoding``), partial (``206``/``Content-Range``), a
compressed media type (images, audio, video, archives, fonts) or a server-sent
event stream. A whole body is compressed in one go; a streamed body
(``more_body=True``) is compressed chunk by chunk with one ``zlib`` stream, each
chunk flushed so a streaming client is never starved. ``Content-Length`` is fixed
(or dropped for streams), a strong ``ETag`` becomes weak, and
``Vary: Accept-Encoding`` is added. A response that would have been compressed for
a client accepting gzip gets ``Vary: Accept-Encoding`` too when this client does not
accept it (whole and streamed bodies alike, as in Starlette), so a shared cache
never hands the identity copy to gzip clients or the reverse. ``HEAD`` responses
pass through untouched.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from covet.middleware._asgi import (
    ASGIApp,
    Message,
    RawHeaders,
    Receive,
    Scope,
    Send,
    add_vary,
    get_header,
)

# Media types that are already compressed (or must not be buffered, like SSE):
# "type/*" entries match a whole top-level type.
DEFAULT_EXCLUDED_MEDIA_TYPES: tuple[str, ...] = (
    "text/event-stream",
    "video/*",
    "audio/*",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "image/heic",
    "image/heif",
    "image/jxl",
    "application/zip",
    "application/gzip",
    "application/x-gzip",
    "application/x-bzip2",
    "application/x-xz",
    "application/x-7z-compressed",
    "application/x-rar-compressed",
    "application/vnd.rar",
    "application/zstd",
    "application/x-brotli",
    "application/wasm+gzip",
    "font/woff",
    "font/woff2",
)

_DROPPED = frozenset({b"content-length", b"content-encoding", b"etag"})
_NO_BODY_STATUS = frozenset({204, 206, 304})


def accepts_gzip(accept_encoding: bytes | None) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip (``gzip``/``x-gzip``/``*``
    with a non-zero quality; an explicit ``gzip;q=0`` wins over ``*``)."""
    if not accept_encoding:
        return False
    wildcard = False
    for item in accept_encoding.lower().split(b","):
        coding, _, params = item.partition(b";")
        coding = coding.strip()
        if coding not in (b"gzip", b"x-gzip", b"*"):
            continue
        quality = 1.0
        for param in params.split(b";"):
            name, _, value = param.partition(b"=")
            if name.strip() == b"q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        if coding == b"*":
            wildcard = quality > 0
        else:
            return quality > 0
    return wildcard


class GZipMiddleware:
    """Compress responses with gzip.

    - ``minimum_size``: bodies smaller than this many bytes are sent as is
      (compression would not pay). Default 500.
    - ``compresslevel``: zlib level 1-9. Default 6 (zlib's own default: most of
      level 9's ratio at a fraction of its CPU cost).
    - ``excluded_media_types``: media types never compressed; ``"type/*"`` matches
      a top-level type. Default ``DEFAULT_EXCLUDED_MEDIA_TYPES``.
    """

    def __init__(
        self,
        app: ASGIApp,
        minimum_size: int = 500,
        compresslevel: int = 6,
        excluded_media_types: Iterable[str] = DEFAULT_EXCLUDED_MEDIA_TYPES,
    ) -> None:
        if minimum_size < 0:
            raise ValueError("minimum_size must be >= 0")
        if not 1 <= compresslevel <= 9:
            raise ValueError("compresslevel must be between 1 and 9")
        self.app = app
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel
        exact: set[str] = set()
        prefixes: set[str] = set()
        for media_type in excluded_media_types:
            media_type = media_type.strip().lower()
            if media_type.endswith("/*"):
                prefixes.add(media_type[:-1])
            else:
                exact.add(media_type)
        self._excluded = frozenset(exact)
        self._excluded_prefixes = tuple(sorted(prefixes))

    def is_excluded(self, content_type: bytes) -> bool:
        media_type = content_type.split(b";", 1)[0].strip().lower().decode("latin-1")
        return media_type in self._excluded or media_type.startswith(self._excluded_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "HEAD":
            await self.app(scope, receive, send)
            return
        gzip = accepts_gzip(get_header(scope, b"accept-encoding"))
        await _GZipResponder(self, send, gzip).run(scope, receive)


class _GZipResponder:
    """Per-response state: holds ``http.response.start`` until the first body chunk
    shows whether (and how) to compress."""

    __slots__ = ("compressor", "config", "gzip", "mode", "send", "start")

    def __init__(self, config: GZipMiddleware, send: Send, gzip: bool) -> None:
        self.config = config
        self.send = send
        self.gzip = gzip  # whether the client accepts gzip
        self.start: Message | None = None
        self.compressor: Any = None
        self.mode = "pending"  # -> "identity" | "gzip"

    async def run(self, scope: Scope, receive: Receive) -> None:
        await self.config.app(scope, receive, self.on_send)

    def _should_skip(self, start: Message) -> bool:
        if start.get("status", 200) in _NO_BODY_STATUS:
            return True
        for key, value in start.get("headers", ()):
            key = bytes(key).lower()
            if key in (b"content-encoding", b"content-range"):
                return True
            if key == b"content-type" and self.config.is_excluded(bytes(value)):
                return True
        return False

    def _gzip_headers(self, start: Message, length: int | None) -> RawHeaders:
        headers = []
        for key, value in start.get("headers", ()):
            lowered = bytes(key).lower()
            if lowered == b"etag":
                value = bytes(value)
                if not value.startswith(b"W/"):
                    value = b"W/" + value
                headers.append((b"etag", value))
            elif lowered not in _DROPPED:
                headers.append((key, value))
        headers.append((b"content-encoding", b"gzip"))
        if length is not None:
            headers.append((b"content-length", str(length).encode("ascii")))
        add_vary(headers, b"Accept-Encoding")
        return headers

    async def on_send(self, message: Message) -> None:
        mode = self.mode
        if mode == "identity":
            await self.send(message)
            return
        kind = message["type"]
        if mode == "gzip":
            if kind != "http.response.body":
                await self.send(message)
                return
            assert self.compressor is not None
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if more:
                if not body:
                    return
                data = self.compressor.compress(body) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
            else:
                data = self.compressor.compress(body) + self.compressor.flush(zlib.Z_FINISH)
                self.compressor = None
                self.mode = "identity"  # anything after the last chunk passes through
            await self.send({"type": "http.response.body", "body": data, "more_body": more})
            return

        # pending: the start message is held until the first body chunk arrives
        if kind == "http.response.start":
            if self._should_skip(message):
                self.mode = "identity"
                await self.send(message)
            else:
                self.start = message
            return
        start = self.start
        if start is None or kind != "http.response.body":
            # A message we do not compress (e.g. a pathsend extension): forward as is.
            self.mode = "identity"
            if start is not None:
                self.start = None
                await self.send(start)
            await self.send(message)
            return
        self.start = None
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if not more and len(body) < self.config.minimum_size:
            self.mode = "identity"
            await self.send(start)
            await self.send(message)
            return
        if not self.gzip:
            # Compressible, but not for this client: caches must still key on it.
            self.mode = "identity"
            headers = list(start.get("headers", ()))
            add_vary(headers, b"Accept-Encoding")
            start["headers"] = headers
            await self.send(start)
            await self.send(message)
            return
        compressor = zlib.compressobj(self.config.compresslevel, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        if more:
            self.compressor = compressor
            self.mode = "gzip"
            start["headers"] = self._gzip_headers(start, None)
            await self.send(start)
            data = compressor.compress(body) + compressor.flush(zlib.Z_SYNC_FLUSH) if body else b""
            await self.send({"type": "http.response.body", "body": data, "more_body": True})
            return
        data = compressor.compress(body) + compressor.flush(zlib.Z_FINISH)
        self.mode = "identity"
        start["headers"] = self._gzip_headers(start, len(data))
        await self.send(start)
        await self.send({"type": "http.response.body", "body": data, "more_body": False})
