"""examples/chat.py: rooms over WebSockets, SSE and HTTP POST, its input checks, and
503 while Redis is unreachable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from examples import chat
from websockets.asyncio.client import connect

from conftest import Server
from covet.broadcast import Broadcast
from covet.testing import ASGITestClient
from deploy.processes import RedisProcess


@pytest.fixture
async def client() -> AsyncIterator[ASGITestClient]:
    async with ASGITestClient(chat.app) as client:  # runs on_startup: broadcast.connect
        yield client


async def test_the_page_is_served(client: ASGITestClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "new WebSocket(" in response.text


async def test_websocket_clients_of_a_room_hear_each_other_and_posts(
    client: ASGITestClient,
) -> None:
    async with (
        client.websocket_connect("/ws/lobby?user=alice") as alice,
        client.websocket_connect("/ws/lobby") as anonymous,
        client.websocket_connect("/ws/elsewhere?user=eve") as eve,
    ):
        hello = await alice.receive_json()
        assert hello == {"type": "hello", "room": "lobby", "user": "alice", "worker": chat.WORKER}
        assert (await anonymous.receive_json())["user"] == "anonymous"
        await eve.receive_json()

        await alice.send_text("hi all")
        expected = {
            "type": "message",
            "room": "lobby",
            "user": "alice",
            "text": "hi all",
            "worker": chat.WORKER,
        }
        assert await anonymous.receive_json() == expected
        assert await alice.receive_json() == expected

        response = await client.post(
            "/rooms/lobby/messages", json={"user": "bob", "text": "from HTTP"}
        )
        assert response.status_code == 202
        for ws in (alice, anonymous):
            message = await ws.receive_json()
            assert (message["user"], message["text"]) == ("bob", "from HTTP")

        await alice.send_text("x" * (chat.MAX_TEXT + 1))
        assert (await alice.receive_json())["type"] == "error"  # to the sender only
        await alice.send_text("after the error")
        assert (await anonymous.receive_json())["text"] == "after the error"
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(eve.receive_json(), 0.1)  # other rooms hear nothing


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/rooms/no%20spaces/messages", {"text": "x"}, 404),
        ("/rooms/" + "r" * 65 + "/messages", {"text": "x"}, 404),
        ("/rooms/lobby/messages", {"text": ""}, 422),
        ("/rooms/lobby/messages", {"text": "x" * 1001}, 422),
        ("/rooms/lobby/messages", {"text": 5}, 422),
        ("/rooms/lobby/messages", {}, 422),
        ("/rooms/lobby/messages", {"text": "x", "user": "u" * 33}, 422),
        ("/rooms/lobby/messages", {"text": "x", "user": ""}, 422),
        ("/rooms/lobby/messages", ["not", "an", "object"], 422),
    ],
)
async def test_bad_messages_get_clear_errors(
    client: ASGITestClient, path: str, body: Any, status: int
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == status
    assert "detail" in response.json()


async def test_malformed_json_is_a_400(client: ASGITestClient) -> None:
    response = await client.post(
        "/rooms/lobby/messages", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


async def test_posting_while_redis_is_unreachable_answers_503(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with RedisProcess() as redis:
        broadcast = Broadcast(redis.url, timeout=1.0)
        monkeypatch.setattr(chat, "broadcast", broadcast)
        # The app's lifespan connects the module's own (memory) broadcast; the
        # handlers use this one.
        async with broadcast, ASGITestClient(chat.app) as client:
            body = {"user": "a", "text": "hi"}
            assert (await client.post("/rooms/lobby/messages", json=body)).status_code == 202
            redis.stop()
            response = await client.post("/rooms/lobby/messages", json=body)
            assert response.status_code == 503
            assert response.json() == {"detail": "chat is unavailable, try again"}
            assert (await client.get("/rooms/lobby/events")).status_code == 503


async def test_runs_under_uvicorn(serve: Any) -> None:
    server: Server = serve("examples.chat:app")
    url = f"ws://127.0.0.1:{server.port}/ws/lobby?user=u"
    async with connect(url, open_timeout=5) as one, connect(url, open_timeout=5) as two:
        await one.recv()
        await two.recv()
        await one.send("over a socket")
        assert json.loads(await asyncio.wait_for(two.recv(), 5))["text"] == "over a socket"
