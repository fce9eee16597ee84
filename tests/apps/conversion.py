"""Converted apps and a settings-reporting CovetPy app, served by real uvicorn in
tests/test_asgi_integration.py and tests/test_config_cli.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from covet.adapters import create_covet_application, make_asgi_compatible
from covet.config import Settings
from covet.requests import Request
from covet.routing import CovetRouter


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    path = environ["PATH_INFO"]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        for i in range(5):
            yield f"chunk {i}\n".encode()
        return
    body = environ["wsgi.input"].read()
    start_response("201 Created", [("Content-Type", "text/plain"), ("X-Wsgi", "yes")])
    yield f"{environ['REQUEST_METHOD']} {path} {environ['QUERY_STRING']} ".encode()
    yield body


class ASGI2App:
    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope

    async def __call__(self, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if self.scope["type"] != "http":
            return
        body = f"asgi2 {self.scope['path']}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


wsgi = make_asgi_compatible(wsgi_app, max_body_size=1000)
asgi2 = make_asgi_compatible(ASGI2App)

router = CovetRouter()


async def settings(request: Request) -> dict[str, Any]:
    current = Settings.from_env()
    return {"debug": current.debug, "port": current.port, "log_level": current.log_level}


router.add_route("/settings", settings, ["GET"])
app = create_covet_application(router=router)
