"""End to end over real HTTP: the example app under uvicorn on 127.0.0.1."""

from __future__ import annotations

import http.client
import json


def request(port: int, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_example_app_over_real_http(serve) -> None:
    server = serve("examples.hello:app")
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
