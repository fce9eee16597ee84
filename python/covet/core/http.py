"""The request and response types, as the user guide imports them."""

from covet.core.exceptions import HTTPException
from covet.core.requests import Request
from covet.core.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

__all__ = [
    "HTMLResponse",
    "HTTPException",
    "JSONResponse",
    "PlainTextResponse",
    "Request",
    "Response",
]
