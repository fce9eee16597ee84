"""File parts past the spool threshold: the Rust parser writes them to the upload's
temporary file itself, Python memory stays bounded, write errors surface as
``OSError``, and reads that the file's read buffer covers skip the thread hop."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import tracemalloc
from collections.abc import Iterator
from tempfile import SpooledTemporaryFile
from typing import Any

import pytest

from covet import Limits, UploadFile, _core, formparsers
from covet.limits import MiB
from formhelpers import BOUNDARY, drive, encode_multipart, make_app, temp_fds

HEADERS = [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())]


def near_misses(size: int) -> bytes:
    """Content full of partial delimiters, CRs and LFs."""
    pattern = f"\r\n--{BOUNDARY[:-3]}\r\r\n-\x00\xff".encode("latin-1")
    return (pattern * (size // len(pattern) + 1))[:size]


def chunked(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


async def read_all(upload: UploadFile, piece: int) -> bytes:
    out = bytearray()
    while data := await upload.read(piece):
        out += data
    return bytes(out)


@pytest.mark.parametrize("chunk_size", [997, 64 * 1024, 300_000])
async def test_a_part_past_the_threshold_lands_on_disk_and_reads_back_exactly(
    chunk_size: int,
) -> None:
    big = near_misses(3 * MiB + 12_345)
    small = os.urandom(1000)
    body, _ = encode_multipart(
        [("big", ("big.bin", big, None)), ("note", "hi"), ("small", ("s.bin", small, "x/y"))]
    )
    seen: dict[str, Any] = {}

    async def handler(request: Any) -> dict[str, Any]:
        form = await request.form()
        upload, little = form["big"], form["small"]
        fd = upload.file.fileno()
        seen.update(
            big_on_disk=not upload._in_memory,
            big_file_size=os.fstat(fd).st_size,
            big_size=upload.size,
            big=await read_all(upload, 7 * 1024),
            small_in_memory=little._in_memory,
            small=await little.read(),
            small_size=little.size,
            note=form["note"],
        )
        return {}

    app = make_app(handler, limits=Limits(spool_max_size=64 * 1024))
    result = await drive(app, chunked(body, chunk_size), headers=HEADERS)
    assert result.status == 200, result.body
    assert seen["big_on_disk"] and seen["big_file_size"] == len(big) == seen["big_size"]
    assert seen["big"] == big
    assert seen["small_in_memory"] and seen["small"] == small and seen["small_size"] == 1000
    assert seen["note"] == "hi"


async def test_parts_that_roll_over_and_end_in_one_chunk_keep_their_own_content() -> None:
    first, second = os.urandom(5000), os.urandom(7000)
    body, _ = encode_multipart(
        [("a", ("a.bin", first, None)), ("b", ("b.bin", second, None)), ("c", "text")]
    )
    seen: dict[str, Any] = {}

    async def handler(request: Any) -> dict[str, Any]:
        form = await request.form()
        for name in ("a", "b"):
            upload = form[name]
            seen[name] = (not upload._in_memory, upload.size, await upload.read())
        seen["c"] = form["c"]
        return {}

    app = make_app(handler, limits=Limits(spool_max_size=1024))
    # One chunk: each part rolls over to disk and ends within the same events.
    result = await drive(app, [body], headers=HEADERS)
    assert result.status == 200, result.body
    assert seen["a"] == (True, 5000, first)
    assert seen["b"] == (True, 7000, second)
    assert seen["c"] == "text"


async def test_python_memory_peak_does_not_grow_with_the_upload_size() -> None:
    chunk = bytes(range(256)) * 256  # 64 KiB, reused

    def body(count: int) -> Iterator[bytes]:
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f"; filename="f"\r\n\r\n'
        ).encode()
        for _ in range(count):
            yield chunk
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    async def handler(request: Any) -> dict[str, Any]:
        form = await request.form()
        digest = hashlib.sha256()
        while piece := await form["f"].read(64 * 1024):
            digest.update(piece)
        return {"size": form["f"].size}

    app = make_app(handler, limits=Limits(max_body_size=64 * MiB))
    peaks = []
    for count in (64, 512):  # 4 MiB and 32 MiB
        tracemalloc.start()
        try:
            result = await drive(app, body(count), headers=HEADERS)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert result.status == 200 and result.json() == {"size": count * len(chunk)}
    # Eight times the data, the same peak: nothing grows with the upload.
    assert peaks[1] < peaks[0] + 512 * 1024, peaks
    assert peaks[1] < 4 * MiB, peaks


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
async def test_a_full_disk_while_spooling_raises_oserror_and_leaves_no_temp_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    full = open("/dev/full", "wb")  # closed below

    class FullDisk(SpooledTemporaryFile):  # type: ignore[type-arg]
        """Rolls over to a real temp file, but the parser's writes hit a full disk."""

        def fileno(self) -> int:
            return full.fileno()

    outcome: dict[str, Any] = {}

    async def handler(request: Any) -> dict[str, Any]:
        try:
            await request.form()
        except OSError as exc:
            outcome["errno"] = exc.errno
            outcome["message"] = str(exc)
            outcome["fds"] = temp_fds()
        return {}

    body, _ = encode_multipart([("f", ("f.bin", os.urandom(3 * MiB), None))])
    before = temp_fds()
    monkeypatch.setattr(formparsers, "SpooledTemporaryFile", FullDisk)
    try:
        app = make_app(handler, limits=Limits(spool_max_size=64 * 1024))
        result = await drive(app, chunked(body, 64 * 1024), headers=HEADERS)
    finally:
        full.close()
    assert result.status == 200
    assert outcome["errno"] == errno.ENOSPC
    assert "could not write an upload to its temporary file" in outcome["message"]
    assert outcome["fds"] == before


async def test_reads_the_read_buffer_covers_skip_the_thread_hop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    content = os.urandom(4 * MiB)
    body, _ = encode_multipart([("f", ("f.bin", content, None))])
    hops: list[Any] = []
    to_thread = asyncio.to_thread

    async def counting(func: Any, /, *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await to_thread(func, *args, **kwargs)

    seen: dict[str, Any] = {}

    async def handler(request: Any) -> dict[str, Any]:
        form = await request.form()
        upload = form["f"]
        monkeypatch.setattr(asyncio, "to_thread", counting)
        seen["data"] = await read_all(upload, 64 * 1024)
        seen["reads"] = len(content) // (64 * 1024) + 1
        return {}

    app = make_app(handler)  # 1 MiB threshold and read buffer
    result = await drive(app, chunked(body, 64 * 1024), headers=HEADERS)
    assert result.status == 200
    assert seen["data"] == content
    # One hop per 1 MiB buffer fill (and the final empty read), not one per read.
    assert len(hops) <= 4 + 2 < seen["reads"], len(hops)


async def test_upload_reads_stay_coherent_with_direct_file_access() -> None:
    content = os.urandom(2 * MiB)
    body, _ = encode_multipart([("f", ("f.bin", content, None))])
    seen: dict[str, Any] = {}

    async def handler(request: Any) -> dict[str, Any]:
        form = await request.form()
        upload = form["f"]
        steps = [await upload.read(10), upload.file.read(5), await upload.read(7)]
        upload.file.seek(3)
        steps.append(await upload.read(4))
        upload.file.seek(100)
        upload.file.write(b"XYZ")  # unflushed: the next read must not skip it
        steps.append(await upload.read(2))
        await upload.seek(98)
        steps.append(await upload.read(6))
        await upload.seek(0)
        seen["steps"] = steps
        seen["all"] = await upload.read()
        return {}

    app = make_app(handler, limits=Limits(spool_max_size=64 * 1024))
    result = await drive(app, chunked(body, 64 * 1024), headers=HEADERS)
    assert result.status == 200, result.body
    changed = content[:100] + b"XYZ" + content[103:]
    assert seen["steps"] == [
        content[:10],
        content[10:15],
        content[15:22],
        content[3:7],
        content[103:105],
        changed[98:104],
    ]
    assert seen["all"] == changed


def test_the_parser_spool_api_rejects_misuse() -> None:
    parser = _core.MultipartParser(b"zzz")
    with pytest.raises(ValueError, match="not spooling"):
        parser.end_spool()
    with pytest.raises(ValueError, match="invalid file descriptor"):
        parser.spool_to(-1)
    events = parser.feed(b'--zzz\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n')
    assert events[0][0] == parser.PART_START
    read_end, write_end = os.pipe()
    try:
        parser.spool_to(write_end)
        with pytest.raises(ValueError, match="already spooling"):
            parser.spool_to(write_end)
        assert parser.feed(b"abc") == []  # written, not returned
        assert os.read(read_end, 100) == b"abc"
        with pytest.raises(ValueError, match="has not ended"):
            parser.end_spool()
        assert parser.feed(b"def\r\n--zzz--") == [(parser.PART_END,), (parser.END,)]
        assert os.read(read_end, 100) == b"def"
        assert parser.end_spool() == 6
        with pytest.raises(ValueError, match="not spooling"):
            parser.end_spool()
    finally:
        os.close(read_end)
        os.close(write_end)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_failed_spool_write_is_an_oserror_and_stops_the_parser() -> None:
    parser = _core.MultipartParser(b"zzz")
    parser.feed(b'--zzz\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n')
    with open("/dev/full", "wb") as full:
        parser.spool_to(full.fileno())
    # The parser writes through its own duplicate of the descriptor.
    with pytest.raises(OSError) as info:
        parser.feed(b"x" * 100_000)
    assert info.value.errno == errno.ENOSPC
    with pytest.raises(_core.MalformedMultipartError, match="already stopped"):
        parser.feed(b"more")


def test_spool_to_a_closed_descriptor_is_an_oserror() -> None:
    parser = _core.MultipartParser(b"zzz")
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with pytest.raises(OSError) as info:
        parser.spool_to(write_end)
    assert info.value.errno == errno.EBADF
