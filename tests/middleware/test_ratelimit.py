"""RateLimitMiddleware: sliding window, 429 headers, bounded memory, Redis sharing."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from covet.app import CovetASGIApp
from covet.middleware import (
    MemoryStore,
    MiddlewareStack,
    RateLimitMiddleware,
    RedisStore,
)
from covet.middleware.ratelimit_store import evaluate
from covet.requests import Request
from covet.routing import CovetRouter
from covet.testing import ASGITestClient

pytest_plugins = ["redis_server"]


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_app(calls: list[str] | None = None, **options: Any) -> CovetASGIApp:
    """A CovetASGIApp with a RateLimitMiddleware; the middleware instance is kept in
    ``LIMITERS[app]`` for assertions on its store."""
    router = CovetRouter()

    async def index(request: Request) -> dict[str, bool]:
        if calls is not None:
            calls.append(request.path)
        return {"ok": True}

    router.add_route("/", index, ["GET"])
    built: list[RateLimitMiddleware] = []

    def limiter(app: Any) -> RateLimitMiddleware:
        built.append(RateLimitMiddleware(app, **options))
        return built[-1]

    app = CovetASGIApp(router=router, middleware_stack=MiddlewareStack([limiter]))
    LIMITERS[id(app)] = built[0]
    return app


LIMITERS: dict[int, RateLimitMiddleware] = {}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def client_for(app: Any, ip: str = "10.0.0.1") -> ASGITestClient:
    return ASGITestClient(app, client=(ip, 1234))


async def statuses(client: ASGITestClient, n: int, **kwargs: Any) -> list[int]:
    return [(await client.get("/", **kwargs)).status_code for _ in range(n)]


# -- behaviour --------------------------------------------------------------------------
async def test_over_the_limit_is_429_with_retry_after_and_ratelimit_headers() -> None:
    calls: list[str] = []
    clock = FakeClock(10.0)
    client = client_for(make_app(calls, requests_per_minute=3, clock=clock))

    allowed = [await client.get("/") for _ in range(3)]
    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert [r.headers["x-ratelimit-remaining"] for r in allowed] == ["2", "1", "0"]
    assert allowed[0].headers["x-ratelimit-limit"] == "3"
    assert allowed[0].headers["x-ratelimit-reset"] == "50"  # window [0, 60) ends in 50 s

    refused = await client.get("/")
    assert refused.status_code == 429
    assert refused.json() == {"detail": "Rate limit exceeded"}
    assert refused.headers["content-type"] == "application/json"
    assert refused.headers["x-ratelimit-limit"] == "3"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    # 3 counted in this window: room for one more once the next window's share of
    # them has decayed to 2, i.e. 20 s into it: 50 + 20 s from now.
    assert refused.headers["retry-after"] == "70"
    assert calls == ["/", "/", "/"]  # the refused request never reached the app


async def test_sliding_window_has_no_double_burst_at_the_window_boundary() -> None:
    clock = FakeClock(50.0)
    client = client_for(make_app(requests_per_minute=10, clock=clock))
    assert await statuses(client, 10) == [200] * 10

    # A fixed window would grant 10 more at t=61; the sliding window still counts
    # 10 * (1 - 1/60) = 9.83 of them.
    clock.now = 61.0
    refused = await client.get("/")
    assert refused.status_code == 429
    # Room appears when 10 * (1 - e/60) <= 9, i.e. e = 6 s: 5 s from now.
    assert refused.headers["retry-after"] == "5"
    clock.now = 65.9
    assert (await client.get("/")).status_code == 429
    clock.now = 66.0
    assert (await client.get("/")).status_code == 200

    # Half-way through the window half of the previous window still counts.
    clock.now = 90.0
    assert await statuses(client, 5) == [200] * 4 + [429]


async def test_after_two_quiet_windows_the_full_limit_is_back() -> None:
    clock = FakeClock(0.0)
    client = client_for(make_app(requests_per_minute=(2, 10.0), clock=clock))
    assert await statuses(client, 3) == [200, 200, 429]
    clock.now = 20.0
    assert await statuses(client, 3) == [200, 200, 429]


async def test_limit_and_window_keywords_and_tuple_form_agree() -> None:
    for options in ({"requests_per_minute": (2, 10.0)}, {"limit": 2, "window_seconds": 10.0}):
        middleware = RateLimitMiddleware(make_app(), **options)
        assert (middleware.limit, middleware.window) == (2, 10.0)
    assert (RateLimitMiddleware(make_app()).limit, RateLimitMiddleware(make_app()).window) == (
        60,
        60.0,
    )


async def test_each_client_has_its_own_bucket() -> None:
    app = make_app(requests_per_minute=1, clock=FakeClock())
    assert await statuses(client_for(app, "10.0.0.1"), 2) == [200, 429]
    assert await statuses(client_for(app, "10.0.0.2"), 2) == [200, 429]


async def test_key_func_chooses_the_bucket_and_none_exempts() -> None:
    def by_api_key(scope: dict[str, Any]) -> str | None:
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                return None if value == b"internal" else value.decode()
        return "anonymous"

    client = client_for(make_app(requests_per_minute=1, key_func=by_api_key, clock=FakeClock()))
    assert await statuses(client, 2, headers={"x-api-key": "a"}) == [200, 429]
    assert await statuses(client, 2, headers={"x-api-key": "b"}) == [200, 429]
    assert await statuses(client, 3, headers={"x-api-key": "internal"}) == [200, 200, 200]
    exempt = await client.get("/", headers={"x-api-key": "internal"})
    assert "x-ratelimit-limit" not in exempt.headers


async def test_async_key_func_is_awaited() -> None:
    async def key(scope: dict[str, Any]) -> str:
        return "shared"

    app = make_app(requests_per_minute=1, key_func=key, clock=FakeClock())
    assert await statuses(client_for(app, "1.1.1.1"), 1) == [200]
    assert await statuses(client_for(app, "2.2.2.2"), 1) == [429]


async def test_callable_object_key_func_returning_a_coroutine_is_awaited() -> None:
    class Keyer:
        async def __call__(self, scope: dict[str, Any]) -> str:
            return "one-bucket"

    app = make_app(requests_per_minute=1, key_func=Keyer(), clock=FakeClock())
    assert await statuses(client_for(app, "1.1.1.1"), 1) == [200]
    assert await statuses(client_for(app, "2.2.2.2"), 1) == [429]


async def test_key_func_returning_a_non_string_is_a_clear_error() -> None:
    client = client_for(make_app(key_func=lambda scope: 42, clock=FakeClock()))
    with pytest.raises(TypeError, match="str or None"):
        await client.get("/")


async def test_headers_can_be_turned_off_for_allowed_responses() -> None:
    client = client_for(make_app(requests_per_minute=1, headers=False, clock=FakeClock()))
    ok = await client.get("/")
    assert "x-ratelimit-remaining" not in ok.headers
    refused = await client.get("/")
    assert refused.status_code == 429 and refused.headers["retry-after"]


async def test_zero_limit_refuses_everything() -> None:
    client = client_for(make_app(requests_per_minute=0, clock=FakeClock()))
    refused = await client.get("/")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "60"


async def test_memory_store_is_bounded_by_max_keys() -> None:
    app = make_app(requests_per_minute=5, max_keys=100, clock=FakeClock())
    for i in range(1000):
        assert (await client_for(app, f"10.0.{i // 256}.{i % 256}").get("/")).status_code == 200
    store = LIMITERS[id(app)].store
    assert isinstance(store, MemoryStore) and len(store) == 100


def test_memory_store_sweeps_keys_whose_windows_have_passed() -> None:
    clock = FakeClock(0.0)
    store = MemoryStore(clock, max_keys=1000)
    for i in range(50):
        store.hit_sync(f"k{i}", 5, 10.0)
    assert len(store) == 50
    clock.now = 15.0  # one window later the counts are still needed (as "previous")
    store.hit_sync("other", 5, 10.0)
    assert len(store) == 51
    clock.now = 31.0  # two windows later they are useless
    store.hit_sync("fresh", 5, 10.0)
    assert len(store) == 1


def test_evicted_least_recent_key_is_the_one_dropped() -> None:
    store = MemoryStore(FakeClock(), max_keys=2)
    store.hit_sync("a", 5, 60.0)
    store.hit_sync("b", 5, 60.0)
    store.hit_sync("a", 5, 60.0)  # "a" is now the most recent
    store.hit_sync("c", 5, 60.0)
    assert set(store._entries) == {"a", "c"}


@pytest.mark.parametrize(
    ("previous", "current", "elapsed", "limit", "window", "retry"),
    [
        (10, 0, 1.0, 10, 60.0, 5.0),  # previous window decaying
        (0, 2, 0.0, 2, 10.0, 15.0),  # current window full: wait for the next one
        (0, 0, 0.0, 0, 10.0, 10.0),
    ],
)
def test_retry_after_is_when_the_next_request_would_be_allowed(
    previous: int, current: int, elapsed: float, limit: int, window: float, retry: float
) -> None:
    result = evaluate(False, previous, current, elapsed, limit, window)
    assert result.retry_after == pytest.approx(retry)
    assert result.remaining == 0


async def test_non_http_scopes_pass_through_and_lifespan_shutdown_closes_the_store() -> None:
    closed: list[bool] = []

    class Store:
        async def hit(self, *args: Any) -> Any:
            raise AssertionError("not for websockets")

        async def aclose(self) -> None:
            closed.append(True)

    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        if scope["type"] == "lifespan":
            await send({"type": "lifespan.shutdown.complete"})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    middleware = RateLimitMiddleware(inner, backend=Store())  # type: ignore[arg-type]
    await middleware({"type": "websocket"}, None, send)
    await middleware({"type": "lifespan"}, None, send)
    assert seen == ["websocket", "lifespan"]
    assert closed == [True]
    assert sent == [{"type": "lifespan.shutdown.complete"}]


async def test_backend_failure_fails_open_by_default_or_answers_503() -> None:
    class Broken:
        async def hit(self, *args: Any) -> Any:
            raise ConnectionError("redis down")

    calls: list[str] = []
    client = client_for(make_app(calls, backend=Broken()))
    assert (await client.get("/")).status_code == 200
    assert calls == ["/"]
    closed = client_for(make_app(calls, backend=Broken(), fail_open=False))
    response = await closed.get("/")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert calls == ["/"]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"requests_per_minute": -1}, ValueError),
        ({"requests_per_minute": (5, 0)}, ValueError),
        ({"requests_per_minute": 1.5}, ValueError),
        ({"backend": "memcached://x"}, ValueError),
        ({"backend": "redis://a", "redis_url": "redis://b"}, ValueError),
        ({"backend": 42}, TypeError),
    ],
)
def test_misconfiguration_fails_at_construction(options: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        RateLimitMiddleware(make_app(), **options)


# -- Redis --------------------------------------------------------------------------------
def prefix() -> str:
    return f"covet:test:{uuid.uuid4().hex}:"


async def test_limit_is_shared_by_two_apps_through_redis(redis_url: str) -> None:
    key_prefix = prefix()
    app_a = make_app(requests_per_minute=5, redis_url=redis_url, key_prefix=key_prefix)
    app_b = make_app(requests_per_minute=5, redis_url=redis_url, key_prefix=key_prefix)
    a, b = client_for(app_a), client_for(app_b)
    try:
        assert await statuses(a, 3) == [200, 200, 200]
        results = [await b.get("/") for _ in range(3)]
        assert [r.status_code for r in results] == [200, 200, 429]
        assert results[1].headers["x-ratelimit-remaining"] == "0"
        assert int(results[2].headers["retry-after"]) >= 1
        assert (await a.get("/")).status_code == 429
        # Another client is unaffected.
        assert (await client_for(app_a, "10.9.9.9").get("/")).status_code == 200
    finally:
        for app in (app_a, app_b):
            await LIMITERS[id(app)].aclose()


async def test_redis_store_matches_the_memory_store_step_by_step(redis_url: str) -> None:
    clock = FakeClock(1_000_050.0)
    redis_store = RedisStore(redis_url, clock=clock, key_prefix=prefix())
    memory = MemoryStore(clock)
    timeline = [0.0] * 10 + [11.0, 15.9, 16.0, 40.0, 40.0, 40.0, 40.0, 40.0, 95.0, 200.0]
    try:
        for t in timeline:
            clock.now = 1_000_050.0 + t
            expected = memory.hit_sync("k", 10, 60.0)
            got = await redis_store.hit("k", 10, 60.0)
            assert got.allowed == expected.allowed, t
            assert got.remaining == expected.remaining, t
            assert got.retry_after == pytest.approx(expected.retry_after, abs=1e-3), t
    finally:
        await redis_store.aclose()


async def test_redis_keys_expire_and_use_one_hash_per_client(redis_url: str) -> None:
    import redis.asyncio as redis_asyncio

    key_prefix = prefix()
    store = RedisStore(redis_url, key_prefix=key_prefix)  # server clock
    raw = redis_asyncio.Redis.from_url(redis_url)
    try:
        assert (await store.hit("client", 5, 30.0)).allowed
        keys = await raw.keys(key_prefix + "*")
        assert keys == [(key_prefix + "client").encode()]
        assert 0 < await raw.pttl(keys[0]) <= 60_000
        assert await raw.hget(keys[0], "c") == b"1"
    finally:
        await store.aclose()
        await raw.aclose()


async def test_unreachable_redis_fails_open_or_closed_as_configured() -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    calls: list[str] = []
    assert (await client_for(make_app(calls, redis_url=url)).get("/")).status_code == 200
    refused = await client_for(make_app(calls, redis_url=url, fail_open=False)).get("/")
    assert refused.status_code == 503
    assert calls == ["/"]


def test_limit_holds_across_two_uvicorn_processes(serve: Any, redis_url: str) -> None:
    env = {
        "COVET_TEST_REDIS_URL": redis_url,
        "COVET_TEST_PREFIX": prefix(),
        "COVET_TEST_LIMIT": "5",
    }
    first = serve("tests.apps.ratelimit_app:app", env=env)
    second = serve("tests.apps.ratelimit_app:app", env=env)

    def get(server: Any) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(server.base_url + "/", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, {"retry-after": error.headers["retry-after"]}

    results = [get(first) for _ in range(3)] + [get(second) for _ in range(3)]
    assert [status for status, _ in results] == [200] * 5 + [429]
    assert results[0][1]["pid"] != results[3][1]["pid"]  # two processes served them
    assert int(results[5][1]["retry-after"]) >= 1
