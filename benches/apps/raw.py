"""The baseline: a hand-written ASGI app, as a careful engineer would write it without
a framework (dict dispatch for static paths, split-and-check for the parameterised
ones, stdlib ``json``, pre-built header lists). It is the "1.0x" of every ratio."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from apps.common import JSON_PAYLOAD, ROUTE_COUNT, TEXT, table_route

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

TEXT_TYPE = (b"content-type", b"text/plain; charset=utf-8")
JSON_TYPE = (b"content-type", b"application/json")
TEXT_BODY = TEXT.encode()
TEXT_HEADERS = [TEXT_TYPE, (b"content-length", b"%d" % len(TEXT_BODY))]
NOT_FOUND_BODY = b"Not Found"
NOT_FOUND_HEADERS = [TEXT_TYPE, (b"content-length", b"%d" % len(NOT_FOUND_BODY))]


async def respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def respond_text(send: Send, text: str) -> None:
    body = text.encode()
    await respond(send, 200, [TEXT_TYPE, (b"content-length", b"%d" % len(body))], body)


async def respond_json(send: Send, data: Any) -> None:
    body = json.dumps(data).encode()
    await respond(send, 200, [JSON_TYPE, (b"content-length", b"%d" % len(body))], body)


async def plain(scope: Scope, receive: Receive, send: Send) -> None:
    await respond(send, 200, TEXT_HEADERS, TEXT_BODY)


async def json_view(scope: Scope, receive: Receive, send: Send) -> None:
    await respond_json(send, JSON_PAYLOAD)


async def query_view(scope: Scope, receive: Receive, send: Send) -> None:
    params = dict(parse_qsl(scope["query_string"].decode("latin-1")))
    token = ""
    for name, value in scope["headers"]:
        if name == b"x-token":
            token = value.decode("latin-1")
            break
    data = {"a": params.get("a"), "b": params.get("b"), "c": params.get("c"), "token": token}
    await respond_json(send, data)


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["method"] != "POST":
        await respond(send, 405, NOT_FOUND_HEADERS, NOT_FOUND_BODY)
        return
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    await respond_json(send, json.loads(b"".join(chunks)))


def table_static(i: int) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def view(scope: Scope, receive: Receive, send: Send) -> None:
        await respond_text(send, f"r{i}")

    return view


STATIC: dict[str, Callable[[Scope, Receive, Send], Awaitable[None]]] = {
    "/": plain,
    "/json": json_view,
    "/query": query_view,
    "/echo": echo,
}
#: ``res{i}`` -> route index, for the table routes that take an int parameter.
TABLE_PARAM: dict[str, int] = {}
for _i in range(ROUTE_COUNT):
    _prefix, _has_param = table_route(_i)
    if _has_param:
        TABLE_PARAM[_prefix.rsplit("/", 1)[1]] = _i
    else:
        STATIC[_prefix] = table_static(_i)


async def http(scope: Scope, receive: Receive, send: Send) -> None:
    path = scope["path"]
    view = STATIC.get(path)
    if view is not None:
        await view(scope, receive, send)
        return
    parts = path.split("/")
    if len(parts) == 5 and parts[1] == "users" and parts[3] == "posts" and parts[4]:
        if parts[2].isdigit():
            await respond_json(send, {"user_id": int(parts[2]), "slug": parts[4]})
            return
    elif len(parts) == 5 and parts[1] == "api" and parts[2] == "v1":
        index = TABLE_PARAM.get(parts[3])
        if index is not None and parts[4].isdigit():
            await respond_text(send, f"r{index}:{int(parts[4])}")
            return
    await respond(send, 404, NOT_FOUND_HEADERS, NOT_FOUND_BODY)


async def websocket(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect" or scope["path"] != "/ws":
        await send({"type": "websocket.close", "code": 1000})
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message.get("text")})


async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    kind = scope["type"]
    if kind == "http":
        await http(scope, receive, send)
    elif kind == "websocket":
        await websocket(scope, receive, send)
    else:
        await lifespan(scope, receive, send)


PENDING: frozenset[str] = frozenset()
