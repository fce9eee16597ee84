"""``covet.metrics``: the Prometheus page of one process, checked with prometheus_client's
own parser, and the per-host directory that sums workers (folding exited ones)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from covet import CovetRouter, Request, Response, WebSocket, create_asgi_app
from covet.metrics import (
    CONTENT_TYPE,
    DURATION_BUCKETS,
    MetricsDirectory,
    PrometheusMetrics,
    Totals,
    render,
)
from covet.testing import ASGITestClient


def make_app(directory: Path | None = None) -> tuple[Any, PrometheusMetrics]:
    router = CovetRouter()

    @router.get("/items/{id:int}")
    async def item(request: Request) -> Any:
        return {"id": request.path_params["id"]}

    @router.get("/slow")
    async def slow(request: Request) -> Any:
        await asyncio.sleep(0.03)
        return "slow"

    @router.post("/fail")
    async def fail(request: Request) -> Any:
        return Response("no", status_code=503)

    @router.get('/odd/"quoted"\\path')
    async def odd(request: Request) -> Any:
        return "odd"

    @router.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()

    app = create_asgi_app(router)
    metrics = PrometheusMetrics(app, directory=directory)
    app.add_route("/metrics", metrics.endpoint)
    return app, metrics


def samples(text: str) -> dict[str, list[Sample]]:
    """Samples by family name, through prometheus_client's parser (which raises on
    anything that is not valid exposition text)."""
    return {family.name: list(family.samples) for family in text_string_to_metric_families(text)}


def value(found: list[Sample], name: str, **labels: str) -> float:
    matches = [s.value for s in found if s.name == name and s.labels == labels]
    assert len(matches) == 1, (name, labels, found)
    return matches[0]


async def test_the_page_parses_and_agrees_with_get_stats() -> None:
    app, _ = make_app()
    client = ASGITestClient(app)
    for n in range(7):
        assert (await client.get(f"/items/{n}")).status_code == 200
    assert (await client.post("/fail")).status_code == 503
    assert (await client.get("/nowhere")).status_code == 404
    response = await client.get("/metrics")
    assert response.headers["content-type"] == CONTENT_TYPE
    families = samples(response.text)
    requests = families["covet_requests"]
    labels = {"route": "/items/{id:int}", "method": "GET", "status": "2xx"}
    assert value(requests, "covet_requests_total", **labels) == 7
    assert value(requests, "covet_requests_total", route="/fail", method="POST", status="5xx") == 1
    assert (
        value(requests, "covet_requests_total", route="<unmatched>", method="GET", status="4xx")
        == 1
    )
    durations = families["covet_request_duration_seconds"]
    buckets = [
        s for s in durations if s.name.endswith("_bucket") and s.labels["route"] == labels["route"]
    ]
    assert [s.labels["le"] for s in buckets] == [*map(str, DURATION_BUCKETS), "+Inf"]
    counts = [s.value for s in buckets]
    assert counts == sorted(counts) and counts[-1] == 7
    assert value(durations, "covet_request_duration_seconds_count", **labels) == 7
    stats = app.get_stats()["routes"]["/items/{id:int}"]["GET"]["2xx"]
    total = value(durations, "covet_request_duration_seconds_sum", **labels)
    assert total == pytest.approx(stats["mean"] * 7, rel=1e-6)
    assert value(families["covet_client_disconnects"], "covet_client_disconnects_total") == 0
    assert value(families["covet_websocket_connections"], "covet_websocket_connections") == 0


async def test_a_request_lands_in_the_buckets_of_its_duration() -> None:
    app, metrics = make_app()
    client = ASGITestClient(app)
    await client.get("/slow")  # about 30 ms: above 0.025, within 0.05
    found = samples(metrics.render().decode())["covet_request_duration_seconds"]
    labels = {"route": "/slow", "method": "GET", "status": "2xx"}
    bucket = "covet_request_duration_seconds_bucket"
    assert value(found, bucket, **labels, le="0.025") == 0
    assert value(found, bucket, **labels, le="0.1") == 1


async def test_label_values_are_escaped() -> None:
    app, metrics = make_app()
    client = ASGITestClient(app)
    assert (await client.get("/odd/%22quoted%22%5Cpath")).status_code == 200
    found = samples(metrics.render().decode())["covet_requests"]
    route = '/odd/"quoted"\\path'
    assert value(found, "covet_requests_total", route=route, method="GET", status="2xx") == 1


async def test_websocket_sessions_and_open_connections() -> None:
    app, metrics = make_app()
    client = ASGITestClient(app)
    async with client.websocket_connect("/ws") as ws:
        found = samples(metrics.render().decode())
        assert value(found["covet_websocket_connections"], "covet_websocket_connections") == 1
        await ws.send_text("bye")
    found = samples(metrics.render().decode())
    sessions = found["covet_websocket_sessions"]
    assert value(sessions, "covet_websocket_sessions_total", route="/ws", status="1xx") == 1
    assert value(found["covet_websocket_connections"], "covet_websocket_connections") == 0
    # Sessions are not requests: no WEBSOCKET series among them.
    assert all(s.labels.get("method") != "WEBSOCKET" for s in found["covet_requests"])


async def test_reset_stats_does_not_make_exported_counters_go_down() -> None:
    app, metrics = make_app()
    client = ASGITestClient(app)
    for n in range(3):
        await client.get(f"/items/{n}")
    labels = {"route": "/items/{id:int}", "method": "GET", "status": "2xx"}
    first = value(
        samples(metrics.render().decode())["covet_requests"], "covet_requests_total", **labels
    )
    app.reset_stats()
    await client.get("/items/9")
    found = samples(metrics.render().decode())["covet_requests"]
    assert first == 3
    assert value(found, "covet_requests_total", **labels) == 4
    assert app.get_stats()["routes"]["/items/{id:int}"]["GET"]["2xx"]["count"] == 1


async def test_the_app_can_also_be_mounted() -> None:
    app, metrics = make_app()
    app.mount("/stats", metrics)
    client = ASGITestClient(app)
    response = await client.get("/stats/")
    assert response.status_code == 200
    assert "covet_requests" in samples(response.text)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "1", True])
def test_interval_must_be_positive(bad: Any) -> None:
    app, _ = make_app()
    with pytest.raises(ValueError, match="interval"):
        PrometheusMetrics(app, interval=bad)


def test_an_empty_app_renders_valid_text() -> None:
    families = samples(render(Totals()).decode())
    assert value(families["covet_client_disconnects"], "covet_client_disconnects_total") == 0


# -- the directory ----------------------------------------------------------------------------
def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def totals_of(count: int, *, websockets: int = 0, route: str = "/r") -> Totals:
    totals = Totals()
    totals.series[(route, "GET", "2xx")] = [count, count * 1000] + [count] * len(DURATION_BUCKETS)
    totals.client_disconnects = count
    totals.websocket_connections = websockets
    return totals


def write_worker(directory: Path, pid: int, totals: Totals, token: str = "aaaa") -> str:
    name = f"worker-{pid}-{token}.json"
    bounds = [round(b * 1e9) for b in DURATION_BUCKETS]
    payload = {"format": 1, "buckets": bounds, "pid": pid, **totals.to_json()}
    (directory / name).write_bytes(orjson.dumps(payload))
    return name


def count_of(totals: Totals, route: str = "/r") -> int:
    return totals.series[(route, "GET", "2xx")][0]


def test_the_directory_sums_live_workers_and_keeps_exited_ones(tmp_path: Path) -> None:
    me = MetricsDirectory(tmp_path)
    gone = dead_pid()
    write_worker(tmp_path, os.getppid(), totals_of(10, websockets=2))  # alive
    write_worker(tmp_path, gone, totals_of(5, websockets=3))  # exited
    total = me.collect(totals_of(1, websockets=1))
    assert count_of(total) == 16
    assert total.client_disconnects == 16
    assert total.websocket_connections == 3  # the exited worker's connections are gone
    assert not list(tmp_path.glob(f"worker-{gone}-*"))
    archive = orjson.loads((tmp_path / "archive.json").read_bytes())
    assert archive["folded"] == [f"worker-{gone}-aaaa.json"]
    # Again: folded once, never twice.
    assert count_of(me.collect(totals_of(1, websockets=1))) == 16


def test_a_fold_interrupted_before_removing_files_does_not_count_them_twice(
    tmp_path: Path,
) -> None:
    me = MetricsDirectory(tmp_path)
    gone = dead_pid()
    name = write_worker(tmp_path, gone, totals_of(5))
    me.collect(totals_of(0))
    # As if the process had died between writing the archive and removing the file.
    write_worker(tmp_path, gone, totals_of(5))
    assert (tmp_path / name).exists()
    assert count_of(me.collect(totals_of(0))) == 5
    assert not (tmp_path / name).exists()


def test_a_new_worker_with_a_reused_pid_folds_the_old_file(tmp_path: Path) -> None:
    old = write_worker(tmp_path, os.getpid(), totals_of(4), token="old0")
    me = MetricsDirectory(tmp_path)
    me.start(totals_of(0))
    assert not (tmp_path / old).exists()
    assert count_of(me.collect(totals_of(2))) == 6


def test_damaged_and_foreign_files_are_ignored_not_fatal(tmp_path: Path) -> None:
    me = MetricsDirectory(tmp_path)
    (tmp_path / f"worker-{os.getppid()}-bad0.json").write_bytes(b"{not json")
    other_buckets = {"format": 1, "buckets": [1, 2], "pid": os.getppid(), **totals_of(9).to_json()}
    (tmp_path / f"worker-{os.getppid()}-bad1.json").write_bytes(orjson.dumps(other_buckets))
    (tmp_path / "unrelated.txt").write_text("x")
    assert count_of(me.collect(totals_of(1))) == 1


def test_counters_never_go_down_as_workers_come_and_go(tmp_path: Path) -> None:
    me = MetricsDirectory(tmp_path)
    seen = []
    for step in range(5):
        gone = dead_pid()
        write_worker(tmp_path, gone, totals_of(step + 1), token=f"s{step:03d}")
        seen.append(count_of(me.collect(totals_of(step))))
    assert seen == sorted(seen)
    assert seen[-1] == sum(range(1, 6)) + 4
    # One archive and this worker's file: the directory does not grow with restarts.
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "archive.json",
        me.name,
    ]


async def test_a_worker_publishes_at_startup_periodically_and_at_shutdown(tmp_path: Path) -> None:
    app, metrics = make_app(tmp_path)
    metrics.interval = 0.05
    client = ASGITestClient(app)
    await client.startup()
    assert metrics.directory is not None
    own = tmp_path / metrics.directory.name
    assert own.exists()
    await client.get("/items/1")
    await asyncio.sleep(0.3)
    published = Totals.from_json(orjson.loads(own.read_bytes()))
    assert count_of(published, "/items/{id:int}") == 1
    await client.get("/items/2")
    await client.shutdown()
    published = Totals.from_json(orjson.loads(own.read_bytes()))
    assert count_of(published, "/items/{id:int}") == 2
