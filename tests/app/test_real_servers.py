"""End to end over real HTTP: the example app under uvicorn and hypercorn on
127.0.0.1 (each server decides on its own that the app speaks ASGI 3)."""

from __future__ import annotations

import http.client
import json
from typing import Any

from servers import HypercornServer, starting


def request(port: int, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_example_app_over_real_http(serve: Any) -> None:
    check_example_app(serve("examples.hello:app"))


def test_example_app_under_hypercorn() -> None:
    # hypercorn takes an app whose `__call__` is not a coroutine function (on Python
    # 3.11, by `inspect`'s rules) for a WSGI app, and answers 500.
    with starting(HypercornServer) as start:
        check_example_app(start("examples.hello:app"))


def check_example_app(server: Any) -> None:
    status, headers, body = request(server.port, "GET", "/")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"message": "Hello ASGI World!"}

    status, _, body = request(server.port, "GET", "/items/42?q=x%20y")
    assert (status, json.loads(body)) == (200, {"item_id": 42, "q": "x y"})

    status, _, body = request(server.port, "GET", "/hello/caf%C3%A9")
    assert json.loads(body) == {"message": "Hello, café!"}

    status, _, _ = request(server.port, "GET", "/items/not-a-number")
    assert status == 404

    status, headers, _ = request(server.port, "PUT", "/")
    assert status == 405 and headers["allow"] == "GET, HEAD, OPTIONS"

    status, headers, body = request(server.port, "HEAD", "/")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0
