"""Signed-cookie sessions: ``request.session`` is a dict kept in the client's cookie.

The cookie holds the session as base64 JSON signed with ``itsdangerous``'s
``TimestampSigner`` (HMAC over the data and the time it was signed), the same format
Starlette's ``SessionMiddleware`` writes, so a Starlette app's cookies stay valid
when it moves to CovetPy with the same ``secret_key``. The data is signed, not
encrypted: the client can read it but cannot change it.

A cookie that is missing, tampered with, signed with another key, or older than
``max_age`` gives an empty session. On the way out, ``Set-Cookie`` is added when the
session is non-empty (refreshing its age), or when a session the request brought was
emptied (the cookie is then expired). WebSocket connections see the session of their
handshake, read only: there is no response to carry a new cookie.

Needs ``itsdangerous`` (``pip install 'covetpy[sessions]'``).
"""

from __future__ import annotations

import binascii
import logging
from base64 import b64decode, b64encode
from typing import Any, Literal

import orjson

from covet import _core
from covet.middleware._asgi import ASGIApp, Message, Receive, Scope, Send, get_header
from covet.responses import format_set_cookie

logger = logging.getLogger("covet.sessions")

#: Browsers ignore a cookie larger than this (name, value and attributes together).
BROWSER_COOKIE_LIMIT = 4096
_EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"
_NON_STR_KEYS = orjson.OPT_NON_STR_KEYS


def _import_signer() -> Any:
    try:
        import itsdangerous
    except ModuleNotFoundError as exc:
        raise ImportError(
            "SessionMiddleware needs the 'itsdangerous' package: pip install 'covetpy[sessions]'"
        ) from exc
    return itsdangerous


class SessionMiddleware:
    """``request.session`` backed by a signed cookie.

    - ``secret_key``: the signing key; keep it secret and stable across restarts and
      workers (a new key logs everyone out).
    - ``session_cookie``: the cookie's name. Default ``"session"``.
    - ``max_age``: seconds a session lives after its last response (the cookie's
      ``Max-Age``, and the age past which a signature is refused). Default 14 days;
      None makes a browser-session cookie whose signature never expires.
    - ``path``, ``domain``: the cookie's scope. Default ``"/"`` and the request host.
    - ``same_site``: ``"lax"`` (default), ``"strict"`` or ``"none"`` (needs
      ``https_only=True``, as browsers drop such cookies otherwise).
    - ``https_only``: mark the cookie ``Secure``.

    The cookie is always ``HttpOnly``. Keep sessions small: browsers drop cookies
    larger than 4 KB (a warning is logged when one is written).
    """

    def __init__(
        self,
        app: ASGIApp,
        secret_key: str,
        session_cookie: str = "session",
        max_age: int | None = 14 * 24 * 60 * 60,
        path: str = "/",
        same_site: Literal["lax", "strict", "none"] = "lax",
        https_only: bool = False,
        domain: str | None = None,
    ) -> None:
        itsdangerous = _import_signer()
        if not str(secret_key):
            raise ValueError("SessionMiddleware needs a non-empty secret_key")
        if max_age is not None and (
            isinstance(max_age, bool) or not isinstance(max_age, int) or max_age <= 0
        ):
            raise ValueError("max_age must be a positive number of seconds, or None")
        self.app = app
        self.signer = itsdangerous.TimestampSigner(str(secret_key))
        self._bad_signature: type[Exception] = itsdangerous.BadSignature
        self.session_cookie = session_cookie
        self.max_age = max_age
        self.path = path
        self.same_site = same_site
        self.https_only = https_only
        self.domain = domain
        # The attributes are validated and rendered once (a bad name, path, domain or
        # same_site raises ValueError here, not on the first response).
        prefix = f"{session_cookie}="
        attributes: dict[str, Any] = {
            "path": path,
            "domain": domain,
            "secure": https_only,
            "httponly": True,
            "samesite": same_site,
        }
        kept = format_set_cookie(session_cookie, "", max_age=max_age, **attributes)
        expired = format_set_cookie(
            session_cookie, "null", max_age=0, expires=_EXPIRED, **attributes
        )
        self._attributes = kept[len(prefix) :]
        self._delete_header = expired.encode("latin-1")

    def load(self, cookie: str) -> dict[str, Any] | None:
        """The session a cookie value carries, or None if it is not a valid one."""
        try:
            data = self.signer.unsign(cookie.encode("utf-8"), max_age=self.max_age)
            session = orjson.loads(b64decode(data, validate=True))
        except (self._bad_signature, binascii.Error, ValueError):
            return None
        return session if isinstance(session, dict) else None

    def dump(self, session: dict[str, Any]) -> str:
        """The signed cookie value for ``session`` (JSON-serialisable values only)."""
        data = b64encode(orjson.dumps(session, option=_NON_STR_KEYS))
        signed: bytes = self.signer.sign(data)
        return signed.decode("ascii")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        session: dict[str, Any] | None = None
        header = get_header(scope, b"cookie")
        if header is not None:
            cookie = _core.parse_cookies(header.decode("latin-1")).get(self.session_cookie)
            if cookie is not None:
                session = self.load(cookie)
        had_session = session is not None
        scope["session"] = session if session is not None else {}
        if kind == "websocket":
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                current = scope["session"]
                if current:
                    value = self.dump(current)
                    cookie_header = f"{self.session_cookie}={value}{self._attributes}"
                    if len(cookie_header) > BROWSER_COOKIE_LIMIT:
                        logger.warning(
                            "session cookie is %d bytes; browsers ignore cookies over %d",
                            len(cookie_header),
                            BROWSER_COOKIE_LIMIT,
                        )
                    added = (b"set-cookie", cookie_header.encode("latin-1"))
                elif had_session:
                    added = (b"set-cookie", self._delete_header)
                else:
                    await send(message)
                    return
                message["headers"] = [*message.get("headers", ()), added]
            await send(message)

        await self.app(scope, receive, send_with_cookie)
