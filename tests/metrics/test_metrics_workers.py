"""Two real uvicorn processes of one app sharing ``COVET_METRICS_DIR`` on loopback: a
scrape of either one sees the requests of both, and a worker that exits (gracefully
or killed) keeps being counted."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from servers import UvicornServer

ROOT = Path(__file__).resolve().parents[2]
N = 25
ITEMS = {"route": "/items/{id:int}", "method": "GET", "status": "2xx"}


class Worker(UvicornServer):
    """One uvicorn process serving tests/apps/metrics_app.py."""

    def __init__(self, directory: Path) -> None:
        super().__init__(
            "apps.metrics_app:app",
            env={"COVET_METRICS_DIR": str(directory), "METRICS_INTERVAL": "0.2"},
        )
        self.wait_ready(http_path="/pid")

    def hit(self, n: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            for i in range(n):
                assert client.get(f"/items/{i}").status_code == 200

    def scrape(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url}/metrics", timeout=10)
        assert response.status_code == 200
        found: dict[str, Any] = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == "covet_requests_total" and sample.labels == ITEMS:
                    found["items"] = sample.value
                if sample.name == "covet_request_duration_seconds_count" and (
                    sample.labels == ITEMS
                ):
                    found["durations"] = sample.value
        return found


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Any]:
    started: list[Worker] = []

    def start() -> Worker:
        worker = Worker(tmp_path / "metrics")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(signal.SIGKILL)


def scrape_until(worker: Worker, expected: int, seen: list[float]) -> dict[str, Any]:
    """Scrapes until the other workers' latest publications (every 0.2 s) show;
    records every value seen, to check they never went down."""
    deadline = time.monotonic() + 10
    while True:
        found = worker.scrape()
        seen.append(found.get("items", 0))
        if found.get("items") == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_one_scrape_sums_the_workers_and_keeps_those_that_exit(
    workers: Any, tmp_path: Path
) -> None:
    a, b = workers(), workers()
    assert httpx.get(f"{a.base_url}/pid").json() != httpx.get(f"{b.base_url}/pid").json()
    a.hit(N)
    b.hit(N)
    seen: list[float] = []
    assert scrape_until(a, 2 * N, seen) == {"items": 2 * N, "durations": 2 * N}
    assert scrape_until(b, 2 * N, seen)["items"] == 2 * N

    b.stop(signal.SIGTERM)  # publishes its final totals at shutdown
    assert scrape_until(a, 2 * N, seen)["items"] == 2 * N
    names = sorted(p.name for p in (tmp_path / "metrics").iterdir())
    assert "archive.json" in names
    assert len([n for n in names if n.startswith("worker-")]) == 1  # only a's

    c = workers()
    c.hit(N)
    time.sleep(0.6)  # a few publication intervals
    c.stop(signal.SIGKILL)  # no shutdown: its last periodic publication counts
    assert scrape_until(a, 3 * N, seen)["items"] == 3 * N
    assert seen == sorted(seen), seen
