"""The app as deployed behind nginx: the real client taken from X-Forwarded-For by
``ProxyHeadersMiddleware`` (only nginx's address is trusted), a rate limit shared by
every worker through Redis and keyed on that client.

Configured from the environment: COVET_TEST_REDIS_URL, COVET_TEST_LIMIT (requests per
minute), COVET_TEST_TRUSTED (the proxy's address), COVET_METRICS_DIR (where the
workers publish their metrics, summed by ``GET /metrics``).
"""

from __future__ import annotations

import os

from covet import Middleware, Request, create_asgi_app
from covet.metrics import PrometheusMetrics
from covet.middleware import ProxyHeadersMiddleware, RateLimitMiddleware
from covet.routing import Route


async def whoami(request: Request) -> dict[str, object]:
    client = request.client
    return {"pid": os.getpid(), "client": client.host if client else None}


app = create_asgi_app(
    routes=[Route("/whoami", whoami)],
    middleware=[
        Middleware(ProxyHeadersMiddleware, trusted_hosts=[os.environ["COVET_TEST_TRUSTED"]]),
        Middleware(
            RateLimitMiddleware,
            limit=int(os.environ["COVET_TEST_LIMIT"]),
            window_seconds=60.0,
            redis_url=os.environ["COVET_TEST_REDIS_URL"],
            key_prefix=f"covet:test:{os.environ.get('COVET_TEST_PREFIX', 'proxied')}:",
        ),
    ],
)
metrics = PrometheusMetrics(app, interval=0.2)
app.add_route("/metrics", metrics.endpoint)
