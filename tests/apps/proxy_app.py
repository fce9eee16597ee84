"""An app behind ProxyHeadersMiddleware trusting 127.0.0.1 (run uvicorn with
--no-proxy-headers so only the middleware resolves X-Forwarded-*)."""

from __future__ import annotations

from covet.app import create_asgi_app
from covet.middleware import ProxyHeadersMiddleware
from covet.requests import Request
from covet.routing import CovetRouter

router = CovetRouter()


async def whoami(request: Request) -> dict[str, object]:
    client = request.client
    return {"client": client.host if client else None, "url": str(request.url)}


router.add_route("/whoami", whoami, ["GET"], name="whoami")
app = ProxyHeadersMiddleware(create_asgi_app(router=router), trusted_hosts=["127.0.0.1"])
