"""Helpers shared by the form, multipart, limits and request-body tests: a
multipart/form-data encoder written independently of the framework, and a way to
drive an app with a hand-made ``receive`` (lazy bodies, disconnects)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Union

from covet.app import create_asgi_app
from covet.limits import Limits
from covet.routing import CovetRouter

BOUNDARY = "covet-test-boundary-7MA4YWxk"

#: A field value: a str, or ``(filename, content, content_type or None)``.
Value = Union[str, tuple[str, bytes, Union[str, None]]]


def encode_multipart(
    fields: Iterable[tuple[str, Value]], boundary: str = BOUNDARY
) -> tuple[bytes, str]:
    """``(body, content_type)`` for the fields, as a browser would send them."""
    out = bytearray()
    for name, value in fields:
        out += f"--{boundary}\r\n".encode()
        if isinstance(value, str):
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            out += value.encode()
        else:
            filename, content, content_type = value
            out += (
                f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            ).encode()
            if content_type is not None:
                out += f"Content-Type: {content_type}\r\n".encode()
            out += b"\r\n" + content
        out += b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def make_app(
    handler: Callable[[Any], Awaitable[Any]],
    limits: Limits | None = None,
    path: str = "/",
    **kwargs: Any,
) -> Any:
    router = CovetRouter()
    router.add_route(path, handler, ["GET", "POST", "PUT"])
    if limits is not None:
        kwargs["limits"] = limits
    return create_asgi_app(router=router, **kwargs)


def http_scope(
    method: str = "POST",
    path: str = "/",
    headers: Iterable[tuple[bytes, bytes]] = (),
    query_string: bytes = b"",
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query_string,
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }


class Result:
    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.receive_calls = 0

    def json(self) -> Any:
        import orjson

        return orjson.loads(self.body)


async def drive(
    app: Any,
    chunks: Iterable[bytes],
    *,
    headers: Iterable[tuple[bytes, bytes]] = (),
    disconnect_after: int | None = None,
    method: str = "POST",
    path: str = "/",
) -> Result:
    """Runs one request whose body is produced lazily from ``chunks``. With
    ``disconnect_after=n`` the client sends ``http.disconnect`` instead of chunk n."""
    result = Result()
    iterator = iter(chunks)
    pending: list[bytes] = []
    done = False

    def next_chunk() -> bytes | None:
        return next(iterator, None)

    async def receive() -> dict[str, Any]:
        nonlocal done
        result.receive_calls += 1
        if done:
            return {"type": "http.disconnect"}
        if disconnect_after is not None and result.receive_calls > disconnect_after:
            done = True
            return {"type": "http.disconnect"}
        chunk = pending.pop() if pending else next_chunk()
        if chunk is None:
            done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        following = next_chunk()
        if following is None:
            done = True
            return {"type": "http.request", "body": chunk, "more_body": False}
        pending.append(following)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            result.status = message["status"]
            result.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            result.body += message.get("body", b"")

    await app(http_scope(method, path, headers), receive, send)
    return result


def temp_fds() -> int:
    """Open file descriptors of this process that point into the temp directory
    (anonymous temporary files show up as ``/tmp/#123 (deleted)``)."""
    tmp = os.path.realpath(tempfile.gettempdir())
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(tmp + "/"):
            count += 1
    return count
