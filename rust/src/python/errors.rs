//! Python exception classes, one per Rust failure class.

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::forms::multipart::FormError;
use crate::forms::urlencoded::UrlencodedError;
use crate::http::content_type::ContentTypeError;
use crate::http::headers::HeaderError;
use crate::http::range::RangeError;
use crate::router::RouteError;

create_exception!(
    _core,
    RouteDefinitionError,
    PyValueError,
    "Base class for errors raised while registering routes."
);
create_exception!(
    _core,
    InvalidRouteError,
    RouteDefinitionError,
    "A route pattern is malformed."
);
create_exception!(
    _core,
    RouteConflictError,
    RouteDefinitionError,
    "A route conflicts with one registered before it; the message names both."
);
create_exception!(
    _core,
    InvalidHeaderError,
    PyValueError,
    "A response header name is not a token, or its value is not an RFC 9110 field-value \
     (a control character, or leading or trailing whitespace)."
);
create_exception!(
    _core,
    TooManyFieldsError,
    PyValueError,
    "A query string or urlencoded form has more fields than the configured limit."
);

create_exception!(
    _core,
    RangeHeaderError,
    PyValueError,
    "Base class for the failures of `parse_range`."
);
create_exception!(
    _core,
    MalformedRangeError,
    RangeHeaderError,
    "A Range header is not a valid `bytes` ranges-specifier; servers ignore it."
);
create_exception!(
    _core,
    TooManyRangesError,
    RangeHeaderError,
    "A Range header lists more ranges than the configured limit."
);
create_exception!(
    _core,
    RangeNotSatisfiableError,
    RangeHeaderError,
    "No range in a Range header overlaps the representation (HTTP 416)."
);

#[allow(
    clippy::needless_pass_by_value,
    reason = "used as map_err(f), which passes by value"
)]
pub fn range_error(err: RangeError) -> PyErr {
    match err {
        RangeError::Malformed(_) => MalformedRangeError::new_err(err.to_string()),
        RangeError::TooManyRanges { .. } => TooManyRangesError::new_err(err.to_string()),
        RangeError::Unsatisfiable { .. } => RangeNotSatisfiableError::new_err(err.to_string()),
    }
}

create_exception!(
    _core,
    InvalidContentTypeError,
    PyValueError,
    "A Content-Type or Content-Disposition header value does not parse."
);
create_exception!(
    _core,
    MalformedMultipartError,
    PyValueError,
    "A multipart/form-data body is malformed or truncated (HTTP 400)."
);
create_exception!(
    _core,
    FormLimitError,
    PyValueError,
    "A form exceeds a configured limit: fields, files, part headers or field size (HTTP 413)."
);

#[allow(
    clippy::needless_pass_by_value,
    reason = "used as map_err(f), which passes by value"
)]
pub fn content_type_error(err: ContentTypeError) -> PyErr {
    InvalidContentTypeError::new_err(err.to_string())
}

pub fn form_error(err: FormError) -> PyErr {
    match err {
        FormError::Malformed(e) => MalformedMultipartError::new_err(e.to_string()),
        FormError::Limit(e) => FormLimitError::new_err(e.to_string()),
    }
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "used as map_err(f), which passes by value"
)]
pub fn route_error(err: RouteError) -> PyErr {
    match err {
        RouteError::InvalidPattern { .. } => InvalidRouteError::new_err(err.to_string()),
        RouteError::Conflict { .. } => RouteConflictError::new_err(err.to_string()),
    }
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "used as map_err(f), which passes by value"
)]
pub fn header_error(err: HeaderError) -> PyErr {
    InvalidHeaderError::new_err(err.to_string())
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "used as map_err(f), which passes by value"
)]
pub fn urlencoded_error(err: UrlencodedError) -> PyErr {
    TooManyFieldsError::new_err(err.to_string())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add(
        "RouteDefinitionError",
        py.get_type::<RouteDefinitionError>(),
    )?;
    m.add("InvalidRouteError", py.get_type::<InvalidRouteError>())?;
    m.add("RouteConflictError", py.get_type::<RouteConflictError>())?;
    m.add("InvalidHeaderError", py.get_type::<InvalidHeaderError>())?;
    m.add("TooManyFieldsError", py.get_type::<TooManyFieldsError>())?;
    m.add(
        "InvalidContentTypeError",
        py.get_type::<InvalidContentTypeError>(),
    )?;
    m.add(
        "MalformedMultipartError",
        py.get_type::<MalformedMultipartError>(),
    )?;
    m.add("FormLimitError", py.get_type::<FormLimitError>())?;
    m.add("RangeHeaderError", py.get_type::<RangeHeaderError>())?;
    m.add("MalformedRangeError", py.get_type::<MalformedRangeError>())?;
    m.add("TooManyRangesError", py.get_type::<TooManyRangesError>())?;
    m.add(
        "RangeNotSatisfiableError",
        py.get_type::<RangeNotSatisfiableError>(),
    )?;
    Ok(())
}
