"""``MiddlewareStack`` where the guide's ``CovetASGIApp(middleware_stack=...)`` looks
for it; the middleware themselves live in ``covet.middleware``."""

from covet.middleware import (
    CORSMiddleware,
    GZipMiddleware,
    HTTPSRedirectMiddleware,
    Middleware,
    MiddlewareStack,
    RateLimitMiddleware,
    RequestIDMiddleware,
    TrustedHostMiddleware,
)

__all__ = [
    "CORSMiddleware",
    "GZipMiddleware",
    "HTTPSRedirectMiddleware",
    "Middleware",
    "MiddlewareStack",
    "RateLimitMiddleware",
    "RequestIDMiddleware",
    "TrustedHostMiddleware",
]
