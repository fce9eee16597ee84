"""Type stubs for the Rust extension ``covet._core`` (checked by mypy.stubtest)."""

from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, ClassVar, final

from typing_extensions import disjoint_base

__all__ = [
    "ANY_HTTP_METHOD",
    "ANY_METHOD",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_RANGES",
    "FOUND",
    "HEADERS_TOO_LARGE",
    "METHOD_NOT_ALLOWED",
    "NOT_FOUND",
    "OPTIONS",
    "ROUTE_METHODS",
    "UNMATCHED_ROUTE",
    "UNMATCHED_TEMPLATE",
    "URI_TOO_LONG",
    "WEBSOCKET",
    "AppBase",
    "Dispatcher",
    "FormLimitError",
    "InvalidContentTypeError",
    "InvalidHeaderError",
    "InvalidRouteError",
    "MalformedMultipartError",
    "MalformedRangeError",
    "MultipartParser",
    "RangeHeaderError",
    "RangeNotSatisfiableError",
    "RenderSpec",
    "RequestBase",
    "ResponseBase",
    "RouteConflictError",
    "RouteDefinitionError",
    "RouteMatch",
    "Router",
    "Serve",
    "Served",
    "Stats",
    "TooManyFieldsError",
    "TooManyRangesError",
    "WsConnection",
    "WsCounters",
    "__version__",
    "encode_headers",
    "parse_content_type",
    "parse_cookies",
    "parse_query",
    "parse_range",
    "parse_urlencoded_form",
    "render_response",
    "route_id",
    "route_template",
    "rsgi_headers",
    "rsgi_scope",
    "slash_redirect_location",
]

__version__: str
DEFAULT_LIMITS: dict[str, int]

class RouteDefinitionError(ValueError): ...
class InvalidRouteError(RouteDefinitionError): ...
class RouteConflictError(RouteDefinitionError): ...
class InvalidHeaderError(ValueError): ...
class TooManyFieldsError(ValueError): ...
class InvalidContentTypeError(ValueError): ...
class MalformedMultipartError(ValueError): ...
class FormLimitError(ValueError): ...
class RangeHeaderError(ValueError): ...
class MalformedRangeError(RangeHeaderError): ...
class TooManyRangesError(RangeHeaderError): ...
class RangeNotSatisfiableError(RangeHeaderError): ...

FOUND: int
OPTIONS: int
METHOD_NOT_ALLOWED: int
NOT_FOUND: int
URI_TOO_LONG: int
HEADERS_TOO_LARGE: int
WEBSOCKET: str
ANY_METHOD: str
ANY_HTTP_METHOD: str

@final
class RouteMatch:
    @property
    def kind(self) -> int: ...
    @property
    def route(self) -> Any: ...
    @property
    def params(self) -> dict[str, Any] | None: ...
    @property
    def allow(self) -> str | None: ...
    @property
    def redirect(self) -> bool: ...
    @staticmethod
    def found(route: Any, params: dict[str, Any]) -> RouteMatch: ...

@final
class Router:
    redirect_slashes: bool
    has_hosts: bool
    def __new__(cls) -> Router: ...
    def add(self, pattern: str, methods: list[str], route: Any) -> int: ...
    def match_path(self, method: str, path: bytes, slash_hint: bool = False) -> RouteMatch: ...
    def match_scope(
        self,
        scope: dict[str, Any],
        max_header_count: int | None = None,
        max_url_length: int | None = None,
        slash_hint: bool = False,
    ) -> RouteMatch: ...
    def pattern(self, route: int) -> str | None: ...
    def __len__(self) -> int: ...

@final
class Dispatcher:
    def __new__(
        cls,
        app: Any,
        *,
        stats: Stats,
        request_class: Any,
        response_class: type,
        to_response: Any,
        send_response: Any,
        run_task: Any,
        not_found_body: bytes,
        unmatched_route: int,
    ) -> Dispatcher: ...
    def configure(
        self,
        router: Any,
        max_header_count: int | None,
        max_url_length: int | None,
        handlers: bool,
    ) -> None: ...
    def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Serve | Served: ...

@disjoint_base
class AppBase:
    def __new__(cls, *_args: Any, **_kwargs: Any) -> AppBase: ...
    def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Awaitable[None]: ...
    def _set_entry(self, entry: Any) -> None: ...

@final
class Serve:
    def __await__(self) -> Serve: ...
    def __iter__(self) -> Serve: ...
    def __next__(self) -> Any: ...
    def send(self, value: Any) -> Any: ...
    def throw(self, typ: Any, val: Any = None, _tb: Any = None) -> Any: ...
    def close(self) -> None: ...

@final
class Served:
    def __await__(self) -> Served: ...
    def __iter__(self) -> Served: ...
    def __next__(self) -> Any: ...
    def send(self, _value: Any) -> Any: ...
    def throw(self, typ: Any, val: Any = None, _tb: Any = None) -> Any: ...
    def close(self) -> None: ...

def slash_redirect_location(scope: dict[str, Any]) -> str | None: ...

UNMATCHED_ROUTE: int
UNMATCHED_TEMPLATE: str
ROUTE_METHODS: tuple[str, ...]

def route_id(template: str) -> int: ...
def route_template(id: int) -> str | None: ...

@final
class Stats:
    def __new__(cls) -> Stats: ...
    def record(
        self, status: int, elapsed_ns: int, route: int | None = None, method: str = ""
    ) -> None: ...
    def record_route(self, status: int, elapsed_ns: int, route: int, method: str) -> None: ...
    def export(self, bounds_ns: list[int]) -> dict[str, Any]: ...
    def client_disconnected(self) -> None: ...
    def websocket_opened(self) -> None: ...
    def websocket_closed(self) -> None: ...
    def reset(self) -> None: ...
    def snapshot(self) -> dict[str, Any]: ...

def parse_query(data: bytes, max_fields: int = ...) -> list[tuple[str, str]]: ...
def parse_cookies(header: str) -> dict[str, str]: ...
def parse_content_type(value: str) -> tuple[str, dict[str, str]]: ...
def parse_urlencoded_form(
    data: bytes, max_fields: int, max_field_size: int
) -> list[tuple[str, str]]: ...

@final
class MultipartParser:
    PART_START: ClassVar[int]
    DATA: ClassVar[int]
    PART_END: ClassVar[int]
    END: ClassVar[int]
    def __new__(
        cls,
        boundary: bytes,
        *,
        max_fields: int = ...,
        max_files: int = ...,
        max_part_header_size: int = ...,
        max_part_headers: int = ...,
        max_field_size: int = ...,
    ) -> MultipartParser: ...
    def feed(self, data: bytes) -> list[tuple[Any, ...]]: ...
    def spool_to(self, fd: int) -> None: ...
    def end_spool(self) -> int: ...
    def close(self) -> None: ...
    def finish(self) -> None: ...
    @property
    def complete(self) -> bool: ...

def encode_headers(
    items: Iterable[tuple[str | bytes, str | bytes]],
) -> list[tuple[bytes, bytes]]: ...

DEFAULT_MAX_RANGES: int

def parse_range(header: str | bytes, size: int, max_ranges: int = ...) -> list[tuple[int, int]]: ...

@final
class RenderSpec:
    def __new__(
        cls,
        media_type: str | None,
        charset: str,
        always_json: bool,
        own_render: bool,
        sends_itself: bool,
    ) -> RenderSpec: ...

@disjoint_base
class RequestBase:
    scope: dict[str, Any]
    _receive: Any
    path_params: dict[str, Any]
    _form: Any
    def __new__(cls, *_args: Any, **_kwargs: Any) -> RequestBase: ...
    @classmethod
    def __init_subclass__(cls) -> None: ...
    def __init__(
        self,
        scope: dict[str, Any],
        receive: Any = None,
        path_params: dict[str, Any] | None = None,
    ) -> None: ...

@disjoint_base
class ResponseBase:
    status_code: int
    body: bytes
    raw_headers: list[tuple[bytes, bytes]]
    background: Any
    def __new__(cls, *_args: Any, **_kwargs: Any) -> ResponseBase: ...
    @classmethod
    def __init_subclass__(cls) -> None: ...
    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: Any = None,
        media_type: str | None = None,
        background: Any = None,
        *,
        option: Any = None,
    ) -> None: ...

def render_response(
    content: Any,
    media_type: str | None,
    status_code: int,
    json_option: int | None = None,
    headers: Any = None,
    charset: str = "utf-8",
    as_body: bool = False,
    stream: bool = False,
) -> tuple[bytes, list[tuple[bytes, bytes]], str | None]: ...

# -- RSGI (covet.rsgi) ---------------------------------------------------------------
def rsgi_scope(kind: str, scope: Any, state: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The ASGI scope for granian's RSGI scope object and the request body's length
    (-1: unknown); ``kind`` is ``"http"`` or ``"websocket"``."""

def rsgi_headers(headers: Iterable[Sequence[bytes]]) -> list[tuple[str, str]]:
    """ASGI ``(bytes, bytes)`` header pairs as latin-1 ``(str, str)`` pairs."""

# -- WebSocket accounting (covet.websockets) --------------------------------------------
@final
class WsCounters:
    """An app's WebSocket message and byte totals over all its connections."""
    def __new__(cls) -> WsCounters: ...
    def connection(self) -> WsConnection: ...
    def snapshot(self) -> dict[str, int]: ...
    def reset(self) -> None: ...

@final
class WsConnection:
    """One connection's counters and its message size check."""
    def __new__(cls) -> WsConnection: ...
    def received(self, message: dict[str, Any], limit: int | None) -> bool: ...
    def sent(self, message: dict[str, Any]) -> None: ...
    def sent_text(self, text: str) -> None: ...
    @property
    def messages_received(self) -> int: ...
    @property
    def messages_sent(self) -> int: ...
    @property
    def bytes_received(self) -> int: ...
    @property
    def bytes_sent(self) -> int: ...
