"""The user guide's Quick Start app; `make serve` runs it on 127.0.0.1:8000."""

from covet.core.asgi_app import create_asgi_app
from covet.core.http import Request, Response
from covet.core.routing import CovetRouter

router = CovetRouter()


async def hello(request: Request) -> Response:
    return Response({"message": "Hello ASGI World!"})


async def greet(request: Request) -> Response:
    return Response({"message": f"Hello, {request.path_params['name']}!"})


async def get_item(request: Request) -> Response:
    item_id = request.path_params["item_id"]
    return Response({"item_id": item_id, "q": request.query.get("q")})


router.add_route("/", hello, ["GET"])
router.add_route("/hello/{name}", greet, ["GET"])
router.add_route("/items/{item_id:int}", get_item, ["GET"])

app = create_asgi_app(router=router, debug=False)
