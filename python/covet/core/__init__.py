"""The import paths the user guide uses, kept as thin re-exports.

The framework itself lives one level up (``covet.app``, ``covet.routing``,
``covet.requests``, ...); these modules only give the guide's names a home:

- ``covet.core.asgi_app``: ``CovetASGIApp``, ``create_asgi_app``, ``create_app``
- ``covet.core.routing``: ``CovetRouter`` and the routing types
- ``covet.core.http``: ``Request``, ``Response`` and the response classes
- ``covet.core.middleware``: ``MiddlewareStack`` and the built-in middleware
- ``covet.core.asgi_integration``: the app adapters and the test clients
"""
