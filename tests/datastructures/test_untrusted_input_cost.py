"""Host validation, X-Forwarded-For walking and cookie quoting cost at most linear
time in their (attacker-controlled) input: no regex backtracking, no quadratic loop.

Each check times the same operation on an input and on one 10x bigger, in the same
run, interleaved, in this thread's CPU time, keeping the minimum of several runs; a
linear operation grows ~10x, a quadratic one ~100x.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from covet.datastructures import URL, is_valid_host
from covet.middleware.proxyheaders import ProxyHeadersMiddleware
from covet.responses import format_set_cookie

MAX_GROWTH = 15.0


def growth(run: Callable[[Any], object], build: Callable[[int], Any], n: int) -> float:
    small, large = build(n), build(10 * n)
    run(small)
    run(large)
    ratio = float("inf")
    best_small = best_large = float("inf")
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(3):
            for _ in range(5):
                start = time.thread_time()
                run(small)
                best_small = min(best_small, time.thread_time() - start)
                start = time.thread_time()
                run(large)
                best_large = min(best_large, time.thread_time() - start)
            ratio = best_large / max(best_small, 1e-9)
            if ratio <= MAX_GROWTH:
                break
    finally:
        if enabled:
            gc.enable()
    return ratio


def test_host_validation_of_a_huge_header_costs_no_more_than_its_length() -> None:
    def scope(host: str) -> dict[str, Any]:
        return {"path": "/", "headers": [(b"host", host.encode())], "server": ("10.0.0.1", 80)}

    # Near-misses for the host pattern: long runs of valid characters ending badly.
    for build in (
        lambda n: scope("a" * (100 * n) + "/"),
        lambda n: scope("a." * (50 * n) + ":"),
        lambda n: scope("[" + "1:" * (50 * n)),
    ):
        assert growth(URL.from_scope, build, 1000) <= MAX_GROWTH
    assert str(URL.from_scope(scope("a" * 10_000_000 + "/"))) == "http://10.0.0.1/"
    assert not is_valid_host("a" * 10_000_000)


def test_forwarded_for_walk_is_linear_in_the_number_of_hops() -> None:
    proxies = ProxyHeadersMiddleware(None, trusted_hosts=["10.0.0.0/8"])  # type: ignore[arg-type]

    def run(entries: list[str]) -> object:
        return proxies.client_from(entries)

    def trusted_chain(n: int) -> list[str]:
        return ["198.51.100.1"] + [f"10.0.{i // 250 % 250}.{i % 250 + 1}" for i in range(n)]

    assert growth(run, trusted_chain, 200) <= MAX_GROWTH
    assert run(trusted_chain(2000)) == ("198.51.100.1", 0)


def test_quoting_a_cookie_value_is_linear() -> None:
    def run(value: str) -> object:
        return format_set_cookie("k", value)

    for build in (lambda n: ',;"\\ é' * n, lambda n: '"' + "a" * (6 * n)):
        assert growth(run, build, 2000) <= MAX_GROWTH
