"""Headers, MutableHeaders, QueryParams and FormData behave like Starlette's."""

from __future__ import annotations

import io

import pytest

from covet import CovetRouter, create_asgi_app
from covet.datastructures import FormData, Headers, MutableHeaders, QueryParams, UploadFile
from covet.requests import Request
from covet.responses import Response
from covet.testing import ASGITestClient

RAW = [
    (b"set-cookie", b"a=1"),
    (b"Set-Cookie", b"b=2"),
    (b"x-one", b"1"),
]


def test_headers_items_do_not_drop_repeated_headers() -> None:
    headers = Headers(raw=list(RAW))
    assert headers.items() == [("set-cookie", "a=1"), ("set-cookie", "b=2"), ("x-one", "1")]
    assert headers.keys() == ["set-cookie", "set-cookie", "x-one"]
    assert headers.values() == ["a=1", "b=2", "1"]
    assert list(headers) == ["set-cookie", "set-cookie", "x-one"]
    assert len(headers) == 3
    # Lookups still give the first value and getlist all of them.
    assert headers["Set-Cookie"] == "a=1"
    assert headers.getlist("set-cookie") == ["a=1", "b=2"]


def test_headers_copy_does_not_drop_repeated_headers() -> None:
    copy = Headers(Headers(raw=list(RAW)))
    assert copy.getlist("set-cookie") == ["a=1", "b=2"]
    assert Headers(scope={"headers": RAW}).getlist("set-cookie") == ["a=1", "b=2"]
    mutable = Headers(raw=list(RAW)).mutablecopy()
    mutable["x-one"] = "changed"
    assert mutable.getlist("set-cookie") == ["a=1", "b=2"]
    assert RAW[2] == (b"x-one", b"1")  # the copy does not write through


def test_response_built_from_request_headers_keeps_every_cookie() -> None:
    # Response(headers=request.headers) goes through Headers.items().
    response = Response(b"", headers=Headers(raw=list(RAW)))
    assert response.headers.getlist("set-cookie") == ["a=1", "b=2"]


def test_mutable_headers_or_returns_a_new_object_and_leaves_the_left_side_alone() -> None:
    left = MutableHeaders({"a": "1", "b": "2"})
    merged = left | {"B": "3", "c": "4"}
    assert isinstance(merged, MutableHeaders)
    assert merged.items() == [("a", "1"), ("b", "3"), ("c", "4")]
    assert left.items() == [("a", "1"), ("b", "2")]


def test_mutable_headers_ior_updates_in_place_and_keeps_the_object() -> None:
    headers = MutableHeaders({"a": "1"})
    same = headers
    headers |= {"a": "2", "d": "5"}
    assert headers is same
    assert headers.items() == [("a", "2"), ("d", "5")]


def test_mutable_headers_or_refuses_what_is_not_a_mapping() -> None:
    headers = MutableHeaders({"a": "1"})
    with pytest.raises(TypeError, match="expected a mapping"):
        headers | [("b", "2")]  # type: ignore[operator]
    with pytest.raises(TypeError, match="expected a mapping"):
        headers |= "b"  # type: ignore[arg-type]


def test_mutable_headers_or_still_refuses_header_injection() -> None:
    with pytest.raises(ValueError):
        MutableHeaders({"a": "1"}) | {"x": "1\r\nset-cookie: evil=1"}


def test_mutable_headers_edits_match_names_case_insensitively_in_raw_lists() -> None:
    # A raw list built by hand may carry capitalised names.
    headers = MutableHeaders(raw=[(b"Vary", b"Cookie"), (b"X-A", b"1")])
    headers.add_vary_header("Accept-Encoding")
    assert headers.getlist("vary") == ["Cookie, Accept-Encoding"]
    del headers["x-a"]
    assert "x-a" not in headers and len(headers) == 1


def test_query_params_copy_does_not_drop_repeated_keys() -> None:
    query = QueryParams("a=1&a=2&b=3")
    copy = QueryParams(query)
    assert copy.multi_items() == [("a", "1"), ("a", "2"), ("b", "3")]
    assert copy.getlist("a") == ["1", "2"]
    assert copy == query


def test_str_of_query_params_is_the_urlencoded_query_not_a_repr() -> None:
    query = QueryParams("q=a+b&tag=%26x&tag=2&empty=")
    assert str(query) == "q=a+b&tag=%26x&tag=2&empty="
    assert QueryParams(str(query)) == query
    assert repr(query) == "QueryParams('q=a+b&tag=%26x&tag=2&empty=')"
    assert str(QueryParams([("k", "é/?")])) == "k=%C3%A9%2F%3F"


def test_query_params_from_pairs_are_strings_like_starlette() -> None:
    query = QueryParams([("n", 1)])  # type: ignore[list-item]
    assert query["n"] == "1" and query.multi_items() == [("n", "1")]


def test_multidict_lookup_returns_the_last_value_and_getlist_all() -> None:
    query = QueryParams("a=1&a=2")
    assert query["a"] == "2" and query.get("a") == "2"
    assert query.getlist("a") == ["1", "2"] and query.getlist("missing") == []
    assert list(query.items()) == [("a", "2")] and len(query) == 1


def test_multidict_equality_ignores_pair_order_but_not_pairs() -> None:
    assert QueryParams("a=1&b=2&a=3") == QueryParams("a=3&b=2&a=1")
    assert QueryParams("a=1&a=1") != QueryParams("a=1")
    assert QueryParams("a=1&a=2") != QueryParams("a=1&a=3")
    assert QueryParams("a=1") != {"a": "1"}
    assert QueryParams("a=1") != FormData([("a", "1")])


def test_form_data_copy_does_not_drop_repeated_keys_or_files() -> None:
    upload = UploadFile(io.BytesIO(b"x"), filename="x.txt")
    form = FormData([("a", "1"), ("f", upload), ("a", "2")])
    copy = FormData(form)
    assert copy.multi_items() == [("a", "1"), ("f", upload), ("a", "2")]
    assert copy.getlist("a") == ["1", "2"] and copy["f"] is upload
    assert copy == form
    # Equality with file values compares without sorting them (UploadFile has no order).
    assert FormData([("f", upload), ("f", "text")]) == FormData([("f", "text"), ("f", upload)])


async def test_request_query_copy_keeps_repeated_keys_end_to_end() -> None:
    async def handler(request: Request) -> dict[str, object]:
        copy = QueryParams(request.query_params)
        return {"str": str(request.query_params), "tags": copy.getlist("tag")}

    router = CovetRouter()
    router.add_route("/q", handler, ["GET"])
    client = ASGITestClient(create_asgi_app(router=router))
    response = await client.get("/q?tag=a&tag=b%20c")
    assert response.json() == {"str": "tag=a&tag=b+c", "tags": ["a", "b c"]}
