"""CovetPy: an ASGI 3.0 web framework whose request path runs in Rust."""

from covet._core import __version__
from covet.core.asgi_app import CovetASGIApp, create_app, create_asgi_app
from covet.core.asgi_integration import ASGITestClient, TestClient
from covet.core.datastructures import (
    URL,
    FormData,
    Headers,
    MutableHeaders,
    QueryParams,
    State,
    UploadFile,
)
from covet.core.exceptions import ClientDisconnect, HTTPException
from covet.core.limits import Limits
from covet.core.requests import Request
from covet.core.responses import (
    EventSourceResponse,
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    ServerSentEvent,
    StreamingResponse,
)
from covet.core.routing import (
    CovetRouter,
    InvalidRouteError,
    Mount,
    NoMatchFound,
    Route,
    RouteConflictError,
)
from covet.core.staticfiles import StaticFiles
from covet.core.websockets import (
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
    WebSocketState,
)
from covet.middleware import Middleware, MiddlewareStack

__all__ = [
    "URL",
    "ASGITestClient",
    "ClientDisconnect",
    "CovetASGIApp",
    "CovetRouter",
    "EventSourceResponse",
    "FileResponse",
    "FormData",
    "HTMLResponse",
    "HTTPException",
    "Headers",
    "InvalidRouteError",
    "JSONResponse",
    "Limits",
    "Middleware",
    "MiddlewareStack",
    "Mount",
    "MutableHeaders",
    "NoMatchFound",
    "PlainTextResponse",
    "QueryParams",
    "RedirectResponse",
    "Request",
    "Response",
    "Route",
    "RouteConflictError",
    "ServerSentEvent",
    "State",
    "StaticFiles",
    "StreamingResponse",
    "TestClient",
    "UploadFile",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketException",
    "WebSocketState",
    "__version__",
    "create_app",
    "create_asgi_app",
]
