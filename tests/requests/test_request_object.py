"""The request object: its Rust base (``_core.RequestBase``), how the driver makes
it, and that objects handed to user code stay theirs after the request."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from covet import _core
from covet.app import create_asgi_app
from covet.requests import Request
from covet.responses import JSONResponse, PlainTextResponse, Response
from covet.routing import Route


def http_scope(path: str, headers: Any = ()) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": list(headers),
    }


async def call(app: Any, path: str, headers: Any = ()) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(http_scope(path, headers), receive, send)
    return sent


def test_request_derives_from_the_rust_base() -> None:
    assert issubclass(Request, _core.RequestBase)
    # The C slot, inherited: no Python-level __init__ runs on construction.
    assert "__init__" not in Request.__dict__
    assert Request.__init__ is _core.RequestBase.__init__


async def test_requests_and_responses_kept_past_their_request_are_unchanged() -> None:
    kept: list[tuple[Request, Response, dict[str, Any]]] = []

    async def remember(request: Request) -> Response:
        response = JSONResponse(
            {"n": request.path_params["n"]}, headers={"x-n": str(request.path_params["n"])}
        )
        snapshot = {
            "scope": dict(request.scope),
            "params": dict(request.path_params),
            "header": request.headers.get("x-tag"),
            "body": response.body,
            "raw_headers": list(response.raw_headers),
        }
        kept.append((request, response, snapshot))
        return response

    async def plain(request: Request) -> Response:
        return PlainTextResponse("other")

    app = create_asgi_app(routes=[Route("/keep/{n:int}", remember), Route("/", plain)])
    for n in range(3):
        await call(app, f"/keep/{n}", [(b"x-tag", f"tag-{n}".encode())])
        # Many more requests in between: any reuse of the kept objects would show.
        for _ in range(200):
            await call(app, "/")
        gc.collect()
    for n, (request, response, snapshot) in enumerate(kept):
        assert request.path_params == {"n": n} == snapshot["params"]
        assert request.scope["path"] == f"/keep/{n}"
        assert dict(request.scope) == snapshot["scope"]
        assert request.headers.get("x-tag") == snapshot["header"] == f"tag-{n}"
        assert response.body == snapshot["body"] == f'{{"n":{n}}}'.encode()
        assert list(response.raw_headers) == snapshot["raw_headers"]
        assert response.status_code == 200


async def test_a_request_subclass_with_its_own_init_is_built_by_calling_it() -> None:
    class TracedRequest(Request):
        def __init__(self, scope: Any, receive: Any = None, path_params: Any = None) -> None:
            super().__init__(scope, receive, path_params)
            self.traced = True

    request = TracedRequest(http_scope("/"), None, {"a": 1})
    assert request.traced and request.path_params == {"a": 1}
    assert request.scope["path"] == "/"


async def test_a_request_made_without_a_body_channel_says_so() -> None:
    request = Request(http_scope("/"))
    assert request.path_params == {}
    with pytest.raises(RuntimeError, match="no body channel"):
        await request.body()


def test_request_references_can_be_replaced_like_plain_attributes() -> None:
    request = Request(http_scope("/a"))
    request.path_params = {"x": "1"}
    request.scope = http_scope("/b")
    assert request.path_params == {"x": "1"} and request.path == "/b"
    request.note = "user attribute"  # type: ignore[attr-defined]
    assert request.note == "user attribute"  # type: ignore[attr-defined]


def test_path_params_default_is_a_fresh_dict_per_request() -> None:
    first, second = Request(http_scope("/")), Request(http_scope("/"))
    first.path_params["k"] = "v"
    assert second.path_params == {}


@pytest.mark.parametrize("name", ["scope", "_receive", "path_params"])
def test_a_class_attribute_hiding_a_request_field_is_refused_at_class_creation(name: str) -> None:
    with pytest.raises(TypeError, match=f"{name}: a request's {name} is set per instance"):
        type("Shadowing", (Request,), {name: None})
