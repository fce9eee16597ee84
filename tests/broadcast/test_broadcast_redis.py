"""covet.broadcast over a real redis-server: fan-out across Broadcast instances (as
across worker processes), outages that raise BroadcastUnavailable instead of hanging,
and recovery after Redis comes back, without a restart or a new subscription."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from urllib.parse import urlsplit

import pytest
import redis.asyncio as redis_asyncio

from covet import CovetRouter, JSONResponse, Request, create_asgi_app
from covet.broadcast import Broadcast, BroadcastUnavailable, Subscriber, Unsubscribed
from covet.testing import ASGITestClient
from deploy.processes import RedisProcess, free_port

pytest_plugins = ["redis_server"]

_counter = 0


def channel() -> str:
    """A channel name no other test uses (the session's Redis is shared)."""
    global _counter
    _counter += 1
    return f"test:{time.monotonic_ns()}:{_counter}"


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def next_message(subscriber: Subscriber, timeout: float = 3.0) -> str:
    return (await asyncio.wait_for(subscriber.get(), timeout)).message


@pytest.fixture
async def pair(redis_url: str) -> AsyncIterator[tuple[Broadcast, Broadcast]]:
    """Two independent Broadcasts on the same Redis: two worker processes."""
    async with Broadcast(redis_url) as a, Broadcast(redis_url) as b:
        yield a, b


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[redis_asyncio.Redis]:
    client = redis_asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    """A redis-server this test may stop and start."""
    with RedisProcess() as process:
        yield process


async def test_a_message_published_by_one_broadcast_reaches_the_subscribers_of_another(
    pair: tuple[Broadcast, Broadcast],
) -> None:
    a, b = pair
    room, other = channel(), channel()
    async with (
        b.subscribe(channel=room) as remote,
        a.subscribe(channel=room) as local,
        b.subscribe(channel=other) as elsewhere,
    ):
        await a.publish(channel=room, message="héllo ✓")
        assert await next_message(remote) == "héllo ✓"
        assert await next_message(local) == "héllo ✓"  # the publisher's own process too
        await b.publish(channel=room, message="back")
        assert await next_message(local) == "back"
        assert len(elsewhere) == 0


async def test_subscribe_returns_only_once_the_subscription_is_live(
    pair: tuple[Broadcast, Broadcast],
) -> None:
    a, b = pair
    for _ in range(20):  # any race between SUBSCRIBE and PUBLISH would show up here
        room = channel()
        async with b.subscribe(channel=room) as subscriber:
            await a.publish(channel=room, message="first")
            assert await next_message(subscriber) == "first"


@contextlib.asynccontextmanager
async def slow_link(redis_url: str, delay: float) -> AsyncIterator[str]:
    """A TCP proxy to Redis that holds what the client sends for ``delay`` seconds,
    as a distant network would; yields the URL to reach Redis through it."""
    target = urlsplit(redis_url)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, lag: float) -> None:
        try:
            while data := await reader.read(65536):
                if lag:
                    await asyncio.sleep(lag)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            target.hostname, target.port
        )
        tasks.add(asyncio.ensure_future(pipe(reader, upstream_writer, delay)))
        tasks.add(asyncio.ensure_future(pipe(upstream_reader, writer, 0)))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def test_subscribe_waits_for_redis_to_confirm_over_a_slow_link(
    pair: tuple[Broadcast, Broadcast], redis_url: str
) -> None:
    a, _ = pair
    async with slow_link(redis_url, 0.1) as far_url, Broadcast(far_url) as far:
        # Had subscribe() returned once SUBSCRIBE was sent, this PUBLISH (on a fast
        # link) would reach Redis first and the message would be lost.
        room = channel()
        async with far.subscribe(channel=room) as subscriber:
            await a.publish(channel=room, message="raced")
            assert await next_message(subscriber) == "raced"


async def test_disconnecting_while_a_subscribe_is_underway_raises_unsubscribed(
    redis_url: str,
) -> None:
    async with slow_link(redis_url, 0.3) as far_url:
        far = Broadcast(far_url)
        await far.connect()

        async def subscribe() -> None:
            async with far.subscribe(channel=channel()):
                pass

        underway = asyncio.ensure_future(subscribe())
        await asyncio.sleep(0.1)  # the SUBSCRIBE is on the slow link
        await far.disconnect()
        with pytest.raises(Unsubscribed):
            await underway


async def test_one_redis_subscription_per_channel_and_none_after_the_last_leaves(
    pair: tuple[Broadcast, Broadcast], raw: redis_asyncio.Redis
) -> None:
    a, _ = pair
    room = channel()

    async def redis_subscribers() -> int:
        return int(dict(await raw.pubsub_numsub(room))[room.encode()])

    async with a.subscribe(channel=room), a.subscribe(channel=room), a.subscribe(channel=room):
        assert a.subscriber_count(room) == 3
        assert await redis_subscribers() == 1

    async def gone() -> bool:
        return await redis_subscribers() == 0

    await eventually(gone)


async def test_leaving_and_rejoining_at_once_still_receives(
    pair: tuple[Broadcast, Broadcast],
) -> None:
    a, b = pair
    room = channel()
    for n in range(20):
        async with b.subscribe(channel=room):
            pass
        async with b.subscribe(channel=room) as subscriber:
            await a.publish(channel=room, message=str(n))
            assert await next_message(subscriber) == str(n)


async def test_undecodable_bytes_from_another_client_do_not_stop_the_reader(
    pair: tuple[Broadcast, Broadcast], raw: redis_asyncio.Redis
) -> None:
    a, _ = pair
    room = channel()
    async with a.subscribe(channel=room) as subscriber:
        await raw.publish(room, b"\xff\xfeok")
        assert await next_message(subscriber) == "\ufffd\ufffdok"
        await a.publish(channel=room, message="still here")
        assert await next_message(subscriber) == "still here"


async def test_connecting_to_a_closed_port_raises_broadcast_unavailable() -> None:
    broadcast = Broadcast(f"redis://127.0.0.1:{free_port()}/0", timeout=1.0)
    started = time.monotonic()
    with pytest.raises(BroadcastUnavailable, match="unreachable"):
        await broadcast.connect()
    assert time.monotonic() - started < 1.5
    assert not broadcast.connected


async def test_a_server_that_never_answers_fails_connect_within_the_timeout() -> None:
    with socket.socket() as mute:  # accepts connections (the kernel does) but never answers
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)
        url = f"redis://127.0.0.1:{mute.getsockname()[1]}/0"
        broadcast = Broadcast(url, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(BroadcastUnavailable):
            await broadcast.connect()
        assert time.monotonic() - started < 1.5
        assert not broadcast.connected


async def test_outage_raises_broadcast_unavailable_and_the_same_subscriber_recovers(
    own_redis: RedisProcess,
) -> None:
    async with Broadcast(own_redis.url, timeout=1.0, reconnect_max_delay=0.2) as broadcast:
        room = channel()
        async with broadcast.subscribe(channel=room) as subscriber:
            await broadcast.publish(channel=room, message="before")
            assert await next_message(subscriber) == "before"

            own_redis.stop()
            started = time.monotonic()
            with pytest.raises(BroadcastUnavailable):
                await broadcast.publish(channel=room, message="lost")
            assert time.monotonic() - started < 1.5

            async def down() -> bool:
                return not broadcast.available

            await eventually(down)
            started = time.monotonic()
            with pytest.raises(BroadcastUnavailable):
                async with broadcast.subscribe(channel=channel()):
                    pass
            assert time.monotonic() - started < 1.5

            own_redis.start()  # same port

            async def up() -> bool:
                return broadcast.available

            await eventually(up)
            await broadcast.publish(channel=room, message="after")
            assert await next_message(subscriber) == "after"
            assert not subscriber.closed
            assert broadcast.subscriber_count(room) == 1
        async with broadcast.subscribe(channel=room) as again:
            await broadcast.publish(channel=room, message="new subscriber")
            assert await next_message(again) == "new subscriber"


async def test_a_frozen_redis_is_detected_and_publish_times_out_instead_of_hanging(
    own_redis: RedisProcess,
) -> None:
    process = own_redis.process
    assert process is not None
    broadcast = Broadcast(own_redis.url, timeout=0.5, ping_interval=0.2, reconnect_max_delay=0.2)
    async with broadcast:
        room = channel()
        async with broadcast.subscribe(channel=room) as subscriber:
            process.send_signal(signal.SIGSTOP)
            try:
                started = time.monotonic()
                with pytest.raises(BroadcastUnavailable):
                    await broadcast.publish(channel=room, message="frozen")
                assert time.monotonic() - started < 1.0

                async def down() -> bool:
                    return not broadcast.available

                await eventually(down)  # the unanswered PING
            finally:
                process.send_signal(signal.SIGCONT)

            async def up() -> bool:
                return broadcast.available

            await eventually(up)
            await broadcast.publish(channel=room, message="thawed")
            # Redis may still run the publish that timed out, once it runs again
            received = await next_message(subscriber)
            if received == "frozen":
                received = await next_message(subscriber)
            assert received == "thawed"


async def test_disconnect_during_an_outage_returns_promptly(own_redis: RedisProcess) -> None:
    broadcast = Broadcast(own_redis.url, timeout=1.0)
    await broadcast.connect()
    async with broadcast.subscribe(channel=channel()):
        own_redis.stop()
        started = time.monotonic()
        await broadcast.disconnect()
        assert time.monotonic() - started < 1.0
    assert not broadcast.connected


async def test_a_handler_that_lets_broadcast_unavailable_propagate_answers_500(
    own_redis: RedisProcess,
) -> None:
    broadcast = Broadcast(own_redis.url, timeout=1.0)
    router = CovetRouter()

    @router.post("/say")
    async def say(request: Request) -> JSONResponse:
        await broadcast.publish(channel="room", message="hi")
        return JSONResponse({"sent": True})

    app = create_asgi_app(
        router=router, on_startup=[broadcast.connect], on_shutdown=[broadcast.disconnect]
    )
    async with ASGITestClient(app) as client:
        assert (await client.post("/say")).status_code == 200
        own_redis.stop()
        response = await client.post("/say")
        assert response.status_code == 500


async def test_a_burst_larger_than_max_queue_does_not_drop_a_subscriber_that_keeps_up(
    pair: tuple[Broadcast, Broadcast], raw: redis_asyncio.Redis
) -> None:
    a, _ = pair
    room = channel()
    count = 5 * a.max_queue  # small messages: a single read from the socket holds many
    received: list[str] = []
    async with a.subscribe(channel=room) as subscriber:

        async def consume() -> None:
            async for event in subscriber:
                received.append(event.message)
                if len(received) == count:
                    return

        consumer = asyncio.ensure_future(consume())
        pipeline = raw.pipeline(transaction=False)
        for n in range(count):
            pipeline.publish(room, str(n))
        await pipeline.execute()
        await asyncio.wait_for(consumer, 10)
    assert received == [str(n) for n in range(count)]
