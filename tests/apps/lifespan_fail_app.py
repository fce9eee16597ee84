"""An app whose startup fails: uvicorn must report the error and exit non-zero."""

from __future__ import annotations

from covet import create_asgi_app

app = create_asgi_app()


async def connect_database() -> None:
    raise ConnectionError("database at db.invalid:5432 refused the connection")


app.add_startup_handler(connect_database)
