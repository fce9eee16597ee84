"""What every benchmark app serves, and the data the scenarios send and expect.

Each module in this package (``raw``, ``covetpy``, ``starlette_app``,
``blacksheep_app``, ``falcon_app``) exposes an ASGI ``app`` implementing the same
endpoints with that framework's idiomatic API:

==========================================  ============================================
``GET /``                                   ``Hello, World!`` as text/plain
``GET /json``                               ``JSON_PAYLOAD`` as JSON
``GET /users/{user_id:int}/posts/{slug}``   ``{"user_id": <int>, "slug": <str>}``
``GET /api/v1/res{i}`` (even i < 200)       text ``r{i}``
``GET /api/v1/res{i}/{item_id:int}`` (odd)  text ``r{i}:{item_id}``
``POST /echo``                              the JSON body, parsed and re-serialised
``GET /query?a=..&b=..&c=..`` + X-Token     ``{"a", "b", "c", "token"}`` as JSON
``WEBSOCKET /ws``                           echoes every text message
==========================================  ============================================

Anything else is a 404.
"""

from __future__ import annotations

TEXT = "Hello, World!"
JSON_PAYLOAD = {"message": "Hello, World!", "id": 12345, "ok": True, "tags": ["a", "b"]}

#: The route table scenario: ``ROUTE_COUNT`` routes, even ones static, odd ones with
#: an int parameter.
ROUTE_COUNT = 200


def table_route(i: int) -> tuple[str, bool]:
    """``(path prefix, has an int parameter)`` of route ``i`` of the table."""
    return f"/api/v1/res{i}", i % 2 == 1


def echo_payload() -> dict[str, object]:
    """A JSON object that serialises to about 1 KiB."""
    items = [
        {"id": i, "name": f"item-{i}", "price": 10.5 + i, "tags": ["x", "y"], "active": i % 2 == 0}
        for i in range(12)
    ]
    return {"user": "bench", "items": items}


QUERY_STRING = b"a=1&b=two&c=x+y%21"
QUERY_EXPECTED = {"a": "1", "b": "two", "c": "x y!", "token": "secret-token"}
