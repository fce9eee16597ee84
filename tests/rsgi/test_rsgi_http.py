"""HTTP over granian's RSGI: tests/rsgi/rsgi_app.py under ``granian --interface rsgi``."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rsgi.granian_server import GranianServer

DATA = os.urandom(300_000)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("rsgi-files")
    (directory / "data.bin").write_bytes(DATA)
    return directory


@pytest.fixture(scope="module")
def server(files: Path) -> Iterator[GranianServer]:
    server = GranianServer("rsgi.rsgi_app:app", env={"COVET_RSGI_FILES": str(files)})
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def request(
    server: GranianServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    try:
        try:
            conn.request(method, path, body=body, headers=headers or {})
        except (BrokenPipeError, ConnectionResetError):
            # The server may answer (a 413) and close before the whole body is sent;
            # its answer is still there to read.
            pass
        response = conn.getresponse()
        return response.status, response, response.read()
    finally:
        conn.close()


def test_plain_text_json_and_path_params(server: GranianServer) -> None:
    status, response, body = request(server, "GET", "/")
    assert (status, body) == (200, b"Hello, World!")
    assert response.getheader("content-type") == "text/plain; charset=utf-8"
    assert response.getheader("content-length") == "13"

    status, response, body = request(server, "GET", "/json")
    assert status == 200 and response.getheader("content-type") == "application/json"
    assert json.loads(body) == {"message": "Hello", "items": [1, 2, 3]}

    status, _, body = request(server, "GET", "/users/42/posts/hello-world")
    assert (status, json.loads(body)) == (200, {"user_id": 42, "slug": "hello-world"})
    status, _, _ = request(server, "GET", "/users/not-a-number/posts/x")
    assert status == 404


def test_scope_carries_query_repeated_headers_client_and_lifespan_state(
    server: GranianServer,
) -> None:
    status, _, body = request(
        server, "GET", "/request-info?a=1&b=caf%C3%A9", headers={"X-Multi": "one"}
    )
    assert status == 200
    info = json.loads(body)
    assert info["query"] == {"a": "1", "b": "café"}
    assert info["x_multi"] == ["one"]
    assert info["method"] == "GET" and info["path"] == "/request-info"
    assert info["http_version"] == "1.1" and info["scheme"] == "http"
    assert info["client_host"] == "127.0.0.1"
    assert info["server"] == ["127.0.0.1", server.port]
    assert info["raw_path"] == "/request-info"
    # What the lifespan context yielded, copied into each request's scope["state"].
    assert info["db"] == "connected"

    # Repeated headers stay separate values, in order.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("GET", "/request-info")
        conn.putheader("X-Multi", "1")
        conn.putheader("X-Multi", "2")
        conn.endheaders()
        assert json.loads(conn.getresponse().read())["x_multi"] == ["1", "2"]
    finally:
        conn.close()


def test_percent_encoded_path_is_decoded_once_and_raw_path_re_encoded(
    server: GranianServer,
) -> None:
    status, _, body = request(server, "GET", "/users/7/posts/caf%C3%A9%20au%20lait")
    assert (status, json.loads(body)) == (200, {"user_id": 7, "slug": "café au lait"})


def test_post_echo_of_one_mebibyte_is_byte_exact(server: GranianServer) -> None:
    payload = os.urandom(1024 * 1024)
    status, response, body = request(server, "POST", "/echo", body=payload)
    assert status == 200
    assert response.getheader("content-length") == str(len(payload))
    assert hashlib.sha256(body).digest() == hashlib.sha256(payload).digest()


def test_large_body_is_streamed_in_chunks_not_read_whole(server: GranianServer) -> None:
    payload = os.urandom(1024 * 1024)
    status, _, body = request(server, "POST", "/echo-stream", body=payload)
    assert status == 200
    info = json.loads(body)
    assert info["size"] == len(payload)
    assert info["chunks"] > 1


def test_small_json_body_and_chunked_upload(server: GranianServer) -> None:
    status, _, body = request(
        server, "POST", "/json-echo", body=b'{"a": [1, 2]}', headers={"content-type": "x"}
    )
    assert (status, json.loads(body)) == (200, {"a": [1, 2]})

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        parts = [b"ab" * 1000, b"cd" * 5000, b"e"]
        conn.request("POST", "/echo-stream", body=iter(parts), encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["size"] == sum(map(len, parts))
    finally:
        conn.close()


def test_body_over_the_app_limit_is_413(server: GranianServer) -> None:
    status, _, body = request(server, "POST", "/echo", body=b"x" * (2 * 1024 * 1024 + 1))
    assert status == 413
    assert b"too large" in body


def test_streaming_response_arrives_chunked(server: GranianServer) -> None:
    status, response, body = request(server, "GET", "/stream")
    assert status == 200
    assert response.getheader("transfer-encoding") == "chunked"
    assert body == b"".join(f"chunk-{i}\n".encode() for i in range(5))


def test_event_source_response(server: GranianServer) -> None:
    status, response, body = request(server, "GET", "/events")
    assert status == 200
    assert response.getheader("content-type") == "text/event-stream; charset=utf-8"
    assert response.getheader("cache-control") == "no-cache"
    assert body == b"".join(f"event: tick\nid: {i}\ndata: tick {i}\n\n".encode() for i in range(3))


def test_endless_stream_generator_is_closed_when_the_client_leaves(
    server: GranianServer,
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/endless")
    response = conn.getresponse()
    assert response.read(5) == b"tick\n"
    conn.close()
    state: dict[str, Any] = {}
    for _ in range(100):
        _, _, body = request(server, "GET", "/endless-state")
        state = json.loads(body)
        if state["closed"]:
            break
        time.sleep(0.05)
    assert state == {"started": True, "closed": True}


def test_file_response_whole_range_multirange_head_and_304(server: GranianServer) -> None:
    status, response, body = request(server, "GET", "/file")
    assert status == 200 and body == DATA
    assert response.getheader("content-length") == str(len(DATA))
    assert response.getheader("content-disposition") == 'attachment; filename="data.bin"'
    etag = response.getheader("etag")
    assert etag

    status, response, body = request(server, "GET", "/file", headers={"Range": "bytes=1000-1999"})
    assert status == 206 and body == DATA[1000:2000]
    assert response.getheader("content-range") == f"bytes 1000-1999/{len(DATA)}"
    assert response.getheader("content-length") == "1000"

    status, response, body = request(server, "GET", "/file", headers={"Range": "bytes=-10"})
    assert status == 206 and body == DATA[-10:]

    status, response, body = request(server, "GET", "/file", headers={"Range": "bytes=0-4,10-14"})
    assert status == 206
    assert response.getheader("content-type").startswith("multipart/byteranges; boundary=")
    assert response.getheader("content-length") == str(len(body))
    assert DATA[0:5] in body and DATA[10:15] in body

    status, response, body = request(
        server, "GET", "/file", headers={"Range": f"bytes={len(DATA)}-"}
    )
    assert status == 416 and body == b""
    assert response.getheader("content-range") == f"bytes */{len(DATA)}"

    status, response, body = request(server, "HEAD", "/file")
    assert (status, body) == (200, b"")
    assert response.getheader("content-length") == str(len(DATA))

    status, _, body = request(server, "GET", "/file", headers={"If-None-Match": etag})
    assert (status, body) == (304, b"")


def test_middleware_runs_unchanged(server: GranianServer) -> None:
    status, response, body = request(
        server, "GET", "/big-text", headers={"Accept-Encoding": "gzip"}
    )
    assert status == 200
    assert response.getheader("content-encoding") == "gzip"
    assert response.getheader("content-length") == str(len(body))
    assert gzip.decompress(body) == b"x" * 10_000


def test_errors_are_the_apps_own_answers(server: GranianServer) -> None:
    status, _, body = request(server, "GET", "/fail")
    assert (status, json.loads(body)) == (500, {"detail": "Internal Server Error"})
    status, response, _ = request(server, "DELETE", "/")
    assert status == 405 and response.getheader("allow") == "GET, HEAD, OPTIONS"
    status, response, body = request(server, "HEAD", "/")
    assert (status, body) == (200, b"") and response.getheader("content-length") == "13"


def test_stats_count_requests_served_over_rsgi(server: GranianServer) -> None:
    _, _, body = request(server, "GET", "/stats")
    before = json.loads(body)["requests_processed"]
    for _ in range(3):
        request(server, "GET", "/")
    _, _, body = request(server, "GET", "/stats")
    assert json.loads(body)["requests_processed"] == before + 4
