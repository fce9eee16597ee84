"""Routing completeness: named routes and reverse routing, mounts (sub-routers and
ASGI apps), trailing-slash redirects, and every decorator."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from covet.app import create_asgi_app
from covet.exceptions import HTTPException
from covet.requests import Request
from covet.responses import JSONResponse, PlainTextResponse
from covet.routing import CovetRouter, NoMatchFound
from covet.testing import ASGITestClient


async def echo(request: Request) -> dict[str, Any]:
    return {"params": {k: str(v) for k, v in request.path_params.items()}}


# -- named routes and url_path_for -------------------------------------------------------
def test_default_route_name_is_the_handler_name() -> None:
    router = CovetRouter()
    route = router.add_route("/users/{id:int}", echo)
    assert route.name == "echo"
    assert router.url_path_for("echo", id=5) == "/users/5"


def test_url_path_for_applies_converters_in_reverse() -> None:
    router = CovetRouter()
    router.add_route("/i/{n:int}", echo, name="int")
    router.add_route("/f/{x:float}", echo, name="float")
    router.add_route("/u/{key:uuid}", echo, name="uuid")
    router.add_route("/s/{name}", echo, name="str")
    router.add_route("/p/{rest:path}", echo, name="path")
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert router.url_path_for("int", n=-42) == "/i/-42"
    assert router.url_path_for("float", x=1.5) == "/f/1.5"
    assert router.url_path_for("float", x=1e20) == "/f/100000000000000000000"
    assert router.url_path_for("float", x=3) == "/f/3.0"
    assert router.url_path_for("uuid", key=key) == f"/u/{key}"
    assert router.url_path_for("uuid", key=str(key).upper()) == f"/u/{key}"
    assert router.url_path_for("str", name="a b/c?d#e%f") == "/s/a%20b%2Fc%3Fd%23e%25f"
    assert router.url_path_for("str", name="café") == "/s/caf%C3%A9"
    assert router.url_path_for("path", rest="docs/a b/c.txt") == "/p/docs/a%20b/c.txt"


async def test_url_path_for_round_trips_through_the_router() -> None:
    router = CovetRouter()
    router.add_route("/s/{name}/{n:int}/{rest:path}", echo, name="mixed")
    client = ASGITestClient(create_asgi_app(router))
    path = router.url_path_for("mixed", name="a/b c%", n=7, rest="x y/z")
    response = await client.get(path)
    assert response.json() == {"params": {"name": "a/b c%", "n": "7", "rest": "x y/z"}}


def test_no_match_found_names_the_route_and_missing_or_extra_params() -> None:
    router = CovetRouter()
    router.add_route("/users/{id:int}/posts/{slug}", echo, name="post")
    with pytest.raises(NoMatchFound, match=r"'post'.*missing \['slug'\]"):
        router.url_path_for("post", id=1)
    with pytest.raises(NoMatchFound, match=r"unexpected \['extra'\]"):
        router.url_path_for("post", id=1, slug="x", extra=2)
    with pytest.raises(NoMatchFound, match="no route has that name"):
        router.url_path_for("nope")
    with pytest.raises(NoMatchFound, match="is an int"):
        router.url_path_for("post", id="one", slug="x")
    with pytest.raises(NoMatchFound, match="cannot be empty"):
        router.url_path_for("post", id=1, slug="")
    assert issubclass(NoMatchFound, LookupError)


def test_routes_sharing_a_name_are_tried_in_order() -> None:
    router = CovetRouter()
    router.add_route("/items", echo, name="items")
    router.add_route("/items/{id:int}", echo, name="items")
    assert router.url_path_for("items") == "/items"
    assert router.url_path_for("items", id=3) == "/items/3"


async def test_request_url_for_returns_an_absolute_url_under_root_path() -> None:
    router = CovetRouter()

    @router.get("/users/{id:int}", name="user")
    async def user(request: Request) -> dict[str, str]:
        return {"url": str(request.url_for("user", id=9))}

    app = create_asgi_app(router)
    response = await ASGITestClient(app).get("/users/1")
    assert response.json() == {"url": "http://testserver/users/9"}
    response = await ASGITestClient(app, root_path="/prefix").get("/users/1")
    assert response.json() == {"url": "http://testserver/prefix/users/9"}
    assert app.url_path_for("user", id=2) == "/users/2"


# -- mounting a sub-router ---------------------------------------------------------------
def build_api() -> tuple[CovetRouter, Any]:
    api = CovetRouter()

    @api.get("/items/{id:int}", name="item")
    async def item(request: Request) -> dict[str, Any]:
        return {
            "id": request.path_params["id"],
            "root_path": request.scope["root_path"],
            "path": request.scope["path"],
            "self": str(request.url_for("api:item", id=request.path_params["id"])),
        }

    @api.post("/items")
    async def create(request: Request) -> JSONResponse:
        return JSONResponse(await request.json(), status_code=201)

    @api.get("/fail")
    async def fail(request: Request) -> None:
        raise HTTPException(418, "teapot")

    router = CovetRouter()
    router.mount("/api", api, name="api")

    @router.get("/api/health")
    async def health(request: Request) -> str:
        return "exact route"

    app = create_asgi_app(router)
    return router, app


async def test_sub_router_mount_routes_within_it_with_extended_root_path() -> None:
    _, app = build_api()
    client = ASGITestClient(app)
    response = await client.get("/api/items/5")
    assert response.status_code == 200
    assert response.json() == {
        "id": 5,
        "root_path": "/api",
        "path": "/api/items/5",
        "self": "http://testserver/api/items/5",
    }
    response = await client.post("/api/items", json={"a": 1})
    assert (response.status_code, response.json()) == (201, {"a": 1})


async def test_mount_under_an_app_root_path() -> None:
    _, app = build_api()
    response = await ASGITestClient(app, root_path="/svc").get("/api/items/5")
    body = response.json()
    assert body["root_path"] == "/svc/api"
    assert body["self"] == "http://testserver/svc/api/items/5"


async def test_exact_routes_beat_a_mount_at_the_same_prefix() -> None:
    _, app = build_api()
    response = await ASGITestClient(app).get("/api/health")
    assert response.text == "exact route"


async def test_sub_router_404_405_options_and_head() -> None:
    _, app = build_api()
    client = ASGITestClient(app)
    assert (await client.get("/api/missing")).status_code == 404
    response = await client.delete("/api/items")
    assert response.status_code == 405
    assert response.headers["allow"] == "OPTIONS, POST"
    response = await client.options("/api/items/3")
    assert (response.status_code, response.headers["allow"]) == (204, "GET, HEAD, OPTIONS")
    response = await client.head("/api/items/3")
    assert (response.status_code, response.content) == (200, b"")


async def test_app_exception_handlers_apply_inside_mounted_routers() -> None:
    _, app = build_api()

    async def teapot(request: Request, exc: Exception) -> PlainTextResponse:
        return PlainTextResponse(f"handled {request.path}", status_code=418)

    app.add_exception_handler(418, teapot)
    response = await ASGITestClient(app).get("/api/fail")
    assert (response.status_code, response.text) == (418, "handled /api/fail")


def test_url_path_for_through_mounts() -> None:
    router, app = build_api()
    assert router.url_path_for("api:item", id=3) == "/api/items/3"
    assert app.url_path_for("api:create") == "/api/items"
    with pytest.raises(NoMatchFound):
        router.url_path_for("api:nope")
    with pytest.raises(NoMatchFound, match="missing"):
        router.url_path_for("api:item")


async def test_nested_mounts_and_prefix_parameters() -> None:
    inner = CovetRouter()
    inner.add_route("/files/{name}", echo, name="file")
    middle = CovetRouter()
    middle.mount("/repos/{repo}", inner, name="repo")
    router = CovetRouter()
    router.mount("/orgs/{org:int}", middle, name="org")
    client = ASGITestClient(create_asgi_app(router))
    response = await client.get("/orgs/7/repos/covet/files/a%20b")
    assert response.json() == {"params": {"org": "7", "repo": "covet", "name": "a b"}}
    assert router.url_path_for("org:repo:file", org=7, repo="x y", name="f") == (
        "/orgs/7/repos/x%20y/files/f"
    )


# -- mounting an ASGI app ----------------------------------------------------------------
async def test_asgi_app_mount_receives_starlette_style_scope() -> None:
    seen: list[dict[str, Any]] = []

    async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope)
        body = f"{scope['method']} {scope['path']} root={scope['root_path']}".encode()
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": body})

    router = CovetRouter()
    router.mount("/legacy", raw_app, name="legacy")
    client = ASGITestClient(create_asgi_app(router))
    for method in ("GET", "POST", "DELETE", "PROPFIND"):
        response = await client.request(method, "/legacy/a/b?x=1")
        assert response.status_code == 202
        assert response.text == f"{method} /legacy/a/b root=/legacy"
    assert seen[0]["query_string"] == b"x=1"
    assert seen[0]["raw_path"] == b"/legacy/a/b"
    assert seen[0]["app_root_path"] == ""
    assert router.url_path_for("legacy", path="/x y.txt") == "/legacy/x%20y.txt"


async def test_mounted_asgi_app_response_status_is_recorded() -> None:
    async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 203, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    router = CovetRouter()
    router.mount("/m", raw_app)
    response = await ASGITestClient(create_asgi_app(router)).get("/m/")
    assert response.status_code == 203


async def test_mount_at_root_catches_everything_else() -> None:
    fallback = CovetRouter()
    fallback.add_route("/{rest:path}", echo)
    router = CovetRouter()
    router.add_route("/known", echo, name="known")
    router.mount("/", fallback)
    client = ASGITestClient(create_asgi_app(router))
    assert (await client.get("/known")).json() == {"params": {}}
    assert (await client.get("/some/where")).json() == {"params": {"rest": "some/where"}}


def test_invalid_mount_prefixes_are_rejected() -> None:
    from covet.core.routing import InvalidRouteError

    router = CovetRouter()
    for prefix in ("api", "/api/"):
        with pytest.raises(InvalidRouteError):
            router.mount(prefix, CovetRouter())
    with pytest.raises(InvalidRouteError):
        router.mount("/self", router)


async def test_websocket_through_a_mounted_router() -> None:
    from covet.websockets import WebSocket

    chat = CovetRouter()

    @chat.websocket("/room/{name}")
    async def room(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(f"{websocket.path_params['name']}:{text}")
        await websocket.close()

    router = CovetRouter()
    router.mount("/chat", chat, name="chat")
    client = ASGITestClient(create_asgi_app(router))
    async with client.websocket_connect("/chat/room/lobby") as ws:
        await ws.send_text("hi")
        assert await ws.receive_text() == "lobby:hi"


# -- redirect_slashes --------------------------------------------------------------------
def slash_app(**kwargs: Any) -> ASGITestClient:
    router = CovetRouter(**kwargs)
    router.add_route("/users/", echo, ["GET", "POST"])
    router.add_route("/items", echo, ["GET", "POST"])
    return ASGITestClient(create_asgi_app(router))


async def test_get_without_trailing_slash_redirects_with_307() -> None:
    client = slash_app()
    response = await client.get("/users?page=2")
    assert (response.status_code, response.headers["location"]) == (307, "/users/?page=2")
    response = await client.head("/items/")
    assert (response.status_code, response.headers["location"]) == (307, "/items")


async def test_post_redirects_with_308_keeping_method_and_body() -> None:
    response = await slash_app().post("/users", json={"a": 1})
    assert (response.status_code, response.headers["location"]) == (308, "/users/")


async def test_redirect_only_when_the_other_path_matches_this_method() -> None:
    client = slash_app()
    assert (await client.get("/nothing")).status_code == 404
    assert (await client.delete("/users")).status_code == 404


async def test_redirect_slashes_can_be_disabled() -> None:
    assert (await slash_app(redirect_slashes=False).get("/users")).status_code == 404


async def test_redirect_slashes_keeps_the_root_path_and_encoding() -> None:
    router = CovetRouter()
    router.add_route("/caf\u00e9/", echo)
    client = ASGITestClient(create_asgi_app(router), root_path="/app")
    response = await client.get("/caf%C3%A9")
    assert (response.status_code, response.headers["location"]) == (307, "/app/caf%C3%A9/")


async def test_redirect_slashes_is_not_an_open_redirect() -> None:
    # Routes whose paths begin with an empty segment: toggling the slash of
    # "//evil.com" would answer "Location: //evil.com/", which a browser reads as
    # another host. Such redirects are refused (plain 404).
    router = CovetRouter()
    router.add_route("//evil.com/", echo, name="a")
    router.add_route("/\\evil.com/", echo, name="b")
    router.add_route("/fine/", echo, name="c")
    app = create_asgi_app(router)
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    for raw, expected in ((b"//evil.com", 404), (b"/\\evil.com", 404), (b"/fine", 307)):
        messages.clear()
        scope = {
            "type": "http",
            "method": "GET",
            "path": raw.decode(),
            "raw_path": raw,
            "root_path": "",
            "query_string": b"",
            "headers": [],
        }
        await app(scope, receive, send)
        assert messages[0]["status"] == expected, raw
        location = dict(messages[0]["headers"]).get(b"location", b"")
        assert not location.startswith((b"//", b"/\\")), location


async def test_redirect_slashes_inside_a_mounted_router() -> None:
    api = CovetRouter()
    api.add_route("/things/", echo)
    router = CovetRouter()
    router.mount("/api", api)
    response = await ASGITestClient(create_asgi_app(router)).get("/api/things?x=1")
    assert (response.status_code, response.headers["location"]) == (307, "/api/things/?x=1")


# -- decorators --------------------------------------------------------------------------
async def test_every_method_decorator_registers_its_method() -> None:
    router = CovetRouter()

    def handler_for(method: str) -> Any:
        async def handler(request: Request) -> PlainTextResponse:
            return PlainTextResponse(f"{method} {request.method}")

        return handler

    router.get("/r", name="g")(handler_for("get"))
    router.post("/r", name="po")(handler_for("post"))
    router.put("/r", name="pu")(handler_for("put"))
    router.patch("/r", name="pa")(handler_for("patch"))
    router.delete("/r", name="d")(handler_for("delete"))
    router.options("/r", name="o")(handler_for("options"))
    router.route("/r", methods=["PROPFIND", "REPORT"], name="multi")(handler_for("route"))
    router.head("/h")(handler_for("head"))
    client = ASGITestClient(create_asgi_app(router))
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND", "REPORT"):
        response = await client.request(method, "/r")
        expected = "route" if method in ("PROPFIND", "REPORT") else method.lower()
        assert (response.status_code, response.text) == (200, f"{expected} {method}")
    # An explicit HEAD handler is used for HEAD; the body is still dropped.
    response = await client.head("/h")
    assert (response.status_code, response.headers["content-length"]) == (200, "9")
    assert (await client.get("/h")).status_code == 405
    assert router.url_path_for("multi") == "/r"


async def test_decorators_return_the_handler_unchanged() -> None:
    router = CovetRouter()

    async def handler(request: Request) -> str:
        return "x"

    assert router.get("/a")(handler) is handler
    assert router.websocket("/ws")(handler) is handler
    assert [r.methods for r in router.routes] == [["GET"], ["WEBSOCKET"]]


async def test_mounted_app_owns_its_requests_so_its_limits_apply() -> None:
    from covet import Limits

    inner_router = CovetRouter()

    async def echo(request):
        body = await request.body()
        return {"inner_app": request.app is inner, "size": len(body)}

    inner_router.add_route("/echo", echo, ["POST"])
    inner = create_asgi_app(router=inner_router, limits=Limits(max_body_size=10))
    outer_router = CovetRouter()
    outer_router.mount("/inner", inner)
    client = ASGITestClient(create_asgi_app(router=outer_router))
    small = await client.post("/inner/echo", body=b"12345")
    assert small.json() == {"inner_app": True, "size": 5}
    assert (await client.post("/inner/echo", body=b"x" * 11)).status_code == 413
