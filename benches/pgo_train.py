"""The workload the profile-guided build trains on (tools/pgo_build.py): the
in-process scenarios of ``asgi_inprocess.py`` served by CovetPy's app (plain text,
JSON, path parameters, a 200-route table, a JSON POST, query and headers, 404s, a
WebSocket echo, a multipart upload), then the plain, JSON and path-parameter GETs
through the RSGI entry. Every response is checked, so a build that trained on error
paths fails instead.

    python benches/pgo_train.py [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from apps.common import TEXT
from apps.covetpy import app
from asgi_inprocess import (
    UPLOAD_SIZE,
    Request,
    build_scenarios,
    expect_json,
    http_batch,
    run_cell,
    run_lifespan,
    upload_request,
)


class RSGIScope:
    """The attributes granian's RSGI scope has, for a GET without a body."""

    proto = "http"
    http_version = "1.1"
    rsgi_version = "1.6"
    server = "127.0.0.1:8000"
    client = "127.0.0.1:50000"
    scheme = "http"
    method = "GET"
    query_string = ""
    authority = None

    def __init__(self, path: str) -> None:
        self.path = path
        self.headers = RSGIHeaders()


class RSGIHeaders:
    def items(self) -> list[tuple[str, str]]:
        return [("host", "bench")]


class RSGIProtocol:
    """Keeps what the app answers through ``response_bytes``."""

    def __init__(self) -> None:
        self.answer: tuple[int, bytes] | None = None

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.answer = (status, body)


async def train_rsgi(requests: int) -> None:
    # Bodies checked where they are fixed text; the JSON ones by their status.
    expected: dict[str, bytes | None] = {
        "/": TEXT.encode(),
        "/json": None,
        "/users/42/posts/hello": None,
    }
    for path, body in expected.items():
        for _ in range(requests):
            protocol = RSGIProtocol()
            await app.__rsgi__(RSGIScope(path), protocol)
            if protocol.answer is None or protocol.answer[0] != 200:
                raise RuntimeError(f"RSGI GET {path}: {protocol.answer!r:.200}")
            if body is not None and protocol.answer[1] != body:
                raise RuntimeError(f"RSGI GET {path}: {protocol.answer[1]!r:.200}")


async def train(requests: int) -> None:
    shutdown = await run_lifespan(app)
    try:
        for scenario in build_scenarios():
            await run_cell(app, scenario, requests)
        scope, messages = upload_request()
        answer = expect_json({"name": "data.bin", "size": UPLOAD_SIZE})
        await http_batch(app, [Request(scope, tuple(messages), answer)], 2)
    finally:
        await shutdown()
    await train_rsgi(requests)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per scenario")
    args = parser.parse_args()
    asyncio.run(train(args.requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
