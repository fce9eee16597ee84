//! Response rendering in one crossing: body bytes plus the ASGI header list, for the
//! common case of a response without user headers (`Response.__init__`'s fast path).

use std::sync::Mutex;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyMemoryView, PyString, PyTuple};

use super::errors::header_error;
use crate::http::headers::{content_type_value, decimal, status_has_body};

static ORJSON_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static CONTENT_LENGTH: PyOnceLock<Py<PyBytes>> = PyOnceLock::new();
static CONTENT_TYPE: PyOnceLock<Py<PyBytes>> = PyOnceLock::new();

/// A header name as a bytes object made once per process.
fn header_name<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyBytes>>,
    name: &'static str,
) -> Bound<'py, PyBytes> {
    cell.get_or_init(py, || PyBytes::new(py, name.as_bytes()).unbind())
        .bind(py)
        .clone()
}

fn orjson_dumps<'py>(
    py: Python<'py>,
    content: &Bound<'py, PyAny>,
    option: Option<i64>,
) -> PyResult<Bound<'py, PyBytes>> {
    let dumps = ORJSON_DUMPS.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("orjson")?.getattr("dumps")?.unbind())
    })?;
    let dumps = dumps.bind(py);
    let call = |option: i64| -> PyResult<Bound<'py, PyAny>> {
        if option == 0 {
            return dumps.call1((content,));
        }
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item(intern!(py, "option"), option)?;
        dumps.call((content,), Some(&kwargs))
    };
    let option = option.unwrap_or(0);
    let body = match call(option) {
        Ok(body) => body,
        // As `responses.dumps_json`: retry with non-str dict keys allowed, which
        // json.dumps users expect; costs nothing unless the first call refused.
        Err(err) if err.is_instance_of::<pyo3::exceptions::PyTypeError>(py) => {
            call(option | OPT_NON_STR_KEYS)?
        }
        Err(err) => return Err(err),
    };
    Ok(body.cast_into::<PyBytes>()?)
}

/// `orjson.OPT_NON_STR_KEYS`.
const OPT_NON_STR_KEYS: i64 = 4;

/// `(b"content-type", value)` header tuples by media type, shared by every response
/// (tuples are immutable). A process uses a handful of media types, so this stays
/// tiny; it is capped all the same, as media types can come from user input.
static CONTENT_TYPES: Mutex<Vec<(Box<str>, Py<PyTuple>)>> = Mutex::new(Vec::new());
const CONTENT_TYPES_CAP: usize = 32;

fn content_type_header<'py>(
    py: Python<'py>,
    media_type: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyTuple>> {
    let media_type = media_type.to_str()?;
    if let Ok(cache) = CONTENT_TYPES.lock() {
        if let Some((_, header)) = cache.iter().find(|(key, _)| &**key == media_type) {
            return Ok(header.bind(py).clone());
        }
    }
    let value = content_type_value(media_type).map_err(header_error)?;
    let header = PyTuple::new(
        py,
        [
            header_name(py, &CONTENT_TYPE, "content-type"),
            PyBytes::new(py, value.as_bytes()),
        ],
    )?;
    if let Ok(mut cache) = CONTENT_TYPES.lock() {
        if cache.len() < CONTENT_TYPES_CAP {
            cache.push((media_type.into(), header.clone().unbind()));
        }
    }
    Ok(header)
}

/// `(body, raw_headers, media_type)`.
type Rendered<'py> = (
    Bound<'py, PyBytes>,
    Bound<'py, PyList>,
    Option<Bound<'py, PyString>>,
);

/// Renders `content` as `Response(content)` does and returns `(body, raw_headers,
/// media_type)`.
///
/// With `json_option` set (JSONResponse) the content is always JSON, encoded by
/// orjson with that option. Otherwise: None is an empty body, bytes are sent as
/// they are (application/octet-stream), str is UTF-8 (text/plain), and anything
/// else is JSON (application/json). An explicit `media_type` wins over these
/// defaults; text types get `; charset=utf-8`.
#[pyfunction]
#[pyo3(signature = (content, media_type, status_code, json_option = None))]
fn render_response<'py>(
    py: Python<'py>,
    content: &Bound<'py, PyAny>,
    media_type: Option<Bound<'py, PyString>>,
    status_code: u16,
    json_option: Option<i64>,
) -> PyResult<Rendered<'py>> {
    let (body, default_media) = if json_option.is_some() {
        (orjson_dumps(py, content, json_option)?, "application/json")
    } else if content.is_none() {
        (PyBytes::new(py, b""), "")
    } else if let Ok(bytes) = content.cast::<PyBytes>() {
        (bytes.clone(), "application/octet-stream")
    } else if let Ok(text) = content.cast::<PyString>() {
        (text.encode_utf8()?, "text/plain")
    } else if content.is_instance_of::<PyByteArray>() || content.is_instance_of::<PyMemoryView>() {
        let copied = py
            .get_type::<PyBytes>()
            .call1((content,))?
            .cast_into::<PyBytes>()?;
        (copied, "application/octet-stream")
    } else {
        (orjson_dumps(py, content, None)?, "application/json")
    };
    let media_type = match media_type {
        Some(media_type) => Some(media_type),
        None if default_media.is_empty() => None,
        None => Some(PyString::intern(py, default_media)),
    };
    let mut buf = [0u8; 20];
    let content_length = status_has_body(status_code)
        .then(|| {
            PyTuple::new(
                py,
                [
                    header_name(py, &CONTENT_LENGTH, "content-length"),
                    PyBytes::new(py, decimal(body.as_bytes().len(), &mut buf)),
                ],
            )
        })
        .transpose()?;
    let content_type = media_type
        .as_ref()
        .map(|media_type| content_type_header(py, media_type))
        .transpose()?;
    let headers = PyList::new(py, content_length.into_iter().chain(content_type))?;
    Ok((body, headers, media_type))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(render_response, m)?)
}
