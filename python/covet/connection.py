"""What HTTP requests and WebSocket connections have in common: a lazy view over the
ASGI scope (URL, client, headers, query, cookies, path parameters, state).

Each view is built on first access and cached, so a handler pays only for what it
reads. ``Request`` and ``WebSocket`` derive from ``HTTPConnection``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from covet import _core
from covet.datastructures import URL, Address, Headers, QueryParams, State
from covet.types import Scope

_PATH_SAFE = "/!$&'()*+,;=:@"


def parse_cookie_header(header: str) -> dict[str, str]:
    """The ``Cookie`` header as a dict, parsed in Rust exactly like Starlette's
    ``cookie_parser``: the last of repeated names wins, a chunk without ``=`` is
    stored under the empty name, and a double-quoted value is unquoted like
    ``http.cookies`` does (``"Hello\\054 cookies!"`` reads ``Hello, cookies!``)."""
    return _core.parse_cookies(header)


class HTTPConnection(Mapping[str, Any]):
    """The scope-derived part of a request or a WebSocket connection.

    As in Starlette, it is also a read-only ``Mapping`` over its ASGI scope
    (``request["path"]``, ``len(request)``, ``for key in request``); equality and
    hashing stay those of the object."""

    # No __slots__: the lazily built views default to these class attributes, so a
    # construction (one per request) stores only the attributes set in __init__
    # (measured with timeit: ~20% cheaper than initialising every slot).
    _headers: Headers | None = None
    _query: QueryParams | None = None
    _cookies: Mapping[str, str] | None = None
    _state: State | None = None

    def __init__(self, scope: Scope, path_params: dict[str, Any] | None = None) -> None:
        self.scope = scope
        self.path_params: dict[str, Any] = path_params if path_params is not None else {}

    @property
    def path(self) -> str:
        path: str = self.scope["path"]
        return path

    @property
    def url(self) -> URL:
        return URL.from_scope(self.scope)

    @property
    def base_url(self) -> URL:
        """The app's root URL, under its root path (``http://host/api/`` for an app
        mounted at ``/api``), as Starlette gives it."""
        root = self.scope.get("app_root_path", self.scope.get("root_path")) or ""
        return URL.from_scope(dict(self.scope, path=root.rstrip("/") + "/", query_string=b""))

    @property
    def client(self) -> Address | None:
        client = self.scope.get("client")
        return Address(client[0], client[1]) if client else None

    @property
    def app(self) -> Any:
        return self.scope.get("app")

    @property
    def state(self) -> State:
        """Per-connection state, seeded with a copy of the lifespan state."""
        if self._state is None:
            self._state = State(dict(self.scope.get("state") or {}))
        return self._state

    @property
    def session(self) -> dict[str, Any]:
        """The signed-cookie session (``covet.middleware.SessionMiddleware``)."""
        if "session" not in self.scope:
            raise AssertionError("SessionMiddleware must be installed to access request.session")
        session: dict[str, Any] = self.scope["session"]
        return session

    @property
    def auth(self) -> Any:
        """The ``AuthCredentials`` set by ``covet.middleware.AuthenticationMiddleware``."""
        if "auth" not in self.scope:
            raise AssertionError(
                "AuthenticationMiddleware must be installed to access request.auth"
            )
        return self.scope["auth"]

    @property
    def user(self) -> Any:
        """The user set by ``covet.middleware.AuthenticationMiddleware``."""
        if "user" not in self.scope:
            raise AssertionError(
                "AuthenticationMiddleware must be installed to access request.user"
            )
        return self.scope["user"]

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(raw=self.scope["headers"])
        return self._headers

    @property
    def query(self) -> QueryParams:
        if self._query is None:
            self._query = QueryParams(self.scope.get("query_string", b""))
        return self._query

    query_params = query

    @property
    def cookies(self) -> Mapping[str, str]:
        if self._cookies is None:
            header = self.headers.get("cookie")
            self._cookies = parse_cookie_header(header) if header else {}
        return self._cookies

    # -- the scope as a mapping ---------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self.scope[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.scope)

    def __len__(self) -> int:
        return len(self.scope)

    # A connection is one object, not a value: compare and hash by identity.
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    # -- reverse routing ----------------------------------------------------------------
    def url_for(self, name: str, /, **path_params: Any) -> URL:
        """The absolute URL of the route called ``name`` (``"mount:route"`` inside a
        mounted router), with ``path_params`` filled in, under the app's root path.

        Scheme and host are this connection's (``base_url``), so they are the ones
        resolved by ``ProxyHeadersMiddleware`` and a bad ``Host`` header cannot leak
        in. A path that names its protocol (``protocol`` ``"http"`` or
        ``"websocket"``, as Starlette's ``URLPath`` does) gets the matching scheme
        (``https``/``wss`` when this connection is secure); a path under a ``Host``
        route gets that host."""
        app = self.scope.get("app")
        if app is None or not hasattr(app, "url_path_for"):
            raise RuntimeError("url_for needs the application in scope['app']")
        path = app.url_path_for(name, **path_params)
        base = URL.from_scope(dict(self.scope, path="", root_path="", query_string=b""))
        scheme = base.scheme
        protocol = getattr(path, "protocol", "")
        if protocol == "http":
            scheme = "https" if base.is_secure else "http"
        elif protocol == "websocket":
            scheme = "wss" if base.is_secure else "ws"
        netloc = getattr(path, "host", None) or base.netloc
        root = self.scope.get("app_root_path", self.scope.get("root_path")) or ""
        relative = quote(str(root), safe=_PATH_SAFE) + str(path)
        # Without a Host header or server address there is no origin to name.
        return URL(f"{scheme}://{netloc}{relative}" if netloc else relative)
