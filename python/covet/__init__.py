"""CovetPy: an ASGI 3.0 web framework whose request path runs in Rust."""

from covet._core import __version__
from covet.core.asgi_app import CovetASGIApp, create_app, create_asgi_app
from covet.core.datastructures import URL, Headers, MutableHeaders, QueryParams, State
from covet.core.exceptions import ClientDisconnect, HTTPException
from covet.core.requests import Request
from covet.core.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from covet.core.routing import CovetRouter, Route, RouteConflictError, InvalidRouteError

__all__ = [
    "URL",
    "ClientDisconnect",
    "CovetASGIApp",
    "CovetRouter",
    "HTMLResponse",
    "HTTPException",
    "Headers",
    "InvalidRouteError",
    "JSONResponse",
    "MutableHeaders",
    "PlainTextResponse",
    "QueryParams",
    "Request",
    "Response",
    "Route",
    "RouteConflictError",
    "State",
    "__version__",
    "create_app",
    "create_asgi_app",
]
