"""An app for the real-HTTP multipart tests (tests/test_multipart.py)."""

from __future__ import annotations

import hashlib
from typing import Any

from covet import Limits, Request
from covet.app import create_asgi_app
from covet.limits import MiB
from covet.routing import CovetRouter


async def upload(request: Request) -> dict[str, Any]:
    form = await request.form()
    file = form["f"]
    digest = hashlib.sha256()
    while piece := await file.read(256 * 1024):
        digest.update(piece)
    return {
        "title": form["title"],
        "filename": file.filename,
        "content_type": file.content_type,
        "size": file.size,
        "sha256": digest.hexdigest(),
        "spooled": not file._in_memory,
    }


router = CovetRouter()
router.add_route("/upload", upload, ["POST"])
app = create_asgi_app(router=router, limits=Limits(max_body_size=4 * MiB))
