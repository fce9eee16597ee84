"""Routes, mounts, hosts and the router that holds them.

Matching happens in Rust (``covet._core.Router``): one call per router checks the
URL limits, routes, dispatches on the method, decodes and converts the path
parameters and answers a typed ``RouteMatch``. What to do with that answer (404,
405 with ``Allow``, the automatic OPTIONS, slash redirects, descending into a mount,
running a route's middleware, calling the endpoint) is decided in one place, the
application's dispatcher (``covet.app.CovetASGIApp``).

Every entry a router holds is a ``Route``, a ``Mount`` or a ``Host``, as in
Starlette. A route whose ``app`` is ``None`` is a plain endpoint, the hot path;
otherwise ``app`` is the ASGI app the dispatcher hands the request to: the route's
middleware around its endpoint, or a mount's middleware around its sub-router or
ASGI app. Mounts never build an application: a mounted router is routed by the
same dispatcher, under the same app, with the scope's ``root_path`` extended.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote
from uuid import UUID

from covet import _core
from covet.concurrency import is_async_callable, run_in_threadpool
from covet.endpoints import HTTPEndpoint, WebSocketEndpoint
from covet.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from covet.middleware.stack import Middleware

Handler = Callable[..., Any]
F = TypeVar("F", bound=Handler)

#: The pseudo-method WebSocket routes are registered under, as the guide shows:
#: ``router.add_route("/ws", handler, ["WEBSOCKET"])``.
WEBSOCKET: str = _core.WEBSOCKET
#: Matches every method, WebSocket included, after the exact methods registered at
#: the same path (mounts use it).
ANY_METHOD: str = _core.ANY_METHOD
#: Matches every HTTP method but not WebSocket (a whole-app request handler).
ANY_HTTP_METHOD: str = _core.ANY_HTTP_METHOD

RouteMatch = _core.RouteMatch
RouteDefinitionError = _core.RouteDefinitionError
InvalidRouteError = _core.InvalidRouteError
RouteConflictError = _core.RouteConflictError

#: The catch-all parameter of a mount's pattern (``<prefix>/{path:path}``).
_MOUNT_REST = "path"


class NoMatchFound(LookupError):
    """``url_path_for`` found no route with that name and those parameters."""

    def __init__(self, name: str, params: dict[str, Any], reason: str = "") -> None:
        self.name = name
        self.params = params
        message = f"no route named {name!r} accepts parameters {sorted(params)!r}"
        if reason:
            message += f": {reason}"
        super().__init__(message)


class URLPath(str):
    """A path from ``url_path_for``; ``host`` is set when it lies under a ``Host``,
    ``protocol`` (``"http"`` or ``"websocket"``) names the kind of route, so that
    ``url_for`` picks ``http``/``ws`` whichever connection asks."""

    host: str | None
    protocol: str

    def __new__(cls, path: str, host: str | None = None, protocol: str = "") -> URLPath:
        self = super().__new__(cls, path)
        self.host = host
        self.protocol = protocol
        return self


def _as_async(handler: Handler) -> Callable[[Any], Awaitable[Any]]:
    if is_async_callable(handler):
        return handler

    async def call_sync(connection: Any) -> Any:
        return await run_in_threadpool(handler, connection)

    return call_sync


def _endpoint_name(endpoint: Any) -> str | None:
    """A route's default name: the function's name, or the class name of a callable
    object (as Starlette does)."""
    while isinstance(endpoint, functools.partial):
        endpoint = endpoint.func
    if inspect.isroutine(endpoint) or inspect.isclass(endpoint):
        return getattr(endpoint, "__name__", None)
    return type(endpoint).__name__


def _wrap(app: ASGIApp, middleware: Sequence[Middleware] | None) -> ASGIApp:
    """``app`` inside ``middleware``, the first entry outermost."""
    for entry in reversed(middleware or ()):
        app = entry.wrap(app)
    return app


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
        return format(Decimal(repr(number)), "f")
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


class _Template:
    """A pattern's segments for reverse routing: static text (already quoted) or
    ``(kind, name)`` of a parameter."""

    __slots__ = ("pattern", "segments")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.segments: list[tuple[str | None, str]] = []
        for segment in pattern.split("/")[1:]:
            match = _PARAM.fullmatch(segment)
            if match is None:
                self.segments.append((None, quote(segment, safe=_SEGMENT_SAFE)))
            else:
                self.segments.append((match.group(2) or "str", match.group(1)))

    @property
    def param_names(self) -> list[str]:
        return [text for kind, text in self.segments if kind is not None]

    def fill(self, name: str, params: dict[str, Any]) -> str:
        """The pattern with ``params`` converted and quoted; ``NoMatchFound`` names
        the missing or unexpected ones."""
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
                name, params, f"route {self.pattern!r} takes {expected!r}; " + ", ".join(details)
            )
        parts = []
        for kind, text in self.segments:
            if kind is None:
                parts.append(text)
                continue
            try:
                parts.append(_param_to_path(kind, text, params[text]))
            except (TypeError, ValueError) as exc:
                raise NoMatchFound(name, params, str(exc)) from None
        return "/" + "/".join(parts)


class Route:
    """An endpoint for a path and its methods (``WEBSOCKET`` for a WebSocket route).

    ``endpoint`` is what was registered; ``call`` is it made awaitable (a sync
    handler runs in a thread, off the event loop). With ``middleware`` the route
    gets an ``app``: those middleware around the endpoint, entered per request.
    """

    __slots__ = (
        "_template",
        "app",
        "call",
        "endpoint",
        "methods",
        "middleware",
        "name",
        "path",
        "stats_id",
    )

    mount: Mount | None = None

    def __init__(
        self,
        path: str,
        endpoint: Handler,
        methods: Iterable[str] | None = None,
        *,
        name: str | None = None,
        middleware: Sequence[Middleware] | None = None,
    ) -> None:
        if isinstance(methods, str):
            methods = [methods]
        call: Callable[[Any], Awaitable[Any]]
        if inspect.isclass(endpoint) and issubclass(endpoint, HTTPEndpoint):
            # Without methods, the verbs the class defines: others answer 405.
            call = endpoint.handle
            methods = methods or endpoint.allowed_methods()
        elif inspect.isclass(endpoint) and issubclass(endpoint, WebSocketEndpoint):
            call = endpoint.handle
            methods = methods or [WEBSOCKET]
        else:
            call = _as_async(endpoint)
        method_list = [m.upper() for m in (methods or ["GET"])]
        if WEBSOCKET in method_list and len(method_list) > 1:
            raise InvalidRouteError(
                f"route {path!r}: WEBSOCKET cannot be combined with HTTP methods"
            )
        self.path = path
        self.endpoint = endpoint
        self.methods = method_list
        self.name = _endpoint_name(endpoint) if name is None else name
        self.middleware = list(middleware or ())
        self.call: Callable[[Any], Awaitable[Any]] = call
        self.app: ASGIApp | None = (
            _wrap(_EndpointApp(self), self.middleware) if self.middleware else None
        )
        self._template = _Template(path)
        #: The id of ``path`` in the stats' route registry: requests are counted
        #: per template (``covet.stats``), whatever their actual path.
        self.stats_id: int = _core.route_id(path)

    @property
    def handler(self) -> Handler:
        """The registered endpoint (the guide's name for it)."""
        return self.endpoint

    @property
    def is_websocket(self) -> bool:
        return WEBSOCKET in self.methods

    @property
    def param_names(self) -> list[str]:
        return self._template.param_names

    def url_path_for(self, **params: Any) -> URLPath:
        """This route's path with ``params`` converted and percent-encoded; raises
        ``NoMatchFound`` naming the missing or unexpected parameters."""
        protocol = "websocket" if self.is_websocket else "http"
        return URLPath(self._template.fill(self.name or self.path, params), None, protocol)

    def __repr__(self) -> str:
        return f"Route({self.path!r}, methods={self.methods!r}, name={self.name!r})"


def WebSocketRoute(
    path: str,
    endpoint: Handler,
    *,
    name: str | None = None,
    middleware: Sequence[Middleware] | None = None,
) -> Route:
    """A ``Route`` for WebSocket connections, as Starlette spells it."""
    return Route(path, endpoint, [WEBSOCKET], name=name, middleware=middleware)


class _EndpointApp:
    """The innermost app of a route with middleware: runs the endpoint through the
    owning application's dispatcher (``scope["app"]``)."""

    __slots__ = ("route",)

    def __init__(self, route: Route) -> None:
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope["app"].run_endpoint(self.route, scope, receive, send, scope["path_params"])


class _RouterApp:
    """The innermost app of a mount with middleware around a sub-router: routes
    within it through the owning application's dispatcher."""

    __slots__ = ("router",)

    def __init__(self, router: CovetRouter) -> None:
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope["app"].dispatch(self.router, scope, receive, send)


class Mount:
    """A sub-router or any ASGI app served under a path prefix, for every method,
    WebSocket included. Exact routes registered at the same path win.

    The child sees the scope as Starlette and the ASGI spec lay it out: ``path`` and
    ``raw_path`` unchanged, ``root_path`` extended by the matched prefix,
    ``app_root_path`` the application's own root path and ``path_params`` holding the
    prefix's parameters. ``routes=[...]`` builds the sub-router in place.
    """

    __slots__ = (
        "_segments",
        "_template",
        "app",
        "middleware",
        "name",
        "path",
        "router",
        "stats_id",
    )

    def __init__(
        self,
        path: str,
        app: Any = None,
        routes: Sequence[Route | Mount | Host] | None = None,
        name: str | None = None,
        *,
        middleware: Sequence[Middleware] | None = None,
    ) -> None:
        if path in ("", "/"):
            path = ""
        elif not path.startswith("/") or path.endswith("/"):
            raise InvalidRouteError(
                f"mount prefix {path!r} must start with '/' and not end with '/'"
            )
        if (app is None) == (routes is None):
            raise TypeError("Mount takes either an app or routes=[...]")
        if app is None:
            app = CovetRouter(routes=routes)
        self.path = path
        self.name = name
        self.middleware = list(middleware or ())
        #: The sub-router, when the mounted app is one: routed in the same dispatch.
        self.router: CovetRouter | None = app if isinstance(app, CovetRouter) else None
        inner: ASGIApp = _RouterApp(app) if self.router is not None else app
        #: What the dispatcher calls; None for a plain sub-router it descends into.
        self.app: ASGIApp | None = _wrap(inner, self.middleware)
        if self.router is not None and not self.middleware:
            self.app = None
        self._segments = path.count("/")
        self._template = _Template(path)
        #: Requests a mounted app answers count under the pattern the mount matches.
        self.stats_id: int = _core.route_id(path + "/{" + _MOUNT_REST + ":path}")

    @property
    def prefix(self) -> str:
        return self.path

    @property
    def routes(self) -> list[Route]:
        return self.router.routes if self.router is not None else []

    def child_scope(self, scope: Scope, params: dict[str, Any]) -> Scope:
        """The scope the mounted router or app sees."""
        root_path: str = scope.get("root_path", "")
        path: str = scope["path"]
        relative = path[len(root_path) :] if root_path and path.startswith(root_path) else path
        matched = "/".join(relative.split("/")[: self._segments + 1])
        child = dict(scope)
        child["root_path"] = root_path + matched
        child["app_root_path"] = scope.get("app_root_path", root_path)
        outer = scope.get("path_params")
        params = {k: v for k, v in params.items() if k != _MOUNT_REST}
        child["path_params"] = {**outer, **params} if outer else params
        return child

    def url_path_for(self, name: str, params: dict[str, Any]) -> URLPath:
        """``"mount:route"`` through a sub-router (or any route of an unnamed one),
        or the mount's own name with a ``path`` parameter
        (``url_path_for("static", path="/app.css")``)."""
        names = self._template.param_names
        missing = [n for n in names if n not in params]
        if missing:
            raise NoMatchFound(name, params, f"mount {self.path!r} needs {missing!r}")
        prefix = self._template.fill(name, {n: params[n] for n in names}) if self.path else ""
        rest = {k: v for k, v in params.items() if k not in names}
        if self.name is not None and name == self.name:
            if set(rest) != {"path"}:
                raise NoMatchFound(name, params, f"mount {self.path!r} takes a 'path' parameter")
            tail = quote(str(rest["path"]), safe=_PATH_SAFE)
            return URLPath(prefix + "/" + tail.lstrip("/"))
        if self.router is None:
            raise NoMatchFound(name, params)
        if self.name is not None:
            if not name.startswith(self.name + ":"):
                raise NoMatchFound(name, params)
            name = name[len(self.name) + 1 :]
        inner = self.router.url_path_for(name, **rest)
        return URLPath(prefix + inner, inner.host, inner.protocol)

    def __repr__(self) -> str:
        return f"Mount({self.path!r}, {self.router or self.app!r}, name={self.name!r})"


class Host:
    """A sub-router or ASGI app for requests whose ``Host`` header matches
    ``host``: ``Host("{sub}.example.com", app, name="sub")``. Parameters are whole
    dot-separated labels; the port is ignored. Host entries are tried in order,
    before the router's path routes."""

    __slots__ = ("_params", "_regex", "host", "mount", "name")

    def __init__(self, host: str, app: Any, name: str | None = None) -> None:
        pattern, params = [], []
        for label in host.split("."):
            match = _PARAM.fullmatch(label)
            if match is None:
                if "{" in label or "}" in label or not label:
                    raise InvalidRouteError(f"invalid host pattern {host!r}")
                pattern.append(re.escape(label.lower()))
            elif match.group(2) not in (None, "str"):
                raise InvalidRouteError(f"host pattern {host!r}: only plain parameters")
            else:
                params.append(match.group(1))
                pattern.append(f"(?P<{match.group(1)}>[^.:/]+)")
        self.host = host
        self.name = name
        self._params = params
        self._regex = re.compile(r"\.".join(pattern))
        #: The host's app is entered as a mount at the root: one code path.
        self.mount = Mount("", app)

    @property
    def app(self) -> Any:
        return self.mount.router or self.mount.app

    def match(self, host_header: str) -> dict[str, str] | None:
        host = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
        found = self._regex.fullmatch(host.lower())
        return found.groupdict() if found is not None else None

    def url_path_for(self, name: str, params: dict[str, Any]) -> URLPath:
        host_params = {k: v for k, v in params.items() if k in self._params}
        rest = {k: v for k, v in params.items() if k not in self._params}
        if self.name is not None:
            if not name.startswith(self.name + ":"):
                raise NoMatchFound(name, params)
            name = name[len(self.name) + 1 :]
        missing = [p for p in self._params if p not in host_params]
        if missing:
            raise NoMatchFound(name, params, f"host {self.host!r} needs {missing!r}")
        host = self.host
        for key, value in host_params.items():
            text = str(value)
            if not text or not re.fullmatch(r"[A-Za-z0-9-]+", text):
                raise NoMatchFound(name, params, f"host parameter {key!r} must be a DNS label")
            host = host.replace("{" + key + "}", text)
        inner = self.mount.url_path_for(name, rest)
        return URLPath(str(inner), host, inner.protocol)

    def __repr__(self) -> str:
        return f"Host({self.host!r}, {self.app!r}, name={self.name!r})"


class _HostRoute:
    """What a matched ``Host`` looks like to the dispatcher: a mount at the root."""

    __slots__ = ("app", "mount")

    def __init__(self, host: Host) -> None:
        self.mount = host.mount
        self.app = _entry_app(host.mount)


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

    def __init__(
        self,
        routes: Sequence[Route | Mount | Host] | None = None,
        *,
        redirect_slashes: bool = True,
    ) -> None:
        self._core = _core.Router()
        self.routes: list[Route] = []
        self._core.redirect_slashes = redirect_slashes
        self._named: dict[str, list[Route]] = {}
        self._mounts: list[Mount] = []
        self._hosts: list[tuple[Host, _HostRoute]] = []
        #: Routes a scope: ``(scope, max_header_count, max_url_length, slash_hint)``
        #: -> ``RouteMatch``. The Rust matcher itself until a ``Host`` is added.
        self.match_scope: Callable[..., RouteMatch] = self._core.match_scope
        for entry in routes or ():
            self.add(entry)

    @property
    def redirect_slashes(self) -> bool:
        return self._core.redirect_slashes

    @redirect_slashes.setter
    def redirect_slashes(self, value: bool) -> None:
        self._core.redirect_slashes = bool(value)

    # -- registration -------------------------------------------------------------------
    def add(self, entry: Route | Mount | Host) -> Route | Mount | Host:
        """Registers a ``Route``, ``Mount`` or ``Host`` built elsewhere."""
        if isinstance(entry, Route):
            self._add_route(entry)
        elif isinstance(entry, Mount):
            self._add_mount(entry)
        elif isinstance(entry, Host):
            self._hosts.append((entry, _HostRoute(entry)))
            self.match_scope = self._match_hosts_first
            self._core.has_hosts = True
        else:
            raise TypeError(f"expected a Route, Mount or Host, got {type(entry).__name__}")
        return entry

    def add_route(
        self,
        path: str,
        handler: Handler,
        methods: Iterable[str] | None = None,
        *,
        name: str | None = None,
        middleware: Sequence[Middleware] | None = None,
    ) -> Route:
        """Registers ``handler`` for ``path`` and ``methods`` (default GET). ``name``
        (default: the handler's ``__name__``) is what ``url_path_for`` looks up;
        ``middleware`` wraps this route alone."""
        route = Route(path, handler, methods, name=name, middleware=middleware)
        self._add_route(route)
        return route

    def add_websocket_route(
        self,
        path: str,
        handler: Handler,
        *,
        name: str | None = None,
        middleware: Sequence[Middleware] | None = None,
    ) -> Route:
        return self.add_route(path, handler, [WEBSOCKET], name=name, middleware=middleware)

    def _add_route(self, route: Route) -> None:
        self._core.add(route.path, route.methods, route)
        self.routes.append(route)
        if route.name is not None:
            self._named.setdefault(route.name, []).append(route)

    def mount(
        self,
        prefix: str,
        app: Any = None,
        name: str | None = None,
        *,
        routes: Sequence[Route | Mount | Host] | None = None,
        middleware: Sequence[Middleware] | None = None,
    ) -> Mount:
        """Serves ``app`` — a ``CovetRouter`` or any ASGI app (``StaticFiles``, another
        framework) — for every path under ``prefix`` and every method, WebSocket
        included; exact routes registered on this router at the same path win.

        A sub-router is routed by the same dispatcher, so the app's exception
        handlers, limits and stats apply to it; its routes are reversed as
        ``"name:route_name"``. ``prefix`` may contain parameters (``/orgs/{org}``),
        passed to the child. ``middleware`` wraps everything under the mount.
        """
        mount = Mount(prefix, app, routes, name, middleware=middleware)
        self._add_mount(mount)
        return mount

    def _add_mount(self, mount: Mount) -> None:
        if mount.router is self:
            raise InvalidRouteError("a router cannot be mounted in itself")
        route = _MountRoute(mount)
        self._core.add(mount.path + "/{" + _MOUNT_REST + ":path}", [ANY_METHOD], route)
        self._mounts.append(mount)

    def host(self, host: str, app: Any, name: str | None = None) -> Host:
        """Serves ``app`` for requests whose ``Host`` header matches ``host``."""
        entry = Host(host, app, name)
        self.add(entry)
        return entry

    def route(
        self,
        path: str,
        methods: Iterable[str] | None = None,
        *,
        name: str | None = None,
        middleware: Sequence[Middleware] | None = None,
    ) -> Callable[[F], F]:
        def decorator(handler: F) -> F:
            self.add_route(path, handler, methods, name=name, middleware=middleware)
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

    # -- matching -----------------------------------------------------------------------
    def lookup(self, method: str, raw_path: bytes) -> RouteMatch:
        """Routes ``method`` and a raw path relative to this router."""
        return self._core.match_path(method, raw_path)

    def _match_hosts_first(
        self,
        scope: Scope,
        max_header_count: int | None = None,
        max_url_length: int | None = None,
        slash_hint: bool = False,
    ) -> RouteMatch:
        """``match_scope`` for a router with ``Host`` entries: the limits, then the
        hosts in order, then the path routes."""
        found = self._core.match_scope(scope, max_header_count, max_url_length, slash_hint)
        if found.kind in (_core.URI_TOO_LONG, _core.HEADERS_TOO_LARGE):
            return found
        host_header = ""
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host_header = value.decode("latin-1")
                break
        for host, route in self._hosts:
            params = host.match(host_header)
            if params is not None:
                return RouteMatch.found(route, params)
        return found

    # -- reverse routing ----------------------------------------------------------------
    def url_path_for(self, name: str, /, **params: Any) -> URLPath:
        """The path of the route called ``name`` with ``params`` filled in (converted
        and percent-encoded), relative to the application root. Routes inside a
        named mount are ``"mount_name:route_name"``; inside an unnamed mount, their
        own name. Raises ``NoMatchFound``."""
        errors: list[str] = []
        for route in self._named.get(name, ()):
            try:
                return route.url_path_for(**params)
            except NoMatchFound as exc:
                errors.append(str(exc).split(": ", 1)[-1])
        candidates: list[Mount | Host] = [*self._mounts, *(host for host, _ in self._hosts)]
        for entry in candidates:
            if entry.name is not None and not (
                name == entry.name or name.startswith(entry.name + ":")
            ):
                continue
            try:
                return entry.url_path_for(name, params)
            except NoMatchFound as exc:
                if entry.name is not None:
                    errors.append(str(exc).split(": ", 1)[-1] if ": " in str(exc) else str(exc))
        if not errors:
            raise NoMatchFound(name, params, "no route has that name")
        raise NoMatchFound(name, params, "; ".join(errors))

    def __len__(self) -> int:
        return len(self.routes)


class _MountRoute:
    """What a ``Mount`` is in the Rust tree: the catch-all route of its prefix."""

    __slots__ = ("app", "mount")

    def __init__(self, mount: Mount) -> None:
        self.mount = mount
        self.app = _entry_app(mount)

    @property
    def name(self) -> str | None:
        return self.mount.name

    def __repr__(self) -> str:
        return repr(self.mount)


def _entry_app(mount: Mount) -> ASGIApp:
    """The ``app`` of a mount's tree entry: never None, so that the dispatcher's hot
    path (``route.app is None``: a plain endpoint) passes it by."""
    if mount.app is not None:
        return mount.app
    assert mount.router is not None
    return _RouterApp(mount.router)
