"""The user guide's Quick Start, verbatim, is an acceptance test."""
# ruff: noqa: I001

import pytest

from covet.core.asgi_integration import ASGITestClient

# --- begin verbatim from ASGI-GUIDE.md "Basic ASGI App" ---
# fmt: off
from covet.core.asgi_app import create_asgi_app
from covet.core.routing import CovetRouter
from covet.core.http import Request, Response

# Create router
router = CovetRouter()

async def hello(request: Request):
    return Response({"message": "Hello ASGI World!"})

router.add_route("/", hello, ["GET"])

# Create ASGI app
app = create_asgi_app(router=router, debug=True)

# Run with uvicorn
# uvicorn your_module:app --reload
# fmt: on
# --- end verbatim ---


async def test_quick_start_answers_json() -> None:
    response = await ASGITestClient(app).get("/")
    assert response["status_code"] == 200
    assert response.json() == {"message": "Hello ASGI World!"}
    assert response.headers["content-type"] == "application/json"


def test_top_level_package_exports_the_same_objects() -> None:
    import covet

    assert covet.create_asgi_app is create_asgi_app
    assert covet.CovetRouter is CovetRouter
    assert covet.Request is Request and covet.Response is Response
    from covet.core.asgi_app import CovetASGIApp, create_app

    assert covet.CovetASGIApp is CovetASGIApp and covet.create_app is create_app


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_quick_start_rejects_other_methods(method: str) -> None:
    response = await ASGITestClient(app).request(method, "/")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
