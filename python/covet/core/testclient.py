"""An in-process ASGI test client: drives an app through the ASGI interface, with no
sockets, so tests run fast and deterministically."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from covet.core.datastructures import Headers


class TestResponse:
    """The response an app sent. Readable as attributes (``.status_code``,
    ``.headers``, ``.text``, ``.json()``) and, as the guide shows, as
    ``response["status_code"]``."""

    __test__ = False  # not a pytest test class

    def __init__(self, status_code: int, raw_headers: list[tuple[bytes, bytes]], body: bytes):
        self.status_code = status_code
        self.headers = Headers(raw=raw_headers)
        self.content = body

    @property
    def body(self) -> bytes:
        return self.content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")

    def json(self) -> Any:
        return orjson.loads(self.content)

    def __getitem__(self, key: str) -> Any:
        if key == "json":
            return self.json()
        if key in ("status_code", "headers", "body", "content", "text"):
            return getattr(self, key)
        raise KeyError(key)

    def __repr__(self) -> str:
        return f"<TestResponse {self.status_code}>"


class ASGITestClient:
    """``await client.get("/path")`` and friends against an ASGI app, in process."""

    __test__ = False

    def __init__(
        self,
        app: Any,
        base_url: str = "http://testserver",
        root_path: str = "",
        client: tuple[str, int] = ("testclient", 50000),
    ) -> None:
        self.app = app
        parts = urlsplit(base_url)
        self.scheme = parts.scheme or "http"
        self.host = parts.hostname or "testserver"
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.root_path = root_path
        self.client = client

    def _scope(
        self, method: str, path: str, query: str, headers: list[tuple[bytes, bytes]]
    ) -> dict[str, Any]:
        full_path = self.root_path + path
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": method.upper(),
            "scheme": self.scheme,
            "path": full_path,
            "raw_path": full_path.encode("utf-8"),
            "root_path": self.root_path,
            "query_string": query.encode("latin-1"),
            "headers": headers,
            "client": self.client,
            "server": (self.host, self.port),
            "state": {},
        }

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        chunk_size: int | None = None,
    ) -> TestResponse:
        raw_headers: list[tuple[bytes, bytes]] = [(b"host", self.host.encode())]
        content_type = None
        if json is not None:
            body = orjson.dumps(json)
            content_type = "application/json"
        elif data is not None:
            body = urlencode(data).encode()
            content_type = "application/x-www-form-urlencoded"
        body = body or b""
        if content_type:
            raw_headers.append((b"content-type", content_type.encode()))
        if body:
            raw_headers.append((b"content-length", str(len(body)).encode()))
        if cookies:
            cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
            raw_headers.append((b"cookie", cookie.encode("latin-1")))
        for name, value in (headers or {}).items():
            raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        path, _, query = path.partition("?")
        if params:
            query = "&".join(filter(None, [query, urlencode(params)]))

        chunks = _split(body, chunk_size)
        sent: list[dict[str, Any]] = []
        request_done = False

        async def receive() -> dict[str, Any]:
            nonlocal request_done
            if chunks:
                chunk = chunks.pop(0)
                return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
            if not request_done:
                request_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(self._scope(method, path, query, raw_headers), receive, send)
        return _collect(sent)

    async def get(self, path: str, **kwargs: Any) -> TestResponse:
        return await self.request("GET", path, **kwargs)

    async def head(self, path: str, **kwargs: Any) -> TestResponse:
        return await self.request("HEAD", path, **kwargs)

    async def options(self, path: str, **kwargs: Any) -> TestResponse:
        return await self.request("OPTIONS", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> TestResponse:
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> TestResponse:
        return await self.request("PUT", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> TestResponse:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return await self.request("DELETE", path, **kwargs)


def _split(body: bytes, chunk_size: int | None) -> list[bytes]:
    if not body:
        return []
    if not chunk_size:
        return [body]
    return [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)]


def _collect(sent: list[dict[str, Any]]) -> TestResponse:
    if not sent or sent[0]["type"] != "http.response.start":
        raise AssertionError(f"the app did not start a response: {sent!r}")
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:] if m["type"] == "http.response.body")
    return TestResponse(start["status"], list(start.get("headers", [])), body)
