"""``CovetRouter`` and the routing types where the user guide imports them."""

from covet.routing import (
    CovetRouter,
    InvalidRouteError,
    Mount,
    NoMatchFound,
    Route,
    RouteConflictError,
)

__all__ = [
    "CovetRouter",
    "InvalidRouteError",
    "Mount",
    "NoMatchFound",
    "Route",
    "RouteConflictError",
]
