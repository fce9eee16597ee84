"""WebSocketException's str/repr (Starlette's), and denial responses sent in several
messages by a handler, with the message order checked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from covet import CovetRouter, WebSocket, WebSocketException, create_asgi_app
from covet.responses import PlainTextResponse, StreamingResponse
from covet.testing import ASGITestClient, WebSocketRejected
from covet.websockets import WebSocketState


def test_websocket_exception_str_and_repr_name_code_and_reason() -> None:
    exc = WebSocketException(4001, "token expired")
    assert str(exc) == "4001: token expired"
    assert repr(exc) == "WebSocketException(code=4001, reason='token expired')"
    assert str(WebSocketException()) == "1008: "
    assert repr(WebSocketException()) == "WebSocketException(code=1008, reason='')"

    class Subclassed(WebSocketException):
        pass

    assert repr(Subclassed(1011, "x")) == "Subclassed(code=1011, reason='x')"


class Server:
    """Plays the server for one WebSocket: collects what the app sends."""

    def __init__(self, denial: bool = True) -> None:
        self.sent: list[dict[str, Any]] = []
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.incoming.put_nowait({"type": "websocket.connect"})
        self.scope: dict[str, Any] = {
            "type": "websocket",
            "path": "/ws",
            "headers": [(b"host", b"example.com")],
            "extensions": {"websocket.http.response": {}} if denial else {},
        }

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def websocket(self) -> WebSocket:
        return WebSocket(self.scope, self.receive, self.send)


START = {"type": "websocket.http.response.start", "status": 401, "headers": [(b"x-a", b"1")]}


def body(data: bytes, more: bool) -> dict[str, Any]:
    return {"type": "websocket.http.response.body", "body": data, "more_body": more}


async def test_handler_sends_a_denial_response_in_several_messages() -> None:
    server = Server()
    websocket = server.websocket()
    await websocket.send(START)
    await websocket.send(body(b"log ", True))
    await websocket.send(body(b"in ", True))
    await websocket.send(body(b"first", False))
    assert [m["type"] for m in server.sent] == [
        "websocket.http.response.start",
        *["websocket.http.response.body"] * 3,
    ]
    assert server.sent[0]["status"] == 401
    assert b"".join(m["body"] for m in server.sent[1:]) == b"log in first"
    assert websocket.application_state is WebSocketState.RESPONSE


async def test_denial_body_before_its_start_is_refused() -> None:
    server = Server()
    with pytest.raises(RuntimeError, match=r"websocket\.http\.response\.start"):
        await server.websocket().send(body(b"x", False))
    assert server.sent == []


async def test_denial_start_twice_or_websocket_send_during_a_denial_is_refused() -> None:
    server = Server()
    websocket = server.websocket()
    await websocket.send(START)
    with pytest.raises(RuntimeError, match=r"expected 'websocket\.http\.response\.body'"):
        await websocket.send(START)
    with pytest.raises(RuntimeError, match=r"expected 'websocket\.http\.response\.body'"):
        await websocket.send({"type": "websocket.send", "text": "hi"})
    assert len(server.sent) == 1


async def test_nothing_may_follow_a_complete_denial_response() -> None:
    server = Server()
    websocket = server.websocket()
    await websocket.send(START)
    await websocket.send(body(b"done", False))
    with pytest.raises(RuntimeError, match="already complete"):
        await websocket.send(body(b"more", False))
    with pytest.raises(RuntimeError, match="expected nothing more"):
        await websocket.send({"type": "websocket.send", "text": "late"})
    with pytest.raises(RuntimeError):
        await websocket.accept()
    assert len(server.sent) == 2


async def test_denial_start_needs_the_server_extension() -> None:
    server = Server(denial=False)
    with pytest.raises(RuntimeError, match=r"does not offer the websocket\.http\.response"):
        await server.websocket().send(START)
    assert server.sent == []


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({**START, "status": 42}, ValueError),
        ({**START, "status": "401"}, ValueError),
        ({**START, "headers": [(b"x", b"a\r\nset-cookie: evil=1")]}, ValueError),
        ({**START, "headers": [(b"bad name", b"v")]}, ValueError),
    ],
)
async def test_bad_denial_start_is_refused_before_reaching_the_server(
    message: dict[str, Any], error: type[Exception]
) -> None:
    server = Server()
    websocket = server.websocket()
    with pytest.raises(error):
        await websocket.send(message)
    assert server.sent == []
    assert websocket.application_state is WebSocketState.CONNECTING


async def test_denial_body_must_be_bytes() -> None:
    server = Server()
    websocket = server.websocket()
    await websocket.send(START)
    with pytest.raises(TypeError, match="must be bytes"):
        await websocket.send({"type": "websocket.http.response.body", "body": "text"})


async def test_streaming_denial_response_through_the_app_reaches_the_client() -> None:
    router = CovetRouter()

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"not ", b"without ", b"a token"):
            yield part

    @router.websocket("/stream-deny")
    async def stream_deny(websocket: WebSocket) -> None:
        await websocket.send_denial_response(
            StreamingResponse(chunks(), status_code=403, media_type="text/plain")
        )

    @router.websocket("/manual-deny")
    async def manual_deny(websocket: WebSocket) -> None:
        await websocket.send(
            {
                "type": "websocket.http.response.start",
                "status": 429,
                "headers": [(b"content-type", b"text/plain"), (b"retry-after", b"3")],
            }
        )
        await websocket.send(body(b"slow ", True))
        await websocket.send(body(b"down", False))

    @router.websocket("/plain-deny")
    async def plain_deny(websocket: WebSocket) -> None:
        await websocket.send_denial_response(PlainTextResponse("go away", 401))

    client = ASGITestClient(create_asgi_app(router))
    for path, status, text in [
        ("/stream-deny", 403, "not without a token"),
        ("/manual-deny", 429, "slow down"),
        ("/plain-deny", 401, "go away"),
    ]:
        with pytest.raises(WebSocketRejected) as info:
            async with client.websocket_connect(path):
                pass
        assert info.value.status_code == status, path
        assert info.value.response is not None and info.value.response.text == text
    # The manual denial kept its headers.
    with pytest.raises(WebSocketRejected) as info:
        async with client.websocket_connect("/manual-deny"):
            pass
    assert info.value.response is not None
    assert info.value.response.headers["retry-after"] == "3"
