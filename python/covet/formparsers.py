"""Form body parsing: ``application/x-www-form-urlencoded`` and
``multipart/form-data``, both parsed in Rust.

Multipart bodies are parsed incrementally: each chunk the server delivers is fed to
``covet._core.MultipartParser`` (one crossing per chunk), text fields are collected
in memory up to ``max_field_size`` and file parts are written to ``UploadFile``
objects backed by ``SpooledTemporaryFile``, so an upload larger than the spool
threshold goes to disk instead of memory. Once a part has moved to disk the parser
writes the rest of it to the file itself, straight from each chunk, with the GIL
released (a worker-thread hop per write cost more than the write). Errors
become HTTP errors: a malformed body or header is a 400, an exceeded limit a 413, a
non-form Content-Type a 415.
"""

from __future__ import annotations

import codecs
import io
from tempfile import SpooledTemporaryFile
from typing import TYPE_CHECKING

from covet import _core
from covet.datastructures import FormData, FormValue, Headers, UploadFile
from covet.exceptions import HTTPException
from covet.limits import Limits

if TYPE_CHECKING:
    from covet.requests import Request

__all__ = ["FORM_MEDIA_TYPES", "parse_form"]

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
FORM_MEDIA_TYPES = (URLENCODED, MULTIPART)

_PART_START = _core.MultipartParser.PART_START
_DATA = _core.MultipartParser.DATA
_PART_END = _core.MultipartParser.PART_END

_UTF8_NAMES = frozenset({"utf-8", "ascii"})
#: Codecs Python counts as text encodings that still cannot decode arbitrary bytes
#: with ``errors="replace"``: none of them is a charset a client could mean.
_NOT_CHARSETS = frozenset({"idna", "punycode", "undefined"})


def _codec(charset: str) -> str:
    """The codec name for a charset parameter; a 400 unless it names a text
    encoding (``rot13``, ``base64``, ``zlib``... are bytes-to-bytes or
    str-to-str codecs, not charsets)."""
    try:
        info = codecs.lookup(charset)
    except (LookupError, ValueError, UnicodeError):
        raise HTTPException(400, f"Bad charset parameter {charset!r}: unknown encoding") from None
    if not info._is_text_encoding or info.name in _NOT_CHARSETS:
        raise HTTPException(
            400, f"Bad charset parameter {charset!r}: {info.name} is not a text encoding"
        )
    return info.name


def _parse_content_type(header: str) -> tuple[str, dict[str, str]]:
    try:
        return _core.parse_content_type(header)
    except _core.InvalidContentTypeError as exc:
        raise HTTPException(400, f"Malformed Content-Type header: {exc}") from None


async def parse_form(
    request: Request,
    limits: Limits,
    *,
    max_fields: int | None = None,
    max_files: int | None = None,
    max_field_size: int | None = None,
) -> FormData:
    """Parses the request body as a form. Keyword arguments override ``limits``."""
    header = request.headers.get("content-type")
    if not header:
        raise HTTPException(
            415, f"form() needs a Content-Type of {URLENCODED} or {MULTIPART}; the request has none"
        )
    media_type, params = _parse_content_type(header)
    fields = limits.max_form_fields if max_fields is None else max_fields
    field_size = limits.max_field_size if max_field_size is None else max_field_size
    if media_type == URLENCODED:
        charset = params.get("charset")
        if charset is not None and _codec(charset) not in _UTF8_NAMES:
            raise HTTPException(
                415, f"Unsupported charset {charset!r} for {URLENCODED}: forms must be UTF-8"
            )
        body = await request.body()
        try:
            return FormData(_core.parse_urlencoded_form(body, fields, field_size))
        except _core.FormLimitError as exc:
            raise HTTPException(413, str(exc)) from None
    if media_type == MULTIPART:
        boundary = params.get("boundary")
        if not boundary:
            raise HTTPException(400, "Malformed multipart/form-data: no boundary parameter")
        parser_limits = {
            "max_fields": fields,
            "max_files": limits.max_files if max_files is None else max_files,
            "max_part_header_size": limits.max_part_header_size,
            "max_part_headers": limits.max_part_headers,
            "max_field_size": field_size,
        }
        return await _parse_multipart(request, boundary, parser_limits, limits.spool_max_size)
    raise HTTPException(
        415, f"Unsupported media type {media_type!r} for form(): expected a form Content-Type"
    )


#: The read buffer of an upload's temporary file, capped by the spool threshold so
#: that reading an upload back holds no more than the threshold in memory. Reads
#: the buffer can serve need no thread hop (see ``UploadFile.read``).
_READ_BUFFER = 1024 * 1024


async def _parse_multipart(
    request: Request, boundary: str, parser_limits: dict[str, int], spool_max_size: int
) -> FormData:
    try:
        parser = _core.MultipartParser(boundary.encode("latin-1"), **parser_limits)
    except (_core.MalformedMultipartError, UnicodeEncodeError):
        raise HTTPException(
            400, f"Malformed multipart/form-data: invalid boundary {boundary!r}"
        ) from None
    buffering = max(io.DEFAULT_BUFFER_SIZE, min(spool_max_size, _READ_BUFFER))
    items: list[tuple[str, FormValue]] = []
    uploads: list[UploadFile] = []
    name = ""
    upload: UploadFile | None = None
    spooled = False  # whether the parser writes the current upload to its file
    size = 0  # the current upload's size before spooling
    chunks: list[bytes] = []  # the current text field's data
    field_type: str | None = None
    try:
        async for chunk in request.stream():
            for event in parser.feed(chunk):
                kind = event[0]
                if kind == _DATA:
                    if upload is None:
                        chunks.append(event[1])
                        continue
                    # Data the parser returns rather than spools: the part is in
                    # memory, or this chunk rolled it over to disk.
                    upload.file.write(event[1])
                    size += len(event[1])
                elif kind == _PART_START:
                    _, name, filename, content_type, raw_headers = event
                    if filename is None:
                        upload = None
                        chunks = []
                        field_type = content_type
                    else:
                        size = 0
                        upload = UploadFile(
                            SpooledTemporaryFile(max_size=spool_max_size, buffering=buffering),
                            size=0,
                            filename=filename,
                            headers=Headers(raw=raw_headers),
                            content_type=content_type,
                        )
                        uploads.append(upload)
                elif kind == _PART_END:
                    if upload is not None:
                        if spooled:
                            size += parser.end_spool()
                            spooled = False
                        upload.size = size
                        # A seek is no disk I/O: no thread hop.
                        upload.file.seek(0)
                        items.append((name, upload))
                        upload = None
                    else:
                        items.append((name, _decode_field(b"".join(chunks), field_type)))
                        chunks = []
            if upload is not None and not spooled and not upload._in_memory:
                # The part goes on past this chunk and has rolled over to disk:
                # the parser writes the rest of it to the file itself.
                upload.file.flush()
                parser.spool_to(upload.file.fileno())
                spooled = True
        parser.finish()
    except _core.MalformedMultipartError as exc:
        _discard(uploads, parser)
        raise HTTPException(400, f"Malformed multipart/form-data: {exc}") from None
    except _core.FormLimitError as exc:
        _discard(uploads, parser)
        raise HTTPException(413, str(exc)) from None
    except BaseException:
        # Client disconnects, body-size 413s, a full disk, cancellation: leave no
        # temp file.
        _discard(uploads, parser)
        raise
    return FormData(items)


def _decode_field(value: bytes, content_type: str | None) -> str:
    """A text field's value: UTF-8 unless the part declares another charset."""
    encoding = "utf-8"
    if content_type:
        _, params = _parse_content_type(content_type)
        charset = params.get("charset")
        if charset is not None:
            encoding = _codec(charset)
    try:
        return value.decode(encoding, errors="replace")
    except (UnicodeError, LookupError, ValueError):
        # A text codec that refuses the bytes even with errors="replace".
        raise HTTPException(
            400, f"Bad charset parameter: the field cannot be decoded as {encoding}"
        ) from None


def _discard(uploads: list[UploadFile], parser: _core.MultipartParser) -> None:
    for upload in uploads:
        upload.file.close()
    parser.close()  # drops its duplicate of a spooled upload's descriptor
