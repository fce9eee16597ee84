"""Behind real nginx, two workers share one rate limit through Redis, keyed on the
client nginx saw: a client cannot pick its own bucket with a spoofed
X-Forwarded-For, and neither can one that bypasses the proxy.

nginx reaches the workers from 127.0.0.2 (``proxy_bind``), the only trusted
address; clients connect from other loopback addresses, as other hosts would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploy.processes import NGINX_CONF, NginxProcess, RedisProcess, StartWorkers

PROXY_ADDRESS = "127.0.0.2"
LIMIT = 4


def client_from(address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10)


@pytest.fixture
def proxied(
    redis_process: RedisProcess, start_workers: StartWorkers, nginx_path: str, tmp_path: Path
) -> Iterator[tuple[NginxProcess, list[int]]]:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {
        "COVET_TEST_REDIS_URL": redis_process.url,
        "COVET_TEST_LIMIT": str(LIMIT),
        "COVET_TEST_TRUSTED": PROXY_ADDRESS,
        "COVET_METRICS_DIR": str(metrics_dir),
    }
    workers = start_workers("tests.deploy.proxied_app:app", 2, env=env)
    source = tmp_path / "nginx.conf"
    text = NGINX_CONF.read_text()
    assert text.count("proxy_pass http://covetpy_app;") == 2
    source.write_text(
        text.replace(
            "proxy_pass http://covetpy_app;",
            f"proxy_pass http://covetpy_app;\n            proxy_bind {PROXY_ADDRESS};",
        )
    )
    proxy = NginxProcess(nginx_path, [w.port for w in workers], source)
    try:
        yield proxy, [w.port for w in workers]
    finally:
        proxy.stop()


def test_rate_limit_holds_across_workers_keyed_on_the_client_nginx_saw(
    proxied: tuple[NginxProcess, list[int]],
) -> None:
    proxy, _ = proxied
    url = proxy.base_url + "/whoami"
    pids: set[int] = set()
    statuses = []
    with client_from("127.0.0.5") as client:
        for i in range(LIMIT + 3):
            # A new spoofed leftmost X-Forwarded-For on every request: ignored.
            response = client.get(url, headers={"x-forwarded-for": f"203.0.113.{i}"})
            statuses.append(response.status_code)
            if response.status_code == 200:
                assert response.json()["client"] == "127.0.0.5"
                pids.add(response.json()["pid"])
    assert statuses == [200] * LIMIT + [429] * 3
    assert len(pids) == 2, "nginx should have spread the requests over both workers"
    with client_from("127.0.0.6") as other:
        assert [other.get(url).status_code for _ in range(LIMIT)] == [200] * LIMIT
        assert other.get(url).status_code == 429


def test_a_client_bypassing_the_proxy_cannot_spoof_its_address(
    proxied: tuple[NginxProcess, list[int]],
) -> None:
    _, ports = proxied
    with client_from("127.0.0.7") as client:
        seen = client.get(
            f"http://127.0.0.1:{ports[0]}/whoami", headers={"x-forwarded-for": "203.0.113.9"}
        )
        assert seen.status_code == 200 and seen.json()["client"] == "127.0.0.7"


def whoami_requests(page: str) -> dict[str, float]:
    """``covet_requests_total`` samples of ``/whoami`` by status class."""
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if sample.name == "covet_requests_total" and sample.labels["route"] == "/whoami":
                status = sample.labels["status"]
                counts[status] = counts.get(status, 0.0) + sample.value
    return counts


def test_one_scrape_through_nginx_counts_the_requests_of_both_workers(
    proxied: tuple[NginxProcess, list[int]],
) -> None:
    proxy, _ = proxied
    pids: set[int] = set()
    with client_from("127.0.0.5") as client:
        for _ in range(LIMIT):
            pids.add(client.get(proxy.base_url + "/whoami").json()["pid"])
    assert len(pids) == 2
    # Both workers publish every 0.2 s, and the scraped one publishes its own totals
    # first: wait for the other's next publication. Each scrape comes from another
    # address, so the rate limit never answers one.
    deadline = time.monotonic() + 5
    for attempt in range(1, 200):
        with client_from(f"127.0.1.{attempt}") as scraper:
            counts = whoami_requests(scraper.get(proxy.base_url + "/metrics").text)
        if counts == {"2xx": LIMIT} or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert counts == {"2xx": LIMIT}
