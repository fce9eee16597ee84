"""The scenarios in Falcon (ASGI flavour, ``falcon.asgi.App``)."""

from __future__ import annotations

from typing import Any

import falcon
import falcon.asgi

from apps.common import JSON_PAYLOAD, ROUTE_COUNT, TEXT, table_route


class Plain:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = TEXT


class Json:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = JSON_PAYLOAD


class UserPost:
    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, user_id: int, slug: str
    ) -> None:
        resp.media = {"user_id": user_id, "slug": slug}


class Echo:
    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = await req.get_media()


class Query:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {
            "a": req.get_param("a"),
            "b": req.get_param("b"),
            "c": req.get_param("c"),
            "token": req.get_header("x-token"),
        }


class WsEcho:
    async def on_websocket(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        await ws.accept()
        while True:
            try:
                message = await ws.receive_text()
            except falcon.WebSocketDisconnected:
                return
            await ws.send_text(message)


class TableStatic:
    def __init__(self, i: int) -> None:
        self.i = i

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"r{self.i}"


class TableParam(TableStatic):
    async def on_get(  # type: ignore[override]
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, item_id: int
    ) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"r{self.i}:{item_id}"


app = falcon.asgi.App()
app.add_route("/", Plain())
app.add_route("/json", Json())
app.add_route("/users/{user_id:int}/posts/{slug}", UserPost())
app.add_route("/echo", Echo())
app.add_route("/query", Query())
app.add_route("/ws", WsEcho())
for _i in range(ROUTE_COUNT):
    _prefix, _has_param = table_route(_i)
    _resource: Any = TableParam(_i) if _has_param else TableStatic(_i)
    app.add_route(f"{_prefix}/{{item_id:int}}" if _has_param else _prefix, _resource)

PENDING: frozenset[str] = frozenset()
