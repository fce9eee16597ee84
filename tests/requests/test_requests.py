"""The Request object: lazy views over the scope and the body channel."""

from __future__ import annotations

import pytest

from covet import ClientDisconnect, CovetRouter, HTTPException, create_asgi_app
from covet.requests import Request
from covet.responses import Response
from covet.testing import ASGITestClient


async def describe(request: Request) -> dict:
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query.multi_items(),
        "q": request.query.get("q"),
        "tags": request.query.getlist("tag"),
        "agent": request.headers.get("User-Agent"),
        "multi": request.headers.getlist("x-multi"),
        "cookies": dict(request.cookies),
        "client": list(request.client) if request.client else None,
        "url": str(request.url),
    }


async def echo_body(request: Request) -> Response:
    body = await request.body()
    again = await request.body()
    assert body is again
    return Response(body, media_type="application/octet-stream")


async def echo_json(request: Request) -> dict:
    assert request.is_json()
    return {"received": await request.json()}


@pytest.fixture
def client() -> ASGITestClient:
    router = CovetRouter()
    router.add_route("/describe", describe, ["GET"])
    router.add_route("/body", echo_body, ["POST"])
    router.add_route("/json", echo_json, ["POST"])
    return ASGITestClient(create_asgi_app(router=router))


async def test_request_views(client: ASGITestClient) -> None:
    response = await client.get(
        "/describe?q=a+b&tag=1&tag=2&empty",
        headers={"User-Agent": "pytest", "X-Multi": "one"},
        cookies={"sid": "abc", "theme": "dark"},
    )
    data = response.json()
    assert data["method"] == "GET" and data["path"] == "/describe"
    assert data["query"] == [["q", "a b"], ["tag", "1"], ["tag", "2"], ["empty", ""]]
    assert data["q"] == "a b" and data["tags"] == ["1", "2"]
    assert data["agent"] == "pytest" and data["multi"] == ["one"]
    assert data["cookies"] == {"sid": "abc", "theme": "dark"}
    assert data["client"] == ["testclient", 50000]
    assert data["url"] == "http://testserver/describe?q=a+b&tag=1&tag=2&empty"


async def test_body_is_assembled_from_chunks(client: ASGITestClient) -> None:
    payload = bytes(range(256)) * 100
    response = await client.post("/body", body=payload, chunk_size=1000)
    assert response.content == payload


async def test_json_body(client: ASGITestClient) -> None:
    response = await client.post("/json", json={"a": [1, 2, {"b": None}]})
    assert response.json() == {"received": {"a": [1, 2, {"b": None}]}}


async def test_malformed_json_is_400_not_500(client: ASGITestClient) -> None:
    response = await client.post(
        "/json", body=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Malformed JSON body")


async def test_disconnect_mid_body_raises_client_disconnect() -> None:
    messages = [
        {"type": "http.request", "body": b"part", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict:
        return messages.pop(0)

    request = Request({"type": "http", "headers": []}, receive)
    with pytest.raises(ClientDisconnect):
        await request.body()


async def test_stream_after_body_replays_it() -> None:
    async def receive() -> dict:
        return {"type": "http.request", "body": b"data", "more_body": False}

    request = Request({"type": "http", "headers": []}, receive)
    assert await request.body() == b"data"
    assert [chunk async for chunk in request.stream()] == [b"data"]


async def test_stream_twice_is_a_clear_error() -> None:
    async def receive() -> dict:
        return {"type": "http.request", "body": b"data", "more_body": False}

    request = Request({"type": "http", "headers": []}, receive)
    assert [chunk async for chunk in request.stream()] == [b"data"]
    with pytest.raises(RuntimeError, match="already consumed"):
        async for _ in request.stream():
            pass


def test_content_type_helpers() -> None:
    def request_with(content_type: str) -> Request:
        return Request({"type": "http", "headers": [(b"content-type", content_type.encode())]})

    assert request_with("application/json; charset=utf-8").is_json()
    assert request_with("application/vnd.api+json").is_json()
    assert not request_with("text/plain").is_json()
    assert request_with("multipart/form-data; boundary=x").is_form()
    assert request_with("application/x-www-form-urlencoded").is_form()


def test_http_exception_defaults_detail_to_phrase() -> None:
    assert HTTPException(404).detail == "Not Found"
    assert HTTPException(418, "teapot").detail == "teapot"
