"""MiddlewareStack: order, factories, constructor lists, build-once, CovetASGIApp."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from typing import Any

import pytest

import covet
from covet.app import CovetASGIApp
from covet.middleware import Middleware, MiddlewareStack
from covet.middleware import MiddlewareStack as CoreMiddlewareStack
from covet.requests import Request
from covet.routing import CovetRouter
from covet.testing import ASGITestClient


def make_router() -> CovetRouter:
    router = CovetRouter()

    async def index(request: Request) -> dict[str, Any]:
        return {"app": type(request.app).__name__, "trail": request.scope.get("trail", [])}

    router.add_route("/", index, ["GET"])
    return router


class Tag:
    """A third-party style pure ASGI middleware with keyword options."""

    instances = 0

    def __init__(self, app: Any, name: str, log: list[str] | None = None) -> None:
        type(self).instances += 1
        self.app = app
        self.name = name
        self.log = log if log is not None else []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("trail", []).append(self.name)
        self.log.append(f"enter {self.name}")

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-tag", self.name.encode())]
            await send(message)

        await self.app(scope, receive, send_wrapper)
        self.log.append(f"exit {self.name}")


async def test_first_added_middleware_is_outermost() -> None:
    log: list[str] = []
    stack = MiddlewareStack()
    stack.add(Tag, name="outer", log=log).add(Tag, name="inner", log=log)
    app = CovetASGIApp(router=make_router(), middleware_stack=stack)

    response = await ASGITestClient(app).get("/")

    assert response.status_code == 200
    assert response.json()["trail"] == ["outer", "inner"]
    assert log == ["enter outer", "enter inner", "exit inner", "exit outer"]
    # The response passes inner first, so the outer header is appended last.
    assert response.headers.getlist("x-tag") == ["inner", "outer"]


async def test_constructor_list_accepts_middleware_entries_classes_and_factories() -> None:
    def factory(app: Any, name: str = "factory") -> Any:
        return Tag(app, name=name)

    stack = MiddlewareStack(
        [Middleware(Tag, name="first"), factory, Middleware(factory, name="third")]
    )
    assert len(stack) == 3
    app = CovetASGIApp(router=make_router(), middleware_stack=stack)

    response = await ASGITestClient(app).get("/")

    assert response.json()["trail"] == ["first", "factory", "third"]


async def test_factory_function_returning_a_plain_asgi_callable_is_accepted() -> None:
    def add_header(app: Any, value: bytes) -> Any:
        async def wrapped(scope: Any, receive: Any, send: Any) -> None:
            async def send_wrapper(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message["headers"], (b"x-factory", value)]
                await send(message)

            await app(scope, receive, send_wrapper)

        return wrapped

    stack = MiddlewareStack()
    stack.add(add_header, b"yes")
    app = CovetASGIApp(router=make_router(), middleware_stack=stack)

    response = await ASGITestClient(app).get("/")

    assert response.headers["x-factory"] == "yes"


async def test_stack_is_built_once_at_construction_not_per_request() -> None:
    Tag.instances = 0
    stack = MiddlewareStack([Middleware(Tag, name="a"), Middleware(Tag, name="b")])
    app = CovetASGIApp(router=make_router(), middleware_stack=stack)
    assert Tag.instances == 2
    client = ASGITestClient(app)
    for _ in range(5):
        assert (await client.get("/")).status_code == 200
    assert Tag.instances == 2


async def test_scope_app_is_the_covet_app_inside_middleware_and_handlers() -> None:
    stack = MiddlewareStack([Middleware(Tag, name="x")])
    app = CovetASGIApp(router=make_router(), middleware_stack=stack)

    response = await ASGITestClient(app).get("/")

    assert response.json()["app"] == "CovetASGIApp"


async def test_lifespan_passes_through_the_stack() -> None:
    started: list[bool] = []
    stack = MiddlewareStack([Middleware(Tag, name="x")])
    app = CovetASGIApp(router=make_router(), middleware_stack=stack)
    app.add_startup_handler(lambda: started.append(True))
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)

    assert started == [True]
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_adding_to_a_built_stack_is_an_error_not_a_silent_no_op() -> None:
    stack = MiddlewareStack()
    CovetASGIApp(router=make_router(), middleware_stack=stack)
    with pytest.raises(RuntimeError, match="already built"):
        stack.add(Tag, name="late")


def test_a_stack_can_be_built_into_several_apps() -> None:
    Tag.instances = 0
    stack = MiddlewareStack([Middleware(Tag, name="x")])
    CovetASGIApp(router=make_router(), middleware_stack=stack)
    CovetASGIApp(router=make_router(), middleware_stack=stack)
    assert Tag.instances == 2


def test_non_callable_middleware_is_rejected_when_added() -> None:
    with pytest.raises(TypeError, match="class or a callable"):
        MiddlewareStack().add("CORSMiddleware")  # type: ignore[arg-type]


def test_factory_returning_a_non_app_fails_at_construction() -> None:
    stack = MiddlewareStack([lambda app: None])
    with pytest.raises(TypeError, match="not an ASGI app"):
        CovetASGIApp(router=make_router(), middleware_stack=stack)


def test_wrong_options_fail_at_construction_not_at_first_request() -> None:
    stack = MiddlewareStack([Middleware(Tag, no_such_option=1)])
    with pytest.raises(TypeError, match="no_such_option"):
        CovetASGIApp(router=make_router(), middleware_stack=stack)


def test_options_on_both_middleware_and_add_are_rejected() -> None:
    with pytest.raises(TypeError, match="not both"):
        MiddlewareStack().add(Middleware(Tag, name="a"), name="b")


def test_middleware_entry_unpacks_and_compares() -> None:
    entry = Middleware(Tag, name="a")
    cls, args, kwargs = entry
    assert (cls, args, kwargs) == (Tag, (), {"name": "a"})
    assert entry == Middleware(Tag, name="a")
    assert entry != Middleware(Tag, name="b")
    assert "Tag" in repr(entry) and "name='a'" in repr(entry)
    assert list(MiddlewareStack([entry])) == [entry]


def test_middleware_stack_is_importable_where_the_guide_and_package_expect_it() -> None:
    assert CoreMiddlewareStack is MiddlewareStack
    assert covet.MiddlewareStack is MiddlewareStack
    assert covet.Middleware is Middleware


def test_built_in_stack_over_a_real_uvicorn(serve: Any) -> None:
    server = serve("tests.apps.middleware_app:app")

    def request(method: str, headers: dict[str, str]) -> tuple[int, Any, bytes]:
        req = urllib.request.Request(server.base_url + "/items", method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=5) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    status, headers, body = request(
        "GET",
        {"Accept-Encoding": "gzip", "Origin": "https://app.example.com", "X-Request-ID": "e2e-1"},
    )
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert int(headers["content-length"]) == len(body)
    assert json.loads(gzip.decompress(body)) == {"items": list(range(1000)), "request_id": "e2e-1"}
    assert headers["x-request-id"] == "e2e-1"
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert headers["x-ratelimit-limit"] == "1000"

    status, headers, body = request(
        "OPTIONS",
        {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT"},
    )
    assert (status, body) == (200, b"OK")
    assert headers["access-control-allow-methods"] == "GET, PUT"

    status, _, body = request("GET", {"Host": "evil.test"})
    assert (status, body) == (400, b"Invalid host header")
