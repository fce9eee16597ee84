"""Does pooling Request objects pay? A new Request per request against reuse from a
free list guarded by a refcount check (the only safe reuse: an object is returned to
the pool only when nothing but the pool's caller still holds it).

    .venv/bin/python benches/request_pool.py

Interleaved, min of 5 repeats of 1,000,000 each; run it a few times, the machine is
noisy. The README's "no object pooling" rests on this measurement.
"""

from __future__ import annotations

import sys
import timeit
from typing import Any

from covet.requests import Request

SCOPE: dict[str, Any] = {"type": "http", "method": "GET", "path": "/", "headers": []}
PARAMS: dict[str, Any] = {}


async def receive() -> dict[str, Any]:
    return {}


POOL = [Request(SCOPE, receive, PARAMS) for _ in range(4)]


def fresh() -> None:
    Request(SCOPE, receive, PARAMS)


def pooled() -> None:
    request = POOL.pop() if POOL else Request.__new__(Request)
    request.__dict__.clear()  # forget the lazily parsed views of the last request
    request.scope = SCOPE
    request._receive = receive
    request.path_params = PARAMS
    if sys.getrefcount(request) == 2:  # the local and getrefcount's argument
        POOL.append(request)


def main() -> None:
    n = 1_000_000
    for name, func in (("new Request", fresh), ("pooled Request", pooled)) * 2:
        ns = min(timeit.repeat(func, number=n, repeat=5)) / n * 1e9
        print(f"{name:16s} {ns:6.0f} ns")


if __name__ == "__main__":
    main()
