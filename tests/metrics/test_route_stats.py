"""Per-route statistics (``get_stats()["routes"]``): requests are counted under their
route template, method and status class, through every dispatch path, with bounded
memory."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from covet import CovetRouter, HTTPException, Request, Response, WebSocket, _core, create_asgi_app
from covet.middleware.stack import Middleware
from covet.stats import UNMATCHED_TEMPLATE, Stats, route_id
from covet.testing import ASGITestClient, WebSocketRejected
from covet.types import ASGIApp, Receive, Scope, Send


class Passthrough:
    """A do-nothing ASGI middleware: puts a route or mount on the dispatcher's
    middleware path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


async def plain_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"mounted"})


async def item(request: Request) -> Any:
    return {"id": request.path_params["id"]}


async def create(request: Request) -> Any:
    return Response("made", status_code=201)


async def fail(request: Request) -> Any:
    raise RuntimeError("boom")


async def missing(request: Request) -> Any:
    raise HTTPException(404)


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(await websocket.receive_text())


async def refuse(websocket: WebSocket) -> None:
    await websocket.close()


def make_app() -> Any:
    users = CovetRouter()
    users.add_route("/users/{id:int}", item)
    inner = CovetRouter()
    inner.add_route("/deep/{id:int}", item)
    users.mount("/inner", inner)
    guarded = CovetRouter()
    guarded.add_route("/items/{id:int}", item)

    router = CovetRouter()
    router.add_route("/items/{id:int}", item, ["GET", "HEAD"])
    router.add_route("/items", create, ["POST"])
    router.add_route("/dav", create, ["PROPFIND"])
    router.add_route("/fail", fail)
    router.add_route("/missing", missing)
    router.add_route("/wrapped/{id:int}", item, middleware=[Middleware(Passthrough)])
    router.add_route("/ws", echo, ["WEBSOCKET"])
    router.add_route("/ws-refused", refuse, ["WEBSOCKET"])
    router.mount("/api", users)
    router.mount("/guarded", guarded, middleware=[Middleware(Passthrough)])
    router.mount("/raw", plain_asgi)
    return create_asgi_app(router=router)


def cell(stats: Any, template: str, method: str, status_class: str) -> dict[str, Any]:
    found: dict[str, Any] = stats["routes"][template][method][status_class]
    return found


async def test_requests_count_under_their_template_not_their_path() -> None:
    app = make_app()
    client = ASGITestClient(app)
    for n in range(5):
        assert (await client.get(f"/items/{n}")).status_code == 200
    assert (await client.head("/items/7")).status_code == 200
    stats = app.get_stats()
    assert set(stats["routes"]) == {"/items/{id:int}"}
    entry = cell(stats, "/items/{id:int}", "GET", "2xx")
    assert entry["count"] == 5 and entry["errors"] == 0
    assert 0 < entry["p50"] <= entry["p90"] <= entry["p99"] <= entry["max"]
    assert entry["mean"] > 0
    assert cell(stats, "/items/{id:int}", "HEAD", "2xx")["count"] == 1


async def test_status_classes_and_errors_are_kept_apart() -> None:
    app = make_app()
    client = ASGITestClient(app, raise_server_exceptions=False)
    assert (await client.post("/items")).status_code == 201
    assert (await client.get("/fail")).status_code == 500
    assert (await client.get("/fail")).status_code == 500
    assert (await client.get("/missing")).status_code == 404
    stats = app.get_stats()
    assert cell(stats, "/items", "POST", "2xx")["count"] == 1
    failed = cell(stats, "/fail", "GET", "5xx")
    assert (failed["count"], failed["errors"]) == (2, 2)
    missed = cell(stats, "/missing", "GET", "4xx")
    assert (missed["count"], missed["errors"]) == (1, 0)
    assert stats["errors"] == 2


async def test_methods_outside_the_fixed_set_count_as_other() -> None:
    app = make_app()
    client = ASGITestClient(app)
    assert (await client.request("PROPFIND", "/dav")).status_code == 201
    assert set(app.get_stats()["routes"]["/dav"]) == {"OTHER"}


async def test_random_paths_cannot_grow_the_route_table_or_the_registry() -> None:
    app = make_app()
    client = ASGITestClient(app)
    before = route_id("/test-sentinel/before")
    for n in range(300):
        await client.get(f"/no/such/path/{n}")
        await client.put(f"/items/{n}")  # 405: the path matched, the method did not
    after = route_id("/test-sentinel/after")
    assert after == before + 1  # no template was registered for any request
    stats = app.get_stats()
    assert set(stats["routes"]) == {UNMATCHED_TEMPLATE}
    assert cell(stats, UNMATCHED_TEMPLATE, "GET", "4xx")["count"] == 300
    assert cell(stats, UNMATCHED_TEMPLATE, "PUT", "4xx")["count"] == 300


async def test_mounted_routes_count_under_the_full_template() -> None:
    app = make_app()
    client = ASGITestClient(app)
    assert (await client.get("/api/users/3")).status_code == 200
    assert (await client.get("/api/inner/deep/4")).status_code == 200
    assert (await client.get("/raw/anything/here")).status_code == 200
    routes = app.get_stats()["routes"]
    assert set(routes) == {
        "/api/users/{id:int}",
        "/api/inner/deep/{id:int}",
        "/raw/{path:path}",
    }


async def test_middleware_paths_still_count_under_the_route_that_answered() -> None:
    app = make_app()
    client = ASGITestClient(app)
    assert (await client.get("/wrapped/1")).status_code == 200
    assert (await client.get("/guarded/items/2")).status_code == 200
    assert (await client.get("/guarded/nothing")).status_code == 404
    routes = app.get_stats()["routes"]
    assert routes["/wrapped/{id:int}"]["GET"]["2xx"]["count"] == 1
    assert routes["/guarded/items/{id:int}"]["GET"]["2xx"]["count"] == 1
    assert routes[UNMATCHED_TEMPLATE]["GET"]["4xx"]["count"] == 1


async def test_websocket_sessions_count_per_route_but_not_as_requests() -> None:
    app = make_app()
    client = ASGITestClient(app)
    async with client.websocket_connect("/ws") as ws:
        await ws.send_text("hi")
        assert await ws.receive_text() == "hi"
    with pytest.raises(WebSocketRejected):
        async with client.websocket_connect("/ws-refused"):
            pass
    stats = app.get_stats()
    assert stats["requests_processed"] == 0
    assert cell(stats, "/ws", "WEBSOCKET", "1xx")["count"] == 1
    assert cell(stats, "/ws-refused", "WEBSOCKET", "4xx")["count"] == 1


async def test_client_disconnects_are_not_counted_per_route() -> None:
    app = make_app()

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def gone(message: dict[str, Any]) -> None:
        raise OSError("client went away")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/users/1",
        "raw_path": b"/api/users/1",
        "root_path": "",
        "query_string": b"",
        "headers": [],
    }
    with pytest.raises(OSError):
        await app(scope, receive, gone)
    stats = app.get_stats()
    assert stats["routes"] == {}


async def test_reset_stats_clears_the_routes() -> None:
    app = make_app()
    client = ASGITestClient(app)
    await client.get("/items/1")
    app.reset_stats()
    assert app.get_stats()["routes"] == {}
    await client.get("/items/1")
    assert cell(app.get_stats(), "/items/{id:int}", "GET", "2xx")["count"] == 1


async def test_concurrent_requests_on_many_routes_lose_nothing() -> None:
    app = make_app()
    client = ASGITestClient(app)
    paths = [f"/items/{n}" for n in range(200)] + [f"/api/users/{n}" for n in range(200)]
    responses = await asyncio.gather(*(client.get(p) for p in paths))
    assert all(r.status_code == 200 for r in responses)
    routes = app.get_stats()["routes"]
    assert routes["/items/{id:int}"]["GET"]["2xx"]["count"] == 200
    assert routes["/api/users/{id:int}"]["GET"]["2xx"]["count"] == 200


def test_record_accepts_unknown_ids_and_odd_statuses_without_failing() -> None:
    stats = Stats()
    stats.record(200, 1_000, 2**31 + 5, "GET")  # never handed out: unmatched
    stats.record(200, 1_000, -3, "GET")
    stats.record(700, 1_000, route_id("/odd"), "GET")  # counted in totals only
    stats.record(200, -5, route_id("/odd"), "")  # negative duration: 0; "" is OTHER
    snapshot = stats.snapshot()
    assert snapshot["requests_processed"] == 4
    assert snapshot["routes"][UNMATCHED_TEMPLATE]["GET"]["2xx"]["count"] == 2
    assert snapshot["routes"]["/odd"] == {
        "OTHER": {
            "2xx": {
                "count": 1,
                "errors": 0,
                "mean": 0.0,
                "p50": 0.0,
                "p90": 0.0,
                "p99": 0.0,
                "max": 0.0,
            }
        }
    }
    with pytest.raises(TypeError):
        stats.record(200, 1, 0, None)  # type: ignore[arg-type]


def test_route_ids_are_stable_per_template() -> None:
    assert route_id("/same/{x}") == route_id("/same/{x}")
    assert _core.route_template(route_id("/same/{x}")) == "/same/{x}"
    assert _core.route_template(-1) is None
    assert _core.route_template(2**40) is None
    assert route_id(UNMATCHED_TEMPLATE) == _core.UNMATCHED_ROUTE
