"""``CovetASGIApp`` and its factories where the user guide imports them."""

from covet.app import CovetASGIApp, create_app, create_asgi_app

__all__ = ["CovetASGIApp", "create_app", "create_asgi_app"]
