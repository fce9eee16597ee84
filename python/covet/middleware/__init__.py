"""Pure ASGI middleware and the ``MiddlewareStack`` that applies them.

Every class here is ``Middleware(app, **options)`` -> ASGI app, so each works in a
``MiddlewareStack``, wrapped by hand (``app = GZipMiddleware(app)``) or in any other
ASGI framework.
"""

from covet.middleware.authentication import AuthenticationMiddleware
from covet.middleware.base import BaseHTTPMiddleware
from covet.middleware.cors import CORSMiddleware
from covet.middleware.gzip import DEFAULT_EXCLUDED_MEDIA_TYPES, GZipMiddleware
from covet.middleware.httpsredirect import HTTPSRedirectMiddleware
from covet.middleware.proxyheaders import ProxyHeadersMiddleware
from covet.middleware.ratelimit import RateLimitMiddleware, client_ip
from covet.middleware.ratelimit_store import (
    MemoryStore,
    RateLimitResult,
    RateLimitStore,
    RedisStore,
)
from covet.middleware.requestid import RequestIDMiddleware, get_request_id, request_id_var
from covet.middleware.sessions import SessionMiddleware
from covet.middleware.stack import Middleware, MiddlewareStack
from covet.middleware.trustedhost import TrustedHostMiddleware

__all__ = [
    "DEFAULT_EXCLUDED_MEDIA_TYPES",
    "AuthenticationMiddleware",
    "BaseHTTPMiddleware",
    "CORSMiddleware",
    "GZipMiddleware",
    "HTTPSRedirectMiddleware",
    "MemoryStore",
    "Middleware",
    "MiddlewareStack",
    "ProxyHeadersMiddleware",
    "RateLimitMiddleware",
    "RateLimitResult",
    "RateLimitStore",
    "RedisStore",
    "RequestIDMiddleware",
    "SessionMiddleware",
    "TrustedHostMiddleware",
    "client_ip",
    "get_request_id",
    "request_id_var",
]
