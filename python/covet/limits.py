"""Request limits: one frozen settings object shared by the app, the request and the
form parsers.

Pass ``create_asgi_app(..., limits=Limits(max_body_size=100 * MiB))`` (or the same to
``CovetASGIApp``); a request reads its app's limits lazily, so a request that never
touches its body pays nothing for them.

Defaults, and why:

========================  ==========  ==============================================
setting                   default     answer when exceeded
========================  ==========  ==============================================
``max_body_size``         16 MiB      413. Checked against ``Content-Length`` before
                                      reading and counted while streaming (chunked
                                      bodies have no length). Applies to ``body()``,
                                      ``json()``, ``form()`` and ``stream()``. Raise
                                      it for upload endpoints; ``None`` disables it.
``max_form_fields``       1000        413. Non-file fields in a multipart form and
                                      pairs in an urlencoded form (CVE-2023-30798
                                      was an unbounded field/file count).
``max_files``             1000        413. File parts in a multipart form.
``max_field_size``        1 MiB       413. Bytes of one non-file value (multipart
                                      part or urlencoded value) and of one field
                                      name (urlencoded key, with or without ``=``,
                                      or part name); these are held in memory,
                                      files are not.
``max_part_header_size``  16 KiB      413. Bytes of one part's header block.
``max_part_headers``      32          413. Header lines in one part (browsers send
                                      two or three).
``spool_max_size``        1 MiB       Not an error: an upload larger than this moves
                                      from memory to a temporary file on disk.
``max_url_length``        8 KiB       414. ``raw_path`` plus query string, in bytes
                                      (the de-facto limit of browsers, CDNs and
                                      nginx's default large buffers). ``None``
                                      disables the check.
``max_header_count``      100         431. Request header lines (Apache and Go use
                                      100). ``None`` disables the check.
========================  ==========  ==============================================

The URL and header-count checks are two ``len()`` calls per request, done before
routing; when both are ``None`` the app skips them entirely. Uvicorn's h11 backend
already caps the whole request head at 16 KiB (this bounds the URL and the header
count too), but its httptools backend, the default when installed, has no such
caps, which is why they are on by default.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from covet._core import DEFAULT_LIMITS as _DEFAULTS

KiB = 1024
MiB = 1024 * KiB

__all__ = ["KiB", "Limits", "MiB"]

_OPTIONAL = frozenset({"max_body_size", "max_url_length", "max_header_count"})


@dataclass(frozen=True)
class Limits:
    """Every request limit, in bytes or counts. See the module docstring for the
    defaults and the status code each one produces."""

    # The defaults are defined once, in the Rust core (rust/src/limits.rs).
    max_body_size: int | None = _DEFAULTS["max_body_size"]
    max_form_fields: int = _DEFAULTS["max_form_fields"]
    max_files: int = _DEFAULTS["max_files"]
    max_field_size: int = _DEFAULTS["max_field_size"]
    max_part_header_size: int = _DEFAULTS["max_part_header_size"]
    max_part_headers: int = _DEFAULTS["max_part_headers"]
    spool_max_size: int = _DEFAULTS["spool_max_size"]
    max_url_length: int | None = _DEFAULTS["max_url_length"]
    max_header_count: int | None = _DEFAULTS["max_header_count"]

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None and field.name in _OPTIONAL:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                allowed = "a non-negative int"
                if field.name in _OPTIONAL:
                    allowed += " or None"
                raise ValueError(f"Limits.{field.name} must be {allowed}, got {value!r}")


DEFAULT_LIMITS = Limits()
