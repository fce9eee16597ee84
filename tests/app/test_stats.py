"""``app.get_stats()``: exact counts under concurrency, percentiles, reset, and the Rust
``Stats`` class directly."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from covet import CovetRouter, HTTPException, Request, Response, create_asgi_app
from covet._core import Stats
from covet.testing import ASGITestClient

KEYS = {
    "requests_processed",
    "average_response_time",
    "websocket_connections",
    "websocket_connections_total",
    "errors",
    "client_disconnects",
    "status_codes",
    "latency_p50",
    "latency_p90",
    "latency_p99",
    "latency_max",
    "routes",
    "websocket_messages_received",
    "websocket_messages_sent",
    "websocket_bytes_received",
    "websocket_bytes_sent",
}


def make_app() -> Any:
    router = CovetRouter()

    async def ok(request: Request) -> Any:
        await asyncio.sleep(0)  # let the gathered requests interleave
        return {"ok": True}

    async def boom(request: Request) -> Any:
        raise RuntimeError("boom")

    async def teapot(request: Request) -> Any:
        raise HTTPException(418)

    async def unavailable(request: Request) -> Any:
        return Response("later", status_code=503)

    def sync_created(request: Request) -> Any:
        return Response("made", status_code=201)

    router.add_route("/ok", ok, ["GET"])
    router.add_route("/boom", boom, ["GET"])
    router.add_route("/teapot", teapot, ["GET"])
    router.add_route("/unavailable", unavailable, ["GET"])
    router.add_route("/created", sync_created, ["POST"])
    return create_asgi_app(router=router)


async def test_fresh_app_has_zeroed_stats_with_every_field() -> None:
    stats = make_app().get_stats()
    assert set(stats) == KEYS
    assert stats["requests_processed"] == 0
    assert stats["average_response_time"] == 0.0
    assert stats["status_codes"] == {}
    assert stats["latency_p50"] == stats["latency_p99"] == 0.0
    assert stats["routes"] == {}


async def test_counts_are_exact_under_hundreds_of_concurrent_requests(caplog) -> None:
    app = make_app()
    client = ASGITestClient(app)
    plan = (
        [("GET", "/ok", 200)] * 300
        + [("GET", "/boom", 500)] * 40
        + [("GET", "/teapot", 418)] * 30
        + [("GET", "/unavailable", 503)] * 20
        + [("POST", "/created", 201)] * 25
        + [("GET", "/missing", 404)] * 50
        + [("DELETE", "/ok", 405)] * 15
        + [("HEAD", "/ok", 200)] * 10
        + [("OPTIONS", "/ok", 204)] * 10
    )
    responses = await asyncio.gather(*(client.request(m, p) for m, p, _ in plan))
    assert [r.status_code for r in responses] == [s for _, _, s in plan]
    stats = app.get_stats()
    assert stats["requests_processed"] == len(plan) == 500
    assert stats["status_codes"] == {
        200: 310,
        201: 25,
        204: 10,
        404: 50,
        405: 15,
        418: 30,
        500: 40,
        503: 20,
    }
    assert stats["errors"] == 60
    assert 0 < stats["latency_p50"] <= stats["latency_p90"] <= stats["latency_p99"]
    assert stats["latency_p99"] <= stats["latency_max"]
    assert 0 < stats["average_response_time"] <= stats["latency_max"]
    assert stats["websocket_connections"] == 0


async def test_reset_stats_starts_a_new_period() -> None:
    app = make_app()
    client = ASGITestClient(app)
    await asyncio.gather(*(client.get("/ok") for _ in range(20)))
    app.reset_stats()
    stats = app.get_stats()
    assert (stats["requests_processed"], stats["status_codes"], stats["latency_max"]) == (0, {}, 0)
    await client.get("/boom")
    stats = app.get_stats()
    assert (stats["requests_processed"], stats["errors"], stats["status_codes"]) == (1, 1, {500: 1})


async def test_request_whose_send_fails_counts_as_a_client_disconnect() -> None:
    app = make_app()
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/ok",
        "raw_path": b"/ok",
        "query_string": b"",
        "headers": [],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        raise OSError("client went away")

    with pytest.raises(OSError):
        await app(scope, receive, send)
    stats = app.get_stats()
    # The client is gone: counted apart, not as a request with a status.
    assert stats["client_disconnects"] == 1
    assert stats["requests_processed"] == 0 and stats["status_codes"] == {}


async def test_guide_performance_monitoring_snippet(capsys) -> None:
    app = make_app()
    await ASGITestClient(app).get("/ok")
    # --- begin verbatim from ASGI-GUIDE.md "Performance Monitoring" ---
    # Get performance statistics
    stats = app.get_stats()
    print(f"Requests processed: {stats['requests_processed']}")
    print(f"Average response time: {stats['average_response_time']:.3f}s")
    print(f"Active WebSocket connections: {stats['websocket_connections']}")
    # --- end verbatim ---
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Requests processed: 1"
    assert out[1].startswith("Average response time: 0.0") and out[1].endswith("s")
    assert out[2] == "Active WebSocket connections: 0"


# -- the Rust class directly -------------------------------------------------------------
def test_stats_percentiles_are_accurate() -> None:
    stats = Stats()
    for i in range(1, 1001):
        stats.record(200, i * 1_000_000)  # 1 ms .. 1000 ms
    snap = stats.snapshot()
    for key, expected in [("latency_p50", 0.5), ("latency_p90", 0.9), ("latency_p99", 0.99)]:
        assert snap[key] == pytest.approx(expected, rel=0.02)
    assert snap["latency_max"] == 1.0
    assert snap["average_response_time"] == pytest.approx(0.5005)


def test_stats_accepts_odd_input_without_crashing() -> None:
    stats = Stats()
    stats.record(0, -5)  # status out of range, negative duration
    stats.record(70000, 10)
    stats.record(599, 2**62)
    snap = stats.snapshot()
    assert snap["requests_processed"] == 3
    assert snap["status_codes"] == {599: 1}
    assert snap["errors"] == 1
    with pytest.raises(OverflowError):
        stats.record(200, 2**64)
    with pytest.raises(TypeError):
        stats.record("200", 1)  # type: ignore[arg-type]


def test_websocket_gauge_survives_reset_and_never_goes_negative() -> None:
    stats = Stats()
    stats.websocket_opened()
    stats.websocket_opened()
    stats.reset()
    stats.websocket_closed()
    snap = stats.snapshot()
    assert (snap["websocket_connections"], snap["websocket_connections_total"]) == (1, 0)
    stats.websocket_closed()
    stats.websocket_closed()
    assert stats.snapshot()["websocket_connections"] == 0


def test_recording_from_many_threads_is_exact() -> None:
    stats = Stats()

    def work(offset: int) -> None:
        for i in range(5_000):
            stats.record(200 if i % 4 else 500, offset + i)

    threads = [threading.Thread(target=work, args=(t * 10_000,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = stats.snapshot()
    assert snap["requests_processed"] == 40_000
    assert snap["status_codes"] == {200: 30_000, 500: 10_000}
    assert snap["errors"] == 10_000
    expected_total = sum(t * 10_000 + i for t in range(8) for i in range(5_000))
    assert snap["average_response_time"] == pytest.approx(expected_total / 40_000 / 1e9)


async def test_stats_count_the_status_a_file_response_actually_sent(tmp_path) -> None:
    from covet import CovetRouter, FileResponse, create_asgi_app
    from covet.core.asgi_integration import ASGITestClient

    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789")
    router = CovetRouter()
    router.add_route("/file", lambda request: FileResponse(path), ["GET"])
    app = create_asgi_app(router=router)
    client = ASGITestClient(app)
    assert (await client.get("/file", headers={"range": "bytes=0-3"})).status_code == 206
    assert (await client.get("/file", headers={"range": "bytes=50-"})).status_code == 416
    assert (await client.get("/file")).status_code == 200
    assert app.get_stats()["status_codes"] == {200: 1, 206: 1, 416: 1}
