"""One dispatch path: routes, mounts of any depth, route and mount middleware, hosts
and the app adapters all go through the application's dispatcher, so the app's
state, limits, exception handlers and stats apply wherever an endpoint lives."""

from __future__ import annotations

from typing import Any

import pytest

from covet import _core
from covet.adapters import make_asgi_compatible
from covet.app import CovetASGIApp, create_asgi_app
from covet.exceptions import HTTPException
from covet.limits import Limits
from covet.middleware import Middleware
from covet.requests import Request
from covet.responses import PlainTextResponse
from covet.routing import CovetRouter, Host, Mount, Route, RouteMatch, WebSocketRoute
from covet.testing import ASGITestClient, TestClient, WebSocketRejected
from covet.types import Receive, Scope, Send
from covet.websockets import WebSocket


async def where(request: Request) -> dict[str, Any]:
    return {
        "root_path": request.scope.get("root_path", ""),
        "params": {k: str(v) for k, v in request.path_params.items()},
        "owner": type(request.app).__name__,
    }


class Tag:
    """A pure ASGI middleware that adds ``x-tag: <name>`` to HTTP responses."""

    def __init__(self, app: Any, name: str) -> None:
        self.app = app
        self.name = name.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def tagged(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-tag", self.name)]
            await send(message)

        await self.app(scope, receive, tagged)


def nested_app(**kwargs: Any) -> CovetASGIApp:
    inner = CovetRouter()
    inner.add_route("/leaf/{n:int}", where, name="leaf")
    inner.add_route("/only-post", where, ["POST"])
    inner.add_route("/slash/", where)
    middle = CovetRouter()
    middle.mount("/inner", inner, name="inner")
    router = CovetRouter()
    router.mount("/a/{org}", middle, name="mid")
    return create_asgi_app(router, **kwargs)


# -- the typed boundary -------------------------------------------------------------------------
def test_route_match_is_typed_not_a_tuple() -> None:
    router = CovetRouter()
    router.add_route("/u/{id:int}", where, ["GET"])
    found = router.lookup("GET", b"/u/7")
    assert isinstance(found, RouteMatch)
    assert found.kind == _core.FOUND and found.params == {"id": 7}
    assert found.route.endpoint is where and found.allow is None
    not_allowed = router.lookup("POST", b"/u/7")
    assert not_allowed.kind == _core.METHOD_NOT_ALLOWED and not_allowed.route is None
    assert not_allowed.allow == "GET, HEAD, OPTIONS"
    assert router.lookup("OPTIONS", b"/u/7").kind == _core.OPTIONS
    assert router.lookup("GET", b"/nope").kind == _core.NOT_FOUND
    assert "FOUND" in repr(found)


def test_method_names_come_from_the_rust_core() -> None:
    from covet import routing

    assert routing.WEBSOCKET == _core.WEBSOCKET == "WEBSOCKET"
    assert routing.ANY_METHOD == _core.ANY_METHOD


# -- mounts of any depth ------------------------------------------------------------------------
async def test_nested_mount_errors_are_decided_by_the_one_dispatcher() -> None:
    client = ASGITestClient(nested_app())
    ok = await client.get("/a/acme/inner/leaf/3")
    assert ok.json() == {
        "root_path": "/a/acme/inner",
        "params": {"org": "acme", "n": "3"},
        "owner": "CovetASGIApp",
    }
    assert (await client.get("/a/acme/inner/missing")).status_code == 404
    not_allowed = await client.get("/a/acme/inner/only-post")
    assert not_allowed.status_code == 405 and not_allowed.headers["allow"] == "OPTIONS, POST"
    options = await client.options("/a/acme/inner/only-post")
    assert options.status_code == 204 and options.headers["allow"] == "OPTIONS, POST"
    redirect = await client.get("/a/acme/inner/slash?q=1", follow_redirects=False)
    assert redirect.status_code == 307
    assert redirect.headers["location"] == "/a/acme/inner/slash/?q=1"


async def test_mounted_requests_count_in_the_apps_stats() -> None:
    app = nested_app()
    client = ASGITestClient(app)
    await client.get("/a/x/inner/leaf/1")
    await client.get("/a/x/inner/missing")
    await client.post("/a/x/inner/leaf/1")
    stats = app.get_stats()
    assert stats["requests_processed"] == 3
    assert stats["status_codes"] == {200: 1, 404: 1, 405: 1}


async def test_app_exception_handlers_apply_under_mounts() -> None:
    async def boom(request: Request) -> None:
        raise KeyError("x")

    async def on_key_error(request: Request, exc: Exception) -> PlainTextResponse:
        return PlainTextResponse("handled", status_code=409)

    async def on_404(request: Request, exc: Exception) -> PlainTextResponse:
        return PlainTextResponse("custom 404", status_code=404)

    inner = CovetRouter()
    inner.add_route("/boom", boom)
    router = CovetRouter()
    router.mount("/m", inner)
    app = create_asgi_app(router, exception_handlers={KeyError: on_key_error, 404: on_404})
    client = ASGITestClient(app)
    assert (await client.get("/m/boom")).text == "handled"
    assert (await client.get("/m/nothing")).text == "custom 404"


async def test_mount_never_builds_an_application(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[CovetASGIApp] = []
    original = CovetASGIApp.__init__

    def counting(self: CovetASGIApp, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        original(self, *args, **kwargs)

    app = nested_app()
    monkeypatch.setattr(CovetASGIApp, "__init__", counting)
    await ASGITestClient(app).get("/a/x/inner/leaf/1")
    assert built == []


async def test_uploads_under_a_mounted_router_are_closed_after_the_response() -> None:
    forms: list[Any] = []

    async def upload(request: Request) -> dict[str, int]:
        form = await request.form()
        forms.append(form)
        return {"size": len(await form["f"].read())}

    inner = CovetRouter()
    inner.add_route("/up", upload, ["POST"])
    router = CovetRouter()
    router.mount("/files", inner)
    client = ASGITestClient(create_asgi_app(router))
    response = await client.post("/files/up", files={"f": ("a.txt", b"hello")})
    assert response.json() == {"size": 5}
    assert forms[0]["f"].file.closed


# -- WebSockets through the same dispatcher -----------------------------------------------------
def websocket_app(**kwargs: Any) -> CovetASGIApp:
    async def state(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json(
            {
                "same_app": websocket.app is app,
                "x": websocket.app.state.x,
                "params": dict(websocket.path_params),
            }
        )
        await websocket.receive_text()

    inner = CovetRouter()
    inner.add_route("/ws/{room}", state, ["WEBSOCKET"])
    router = CovetRouter()
    router.mount("/chat/{tenant}", inner)
    app = create_asgi_app(router, **kwargs)
    app.state.x = 42
    return app


def test_websocket_under_a_mount_sees_the_users_app_and_state() -> None:
    with TestClient(websocket_app()) as client:
        with client.websocket_connect("/chat/t1/ws/lobby") as ws:
            assert ws.receive_json() == {
                "same_app": True,
                "x": 42,
                "params": {"tenant": "t1", "room": "lobby"},
            }


def test_websocket_under_a_mount_gets_the_configured_message_limit() -> None:
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())

    inner = CovetRouter()
    inner.add_route("/echo", echo, ["WEBSOCKET"])
    router = CovetRouter()
    router.mount("/m", inner)
    app = create_asgi_app(router, websocket_max_message_size=16)
    with TestClient(app) as client:
        with client.websocket_connect("/m/echo") as ws:
            ws.send_text("x" * 17)
            with pytest.raises(Exception) as closed:
                ws.receive_text()
            assert getattr(closed.value, "code", None) == 1009


def test_websocket_handshake_obeys_url_and_header_limits() -> None:
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()

    router = CovetRouter()
    router.add_route("/ws", echo, ["WEBSOCKET"])
    app = create_asgi_app(router, limits=Limits(max_url_length=64, max_header_count=12))
    with TestClient(app) as client:
        with pytest.raises(WebSocketRejected) as long_url:
            with client.websocket_connect("/ws?" + "q" * 100):
                pass
        assert long_url.value.status_code == 414
        with pytest.raises(WebSocketRejected) as many_headers:
            with client.websocket_connect("/ws", headers={f"x-{i}": "1" for i in range(12)}):
                pass
        assert many_headers.value.status_code == 431


# -- adapters -----------------------------------------------------------------------------------
async def test_plain_handler_adapter_records_stats() -> None:
    async def handler(request: Request) -> str:
        return f"{request.method} {request.url.path}"

    app = make_asgi_compatible(handler)
    client = ASGITestClient(app)
    for path in ("/", "/a", "/a/b/"):
        assert (await client.get(path)).text == f"GET {path}"
    assert (await client.delete("/x")).text == "DELETE /x"
    assert app.get_stats()["requests_processed"] == 4


def test_plain_handler_adapter_refuses_websockets() -> None:
    app = make_asgi_compatible(lambda request: "hi")
    with TestClient(app) as client:
        with pytest.raises(WebSocketRejected):
            with client.websocket_connect("/ws"):
                pass


# -- route and mount middleware -----------------------------------------------------------------
async def test_route_middleware_wraps_that_route_only() -> None:
    app = create_asgi_app(
        routes=[
            Route("/tagged", where, middleware=[Middleware(Tag, name="route")]),
            Route("/plain", where),
        ]
    )
    client = ASGITestClient(app)
    tagged = await client.get("/tagged")
    assert tagged.headers["x-tag"] == "route" and tagged.json()["owner"] == "CovetASGIApp"
    assert "x-tag" not in (await client.get("/plain")).headers
    assert app.get_stats()["requests_processed"] == 2


async def test_mount_middleware_wraps_everything_under_the_mount() -> None:
    app = create_asgi_app(
        routes=[
            Mount(
                "/api",
                routes=[Route("/users/{id:int}", where)],
                middleware=[Middleware(Tag, name="outer"), Middleware(Tag, name="inner")],
            ),
            Route("/home", where),
        ]
    )
    client = ASGITestClient(app)
    user = await client.get("/api/users/5")
    assert user.headers.get_list("x-tag") == ["inner", "outer"]
    assert user.json()["params"] == {"id": "5"}
    missing = await client.get("/api/nothing")
    assert missing.status_code == 404 and missing.headers.get_list("x-tag") == ["inner", "outer"]
    assert "x-tag" not in (await client.get("/home")).headers
    assert app.get_stats()["status_codes"] == {200: 2, 404: 1}


async def test_route_middleware_sees_websocket_routes() -> None:
    seen: list[str] = []

    class Spy:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(scope["type"])
            await self.app(scope, receive, send)

    async def hello(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")

    app = create_asgi_app(routes=[WebSocketRoute("/ws", hello, middleware=[Middleware(Spy)])])
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_text() == "hi"
    assert seen == ["websocket"]


# -- hosts --------------------------------------------------------------------------------------
async def test_host_routing_and_url_path_for_through_it() -> None:
    api = CovetRouter()
    api.add_route("/users/{id:int}", where, name="user")
    app = create_asgi_app(
        routes=[Host("{tenant}.api.example.com", api, name="api"), Route("/", where)]
    )
    client = ASGITestClient(app)
    hit = await client.get("/users/3", headers={"host": "acme.api.example.com:8443"})
    assert hit.json()["params"] == {"tenant": "acme", "id": "3"}
    other = await client.get("/users/3", headers={"host": "www.example.com"})
    assert other.status_code == 404
    assert (await client.get("/", headers={"host": "www.example.com"})).status_code == 200
    path = app.url_path_for("api:user", tenant="acme", id=3)
    assert path == "/users/3" and path.host == "acme.api.example.com"


def test_host_pattern_matches_literally_not_as_a_regex() -> None:
    host = Host("a.example.com", CovetRouter())
    assert host.match("a.example.com") == {}
    assert host.match("aXexample.com") is None
    assert host.match("a.example.com.evil.com") is None


# -- reverse routing through unnamed mounts -----------------------------------------------------
def test_url_path_for_reaches_routes_inside_an_unnamed_mount() -> None:
    inner = CovetRouter()
    inner.add_route("/items/{id:int}", where, name="item")
    router = CovetRouter()
    router.mount("/shop", inner)
    assert router.url_path_for("item", id=9) == "/shop/items/9"


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [204, 304])
async def test_http_exception_without_body_status_sends_no_body(status: int) -> None:
    async def raiser(request: Request) -> None:
        raise HTTPException(status)

    response = await ASGITestClient(create_asgi_app(routes=[Route("/", raiser)])).get("/")
    assert response.status_code == status
    assert response.content == b"" and "content-length" not in response.headers


async def test_500_handler_sees_unhandled_exceptions() -> None:
    async def boom(request: Request) -> None:
        raise ValueError("bad")

    async def on_500(request: Request, exc: Exception) -> PlainTextResponse:
        return PlainTextResponse(f"oops: {exc}", status_code=500)

    app = create_asgi_app(routes=[Route("/", boom)], exception_handlers={500: on_500})
    response = await ASGITestClient(app).get("/")
    assert response.status_code == 500 and response.text == "oops: bad"


async def test_http_exception_with_crlf_headers_becomes_a_counted_500() -> None:
    async def injector(request: Request) -> None:
        raise HTTPException(400, headers={"x-evil": "a\r\nset-cookie: x=1"})

    app = create_asgi_app(routes=[Route("/", injector)])
    response = await ASGITestClient(app).get("/")
    assert response.status_code == 500 and "set-cookie" not in response.headers
    assert app.get_stats()["status_codes"] == {500: 1}


def test_app_exception_handlers_are_consulted_for_websocket_endpoints() -> None:
    handled: list[str] = []

    class Quota(Exception):
        pass

    async def limited(websocket: WebSocket) -> None:
        await websocket.accept()
        raise Quota("over quota")

    async def on_quota(websocket: WebSocket, exc: Exception) -> None:
        handled.append(str(exc))
        await websocket.close(4429, "quota")

    app = create_asgi_app(
        routes=[WebSocketRoute("/ws", limited)], exception_handlers={Quota: on_quota}
    )
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as ws:
            with pytest.raises(Exception) as closed:
                ws.receive_text()
            assert getattr(closed.value, "code", None) == 4429
    assert handled == ["over quota"]


async def test_client_abort_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    async def upload(request: Request) -> dict[str, int]:
        return {"n": len(await request.body())}

    app = create_asgi_app(routes=[Route("/up", upload, ["POST"])])
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/up",
        "raw_path": b"/up",
        "query_string": b"",
        "headers": [(b"content-length", b"100")],
    }
    messages = iter(
        [
            {"type": "http.request", "body": b"x" * 10, "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    stats = app.get_stats()
    assert sent == []
    assert stats["client_disconnects"] == 1 and stats["errors"] == 0
    assert stats["status_codes"] == {}
    assert not [r for r in caplog.records if r.levelno >= 30]


def test_a_callable_object_route_is_named_after_its_class() -> None:
    class Greeter:
        async def __call__(self, request: Request) -> str:
            return "hi"

    router = CovetRouter()
    assert router.add_route("/hi", Greeter()).name == "Greeter"
    assert router.url_path_for("Greeter") == "/hi"


async def test_base_url_includes_the_root_path_and_url_for_keeps_the_route_kind() -> None:
    async def urls(request: Request) -> dict[str, str]:
        return {"base": str(request.base_url), "ws": str(request.url_for("chat"))}

    async def chat(websocket: WebSocket) -> None:
        await websocket.close()

    inner = CovetRouter(routes=[Route("/urls", urls), WebSocketRoute("/chat", chat, name="chat")])
    app = create_asgi_app(routes=[Mount("/api", inner)])
    body = (await ASGITestClient(app).get("/api/urls")).json()
    assert body == {"base": "http://testserver/", "ws": "ws://testserver/api/chat"}
    rooted = (await ASGITestClient(app, root_path="/site").get("/api/urls")).json()
    assert rooted["base"] == "http://testserver/site/"
