"""Routing through the ASGI interface: converters, priority, methods, conflicts."""

from __future__ import annotations

import uuid

import pytest

from covet import CovetRouter, InvalidRouteError, RouteConflictError, _core, create_asgi_app
from covet.requests import Request
from covet.testing import ASGITestClient


def echo(name: str):
    async def handler(request: Request) -> dict:
        params = {k: [type(v).__name__, str(v)] for k, v in request.path_params.items()}
        return {"route": name, "params": params}

    handler.__name__ = name
    return handler


@pytest.fixture
def client() -> ASGITestClient:
    router = CovetRouter()
    router.add_route("/users/me", echo("me"), ["GET"])
    router.add_route("/users/{id:int}", echo("by_id"), ["GET", "DELETE"])
    router.add_route("/users/{name}", echo("by_name"), ["GET"])
    router.add_route("/prices/{value:float}", echo("price"), ["GET"])
    router.add_route("/objects/{key:uuid}", echo("object"), ["GET"])
    router.add_route("/files/{rest:path}", echo("files"), ["GET"])
    router.add_route("/a/{x:int}/b", echo("a_int_b"), ["GET"])
    router.add_route("/a/{y}/c", echo("a_str_c"), ["GET"])
    router.add_route("/custom-options", echo("options"), ["OPTIONS"])
    return ASGITestClient(create_asgi_app(router=router))


@pytest.mark.parametrize(
    ("path", "route", "params"),
    [
        ("/users/me", "me", {}),
        ("/users/42", "by_id", {"id": ["int", "42"]}),
        ("/users/bob", "by_name", {"name": ["str", "bob"]}),
        ("/users/99999999999999999999", "by_name", {"name": ["str", "99999999999999999999"]}),
        ("/prices/1.5", "price", {"value": ["float", "1.5"]}),
        ("/prices/3", "price", {"value": ["float", "3.0"]}),
        ("/a/5/b", "a_int_b", {"x": ["int", "5"]}),
        ("/a/5/c", "a_str_c", {"y": ["str", "5"]}),
        ("/files/", "files", {"rest": ["str", ""]}),
        ("/files/css/site.css", "files", {"rest": ["str", "css/site.css"]}),
    ],
)
async def test_priority_and_backtracking_pick_the_right_route(
    client: ASGITestClient, path: str, route: str, params: dict
) -> None:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.json() == {"route": route, "params": params}


async def test_uuid_parameter_is_converted(client: ASGITestClient) -> None:
    key = uuid.uuid4()
    response = await client.get(f"/objects/{str(key).upper()}")
    assert response.json() == {"route": "object", "params": {"key": ["UUID", str(key)]}}


async def test_typed_parameter_that_does_not_parse_is_not_found_not_500(
    client: ASGITestClient,
) -> None:
    assert (await client.get("/objects/not-a-uuid")).status_code == 404
    assert (await client.get("/prices/abc")).status_code == 404


async def test_parameters_are_percent_decoded_after_splitting(client: ASGITestClient) -> None:
    response = await client.get("/users/a%2Fb%20c")
    assert response.json() == {"route": "by_name", "params": {"name": ["str", "a/b c"]}}


async def test_undecodable_path_is_not_found(client: ASGITestClient) -> None:
    assert (await client.get("/users/%zz")).status_code == 404
    assert (await client.get("/users/%FF")).status_code == 404


async def test_unknown_path_is_404_json(client: ASGITestClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


async def test_wrong_method_is_405_with_allow(client: ASGITestClient) -> None:
    response = await client.post("/users/42")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, HEAD, OPTIONS"
    assert response.json() == {"detail": "Method Not Allowed"}


async def test_405_falls_through_to_a_lower_priority_route_with_the_method(
    client: ASGITestClient,
) -> None:
    # /users/42 matches {id:int} (GET, DELETE) first; DELETE there is found.
    assert (await client.delete("/users/42")).json()["route"] == "by_id"
    # DELETE on /users/bob: only {name} matches, and it has no DELETE.
    response = await client.delete("/users/bob")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"


async def test_head_uses_get_handler_without_body(client: ASGITestClient) -> None:
    get = await client.get("/users/me")
    head = await client.head("/users/me")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]


async def test_options_is_answered_with_allow(client: ASGITestClient) -> None:
    response = await client.options("/users/42")
    assert response.status_code == 204
    assert response.headers["allow"] == "DELETE, GET, HEAD, OPTIONS"
    assert response.content == b""


async def test_registered_options_handler_wins(client: ASGITestClient) -> None:
    response = await client.options("/custom-options")
    assert response.status_code == 200
    assert response.json()["route"] == "options"


def test_conflicting_route_names_both_routes() -> None:
    router = CovetRouter()
    router.add_route("/users/{id}", echo("a"), ["GET"])
    with pytest.raises(RouteConflictError) as info:
        router.add_route("/users/{id}", echo("b"), ["GET", "POST"])
    assert "GET /users/{id}" in str(info.value)
    with pytest.raises(RouteConflictError) as info:
        router.add_route("/users/{name}/posts", echo("c"), ["GET"])
    message = str(info.value)
    assert "/users/{name}/posts" in message and "/users/{id}" in message


def test_failed_registration_leaves_router_usable() -> None:
    router = CovetRouter()
    router.add_route("/x/{id}", echo("a"), ["GET"])
    with pytest.raises(RouteConflictError):
        router.add_route("/x/{other}", echo("b"), ["GET"])
    assert len(router) == 1
    match = router.lookup("GET", b"/x/1")
    assert match.kind == _core.FOUND
    assert match.route.name == "a" and match.params == {"id": "1"}


@pytest.mark.parametrize(
    "pattern",
    ["users", "/users/{id:bogus}", "/x/{a}/{a}", "/x/{rest:path}/y", "/x/{", "/x/a{b}", "/x/{}"],
)
def test_malformed_pattern_is_rejected(pattern: str) -> None:
    with pytest.raises(InvalidRouteError):
        CovetRouter().add_route(pattern, echo("a"), ["GET"])


def test_websocket_cannot_be_mixed_with_http_methods() -> None:
    with pytest.raises(InvalidRouteError):
        CovetRouter().add_route("/ws", echo("a"), ["GET", "WEBSOCKET"])


async def test_websocket_route_is_not_an_http_route() -> None:
    router = CovetRouter()
    router.add_route("/ws", echo("ws"), ["WEBSOCKET"])
    response = await ASGITestClient(create_asgi_app(router=router)).get("/ws")
    assert response.status_code == 404


async def test_sync_handler_runs_in_a_thread() -> None:
    import threading

    router = CovetRouter()
    main_thread = threading.get_ident()

    def blocking(request: Request) -> dict:
        return {"same_thread": threading.get_ident() == main_thread}

    router.add_route("/sync", blocking, ["GET"])
    response = await ASGITestClient(create_asgi_app(router=router)).get("/sync")
    assert response.json() == {"same_thread": False}


async def test_root_path_is_stripped_before_routing() -> None:
    router = CovetRouter()
    router.add_route("/items/{id:int}", echo("item"), ["GET"])
    client = ASGITestClient(create_asgi_app(router=router), root_path="/api")
    response = await client.get("/items/7")
    assert response.json() == {"route": "item", "params": {"id": ["int", "7"]}}


async def test_scope_without_raw_path_still_routes_and_decodes_once() -> None:
    router = CovetRouter()
    router.add_route("/n/{name}", echo("n"), ["GET"])
    app = create_asgi_app(router=router)
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/n/100%",
        "query_string": b"",
        "headers": [],
        "root_path": "",
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 200
    assert b'"100%"' in sent[1]["body"]
