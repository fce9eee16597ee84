"""Every request parser is linear in its input, whatever the input contains.

Each test times one parser on an adversarial input and on the same input grown 10x,
both in this run, and asserts the time grew at most ``MAX_GROWTH`` times (a
quadratic parser grows ~100x, a linear one ~10x, an ``n log n`` one ~12x). Each
size is timed several times, interleaved, in CPU time of the test's thread, and
the minimum is kept, so a busy machine does not fail the test.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from covet import Limits, Request, _core
from formhelpers import drive, make_app

#: Allowed time growth for a 10x bigger input.
MAX_GROWTH = 15.0
#: Interleaved timings of each size per round; up to ``ROUNDS`` rounds are run
#: while the growth is over the limit, so one noisy round does not fail the test
#: (a quadratic parser fails every round).
REPEATS = 5
ROUNDS = 3

Build = Callable[[int], Any]


@contextmanager
def gc_paused() -> Iterator[None]:
    # A collection triggered by the larger input's allocations is not the parser's cost.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def timed(run: Callable[[Any], object], arg: Any) -> float:
    # CPU time of this thread: time spent preempted by other processes on a busy
    # machine would inflate the longer (larger) run more than the short one.
    start = time.thread_time()
    run(arg)
    return time.thread_time() - start


def growth(run: Callable[[Any], object], build: Build, n: int) -> float:
    """The time growth of ``run`` from ``build(n)`` to ``build(10 * n)``."""
    small, large = build(n), build(10 * n)
    run(small)  # warm caches and lazy initialisation outside the timings
    run(large)
    best_small = best_large = float("inf")
    ratio = float("inf")
    with gc_paused():
        for _ in range(ROUNDS):
            for _ in range(REPEATS):
                best_small = min(best_small, timed(run, small))
                best_large = min(best_large, timed(run, large))
            ratio = best_large / best_small
            if ratio <= MAX_GROWTH:
                break
    return ratio


def assert_linear(run: Callable[[Any], object], build: Build, n: int) -> None:
    ratio = growth(run, build, n)
    assert ratio <= MAX_GROWTH, f"10x input took {ratio:.1f}x the time"


# --- Content-Type (and the Content-Disposition of multipart parts) --------------


CONTENT_TYPES: dict[str, Build] = {
    "many distinct parameters": lambda n: "text/plain" + "".join(f"; k{i}=v" for i in range(n)),
    "many empty parameters": lambda n: "text/plain; a=b" + ";" * (10 * n),
    "long quoted value full of escapes": lambda n: 'text/plain; a="' + '\\"' * (5 * n) + '"',
    "unterminated quoted value": lambda n: 'text/plain; a="' + "x\\\\" * (5 * n),
    "long unquoted value": lambda n: "multipart/form-data; boundary=" + "=-" * (5 * n),
    "whitespace before a bad byte": lambda n: "text/plain" + " " * (10 * n) + "x",
}


@pytest.mark.parametrize("build", CONTENT_TYPES.values(), ids=CONTENT_TYPES.keys())
def test_content_type_parsing_is_linear(build: Build) -> None:
    def run(header: str) -> None:
        try:
            _core.parse_content_type(header)
        except _core.InvalidContentTypeError:
            pass

    assert_linear(run, build, 3_000)


# --- Cookie header -----------------------------------------------------------------


COOKIES: dict[str, Build] = {
    "many cookies": lambda n: "; ".join(f"c{i}=v{i}" for i in range(n)),
    "one name repeated": lambda n: "sid=x; " * n,
    "chunks without '='": lambda n: "flag; " * n,
    "separators only": lambda n: ";" * (4 * n),
    "quoted value full of escapes": lambda n: 'a="' + '\\"\\054' * n + '"',
    "quoted value with a lone backslash run": lambda n: 'a="' + "\\" * (4 * n) + '"',
}


@pytest.mark.parametrize("build", COOKIES.values(), ids=COOKIES.keys())
def test_cookie_parsing_is_linear(build: Build) -> None:
    assert_linear(_core.parse_cookies, build, 3_000)


# --- Range header ------------------------------------------------------------------


RANGES: dict[str, Build] = {
    "empty list elements": lambda n: "bytes=" + "," * (4 * n) + "0-1",
    "specs past the cap": lambda n: "bytes=" + "0-0," * n,
    "long digit runs": lambda n: "bytes=" + "9" * (4 * n) + "-",
    "whitespace around a spec": lambda n: "bytes=" + " " * (4 * n) + "0-1",
}


@pytest.mark.parametrize("build", RANGES.values(), ids=RANGES.keys())
def test_range_parsing_is_linear(build: Build) -> None:
    def run(header: str) -> None:
        try:
            _core.parse_range(header, 1_000_000)
        except _core.RangeHeaderError:
            pass

    assert_linear(run, build, 10_000)


def test_range_merging_is_n_log_n_when_the_cap_is_raised() -> None:
    # With the cap lifted every spec is kept, sorted and merged: reversed, disjoint
    # specs are the sort's and the merge's worst case.
    def build(n: int) -> str:
        return "bytes=" + ",".join(f"{2 * i}-{2 * i}" for i in reversed(range(n)))

    assert_linear(lambda header: _core.parse_range(header, 10**9, 10**9), build, 2_000)


# --- Percent-decoding --------------------------------------------------------------


PERCENT: dict[str, Build] = {
    "valid escapes": lambda n: b"k=" + b"%41" * n,
    "lone percent signs": lambda n: b"k=" + b"%" * (3 * n),
    "truncated escapes": lambda n: b"k=" + b"%4" * n,
    "escapes of invalid UTF-8": lambda n: b"k=" + b"%FF%C3" * n,
    "plus signs": lambda n: b"k=" + b"+" * (3 * n),
}


@pytest.mark.parametrize("build", PERCENT.values(), ids=PERCENT.keys())
def test_percent_decoding_is_linear(build: Build) -> None:
    assert_linear(_core.parse_query, build, 10_000)


def test_strict_percent_decoding_of_path_parameters_is_linear() -> None:
    # Path parameters are decoded strictly (a bad escape does not match); drive it
    # through the app so the router's decoding is what is measured.
    async def echo(request: Request) -> dict[str, int]:
        return {"len": len(request.path_params["name"])}

    app = make_app(echo, Limits(max_url_length=None), path="/items/{name}")

    def run(path: str) -> None:
        result = asyncio.run(drive(app, [], method="GET", path=path))
        assert result.status in (200, 404), result.status

    assert_linear(run, lambda n: "/items/" + "%C3%A9" * n + "%4", 5_000)
    assert_linear(run, lambda n: "/items/" + "%41" * n, 5_000)


# --- Response header validation ----------------------------------------------------


HEADERS: dict[str, Build] = {
    "one long value": lambda n: [("x-long", "v " * (5 * n) + "v")],
    "one long name": lambda n: [("x" * (10 * n), "v")],
    "many headers": lambda n: [(f"x-h{i}", "value") for i in range(n)],
}


@pytest.mark.parametrize("build", HEADERS.values(), ids=HEADERS.keys())
def test_header_validation_is_linear(build: Build) -> None:
    assert_linear(_core.encode_headers, build, 10_000)


# --- Query strings and urlencoded forms ---------------------------------------------


URLENCODED: dict[str, Build] = {
    "many pairs": lambda n: b"&".join(b"k%d=v" % i for i in range(n)),
    "one key repeated": lambda n: b"k=v&" * n,
    "many separators": lambda n: b"&" * (4 * n),
    "many equals signs": lambda n: b"k=" + b"=" * (4 * n),
    "keys without values": lambda n: b"flag&" * n,
}


@pytest.mark.parametrize("build", URLENCODED.values(), ids=URLENCODED.keys())
def test_query_string_parsing_is_linear(build: Build) -> None:
    assert_linear(_core.parse_query, build, 10_000)


@pytest.mark.parametrize("build", URLENCODED.values(), ids=URLENCODED.keys())
def test_urlencoded_form_parsing_is_linear(build: Build) -> None:
    assert_linear(lambda body: _core.parse_urlencoded_form(body, 10**9, 10**9), build, 10_000)


# --- multipart/form-data -----------------------------------------------------------

BOUNDARY = b"covet-complexity-boundary"
UNLIMITED = {
    "max_fields": 10**9,
    "max_files": 10**9,
    "max_part_header_size": 10**9,
    "max_part_headers": 10**9,
    "max_field_size": 10**9,
}


def part(headers: bytes, content: bytes) -> bytes:
    return b"--" + BOUNDARY + b"\r\n" + headers + b"\r\n\r\n" + content + b"\r\n"


def close(body: bytes) -> bytes:
    return body + b"--" + BOUNDARY + b"--\r\n"


def feed_all(chunks: list[bytes]) -> None:
    parser = _core.MultipartParser(BOUNDARY, **UNLIMITED)
    for chunk in chunks:
        parser.feed(chunk)
    parser.finish()


def one_chunk(body: bytes) -> list[bytes]:
    return [body]


def pieces(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


DISPOSITION = b'Content-Disposition: form-data; name="f"'

MULTIPART: dict[str, Build] = {
    "many small parts": lambda n: one_chunk(
        close(
            b"".join(
                part(b'Content-Disposition: form-data; name="k%d"' % i, b"v") for i in range(n)
            )
        )
    ),
    "content full of near-delimiters": lambda n: one_chunk(
        close(part(DISPOSITION, (b"\r\n--" + BOUNDARY[:-1] + b"!") * n))
    ),
    "content of CR LF runs": lambda n: one_chunk(close(part(DISPOSITION, b"\r\n-" * (10 * n)))),
    "disposition with many parameters": lambda n: one_chunk(
        close(part(DISPOSITION + b"".join(b"; p%d=v" % i for i in range(n)), b"v"))
    ),
    "many header lines": lambda n: one_chunk(
        close(part(DISPOSITION + b"".join(b"\r\nX-H%d: v" % i for i in range(n)), b"v"))
    ),
    "many folded header lines": lambda n: one_chunk(
        close(part(DISPOSITION + b"\r\nX-Folded: a" + b"\r\n x" * n, b"v"))
    ),
    "header block fed a few bytes at a time": lambda n: pieces(
        close(part(DISPOSITION + b"\r\nX-Long: " + b"v" * (10 * n), b"v")), 7
    ),
    "content fed a few bytes at a time": lambda n: pieces(
        close(part(DISPOSITION, (b"\r\n--" + BOUNDARY[:5]) * n)), 5
    ),
    "long preamble": lambda n: one_chunk(
        close((b"\r\n--" + BOUNDARY[:-1] + b"x") * n + part(DISPOSITION, b"v"))
    ),
}


@pytest.mark.parametrize("build", MULTIPART.values(), ids=MULTIPART.keys())
def test_multipart_parsing_is_linear(build: Build) -> None:
    assert_linear(feed_all, build, 2_000)


# --- Through the app: request.form() and request.cookies ----------------------------


def test_forms_through_the_app_are_linear() -> None:
    async def handler(request: Request) -> dict[str, int]:
        form = await request.form()
        return {"fields": len(form.multi_items()), "cookies": len(request.cookies)}

    limits = Limits(max_form_fields=10**9, max_body_size=None, max_header_count=None)
    app = make_app(handler, limits)

    def run(request: tuple[list[tuple[bytes, bytes]], bytes]) -> None:
        headers, body = request
        result = asyncio.run(drive(app, pieces(body, 65536), headers=headers))
        assert result.status == 200, result.body

    def multipart(n: int) -> tuple[list[tuple[bytes, bytes]], bytes]:
        body = close(
            b"".join(
                part(b'Content-Disposition: form-data; name="k%d"' % i, b"v" * 10) for i in range(n)
            )
        )
        return [(b"content-type", b"multipart/form-data; boundary=" + BOUNDARY)], body

    def urlencoded(n: int) -> tuple[list[tuple[bytes, bytes]], bytes]:
        cookie = "; ".join(f"c{i}=v" for i in range(n)).encode()
        headers = [
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"cookie", cookie),
        ]
        return headers, b"&".join(b"k%d=v" % i for i in range(n))

    assert_linear(run, multipart, 1_000)
    assert_linear(run, urlencoded, 2_000)
