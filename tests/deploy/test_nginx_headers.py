"""What deploy/nginx.conf tells the app about the client, over HTTP and WebSocket:
Host, X-Forwarded-For (the client's address appended to what it sent),
X-Forwarded-Proto and X-Real-IP."""

from __future__ import annotations

import http.client
import json
from typing import Any

from websockets.sync.client import connect

from deploy.processes import NginxProcess, StartNginx, StartWorkers

APP = "tests.deploy.headers_app:app"


def get_seen(proxy: NginxProcess, headers: dict[str, str] | None = None) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    try:
        connection.request("GET", "/headers", headers=headers or {})
        response = connection.getresponse()
        assert response.status == 200
        seen: dict[str, Any] = json.loads(response.read())
        return seen
    finally:
        connection.close()


def test_http_requests_carry_the_forwarding_headers(
    start_workers: StartWorkers, start_nginx: StartNginx
) -> None:
    (worker,) = start_workers(APP, 1)
    proxy = start_nginx([worker.port])
    seen = get_seen(proxy)
    headers = seen["headers"]
    assert headers["host"] == "127.0.0.1"  # $host: the name the client asked for
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-real-ip"] == "127.0.0.1"
    assert "upgrade" not in headers
    assert headers.get("connection", "") == ""  # kept alive upstream, not "close"
    assert seen["client"] == "127.0.0.1"


def test_x_forwarded_for_appends_the_client_to_what_it_sent(
    start_workers: StartWorkers, start_nginx: StartNginx
) -> None:
    (worker,) = start_workers(APP, 1)
    proxy = start_nginx([worker.port])
    headers = get_seen(proxy, {"X-Forwarded-For": "203.0.113.9"})["headers"]
    # What the client claims comes first; only the last entry is nginx's own finding.
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert headers["x-real-ip"] == "127.0.0.1"


def test_websocket_handshakes_are_upgraded_with_the_forwarding_headers(
    start_workers: StartWorkers, start_nginx: StartNginx
) -> None:
    (worker,) = start_workers(APP, 1)
    proxy = start_nginx([worker.port])
    with connect(f"{proxy.ws_url}/ws/headers", open_timeout=5) as ws:
        headers = json.loads(ws.recv(timeout=5))["headers"]
    assert headers["upgrade"].lower() == "websocket"
    assert headers["connection"].lower() == "upgrade"
    assert headers["host"] == "127.0.0.1"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
