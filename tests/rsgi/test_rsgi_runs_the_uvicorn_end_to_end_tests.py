"""The end-to-end tests written against a real uvicorn, run again unchanged against a
real granian speaking RSGI: each takes the ``serve`` fixture, given here the
granian one (same interface), so the two protocols are held to the same checks."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from rsgi.granian_server import ServeRSGI

TESTS = Path(__file__).resolve().parents[1]


def _load(relative: str) -> ModuleType:
    path = TESTS / relative
    name = "_rsgi_rerun_" + relative.replace("/", "_").removesuffix(".py")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


#: (test file, test function): the uvicorn end-to-end tests whose app is a
#: CovetASGIApp and whose checks hold for any server.
CASES = [
    ("app/test_real_servers.py", "test_example_app_over_real_http"),
    (
        "requests/test_is_disconnected_and_mapping.py",
        "test_uvicorn_handler_polling_is_disconnected_sees_the_client_leave",
    ),
    ("requests/test_multipart.py", "test_multipart_upload_over_real_http"),
    ("requests/test_multipart.py", "test_oversized_upload_over_real_http_is_413_before_reading"),
    ("responses/test_file_response.py", "test_file_response_over_real_http"),
    ("responses/test_responses.py", "test_streaming_and_event_stream_over_real_http"),
    (
        "responses/test_responses.py",
        "test_streaming_generator_is_closed_when_a_real_client_disconnects",
    ),
    ("responses/test_staticfiles.py", "test_static_files_over_real_http"),
    ("middleware/test_middleware_stack.py", "test_built_in_stack_over_a_real_uvicorn"),
]

_modules = {relative: _load(relative) for relative in dict.fromkeys(r for r, _ in CASES)}
#: The fixture test_static_files_over_real_http takes, from its own module.
site = _modules["responses/test_staticfiles.py"].site


@pytest.mark.parametrize(("relative", "name"), CASES, ids=[name for _, name in CASES])
def test_passes_over_rsgi(
    relative: str, name: str, serve_rsgi: ServeRSGI, request: pytest.FixtureRequest
) -> None:
    test = getattr(_modules[relative], name)
    kwargs: dict[str, Any] = {}
    for param in inspect.signature(test).parameters:
        kwargs[param] = serve_rsgi if param == "serve" else request.getfixturevalue(param)
    test(**kwargs)
