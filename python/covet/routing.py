"""Route registration. Matching happens in Rust (``covet._core.Router``): one call
routes, dispatches on the method, decodes and converts the path parameters.

Also here: named routes and reverse routing (``url_path_for``), mounting sub-routers
and ASGI apps under a prefix (``mount``), and the trailing-slash redirect computed on
the 404 path (``redirect_slashes``)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote
from uuid import UUID

from covet import _core
from covet.exceptions import HTTPException
from covet.responses import RedirectResponse, Response
from covet.types import Scope

Handler = Callable[..., Any]
F = TypeVar("F", bound=Handler)

#: The pseudo-method WebSocket routes are registered under, as the guide shows:
#: ``router.add_route("/ws", handler, ["WEBSOCKET"])``.
WEBSOCKET = "WEBSOCKET"

RouteDefinitionError = _core.RouteDefinitionError
InvalidRouteError = _core.InvalidRouteError
RouteConflictError = _core.RouteConflictError

#: The method that matches any request method, WebSocket included, after the exact
#: methods registered at the same path (used by ``mount``).
ANY_METHOD = "*"


class NoMatchFound(LookupError):
    """``url_path_for`` found no route with that name and those parameters."""

    def __init__(self, name: str, params: dict[str, Any], reason: str = "") -> None:
        self.name = name
        self.params = params
        message = f"no route named {name!r} accepts parameters {sorted(params)!r}"
        if reason:
            message += f": {reason}"
        super().__init__(message)


def is_async_callable(obj: Any) -> bool:
    while isinstance(obj, functools.partial):
        obj = obj.func
    return inspect.iscoroutinefunction(obj) or (
        callable(obj) and inspect.iscoroutinefunction(obj.__call__)
    )


async def run_in_threadpool(func: Callable[..., Any], *args: Any) -> Any:
    """Runs a blocking function in the loop's default executor, keeping contextvars."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    return await loop.run_in_executor(None, functools.partial(context.run, func, *args))


def _as_async(handler: Handler) -> Callable[[Any], Awaitable[Any]]:
    if is_async_callable(handler):
        return handler

    async def call_sync(request: Any) -> Any:
        return await run_in_threadpool(handler, request)

    return call_sync


# Characters kept as they are in a path segment (RFC 3986 pchar minus unreserved,
# which ``quote`` never escapes); everything else, ``%`` and ``/`` included, is escaped.
_SEGMENT_SAFE = "!$&'()*+,;=:@"
_PATH_SAFE = _SEGMENT_SAFE + "/"
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?\}")
_INT64 = (-(2**63), 2**63 - 1)


def _param_to_path(kind: str, name: str, value: Any) -> str:
    """One parameter value as URL text, the inverse of the router's converter."""
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"parameter {name!r} is an int, got {type(value).__name__}")
        if not _INT64[0] <= value <= _INT64[1]:
            raise ValueError(f"parameter {name!r} does not fit in a 64-bit int")
        return str(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"parameter {name!r} is a float, got {type(value).__name__}")
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"parameter {name!r} must be finite")
        # Positional notation: the router accepts -?[0-9]+(.[0-9]+)?, no exponent.
        text = format(Decimal(repr(number)), "f")
        return text
    if kind == "uuid":
        if isinstance(value, UUID):
            return str(value)
        if isinstance(value, str):
            return str(UUID(value))
        raise TypeError(f"parameter {name!r} is a UUID, got {type(value).__name__}")
    text = value if isinstance(value, str) else str(value)
    if kind == "path":
        return quote(text, safe=_PATH_SAFE)
    if not text:
        raise ValueError(f"parameter {name!r} cannot be empty")
    return quote(text, safe=_SEGMENT_SAFE)


class Route:
    """One registered route. ``endpoint`` is always awaitable: sync handlers are
    wrapped at registration so that they run in a thread, off the event loop.
    ``mount`` is the ``Mount`` for routes created by ``CovetRouter.mount``."""

    __slots__ = ("_template", "endpoint", "handler", "methods", "mount", "name", "path")

    def __init__(
        self,
        path: str,
        handler: Handler,
        methods: list[str],
        name: str | None,
        mount: Mount | None = None,
    ) -> None:
        self.path = path
        self.handler = handler
        self.methods = methods
        self.name = name
        self.mount = mount
        self.endpoint = _as_async(handler)
        template: list[tuple[str | None, str]] = []
        for segment in path.split("/")[1:]:
            match = _PARAM.fullmatch(segment)
            if match is None:
                template.append((None, quote(segment, safe=_SEGMENT_SAFE)))
            else:
                template.append((match.group(2) or "str", match.group(1)))
        self._template = template

    @property
    def is_websocket(self) -> bool:
        return WEBSOCKET in self.methods

    @property
    def param_names(self) -> list[str]:
        return [text for kind, text in self._template if kind is not None]

    def url_path_for(self, **params: Any) -> str:
        """This route's path with ``params`` converted and percent-encoded; raises
        ``NoMatchFound`` naming the missing or unexpected parameters."""
        expected = self.param_names
        missing = [p for p in expected if p not in params]
        extra = sorted(p for p in params if p not in expected)
        if missing or extra:
            details = []
            if missing:
                details.append(f"missing {missing!r}")
            if extra:
                details.append(f"unexpected {extra!r}")
            raise NoMatchFound(
                self.name or self.path,
                params,
                f"route {self.path!r} takes {expected!r}; " + ", ".join(details),
            )
        parts = []
        for kind, text in self._template:
            if kind is None:
                parts.append(text)
                continue
            try:
                parts.append(_param_to_path(kind, text, params[text]))
            except (TypeError, ValueError) as exc:
                raise NoMatchFound(self.name or self.path, params, str(exc)) from None
        return "/" + "/".join(parts)

    def __repr__(self) -> str:
        return f"Route({self.path!r}, methods={self.methods!r}, name={self.name!r})"


class _ASGIForward(Response):
    """Hands the request to a mounted ASGI app with the mount's scope."""

    def __init__(self, app: Any, scope: Scope) -> None:
        self.app = app
        self.child_scope = scope
        self.status_code = 0
        self.body = b""
        self.raw_headers = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        async def send_and_record(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.status_code = message["status"]
            await send(message)

        await self.app(self.child_scope, receive, send_and_record)


class Mount:
    """A sub-router or ASGI app served under ``prefix`` (see ``CovetRouter.mount``).

    The child sees the scope as Starlette and the ASGI spec lay it out: ``path`` and
    ``raw_path`` unchanged, ``root_path`` extended by the matched prefix,
    ``app_root_path`` the application's own root path and ``path_params`` holding the
    prefix's parameters.
    """

    __slots__ = ("_app_for_router", "_segments", "app", "name", "prefix", "router")

    def __init__(self, prefix: str, app: Any, name: str | None) -> None:
        self.prefix = prefix
        self.app = app
        self.name = name
        self.router: CovetRouter | None = app if isinstance(app, CovetRouter) else None
        self._segments = prefix.count("/")
        self._app_for_router: Any = None

    def child_scope(self, scope: Scope, params: dict[str, Any]) -> tuple[Scope, bytes]:
        """The child's scope and its raw path below the prefix."""
        root_path: str = scope.get("root_path", "")
        path: str = scope["path"]
        relative = path[len(root_path) :] if root_path and path.startswith(root_path) else path
        matched = "/".join(relative.split("/")[: self._segments + 1])
        raw_relative = route_path(scope)
        raw_rest = b"/" + b"/".join(raw_relative.split(b"/")[self._segments + 1 :])
        child = dict(scope)
        child["root_path"] = root_path + matched
        child["app_root_path"] = scope.get("app_root_path", root_path)
        child["path_params"] = {**scope.get("path_params", {}), **params}
        return child, raw_rest

    async def handle(self, connection: Any) -> Any:
        """The mount route's endpoint: routes within a sub-router (so the app's
        exception handlers apply) or forwards to the mounted ASGI app."""
        params = dict(connection.path_params)
        params.pop("path", None)
        scope, raw_rest = self.child_scope(connection.scope, params)
        if scope["type"] != "http":
            # WebSocket: the mounted app runs the whole connection on the raw
            # channels; afterwards the outer WebSocket object is marked as over, so
            # the dispatcher's own clean-up (close or denial) is a no-op.
            try:
                await self(scope, connection._receive, connection._send)
            finally:
                from covet.websockets import WebSocketState

                connection.client_state = WebSocketState.DISCONNECTED
                connection.application_state = WebSocketState.DISCONNECTED
            return None
        if self.router is None:
            return _ASGIForward(self.app, scope)
        from covet.requests import Request

        router = self.router
        status, route, extra = router.lookup(scope["method"], raw_rest)
        if status == 200:
            params.update(extra)
            return await route.endpoint(Request(scope, connection._receive, params))
        if status == 204:
            return Response(status_code=204, headers={"allow": extra})
        if status == 405:
            raise HTTPException(405, headers={"allow": extra})
        if router.redirect_slashes:
            redirect = router.slash_redirect(scope, raw_rest)
            if redirect is not None:
                return redirect
        raise HTTPException(404)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """ASGI entry point for an already-extended scope (used for WebSockets)."""
        app = self.app
        if self.router is not None:
            if self._app_for_router is None:
                from covet.app import CovetASGIApp

                self._app_for_router = CovetASGIApp(router=self.router, enable_lifespan=False)
            app = self._app_for_router
        await app(scope, receive, send)

    def url_path_for(self, name: str, params: dict[str, Any]) -> str:
        """``"mount:route"`` through a sub-router, or the mount's own name with a
        ``path`` parameter (e.g. ``url_path_for("static", path="/app.css")``)."""
        names = self._prefix_params
        missing = [n for n in names if n not in params]
        if missing:
            raise NoMatchFound(name, params, f"mount {self.prefix!r} needs {missing!r}")
        prefix = ""
        if self.prefix:
            prefix_route = Route(self.prefix, _no_handler, [ANY_METHOD], None)
            prefix = prefix_route.url_path_for(**{n: params[n] for n in names})
        rest = {k: v for k, v in params.items() if k not in names}
        if name == self.name:
            if set(rest) != {"path"}:
                raise NoMatchFound(name, params, f"mount {self.prefix!r} takes a 'path' parameter")
            tail = quote(str(rest["path"]), safe=_PATH_SAFE)
            return prefix + "/" + tail.lstrip("/")
        if self.router is None or self.name is None or not name.startswith(self.name + ":"):
            raise NoMatchFound(name, params)
        return prefix + self.router.url_path_for(name[len(self.name) + 1 :], **rest)

    @property
    def _prefix_params(self) -> list[str]:
        return [m.group(1) for m in _PARAM.finditer(self.prefix)]

    def __repr__(self) -> str:
        return f"Mount({self.prefix!r}, {self.app!r}, name={self.name!r})"


async def _no_handler(request: Any) -> None:
    return None


def route_path(scope: Scope) -> bytes:
    """The raw, percent-encoded path to match, relative to ``root_path``.

    Routing on ``raw_path`` keeps an encoded ``%2F`` inside its parameter; servers
    that do not send ``raw_path`` get ``path`` with ``%`` re-escaped, so that the
    router's single decoding step is still correct.
    """
    raw = scope.get("raw_path")
    if raw is None:
        raw = scope["path"].encode("utf-8").replace(b"%", b"%25")
    root_path = scope.get("root_path")
    if root_path:
        prefix = root_path.encode("utf-8")
        if raw.startswith(prefix):
            raw = raw[len(prefix) :]
    return raw


class CovetRouter:
    """Collects routes and matches requests against them.

    Patterns are ``/static/{param}/{id:int}/{value:float}/{key:uuid}/{rest:path}``.
    At each segment static text beats typed parameters, which beat plain ones, which
    beat a catch-all; the matcher backtracks when a branch fails further down.

    ``redirect_slashes`` (default True): a request whose path matches no route, but
    would with the trailing slash added or removed, is redirected there — 307 for
    GET and HEAD (temporary, so browsers do not cache it forever), 308 for other
    methods (a client should fix its configured URL). Both keep the method and body.
    It is computed only on the 404 path.
    """

    def __init__(self, *, redirect_slashes: bool = True) -> None:
        self._core = _core.Router()
        self.routes: list[Route] = []
        self.redirect_slashes = redirect_slashes
        self._named: dict[str, list[Route]] = {}
        self._mounts: list[Mount] = []

    def add_route(
        self,
        path: str,
        handler: Handler,
        methods: Iterable[str] | None = None,
        *,
        name: str | None = None,
    ) -> Route:
        """Registers ``handler`` for ``path`` and ``methods`` (default GET). ``name``
        (default: the handler's ``__name__``) is what ``url_path_for`` looks up."""
        if isinstance(methods, str):
            methods = [methods]
        method_list = [m.upper() for m in (methods or ["GET"])]
        if WEBSOCKET in method_list and len(method_list) > 1:
            raise InvalidRouteError(
                f"route {path!r}: WEBSOCKET cannot be combined with HTTP methods"
            )
        if name is None:
            name = getattr(handler, "__name__", None)
        route = Route(path, handler, method_list, name)
        self._add(route)
        return route

    def _add(self, route: Route) -> None:
        self._core.add(route.path, route.methods, route)
        self.routes.append(route)
        if route.name is not None:
            self._named.setdefault(route.name, []).append(route)

    def mount(self, prefix: str, app: Any, name: str | None = None) -> Route:
        """Serves ``app`` — a ``CovetRouter`` or any ASGI app (``StaticFiles``, another
        framework) — for every path under ``prefix`` and every method, WebSocket
        included; exact routes registered on this router at the same path win.

        A sub-router is routed in the same request cycle, so this app's exception
        handlers apply to it; its routes are reversed as ``"name:route_name"``.
        ``prefix`` may contain parameters (``/orgs/{org}``), passed to the child.
        """
        if prefix in ("", "/"):
            prefix = ""
        elif not prefix.startswith("/") or prefix.endswith("/"):
            raise InvalidRouteError(
                f"mount prefix {prefix!r} must start with '/' and not end with '/'"
            )
        if app is self:
            raise InvalidRouteError("a router cannot be mounted in itself")
        mount = Mount(prefix, app, name)
        route = Route(prefix + "/{path:path}", mount.handle, [ANY_METHOD], name, mount)
        self._add(route)
        self._mounts.append(mount)
        return route

    def route(
        self, path: str, methods: Iterable[str] | None = None, *, name: str | None = None
    ) -> Callable[[F], F]:
        def decorator(handler: F) -> F:
            self.add_route(path, handler, methods, name=name)
            return handler

        return decorator

    def get(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, ["GET"], name=name)

    def post(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, ["POST"], name=name)

    def put(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, ["PUT"], name=name)

    def patch(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, ["PATCH"], name=name)

    def delete(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, ["DELETE"], name=name)

    def options(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, ["OPTIONS"], name=name)

    def head(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, ["HEAD"], name=name)

    def websocket(self, path: str, *, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, [WEBSOCKET], name=name)

    def lookup(self, method: str, raw_path: bytes) -> tuple[int, Route | None, Any]:
        """``(200, route, params)``, ``(204, None, allow)`` for an unhandled OPTIONS,
        ``(405, None, allow)`` or ``(404, None, None)``."""
        return self._core.lookup(method, raw_path)

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """The path of the route called ``name`` with ``params`` filled in (converted
        and percent-encoded), relative to the application root. Routes inside a
        mounted router are ``"mount_name:route_name"``. Raises ``NoMatchFound``."""
        errors: list[str] = []
        for route in self._named.get(name, ()):
            if route.mount is not None:
                continue
            try:
                return route.url_path_for(**params)
            except NoMatchFound as exc:
                errors.append(str(exc).split(": ", 1)[-1])
        for mount in self._mounts:
            if mount.name is None:
                continue
            if name == mount.name or name.startswith(mount.name + ":"):
                try:
                    return mount.url_path_for(name, params)
                except NoMatchFound as exc:
                    errors.append(str(exc).split(": ", 1)[-1] if ": " in str(exc) else str(exc))
        if not errors:
            raise NoMatchFound(name, params, "no route has that name")
        raise NoMatchFound(name, params, "; ".join(errors))

    def slash_redirect(self, scope: Scope, raw_path: bytes) -> Response | None:
        """The redirect for a 404 whose path matches with the trailing slash toggled,
        or None. ``raw_path`` is the path this router matched against."""
        if raw_path in (b"", b"/"):
            return None
        other = raw_path[:-1] if raw_path.endswith(b"/") else raw_path + b"/"
        method = scope["method"]
        status, _, _ = self._core.lookup(method, other)
        if status not in (200, 204):
            return None
        full = scope.get("raw_path")
        if full is None:
            full = quote(scope["path"], safe=_PATH_SAFE).encode("ascii")
        root_path = scope.get("app_root_path", scope.get("root_path", ""))
        root = quote(root_path, safe=_PATH_SAFE).encode("ascii")
        if root and not full.startswith(root):
            full = root + full
        target = full[:-1] if full.endswith(b"/") else full + b"/"
        # A target starting with // (or /\) is a scheme-relative URL: another host.
        if target.startswith((b"//", b"/\\")) or not target.startswith(b"/"):
            return None
        location = target.decode("latin-1")
        query = scope.get("query_string")
        if query:
            location += "?" + query.decode("latin-1")
        return RedirectResponse(location, 307 if method in ("GET", "HEAD") else 308)

    def __len__(self) -> int:
        return len(self.routes)
