"""covet.broadcast with the memory:// backend: the API, lifecycle and the bounded
per-subscriber queue."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from covet import CovetRouter, JSONResponse, Request, create_asgi_app
from covet.broadcast import (
    DEFAULT_MAX_QUEUE,
    Broadcast,
    Event,
    SubscriberOverflow,
    Unsubscribed,
)
from covet.testing import ASGITestClient


async def test_publish_reaches_every_subscriber_of_the_channel_and_no_other() -> None:
    async with Broadcast("memory://") as broadcast:
        async with (
            broadcast.subscribe(channel="a") as first,
            broadcast.subscribe(channel="a") as second,
            broadcast.subscribe(channel="b") as other,
        ):
            await broadcast.publish(channel="a", message="one")
            await broadcast.publish(channel="a", message="two")
            for subscriber in (first, second):
                assert await subscriber.get() == Event("a", "one")
                event = await subscriber.get()
                assert (event.channel, event.message) == ("a", "two")
            assert len(other) == 0


async def test_iterating_a_subscriber_yields_events_in_publish_order() -> None:
    async with Broadcast("memory://") as broadcast:
        async with broadcast.subscribe(channel="room") as subscriber:
            for n in range(5):
                await broadcast.publish(channel="room", message=str(n))
            received = []
            async for event in subscriber:
                received.append(event.message)
                if len(received) == 5:
                    break
            assert received == ["0", "1", "2", "3", "4"]


async def test_publishing_to_a_channel_without_subscribers_is_a_no_op() -> None:
    async with Broadcast("memory://") as broadcast:
        await broadcast.publish(channel="nobody", message="x")
        assert broadcast.subscriber_count("nobody") == 0


async def test_leaving_the_subscribe_block_unsubscribes() -> None:
    async with Broadcast("memory://") as broadcast:
        async with broadcast.subscribe(channel="c") as subscriber:
            assert broadcast.subscriber_count("c") == 1
        assert broadcast.subscriber_count("c") == 0
        assert subscriber.closed
        await broadcast.publish(channel="c", message="after")
        assert len(subscriber) == 0
        with pytest.raises(Unsubscribed):
            await subscriber.get()


async def test_a_cancelled_consumer_leaves_no_subscription_behind() -> None:
    async with Broadcast("memory://") as broadcast:
        entered = asyncio.Event()

        async def consume() -> None:
            async with broadcast.subscribe(channel="c") as subscriber:
                entered.set()
                async for _ in subscriber:
                    pass

        task = asyncio.ensure_future(consume())
        await entered.wait()
        assert broadcast.subscriber_count("c") == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert broadcast.subscriber_count("c") == 0


async def test_slow_subscriber_is_dropped_with_subscriber_overflow() -> None:
    async with Broadcast("memory://", max_queue=3) as broadcast:
        async with (
            broadcast.subscribe(channel="c") as slow,
            broadcast.subscribe(channel="c", max_queue=10) as roomy,
        ):
            for n in range(4):
                await broadcast.publish(channel="c", message=str(n))
            # the fourth message found the slow one's queue full: dropped, buffer freed
            assert slow.closed and len(slow) == 0
            assert broadcast.subscriber_count("c") == 1
            with pytest.raises(SubscriberOverflow) as raised:
                await slow.get()
            assert (raised.value.channel, raised.value.max_queue) == ("c", 3)
            with pytest.raises(SubscriberOverflow):
                async for _ in slow:
                    pass
            # the subscriber that keeps up is not affected
            assert [(await roomy.get()).message for _ in range(4)] == ["0", "1", "2", "3"]
            await broadcast.publish(channel="c", message="more")
            assert (await roomy.get()).message == "more"


async def test_overflow_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async with Broadcast("memory://", max_queue=1) as broadcast:
        async with broadcast.subscribe(channel="c"):
            await broadcast.publish(channel="c", message="1")
            await broadcast.publish(channel="c", message="2")
    assert any(
        r.name == "covet.broadcast" and "fell 1 messages behind" in r.getMessage()
        for r in caplog.records
    )


async def test_a_subscriber_that_never_reads_holds_at_most_max_queue_messages() -> None:
    async with Broadcast("memory://", max_queue=100) as broadcast:
        async with broadcast.subscribe(channel="c") as idle:
            peak = 0
            for n in range(10_000):
                await broadcast.publish(channel="c", message=str(n))
                peak = max(peak, len(idle))
            assert peak == 100
            assert idle.closed and len(idle) == 0


async def test_disconnect_ends_subscriptions_after_their_buffered_messages() -> None:
    broadcast = Broadcast("memory://")
    await broadcast.connect()
    received: list[str] = []
    entered = asyncio.Event()

    async def consume() -> None:
        async with broadcast.subscribe(channel="c") as subscriber:
            entered.set()
            async for event in subscriber:
                received.append(event.message)

    task = asyncio.ensure_future(consume())
    await entered.wait()
    await broadcast.publish(channel="c", message="last")
    await broadcast.disconnect()
    await asyncio.wait_for(task, 1)
    assert received == ["last"]
    assert not broadcast.connected
    await broadcast.disconnect()  # idempotent


async def test_use_before_connect_raises_a_clear_runtime_error() -> None:
    broadcast = Broadcast("memory://")
    with pytest.raises(RuntimeError, match="connect"):
        await broadcast.publish(channel="c", message="x")
    with pytest.raises(RuntimeError, match="connect"):
        async with broadcast.subscribe(channel="c"):
            pass


async def test_connecting_twice_raises() -> None:
    async with Broadcast("memory://") as broadcast:
        with pytest.raises(RuntimeError, match="already connected"):
            await broadcast.connect()


async def test_can_connect_again_after_disconnect() -> None:
    broadcast = Broadcast("memory://")
    async with broadcast:
        pass
    async with broadcast, broadcast.subscribe(channel="c") as subscriber:
        await broadcast.publish(channel="c", message="again")
        assert (await subscriber.get()).message == "again"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"url": "kafka://x"}, ValueError),
        ({"url": "127.0.0.1:6379"}, ValueError),
        ({"url": b"memory://"}, TypeError),
        ({"url": "memory://", "max_queue": 0}, ValueError),
        ({"url": "memory://", "max_queue": 1.5}, ValueError),
        ({"url": "memory://", "max_queue": True}, ValueError),
        ({"url": "memory://", "timeout": 0}, ValueError),
        ({"url": "memory://", "timeout": "3"}, ValueError),
        ({"url": "memory://", "ping_interval": -1}, ValueError),
        ({"url": "memory://", "reconnect_max_delay": 0}, ValueError),
    ],
)
def test_bad_settings_raise_at_construction(kwargs: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        Broadcast(**kwargs)


def test_the_url_in_errors_hides_the_password() -> None:
    with pytest.raises(ValueError) as raised:
        Broadcast("kafka://user:secret@host/")
    assert "secret" not in str(raised.value)
    assert "secret" not in repr(Broadcast("redis://:secret@127.0.0.1:1/0"))


async def test_bad_channel_or_message_raises() -> None:
    async with Broadcast("memory://") as broadcast:
        with pytest.raises(TypeError):
            await broadcast.publish(channel="c", message=b"bytes")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await broadcast.publish(channel=1, message="x")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            await broadcast.publish(channel="", message="x")
        with pytest.raises(ValueError):
            broadcast.subscribe(channel="c", max_queue=0)


def test_defaults_are_documented_values() -> None:
    broadcast = Broadcast("memory://")
    assert broadcast.max_queue == DEFAULT_MAX_QUEUE == 1000
    assert broadcast.timeout == 3.0


def _app(broadcast: Broadcast, **kwargs: Any) -> Any:
    router = CovetRouter()

    @router.post("/say/{channel}")
    async def say(request: Request) -> JSONResponse:
        await broadcast.publish(channel=request.path_params["channel"], message="hi")
        return JSONResponse({"ok": True})

    return create_asgi_app(router=router, **kwargs)


async def test_connect_and_disconnect_work_as_startup_and_shutdown_handlers() -> None:
    broadcast = Broadcast("memory://")
    app = _app(broadcast, on_startup=[broadcast.connect], on_shutdown=[broadcast.disconnect])
    async with ASGITestClient(app) as client:
        assert broadcast.connected
        async with broadcast.subscribe(channel="x") as subscriber:
            assert (await client.post("/say/x")).status_code == 200
            assert (await subscriber.get()).message == "hi"
    assert not broadcast.connected


async def test_works_inside_a_lifespan_context() -> None:
    broadcast = Broadcast("memory://")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with broadcast:
            yield

    async with ASGITestClient(_app(broadcast, lifespan=lifespan)) as client:
        async with broadcast.subscribe(channel="y") as subscriber:
            assert (await client.post("/say/y")).status_code == 200
            assert (await subscriber.get()).message == "hi"
    assert not broadcast.connected


async def test_a_tight_publish_loop_does_not_drop_a_subscriber_that_keeps_up() -> None:
    async with Broadcast("memory://", max_queue=100) as broadcast:
        received: list[str] = []
        async with broadcast.subscribe(channel="c") as subscriber:

            async def consume() -> None:
                async for event in subscriber:
                    received.append(event.message)
                    if len(received) == 1000:
                        return

            consumer = asyncio.ensure_future(consume())
            await asyncio.sleep(0)
            for n in range(1000):  # never yields on its own
                await broadcast.publish(channel="c", message=str(n))
            await asyncio.wait_for(consumer, 5)
        assert received == [str(n) for n in range(1000)]
