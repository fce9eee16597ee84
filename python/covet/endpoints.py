"""Class-based endpoints, as Starlette spells them.

``HTTPEndpoint``: one method per HTTP verb. Registered without ``methods``, a class
answers the verbs it defines (HEAD with ``get``); other verbs get 405 with
``Allow``::

    class User(HTTPEndpoint):
        async def get(self, request):
            return {"id": request.path_params["id"]}

        def delete(self, request):          # sync methods run in a thread
            ...

    router.add_route("/users/{id:int}", User)

``WebSocketEndpoint``: ``on_connect`` (accepts by default), ``on_receive`` for every
message decoded per ``encoding`` (``"text"``, ``"bytes"``, ``"json"`` or None for
the raw message), ``on_disconnect`` with the close code. A message of the wrong
kind closes the connection with 1003.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from covet.concurrency import is_async_callable, run_in_threadpool
from covet.types import Receive, Scope, Send
from covet.websockets import WebSocket, WebSocketDisconnect

if TYPE_CHECKING:
    from covet.requests import Request

__all__ = ["HTTPEndpoint", "WebSocketEndpoint"]

#: The verbs an ``HTTPEndpoint`` may define, as method names.
HTTP_VERBS = ("get", "head", "post", "put", "patch", "delete", "options")


class HTTPEndpoint:
    """A class whose methods named after HTTP verbs handle the requests of one
    route. A new instance serves each request (``self.scope``, ``self.request``)."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send

    @classmethod
    def allowed_methods(cls) -> list[str]:
        """The verbs this class defines, upper case (what a route registers)."""
        return [verb.upper() for verb in HTTP_VERBS if callable(getattr(cls, verb, None))]

    @classmethod
    async def handle(cls, request: Request) -> Any:
        """The route's endpoint: an instance's method for the request's verb."""
        endpoint = cls(request.scope, request._receive, _no_send)
        endpoint.request = request
        method = request.method.lower()
        handler = getattr(endpoint, method, None)
        if handler is None and method == "head":
            handler = getattr(endpoint, "get", None)
        if handler is None:
            return await endpoint.method_not_allowed(request)
        if is_async_callable(handler):
            return await handler(request)
        return await run_in_threadpool(handler, request)

    async def method_not_allowed(self, request: Request) -> Any:
        from covet.exceptions import HTTPException

        allow = ", ".join(sorted(self.allowed_methods()))
        raise HTTPException(405, headers={"allow": allow})

    request: Request


async def _no_send(message: Any) -> None:
    raise RuntimeError("an HTTPEndpoint returns its response; it does not send")


class WebSocketEndpoint:
    """A class-based WebSocket handler (see the module docstring)."""

    encoding: ClassVar[str | None] = None

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send

    @classmethod
    async def handle(cls, websocket: WebSocket) -> None:
        """The route's endpoint: connect, then one ``on_receive`` per message until
        the peer leaves, then ``on_disconnect``."""
        if cls.encoding not in (None, "text", "bytes", "json"):
            raise ValueError(f"unknown WebSocketEndpoint.encoding {cls.encoding!r}")
        endpoint = cls(websocket.scope, websocket.receive, websocket.send)
        await endpoint.on_connect(websocket)
        close_code = 1000
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    close_code = int(message.get("code") or 1000)
                    break
                data = await endpoint.decode(websocket, message)
                await endpoint.on_receive(websocket, data)
        except WebSocketDisconnect as exc:
            close_code = exc.code
        except Exception:
            close_code = 1011
            raise
        finally:
            await endpoint.on_disconnect(websocket, close_code)

    async def decode(self, websocket: WebSocket, message: dict[str, Any]) -> Any:
        """The message's payload per ``encoding``; the wrong kind closes with 1003."""
        text, data = message.get("text"), message.get("bytes")
        if self.encoding == "text":
            if text is None:
                await websocket.close(1003)
                raise WebSocketDisconnect(1003, "expected a text message")
            return text
        if self.encoding == "bytes":
            if data is None:
                await websocket.close(1003)
                raise WebSocketDisconnect(1003, "expected a binary message")
            return data
        if self.encoding == "json":
            try:
                payload = text if text is not None else data
                if payload is None:
                    raise TypeError("no payload")
                return orjson.loads(payload)
            except (orjson.JSONDecodeError, TypeError):
                await websocket.close(1003)
                raise WebSocketDisconnect(1003, "malformed JSON") from None
        return message

    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        """Override to handle a message."""

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        """Override to run code when the connection ends."""
