"""The ASGI type aliases every module of the shell uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: ASGI header lists: ``[(name, value), ...]`` in bytes, names lowercase.
RawHeaders = list[tuple[bytes, bytes]]
