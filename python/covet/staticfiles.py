"""``StaticFiles``: an ASGI app serving a directory, meant to be mounted::

    router.mount("/static", StaticFiles(directory="static"), name="static")

Files are sent with ``FileResponse`` (media types, ETag/Last-Modified, conditional
GET, Range). Only GET and HEAD are allowed (405 otherwise). The request path is
checked segment by segment and the resolved file must lie inside the directory, so
``..`` (plain or percent-encoded), encoded slashes, backslashes, absolute paths, NUL
bytes, sibling directories sharing a name prefix and (unless ``follow_symlinks``)
symlinks pointing outside the directory are all answered with 404.
"""

from __future__ import annotations

import os
import stat as stat_module
from typing import Any
from urllib.parse import quote

from covet import _core
from covet.concurrency import run_in_threadpool
from covet.responses import (
    FileResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from covet.types import Scope

_ALLOWED = "GET, HEAD"
_WINDOWS = os.name == "nt"


def route_path(scope: Scope) -> str:
    """The decoded request path relative to the mount point (``root_path``)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    return path


class StaticFiles:
    """Serves the files under ``directory``.

    ``html=True`` serves ``index.html`` for a directory that has one (redirecting
    ``/dir`` to ``/dir/`` first, so relative links work; a directory without one is
    a 404) and ``404.html`` (with status 404) for missing files when it exists.
    ``check_dir`` raises ``RuntimeError`` at construction if the directory does not
    exist or is not a directory; with ``check_dir=False`` the same check runs on
    each request until it passes, and a failure raises the same ``RuntimeError``
    (a 500 logged with that message, as in Starlette) rather than a misleading 404.
    ``follow_symlinks=True`` serves symlinks whose target is outside the directory
    (the path itself must still stay inside it).
    ``max_ranges`` caps the ranges honoured in one ``Range`` header (default 16;
    beyond it the whole file is sent).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        html: bool = False,
        check_dir: bool = True,
        follow_symlinks: bool = False,
        max_ranges: int = _core.DEFAULT_MAX_RANGES,
    ) -> None:
        self.directory = os.fspath(directory)
        self.max_ranges = max_ranges
        self.html = html
        self.follow_symlinks = follow_symlinks
        self._config_checked = False
        if check_dir:
            self.check_config()
        # The containment root: symlinks in the configured path itself are resolved
        # once, so a symlinked static directory is fine.
        self.root = os.path.realpath(self.directory)

    def check_config(self) -> None:
        """Raises ``RuntimeError`` naming the problem when ``directory`` is missing
        or is not a directory."""
        try:
            st = os.stat(self.directory)
        except FileNotFoundError:
            raise RuntimeError(
                f"StaticFiles directory {self.directory!r} does not exist."
            ) from None
        except OSError as exc:
            raise RuntimeError(
                f"StaticFiles directory {self.directory!r} cannot be read: {exc.strerror}."
            ) from None
        if not stat_module.S_ISDIR(st.st_mode):
            raise RuntimeError(f"StaticFiles path {self.directory!r} is not a directory.")
        self._config_checked = True

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("StaticFiles only handles HTTP requests")
        response = await self.get_response(scope)
        await response(scope, receive, send)

    async def get_response(self, scope: Scope) -> Response:
        if not self._config_checked:
            await run_in_threadpool(self.check_config)
        if scope["method"] not in ("GET", "HEAD"):
            return PlainTextResponse("Method Not Allowed", 405, headers={"allow": _ALLOWED})
        path = route_path(scope)
        full_path, st = await run_in_threadpool(self.lookup_path, path)
        if st is not None and stat_module.S_ISREG(st.st_mode):
            return FileResponse(full_path, stat_result=st, max_ranges=self.max_ranges)
        if st is not None and stat_module.S_ISDIR(st.st_mode) and self.html:
            index, index_st = await run_in_threadpool(
                self.lookup_path, path.rstrip("/") + "/index.html"
            )
            if index_st is not None and stat_module.S_ISREG(index_st.st_mode):
                # Only a directory with an index is a page worth redirecting to.
                if not path.endswith("/"):
                    return RedirectResponse(self._slash_url(scope), 307)
                return FileResponse(index, stat_result=index_st, media_type="text/html")
        if self.html:
            page, page_st = await run_in_threadpool(self.lookup_path, "404.html")
            if page_st is not None and stat_module.S_ISREG(page_st.st_mode):
                return FileResponse(page, 404, stat_result=page_st, media_type="text/html")
        return PlainTextResponse("Not Found", 404)

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        """``(full path, stat)`` for a request path, with stat None when the path is
        unsafe or missing. Runs in a thread (it touches the file system)."""
        parts = []
        for segment in path.split("/"):
            if segment in ("", "."):
                continue
            if segment == ".." or "\\" in segment or "\0" in segment:
                return "", None
            if _WINDOWS and ":" in segment:  # a drive letter would escape the root
                return "", None
            parts.append(segment)
        candidate = os.path.join(self.root, *parts)
        if self.follow_symlinks:
            resolved = os.path.abspath(candidate)
        else:
            resolved = os.path.realpath(candidate)
        if not self._contains(resolved):
            return "", None
        try:
            return resolved, os.stat(resolved)
        except (OSError, ValueError):
            return "", None

    def _contains(self, path: str) -> bool:
        # commonpath compares whole components: /srv/static-secret is not inside
        # /srv/static, which a string prefix test would get wrong.
        try:
            return os.path.commonpath([self.root, path]) == self.root
        except ValueError:  # different drives on Windows, or a mix of abs/rel
            return False

    @staticmethod
    def _slash_url(scope: Scope) -> str:
        raw = scope.get("raw_path")
        target: str
        if raw is not None:
            target = raw.decode("latin-1")
        else:
            target = quote(scope["path"], safe="/")
        target = "/" + target.lstrip("/") + "/"
        query = scope.get("query_string", b"")
        if query:
            target += "?" + query.decode("latin-1")
        return target
