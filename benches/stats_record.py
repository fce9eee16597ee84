"""The per-request stats call, with and without the per-route record.

``CovetASGIApp._serve`` ends every plain request with one ``Stats.record`` call. With
per-route stats it passes two more arguments (the route's stats id and the method,
read from the route and the scope) and Rust updates one more cell. This times, in
one run with the variants interleaved round after round:

- ``global only``: ``record(status, elapsed_ns)``, the call before per-route stats;
- ``per route``: ``record(status, elapsed_ns, route_id, method)`` with locals;
- ``as _serve calls it``: the same, reading ``route.stats_id`` and
  ``scope["method"]`` as the hot path does.

    python benches/stats_record.py             # 25 rounds of 300,000 calls each
    python benches/stats_record.py --smoke     # a few calls, checks only
"""

from __future__ import annotations

import argparse
import statistics
import timeit

from covet._core import Stats, route_id

VARIANTS = {
    "global only": "record(200, 12345)",
    "per route": "record(200, 12345, rid, 'GET')",
    "as _serve calls it": "record(200, 12345, route.stats_id if route is not None else 0, "
    "scope['method'])",
}


class _Route:
    __slots__ = ("stats_id",)

    def __init__(self, stats_id: int) -> None:
        self.stats_id = stats_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--calls", type=int, default=300_000)
    parser.add_argument("--smoke", action="store_true", help="a few calls, checks only")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    rounds, calls = (2, 1_000) if args.smoke else (args.rounds, args.calls)

    stats = Stats()
    rid = route_id("/users/{id:int}")
    env = {
        "record": stats.record,
        "rid": rid,
        "route": _Route(rid),
        "scope": {"method": "GET"},
    }
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(rounds):
        for name, statement in VARIANTS.items():
            elapsed = timeit.Timer(statement, globals=env).timeit(calls)
            times[name].append(elapsed / calls * 1e9)

    snapshot = stats.snapshot()
    expected = rounds * calls * len(VARIANTS)
    assert snapshot["requests_processed"] == expected, snapshot["requests_processed"]
    per_route = snapshot["routes"]["/users/{id:int}"]["GET"]["2xx"]["count"]
    assert per_route == rounds * calls * 2, per_route
    if args.quiet:
        return
    # The minimum over rounds is the figure a shared machine's noise disturbs least.
    base = min(times["global only"])
    print(f"{'variant':<22} {'min ns':>8} {'added ns':>9} {'median ns':>10}")
    for name, values in times.items():
        least = min(values)
        print(f"{name:<22} {least:>8.1f} {least - base:>+9.1f} {statistics.median(values):>10.1f}")


if __name__ == "__main__":
    main()
