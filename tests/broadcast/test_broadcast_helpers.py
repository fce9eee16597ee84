"""pump_to_websocket and sse_stream: a subscription carried to a WebSocket or an
EventSourceResponse, ending cleanly when the client leaves, and a slow client dropped
with a clear signal."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from covet import CovetRouter, EventSourceResponse, WebSocket, create_asgi_app
from covet.broadcast import Broadcast, BroadcastUnavailable, pump_to_websocket, sse_stream
from covet.testing import ASGITestClient

Message = dict[str, Any]


class Peer:
    """Plays the server side of one accepted WebSocket: queues what the client sends,
    records what the app sends; ``gate`` (when cleared) holds every app send."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[Message] = asyncio.Queue()
        self.sent: list[Message] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.sending = asyncio.Event()
        scope = {
            "type": "websocket",
            "path": "/ws",
            "raw_path": b"/ws",
            "query_string": b"",
            "headers": [],
            "subprotocols": [],
        }
        self.websocket = WebSocket(scope, self.incoming.get, self.send)

    async def send(self, message: Message) -> None:
        self.sending.set()
        await self.gate.wait()
        self.sent.append(message)

    async def accept(self) -> None:
        self.incoming.put_nowait({"type": "websocket.connect"})
        await self.websocket.accept()

    def texts(self) -> list[str]:
        return [m["text"] for m in self.sent if m["type"] == "websocket.send"]

    def close_code(self) -> int | None:
        closes = [m["code"] for m in self.sent if m["type"] == "websocket.close"]
        return closes[-1] if closes else None


async def until(condition: Any, timeout: float = 2.0) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(wait(), timeout)


async def test_pump_sends_every_event_and_hands_client_messages_to_on_receive() -> None:
    received: list[str] = []
    peer = Peer()
    await peer.accept()
    async with Broadcast("memory://") as broadcast:
        async with broadcast.subscribe(channel="c") as subscriber:

            async def on_receive(text: str) -> None:
                received.append(text)
                await broadcast.publish(channel="c", message=f"echo {text}")

            pump = asyncio.ensure_future(
                pump_to_websocket(subscriber, peer.websocket, on_receive=on_receive)
            )
            await broadcast.publish(channel="c", message="from elsewhere")
            peer.incoming.put_nowait({"type": "websocket.receive", "text": "hi"})
            await until(lambda: len(peer.texts()) == 2)
            assert peer.texts() == ["from elsewhere", "echo hi"]
            assert received == ["hi"]
            peer.incoming.put_nowait({"type": "websocket.disconnect", "code": 1001})
            await asyncio.wait_for(pump, 1)  # the client left: the pump returns
            assert peer.close_code() is None


async def test_pump_closes_a_client_that_fell_behind_with_1013() -> None:
    peer = Peer()
    await peer.accept()
    async with Broadcast("memory://", max_queue=2) as broadcast:
        async with broadcast.subscribe(channel="c") as subscriber:
            pump = asyncio.ensure_future(pump_to_websocket(subscriber, peer.websocket))
            peer.gate.clear()  # the client stops reading: sends block
            await broadcast.publish(channel="c", message="0")
            await until(peer.sending.is_set)
            for n in range(1, 4):  # 1 and 2 fill the queue, 3 overflows it
                await broadcast.publish(channel="c", message=str(n))
            assert broadcast.subscriber_count("c") == 0
            peer.gate.set()
            await asyncio.wait_for(pump, 1)
    assert peer.texts() == ["0"]
    assert peer.close_code() == 1013


async def test_pump_closes_with_1001_when_the_broadcast_disconnects() -> None:
    peer = Peer()
    await peer.accept()
    broadcast = Broadcast("memory://")
    await broadcast.connect()
    async with broadcast.subscribe(channel="c") as subscriber:
        pump = asyncio.ensure_future(pump_to_websocket(subscriber, peer.websocket))
        await asyncio.sleep(0)
        await broadcast.disconnect()
        await asyncio.wait_for(pump, 1)
    assert peer.close_code() == 1001


async def test_an_on_receive_error_propagates_from_the_pump() -> None:
    peer = Peer()
    await peer.accept()

    async def failing(text: str) -> None:
        raise BroadcastUnavailable("down")

    async with Broadcast("memory://") as broadcast:
        async with broadcast.subscribe(channel="c") as subscriber:
            peer.incoming.put_nowait({"type": "websocket.receive", "text": "x"})
            with pytest.raises(BroadcastUnavailable):
                await asyncio.wait_for(
                    pump_to_websocket(subscriber, peer.websocket, on_receive=failing), 1
                )


async def test_websocket_clients_of_an_app_share_a_room_and_leave_no_subscription() -> None:
    broadcast = Broadcast("memory://")
    router = CovetRouter()

    @router.websocket("/ws/{room}")
    async def room(websocket: WebSocket) -> None:
        channel = websocket.path_params["room"]
        async with broadcast.subscribe(channel=channel) as subscriber:
            await websocket.accept()

            async def publish(text: str) -> None:
                await broadcast.publish(channel=channel, message=text)

            await pump_to_websocket(subscriber, websocket, on_receive=publish)

    app = create_asgi_app(
        router=router, on_startup=[broadcast.connect], on_shutdown=[broadcast.disconnect]
    )
    async with ASGITestClient(app) as client:
        async with (
            client.websocket_connect("/ws/a") as one,
            client.websocket_connect("/ws/a") as two,
        ):
            await one.send_text("hello")
            assert await two.receive_text() == "hello"
            assert await one.receive_text() == "hello"
            assert broadcast.subscriber_count("a") == 2
        await until(lambda: broadcast.subscriber_count("a") == 0)


# -- Server-Sent Events ------------------------------------------------------------------
class SSEExchange:
    """Runs an EventSourceResponse as a server would, until ``leave()``."""

    def __init__(self, response: EventSourceResponse) -> None:
        self.chunks: list[bytes] = []
        self.left = asyncio.Event()
        scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
        self.task = asyncio.ensure_future(response(scope, self.receive, self.send))

    async def receive(self) -> Message:
        await self.left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            self.chunks.append(message["body"])

    def text(self) -> str:
        return b"".join(self.chunks).decode()

    async def leave(self) -> None:
        self.left.set()
        await asyncio.wait_for(self.task, 1)


async def test_sse_stream_says_subscribed_then_sends_each_message_and_unsubscribes_on_leave() -> (
    None
):
    async with Broadcast("memory://") as broadcast:
        stream = await sse_stream(broadcast, "news", event="update")
        assert broadcast.subscriber_count("news") == 1  # live before the response starts
        exchange = SSEExchange(EventSourceResponse(stream))
        await until(lambda: exchange.text() == ": subscribed\n\n")
        await broadcast.publish(channel="news", message="first")
        await broadcast.publish(channel="news", message="two\nlines")
        await until(lambda: exchange.text().count("event: update") == 2)
        assert exchange.text() == (
            ": subscribed\n\n"
            "event: update\ndata: first\n\n"
            "event: update\ndata: two\ndata: lines\n\n"
        )
        await exchange.leave()
        assert broadcast.subscriber_count("news") == 0


async def test_sse_stream_of_a_client_that_fell_behind_ends_with_a_comment() -> None:
    async with Broadcast("memory://") as broadcast:
        stream = await sse_stream(broadcast, "c", max_queue=2)
        for n in range(3):
            await broadcast.publish(channel="c", message=str(n))
        exchange = SSEExchange(EventSourceResponse(stream))
        await asyncio.wait_for(exchange.task, 1)  # the stream ends by itself
        assert exchange.text().startswith(": subscribed\n\n: subscriber of 'c' fell 2")
        assert "data:" not in exchange.text()
        assert broadcast.subscriber_count("c") == 0


async def test_sse_stream_ends_when_the_broadcast_disconnects() -> None:
    broadcast = Broadcast("memory://")
    await broadcast.connect()
    exchange = SSEExchange(EventSourceResponse(await sse_stream(broadcast, "c")))
    await until(lambda: exchange.text() == ": subscribed\n\n")
    await broadcast.disconnect()
    await asyncio.wait_for(exchange.task, 1)


async def test_an_sse_stream_that_is_never_sent_does_not_keep_its_subscription() -> None:
    async with Broadcast("memory://") as broadcast:
        stream = await sse_stream(broadcast, "c")
        assert broadcast.subscriber_count("c") == 1
        del stream
        gc.collect()
        assert broadcast.subscriber_count("c") == 0


async def test_sse_stream_checks_its_arguments() -> None:
    async with Broadcast("memory://") as broadcast:
        with pytest.raises(ValueError):
            await sse_stream(broadcast, "")
        with pytest.raises(ValueError):
            await sse_stream(broadcast, "c", max_queue=-1)
