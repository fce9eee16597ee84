"""AuthenticationMiddleware, request.user/request.auth and @requires, following the
behaviour Starlette documents for its authentication module."""

from __future__ import annotations

import base64
import binascii
import inspect
import threading
from typing import Any

import pytest

from covet.app import CovetASGIApp
from covet.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
    SimpleUser,
    UnauthenticatedUser,
    has_required_scope,
    requires,
)
from covet.connection import HTTPConnection
from covet.exceptions import HTTPException
from covet.middleware import (
    AuthenticationMiddleware,
    Middleware,
    MiddlewareStack,
    SessionMiddleware,
)
from covet.requests import Request
from covet.responses import JSONResponse, PlainTextResponse, Response
from covet.routing import CovetRouter
from covet.testing import ASGITestClient, WebSocketRejected
from covet.websockets import WebSocket


class BasicAuthBackend(AuthenticationBackend):
    """HTTP Basic: any password, user "admin" also gets the "admin" scope."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        header = conn.headers.get("authorization")
        if header is None:
            return None
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("ascii")
        except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
            raise AuthenticationError("Invalid basic auth credentials") from exc
        username, _, _password = decoded.partition(":")
        scopes = ["authenticated", "admin"] if username == "admin" else ["authenticated"]
        return AuthCredentials(scopes), SimpleUser(username)


def basic(username: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:secret".encode()).decode()
    return {"authorization": f"Basic {token}"}


BAD_CREDENTIALS = {"authorization": "Basic not*base64"}


async def whoami(request: Request) -> dict[str, Any]:
    return {
        "authenticated": request.user.is_authenticated,
        "name": request.user.display_name,
        "scopes": request.auth.scopes,
    }


@requires("authenticated")
async def private(request: Request) -> str:
    return f"hello {request.user.display_name}"


@requires("authenticated")
def private_sync(request: Request) -> dict[str, str]:
    return {"thread": threading.current_thread().name}


@requires(["authenticated", "admin"], status_code=404)
async def admin_only(request: Request) -> str:
    return "admin area"


@requires("authenticated", redirect="login")
async def dashboard(request: Request) -> str:
    return "dashboard"


async def login(request: Request) -> str:
    return "please log in"


@requires("authenticated")
async def ws_private(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(websocket.user.display_name)
    await websocket.close()


class Endpoint:
    @requires("authenticated")
    async def get(self, request: Request) -> str:
        return "method"


def make_app(**options: Any) -> CovetASGIApp:
    router = CovetRouter()
    router.add_route("/whoami", whoami, ["GET"])
    router.add_route("/private", private, ["GET"])
    router.add_route("/private-sync", private_sync, ["GET"])
    router.add_route("/admin", admin_only, ["GET"])
    router.add_route("/dashboard", dashboard, ["GET"])
    router.add_route("/login", login, ["GET"], name="login")
    router.add_route("/method", Endpoint().get, ["GET"])
    router.add_route("/ws", ws_private, ["WEBSOCKET"])
    stack = MiddlewareStack(
        [Middleware(AuthenticationMiddleware, backend=BasicAuthBackend(), **options)]
    )
    return CovetASGIApp(router=router, middleware_stack=stack)


@pytest.fixture
def client() -> ASGITestClient:
    return ASGITestClient(make_app())


async def test_anonymous_request_gets_an_unauthenticated_user_and_no_scopes(
    client: ASGITestClient,
) -> None:
    response = await client.get("/whoami")
    assert response.json() == {"authenticated": False, "name": "", "scopes": []}


async def test_backend_result_becomes_request_user_and_request_auth(
    client: ASGITestClient,
) -> None:
    response = await client.get("/whoami", headers=basic("ada"))
    assert response.json() == {"authenticated": True, "name": "ada", "scopes": ["authenticated"]}


async def test_authentication_error_answers_400_with_its_message(client: ASGITestClient) -> None:
    response = await client.get("/whoami", headers=BAD_CREDENTIALS)
    assert response.status_code == 400
    assert response.text == "Invalid basic auth credentials"
    assert response.headers["content-type"].startswith("text/plain")


async def test_on_error_response_replaces_the_default_sync_or_async() -> None:
    def sync_error(conn: HTTPConnection, exc: AuthenticationError) -> Response:
        return JSONResponse({"error": str(exc), "path": conn.url.path}, status_code=401)

    async def async_error(conn: HTTPConnection, exc: AuthenticationError) -> Response:
        return PlainTextResponse("nope", status_code=401)

    response = await ASGITestClient(make_app(on_error=sync_error)).get(
        "/whoami", headers=BAD_CREDENTIALS
    )
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid basic auth credentials", "path": "/whoami"}
    response = await ASGITestClient(make_app(on_error=async_error)).get(
        "/whoami", headers=BAD_CREDENTIALS
    )
    assert (response.status_code, response.text) == (401, "nope")


async def test_on_error_returning_no_response_is_a_clear_type_error() -> None:
    client = ASGITestClient(make_app(on_error=lambda conn, exc: "oops"))
    with pytest.raises(TypeError, match="on_error must return a response"):
        await client.get("/whoami", headers=BAD_CREDENTIALS)


async def test_requires_refuses_anonymous_with_403_and_admits_the_scope(
    client: ASGITestClient,
) -> None:
    response = await client.get("/private")
    assert response.status_code == 403
    response = await client.get("/private", headers=basic("ada"))
    assert (response.status_code, response.text) == (200, "hello ada")


async def test_requires_on_a_sync_endpoint_keeps_it_running_in_a_thread(
    client: ASGITestClient,
) -> None:
    assert not inspect.iscoroutinefunction(private_sync)
    assert (await client.get("/private-sync")).status_code == 403
    response = await client.get("/private-sync", headers=basic("ada"))
    assert response.status_code == 200
    assert response.json()["thread"] != threading.main_thread().name


async def test_requires_needs_every_scope_and_uses_its_status_code(
    client: ASGITestClient,
) -> None:
    assert (await client.get("/admin", headers=basic("ada"))).status_code == 404
    response = await client.get("/admin", headers=basic("admin"))
    assert (response.status_code, response.text) == (200, "admin area")


async def test_requires_redirect_sends_303_to_the_named_route_with_next(
    client: ASGITestClient,
) -> None:
    response = await client.get("/dashboard?tab=1")
    assert response.status_code == 303
    assert response.headers["location"] == (
        "http://testserver/login?next=http%3A%2F%2Ftestserver%2Fdashboard%3Ftab%3D1"
    )
    response = await client.get("/dashboard", headers=basic("ada"))
    assert (response.status_code, response.text) == (200, "dashboard")


async def test_requires_finds_the_request_after_self_on_methods(client: ASGITestClient) -> None:
    assert (await client.get("/method")).status_code == 403
    assert (await client.get("/method", headers=basic("ada"))).text == "method"


async def test_requires_websocket_closes_with_policy_violation_without_the_scope(
    client: ASGITestClient,
) -> None:
    with pytest.raises(WebSocketRejected) as rejected:
        async with client.websocket_connect("/ws"):
            pass
    assert rejected.value.code == 1008
    async with client.websocket_connect("/ws", headers=basic("ada")) as ws:
        assert await ws.receive_text() == "ada"


async def test_authentication_error_on_a_websocket_handshake_closes_it(
    client: ASGITestClient,
) -> None:
    with pytest.raises(WebSocketRejected) as rejected:
        async with client.websocket_connect("/ws", headers=BAD_CREDENTIALS):
            pass
    assert rejected.value.code == 1008


async def test_requires_accepts_the_connection_as_a_keyword_argument() -> None:
    scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    scope["auth"], scope["user"] = AuthCredentials(["authenticated"]), SimpleUser("kw")
    assert await private(request=Request(scope)) == "hello kw"
    scope["auth"] = AuthCredentials()
    with pytest.raises(HTTPException) as refused:
        await private(request=Request(scope))
    assert refused.value.status_code == 403


def test_requires_keeps_the_endpoint_name_and_kind() -> None:
    assert private.__name__ == "private"
    assert inspect.iscoroutinefunction(private)
    assert inspect.iscoroutinefunction(ws_private)


def test_requires_on_a_function_without_request_or_websocket_is_a_type_error() -> None:
    with pytest.raises(TypeError, match='No "request" or "websocket" argument'):

        @requires("authenticated")
        async def endpoint(conn: Request) -> None:
            pass


def test_has_required_scope_needs_all_of_them() -> None:
    conn = HTTPConnection({"type": "http", "headers": [], "auth": AuthCredentials(["a", "b"])})
    assert has_required_scope(conn, ["a"])
    assert has_required_scope(conn, ["a", "b"])
    assert has_required_scope(conn, [])
    assert not has_required_scope(conn, ["a", "c"])


def test_users_and_credentials_behave_as_documented() -> None:
    assert AuthCredentials().scopes == []
    assert AuthCredentials(("x",)).scopes == ["x"]
    user = SimpleUser("ada")
    assert (user.is_authenticated, user.display_name, user.username) == (True, "ada", "ada")
    anonymous = UnauthenticatedUser()
    assert (anonymous.is_authenticated, anonymous.display_name) == (False, "")
    with pytest.raises(NotImplementedError):
        _ = BaseUser().identity


def test_request_user_and_auth_without_the_middleware_raise_clear_assertions() -> None:
    conn = HTTPConnection({"type": "http", "headers": []})
    with pytest.raises(AssertionError) as missing:
        _ = conn.user
    assert str(missing.value) == "AuthenticationMiddleware must be installed to access request.user"
    with pytest.raises(AssertionError) as missing:
        _ = conn.auth
    assert str(missing.value) == "AuthenticationMiddleware must be installed to access request.auth"


async def test_backend_returning_something_else_is_a_clear_type_error() -> None:
    class Broken(AuthenticationBackend):
        async def authenticate(self, conn: HTTPConnection) -> Any:
            return SimpleUser("no credentials")

    router = CovetRouter()
    router.add_route("/", whoami, ["GET"])
    stack = MiddlewareStack([Middleware(AuthenticationMiddleware, backend=Broken())])
    client = ASGITestClient(CovetASGIApp(router=router, middleware_stack=stack))
    with pytest.raises(TypeError, match=r"must return \(AuthCredentials, user\) or None"):
        await client.get("/")


def test_backend_without_authenticate_is_rejected_at_construction() -> None:
    with pytest.raises(TypeError, match="authenticate"):
        AuthenticationMiddleware(whoami, backend=object())  # type: ignore[arg-type]


async def test_session_login_read_by_a_backend_behind_session_middleware() -> None:
    class SessionBackend(AuthenticationBackend):
        async def authenticate(
            self, conn: HTTPConnection
        ) -> tuple[AuthCredentials, BaseUser] | None:
            username = conn.session.get("username")
            if username is None:
                return None
            return AuthCredentials(["authenticated"]), SimpleUser(username)

    async def do_login(request: Request) -> str:
        request.session["username"] = request.query["name"]
        return "ok"

    router = CovetRouter()
    router.add_route("/login", do_login, ["POST"])
    router.add_route("/private", private, ["GET"])
    stack = MiddlewareStack()
    stack.add(SessionMiddleware, secret_key="k")
    stack.add(AuthenticationMiddleware, backend=SessionBackend())
    async with ASGITestClient(CovetASGIApp(router=router, middleware_stack=stack)) as client:
        assert (await client.get("/private")).status_code == 403
        await client.post("/login?name=grace")
        assert (await client.get("/private")).text == "hello grace"
