"""Converting existing apps to ASGI 3 (the guide's "Converting Existing Apps").

Each ``*_asgi`` object below is an ASGI 3 app any ASGI server can run::

    covet run examples.simple_asgi_conversion:app            # the CovetPy app
    covet run examples.simple_asgi_conversion:wsgi_asgi      # the WSGI app
    python examples/simple_asgi_conversion.py                # uvicorn.run(app)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from covet.core.asgi_integration import (
    CovetApplicationASGIAdapter,
    create_covet_application,
    make_asgi_compatible,
)
from covet.core.http import Request, Response
from covet.core.routing import CovetRouter

# 1. A CovetPy application: make_asgi_compatible returns it as is.
router = CovetRouter()


async def hello(request: Request) -> Response:
    return Response({"message": "Hello from CovetPy", "path": request.path})


router.add_route("/", hello, ["GET"])
existing_app = create_covet_application(router=router)
asgi_app = make_asgi_compatible(existing_app)
app = asgi_app


# 2. A bare request handler (the pre-router style): served for every path and method.
async def legacy_handler(request: Request) -> dict[str, Any]:
    return {"method": request.method, "path": request.path}


handler_asgi = CovetApplicationASGIAdapter(legacy_handler)


# 3. A PEP 3333 WSGI app: run in a thread pool, the body bounded by max_body_size.
def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    size = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(size)
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"WSGI ", environ["PATH_INFO"].encode("latin-1"), b" got ", body]


wsgi_asgi = make_asgi_compatible(wsgi_app, max_body_size=1024 * 1024)


# 4. An ASGI 2 ("double callable") app class.
class LegacyASGI2App:
    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope

    async def __call__(self, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if self.scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": b"ASGI 2 says hi"})


asgi2_asgi = make_asgi_compatible(LegacyASGI2App)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
