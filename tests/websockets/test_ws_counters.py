"""WebSocket messages through the Rust core: each received and sent message is sized
(UTF-8 bytes for text), checked against the limit and counted per connection
(``websocket.counters``) and in the app's totals (``app.get_stats()``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from covet import CovetRouter, WebSocket, WebSocketDisconnect, create_asgi_app
from covet._core import WsConnection, WsCounters

ZERO = {
    "websocket_messages_received": 0,
    "websocket_messages_sent": 0,
    "websocket_bytes_received": 0,
    "websocket_bytes_sent": 0,
}


def totals(app: Any) -> dict[str, int]:
    stats = app.get_stats()
    return {key: stats[key] for key in ZERO}


def scope(path: str = "/ws") -> dict[str, Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "server": ("testserver", 80),
        "client": ("10.0.0.1", 1234),
    }


async def converse(app: Any, messages: list[dict[str, Any]], replies: int) -> list[Any]:
    """Connects, sends ``messages``, collects ``replies`` app messages, disconnects."""
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    to_app.put_nowait({"type": "websocket.connect"})
    task = asyncio.create_task(app(scope(), to_app.get, from_app.put))
    assert (await asyncio.wait_for(from_app.get(), 5))["type"] == "websocket.accept"
    for message in messages:
        to_app.put_nowait({"type": "websocket.receive", **message})
    got = [await asyncio.wait_for(from_app.get(), 5) for _ in range(replies)]
    to_app.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(task, 5)
    return got


def echo_app(seen: list[WebSocket], **kwargs: Any) -> Any:
    router = CovetRouter()

    @router.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        seen.append(websocket)
        await websocket.accept()
        while True:
            try:
                message = await websocket.receive()
            except WebSocketDisconnect:
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])

    return create_asgi_app(router, **kwargs)


async def test_counts_per_connection_and_app_totals_in_utf8_bytes() -> None:
    seen: list[WebSocket] = []
    app = echo_app(seen)
    assert totals(app) == ZERO
    texts = ["hello", "café", "€uro", "中文", "\U0001f600", "\ud800"]  # 1-, 2-, 4-byte storage
    sizes = [len(t.encode("utf-8", "surrogatepass")) for t in texts]
    await converse(app, [{"text": t} for t in texts] + [{"bytes": b"\x00\xff\x10"}], 7)
    counters = seen[0].counters
    assert counters.messages_received == counters.messages_sent == 7
    assert counters.bytes_received == counters.bytes_sent == sum(sizes) + 3

    await converse(app, [{"text": "again"}], 1)
    assert seen[1].counters.messages_received == 1
    assert totals(app) == {
        "websocket_messages_received": 8,
        "websocket_messages_sent": 8,
        "websocket_bytes_received": sum(sizes) + 3 + 5,
        "websocket_bytes_sent": sum(sizes) + 3 + 5,
    }
    app.reset_stats()
    assert totals(app) == ZERO
    assert seen[0].counters.messages_received == 7  # a connection keeps its own counts


async def test_json_and_raw_sends_are_counted_and_close_messages_are_not() -> None:
    router = CovetRouter()

    @router.websocket("/ws")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"a": 1})  # {"a":1}: 7 bytes
        await websocket.send_json([1], mode="binary")  # [1]: 3 bytes
        await websocket.send({"type": "websocket.send", "bytes": bytearray(b"12345")})
        await websocket.send({"type": "websocket.send", "bytes": memoryview(b"abcdef")[1:]})
        await websocket.close()

    app = create_asgi_app(router)
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def collect(message: dict[str, Any]) -> None:
        sent.append(message)

    to_app.put_nowait({"type": "websocket.connect"})
    await app(scope(), to_app.get, collect)
    assert [m["type"] for m in sent][-1] == "websocket.close"
    assert totals(app)["websocket_messages_sent"] == 4
    assert totals(app)["websocket_bytes_sent"] == 7 + 3 + 5 + 5


async def test_limit_is_checked_in_utf8_bytes_and_oversized_messages_are_counted() -> None:
    seen: list[WebSocket] = []
    app = echo_app(seen, websocket_max_message_size=8)
    # "éééé" is 4 code points but 8 bytes: within the limit; one more byte is not.
    replies = await converse(app, [{"text": "éééé"}, {"text": "éééé!"}], 2)
    assert replies[0] == {"type": "websocket.send", "text": "éééé"}
    assert replies[1]["type"] == "websocket.close" and replies[1]["code"] == 1009
    counters = seen[0].counters
    assert counters.messages_received == 2 and counters.bytes_received == 8 + 9
    assert counters.messages_sent == 1


async def test_limit_set_on_the_connection_applies_to_bytes() -> None:
    router = CovetRouter()
    outcome: list[Any] = []

    @router.websocket("/ws")
    async def handler(websocket: WebSocket) -> None:
        websocket.max_message_size = 4
        await websocket.accept()
        outcome.append(await websocket.receive_bytes())
        try:
            await websocket.receive_bytes()
        except WebSocketDisconnect as exc:
            outcome.append(exc.code)

    app = create_asgi_app(router, websocket_max_message_size=None)
    await converse(app, [{"bytes": b"1234"}, {"bytes": b"12345"}], 1)
    assert outcome == [b"1234", 1009]


async def test_no_limit_lets_any_size_through_and_counts_it() -> None:
    seen: list[WebSocket] = []
    app = echo_app(seen, websocket_max_message_size=None)
    big = "x" * (3 * 1024 * 1024)
    replies = await converse(app, [{"text": big}], 1)
    assert replies[0]["text"] == big
    assert seen[0].counters.bytes_received == len(big)


def test_a_websocket_made_outside_an_app_counts_on_its_own() -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "websocket.receive", "text": "hi"}

    async def send(message: dict[str, Any]) -> None:
        return None

    websocket = WebSocket(scope(), receive, send)
    assert isinstance(websocket.counters, WsConnection)
    assert websocket.counters.messages_received == 0


def test_connection_counters_add_into_their_totals_only() -> None:
    first, second = WsCounters(), WsCounters()
    a, b = first.connection(), second.connection()
    assert a.received({"text": "héllo"}, 10) is True
    assert a.received({"bytes": b"x" * 11, "text": None}, 10) is False
    b.sent({"type": "websocket.send", "text": "abc"})
    b.sent_text("é")
    assert first.snapshot() == {
        "websocket_messages_received": 2,
        "websocket_messages_sent": 0,
        "websocket_bytes_received": 6 + 11,
        "websocket_bytes_sent": 0,
    }
    assert second.snapshot()["websocket_bytes_sent"] == 3 + 2
    alone = WsConnection()
    assert alone.received({"text": ""}, None) is True
    assert alone.received({}, 0) is True  # no payload at all: 0 bytes


def test_bad_message_payloads_raise_instead_of_being_miscounted() -> None:
    counts = WsCounters().connection()
    with pytest.raises(TypeError):
        counts.received({"text": b"not a str"}, None)
    with pytest.raises(OverflowError):
        counts.received({"text": "x"}, -1)


def test_sizing_text_is_linear_in_its_length() -> None:
    """Guards against sizing by repeated slicing or encoding per character: 8x the
    text must cost far less than 64x (quadratic) the time."""
    import time

    counts = WsCounters().connection()

    def cost(n: int) -> float:
        message = {"text": "中" * n}
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            counts.received(message, None)
            best = min(best, time.perf_counter() - start)
        return best

    small, large = cost(1 << 18), cost(1 << 21)
    assert large < small * 24
