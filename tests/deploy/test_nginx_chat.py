"""deploy/nginx.conf in front of two uvicorn workers of examples/chat.py sharing
messages through a real redis-server: what one worker's client says reaches the
clients of the other worker, over WebSockets and Server-Sent Events, through nginx."""

from __future__ import annotations

import http.client
import json
import os
from contextlib import ExitStack
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from deploy.processes import (
    NGINX_CONF,
    NginxProcess,
    RedisProcess,
    StartNginx,
    StartWorkers,
    nginx_test,
    render_nginx_conf,
)

TIMEOUT = 5.0


def test_committed_nginx_conf_passes_nginx_t(nginx_path: str) -> None:
    if os.environ.get("CI") != "true" and os.geteuid() != 0:
        pytest.skip("the committed config's paths (/run, /var/log/nginx) need root")
    result = nginx_test(NGINX_CONF, nginx_path)
    assert result.returncode == 0, result.stdout
    assert "test is successful" in result.stdout


def test_rendering_replaces_ports_and_every_path(tmp_path: Any, nginx_path: str) -> None:
    path = render_nginx_conf(tmp_path, 8123, [9001, 9002])
    checked = nginx_test(path, nginx_path, prefix=tmp_path)
    assert checked.returncode == 0, checked.stdout
    rendered = path.read_text()
    config = "\n".join(line for line in rendered.splitlines() if not line.lstrip().startswith("#"))
    assert "listen 127.0.0.1:8123;" in config
    assert "server 127.0.0.1:9001;\n        server 127.0.0.1:9002;\n        keepalive" in config
    assert ":8000" not in config and ":8003" not in config
    assert "/var/" not in config and "/run/" not in config
    # what the deployment is about survives the rendering
    for header in (
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header Host $host;",
    ):
        assert header in config


class SSEClient:
    """Reads a text/event-stream through nginx, line by line."""

    def __init__(self, proxy: NginxProcess, path: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=TIMEOUT)
        self.connection.request("GET", path, headers={"Accept": "text/event-stream"})
        self.response = self.connection.getresponse()
        assert self.response.status == 200
        assert self.response.getheader("content-type", "").startswith("text/event-stream")

    def next_line(self) -> str:
        while True:
            line = self.response.readline().decode()
            if not line:
                raise EOFError("the event stream ended")
            line = line.rstrip("\n")
            if line and line != ": ping":
                return line

    def close(self) -> None:
        self.connection.close()


def join(
    stack: ExitStack, proxy: NginxProcess, room: str, user: str
) -> tuple[ClientConnection, dict[str, Any]]:
    url = f"{proxy.ws_url}/ws/{room}?user={user}"
    ws = stack.enter_context(connect(url, open_timeout=TIMEOUT, close_timeout=2))
    hello = json.loads(ws.recv(timeout=TIMEOUT))
    assert hello["type"] == "hello" and hello["room"] == room
    return ws, hello


def join_other_worker(
    stack: ExitStack, proxy: NginxProcess, room: str, user: str, not_on: str
) -> tuple[ClientConnection, dict[str, Any]]:
    """Connects until nginx hands the connection to a worker other than ``not_on``."""
    for _ in range(8):
        ws, hello = join(stack, proxy, room, user)
        if hello["worker"] != not_on:
            return ws, hello
        ws.close()
    raise AssertionError("nginx sent eight connections in a row to the same worker")


def test_chat_messages_cross_workers_behind_nginx(
    redis_process: RedisProcess, start_workers: StartWorkers, start_nginx: StartNginx
) -> None:
    env = {"COVET_BROADCAST_URL": redis_process.url}
    workers = start_workers("examples.chat:app", 2, env=env, log_level="info")
    proxy = start_nginx([worker.port for worker in workers])

    with ExitStack() as stack:
        sse = SSEClient(proxy, "/rooms/lobby/events")
        stack.callback(sse.close)
        assert sse.next_line() == ": subscribed"
        alice, alice_hello = join(stack, proxy, "lobby", "alice")
        bob, bob_hello = join_other_worker(stack, proxy, "lobby", "bob", alice_hello["worker"])
        pids = {str(worker.process.pid) for worker in workers if worker.process}
        assert {alice_hello["worker"], bob_hello["worker"]} == pids
        alice.send("hello bob")
        expected = {
            "type": "message",
            "room": "lobby",
            "user": "alice",
            "text": "hello bob",
            "worker": alice_hello["worker"],
        }
        assert json.loads(bob.recv(timeout=TIMEOUT)) == expected  # the other worker's client
        assert json.loads(alice.recv(timeout=TIMEOUT)) == expected  # and the sender's own
        assert json.loads(sse.next_line().removeprefix("data: ")) == expected

        bob.send("hi alice")
        reply = json.loads(alice.recv(timeout=TIMEOUT))
        assert (reply["user"], reply["text"], reply["worker"]) == (
            "bob",
            "hi alice",
            bob_hello["worker"],
        )
        assert json.loads(bob.recv(timeout=TIMEOUT))["text"] == "hi alice"
        assert json.loads(sse.next_line().removeprefix("data: "))["text"] == "hi alice"

        # the HTTP endpoint, through nginx too
        post = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=TIMEOUT)
        post.request(
            "POST",
            "/rooms/lobby/messages",
            body=json.dumps({"user": "carol", "text": "over HTTP"}),
            headers={"content-type": "application/json"},
        )
        answer = post.getresponse()
        assert answer.status == 202, answer.read()
        post.close()
        for ws in (alice, bob):
            assert json.loads(ws.recv(timeout=TIMEOUT))["text"] == "over HTTP"
        assert json.loads(sse.next_line().removeprefix("data: "))["user"] == "carol"

        # another room hears nothing of this one
        dave, _ = join(stack, proxy, "other", "dave")
        alice.send("lobby only")
        assert json.loads(bob.recv(timeout=TIMEOUT))["text"] == "lobby only"
        with pytest.raises(TimeoutError):
            dave.recv(timeout=0.3)

    for worker in workers:
        worker.stop()
        output = worker.output()
        assert "Application shutdown complete" in output, output  # broadcast.disconnect ran
        assert "Traceback" not in output and "ERROR" not in output, output
    assert "[emerg]" not in proxy.error_log() and "[crit]" not in proxy.error_log()
