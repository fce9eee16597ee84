"""Response headers are validated against RFC 9110 when they are set: names are
tokens, values are field-values (visible ASCII and obs-text, with spaces and tabs
only between them). Anything a server would refuse halfway through sending the
response is refused here, at the line that set it."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from covet import Response, _core
from covet.datastructures import Headers

TCHARS = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
CONTROLS = [*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F]
# RFC 9110 §5.5, written out as a regex independent of the implementation.
FIELD_VALUE = re.compile(
    rb"(?:[\x21-\x7e\x80-\xff](?:[ \t\x21-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?"
)


@pytest.mark.parametrize("byte", CONTROLS, ids=[f"0x{b:02x}" for b in CONTROLS])
def test_control_characters_in_values_are_refused(byte: int) -> None:
    value = f"ok{chr(byte)}ok"
    with pytest.raises(_core.InvalidHeaderError, match=f"0x{byte:02x} at byte 2"):
        _core.encode_headers([("x-test", value)])
    with pytest.raises(_core.InvalidHeaderError):
        _core.encode_headers([(b"x-test", value.encode("latin-1"))])


def test_spaces_tabs_and_obs_text_inside_values_are_accepted() -> None:
    value = "a b\tc caf\xe9 \x80\xff ~!"
    assert _core.encode_headers([("X-Test", value)]) == [(b"x-test", value.encode("latin-1"))]
    assert _core.encode_headers([("x-empty", "")]) == [(b"x-empty", b"")]


@pytest.mark.parametrize("value", [" v", "v ", "\tv", "v\t", " ", "\t", "  a b  "])
def test_leading_or_trailing_whitespace_in_values_is_refused(value: str) -> None:
    with pytest.raises(_core.InvalidHeaderError, match="whitespace"):
        _core.encode_headers([("x-test", value)])


@pytest.mark.parametrize("byte", range(256), ids=[f"0x{b:02x}" for b in range(256)])
def test_header_names_are_tokens(byte: int) -> None:
    name = b"x-" + bytes([byte])
    if byte in TCHARS:
        assert _core.encode_headers([(name, b"v")]) == [(name.lower(), b"v")]
    else:
        with pytest.raises(_core.InvalidHeaderError, match="invalid header name"):
            _core.encode_headers([(name, b"v")])


def test_empty_header_name_is_refused() -> None:
    with pytest.raises(_core.InvalidHeaderError):
        _core.encode_headers([("", "v")])


@settings(max_examples=300, derandomize=True, database=None)
@given(st.binary(max_size=16))
def test_value_check_is_exactly_the_rfc_grammar(value: bytes) -> None:
    valid = FIELD_VALUE.fullmatch(value) is not None
    try:
        _core.encode_headers([(b"x", value)])
    except _core.InvalidHeaderError:
        assert not valid, value
    else:
        assert valid, value


def test_response_constructor_refuses_a_vertical_tab() -> None:
    with pytest.raises(_core.InvalidHeaderError):
        Response("x", headers={"x-a": "one\x0btwo"})


def test_setting_a_header_refuses_del_and_trailing_space() -> None:
    response = Response("x")
    with pytest.raises(_core.InvalidHeaderError):
        response.headers["x-a"] = "del\x7f"
    with pytest.raises(_core.InvalidHeaderError):
        response.headers.append("x-a", "trailing ")
    assert b"x-a" not in dict(response.raw_headers)


def test_media_type_is_validated_like_any_header_value() -> None:
    with pytest.raises(_core.InvalidHeaderError):
        Response("x", media_type="text/plain\x0c")


def test_headers_built_from_a_mapping_are_validated() -> None:
    with pytest.raises(_core.InvalidHeaderError):
        Headers({"x-a": "bell\x07"})
    assert Headers({"x-a": "fine value"})["x-a"] == "fine value"
