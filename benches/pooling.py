"""Does pooling pay? Each candidate against its pooled form, interleaved, min of 5
repeats of 1,000,000 calls; run it a few times, the machine is noisy.

- ``Request``: a new object (the Rust base's ``tp_new`` and ``__init__`` slot) against
  reuse from a free list guarded by a refcount check (the only safe reuse: an object
  is returned to the pool only when nothing but the pool's caller still holds it),
  which must also forget the lazily parsed views of its last request.
- Response headers: ``Response(body)`` for a body under 4 KiB, whose
  ``(b"content-length", ...)`` tuple comes from the shared table, against a body of
  4 KiB or more, which makes its own tuple and length bytes (the body is built
  beforehand, so only the header differs).

    .venv/bin/python benches/pooling.py

The README's section on pooling rests on this measurement.
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable
from typing import Any

from covet.requests import Request
from covet.responses import Response

SCOPE: dict[str, Any] = {"type": "http", "method": "GET", "path": "/", "headers": []}
PARAMS: dict[str, Any] = {}
SHARED_LENGTH = b"x" * 13
OWN_LENGTH = b"x" * 5000


async def receive() -> dict[str, Any]:
    return {}


POOL = [Request(SCOPE, receive, PARAMS) for _ in range(4)]


def new_request() -> None:
    Request(SCOPE, receive, PARAMS)


def pooled_request() -> None:
    request = POOL.pop() if POOL else Request.__new__(Request)
    request.__dict__.clear()  # forget the lazily parsed views of the last request
    request.scope = SCOPE
    request._receive = receive
    request.path_params = PARAMS
    if sys.getrefcount(request) == 2:  # the local and getrefcount's argument
        POOL.append(request)


def shared_header() -> None:
    Response(SHARED_LENGTH)


def own_header() -> None:
    Response(OWN_LENGTH)


CANDIDATES: list[tuple[str, Callable[[], None]]] = [
    ("new Request", new_request),
    ("pooled Request", pooled_request),
    ("Response, own content-length tuple", own_header),
    ("Response, shared content-length tuple", shared_header),
]


def main() -> None:
    n = 1_000_000
    for name, func in CANDIDATES * 2:
        ns = min(timeit.repeat(func, number=n, repeat=5)) / n * 1e9
        print(f"{name:40s} {ns:6.0f} ns")


if __name__ == "__main__":
    main()
