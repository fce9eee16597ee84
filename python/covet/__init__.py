"""CovetPy: an ASGI 3.0 web framework whose request path runs in Rust."""

from covet._core import __version__
from covet.app import CovetASGIApp, create_app, create_asgi_app
from covet.background import BackgroundTask, BackgroundTasks
from covet.datastructures import (
    URL,
    FormData,
    Headers,
    MutableHeaders,
    QueryParams,
    State,
    UploadFile,
)
from covet.exceptions import ClientDisconnect, HTTPException
from covet.limits import Limits
from covet.middleware import Middleware, MiddlewareStack
from covet.requests import Request
from covet.responses import (
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
from covet.routing import (
    CovetRouter,
    InvalidRouteError,
    Mount,
    NoMatchFound,
    Route,
    RouteConflictError,
)
from covet.staticfiles import StaticFiles
from covet.websockets import (
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
    WebSocketState,
)

__all__ = [
    "URL",
    "BackgroundTask",
    "BackgroundTasks",
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
    "UploadFile",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketException",
    "WebSocketState",
    "__version__",
    "create_app",
    "create_asgi_app",
]
