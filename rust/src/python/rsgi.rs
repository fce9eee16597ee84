//! RSGI scopes as ASGI scopes, in one crossing per request (`covet.rsgi`): granian
//! hands a scope object with str attributes; the app's ASGI path wants a dict with
//! bytes headers, a raw path and address tuples. Also the reverse for response
//! headers: ASGI's bytes pairs as the str pairs granian's response methods take.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::router::paths::quote_path;
use crate::rsgi::{http_version, parse_address, BodyLength};

/// A str made of latin-1 code points as bytes (ASCII: its UTF-8 bytes as they are).
fn latin1_bytes<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyBytes>> {
    if text.is_ascii() {
        return Ok(PyBytes::new(py, text.as_bytes()));
    }
    let bytes: Option<Vec<u8>> = text
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect();
    match bytes {
        Some(bytes) => Ok(PyBytes::new(py, &bytes)),
        None => Err(pyo3::exceptions::PyValueError::new_err(
            "a request header is not latin-1 text",
        )),
    }
}

fn address<'py>(py: Python<'py>, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let text = value.cast::<PyString>()?.to_str()?;
    match parse_address(text) {
        Some((host, port)) => Ok(PyTuple::new(
            py,
            [
                host.into_pyobject(py)?.into_any(),
                port.into_pyobject(py)?.into_any(),
            ],
        )?
        .into_any()),
        None => Ok(py.None().into_bound(py)),
    }
}

/// The ASGI scope for an RSGI scope, and how to read the body: its length, or -1
/// when unknown (streamed). `kind` is `"http"` or `"websocket"`; `state` (the
/// lifespan state) is copied into the scope, as ASGI servers do per request.
#[pyfunction]
fn rsgi_scope<'py>(
    py: Python<'py>,
    kind: &Bound<'py, PyString>,
    scope: &Bound<'py, PyAny>,
    state: &Bound<'py, PyDict>,
) -> PyResult<(Bound<'py, PyDict>, i64)> {
    let websocket = kind.to_str()? == "websocket";
    let out = PyDict::new(py);
    out.set_item(intern!(py, "type"), kind)?;
    let asgi = PyDict::new(py);
    asgi.set_item(intern!(py, "version"), intern!(py, "3.0"))?;
    asgi.set_item(intern!(py, "spec_version"), intern!(py, "2.4"))?;
    out.set_item(intern!(py, "asgi"), asgi)?;

    let version = scope.getattr(intern!(py, "http_version"))?;
    let version_text = version.cast::<PyString>()?.to_str()?;
    let http2 = version_text == "2";
    out.set_item(intern!(py, "http_version"), http_version(version_text))?;
    let server = scope.getattr(intern!(py, "server"))?;
    out.set_item(intern!(py, "server"), address(py, &server)?)?;
    let client = scope.getattr(intern!(py, "client"))?;
    out.set_item(intern!(py, "client"), address(py, &client)?)?;
    let scheme = scope.getattr(intern!(py, "scheme"))?;
    if websocket {
        let secure = scheme.cast::<PyString>()?.to_str()? == "https";
        let scheme = if secure {
            intern!(py, "wss")
        } else {
            intern!(py, "ws")
        };
        out.set_item(intern!(py, "scheme"), scheme)?;
    } else {
        out.set_item(intern!(py, "method"), scope.getattr(intern!(py, "method"))?)?;
        out.set_item(intern!(py, "scheme"), scheme)?;
    }
    out.set_item(intern!(py, "root_path"), intern!(py, ""))?;
    let path = scope.getattr(intern!(py, "path"))?;
    let raw_path = PyBytes::new(py, &quote_path(path.cast::<PyString>()?.to_str()?));
    out.set_item(intern!(py, "path"), path)?;
    out.set_item(intern!(py, "raw_path"), raw_path)?;
    let query = scope.getattr(intern!(py, "query_string"))?;
    let query = PyBytes::new(py, query.cast::<PyString>()?.to_str()?.as_bytes());
    out.set_item(intern!(py, "query_string"), query)?;

    let items = scope
        .getattr(intern!(py, "headers"))?
        .call_method0(intern!(py, "items"))?;
    let headers = PyList::empty(py);
    let mut body = BodyLength::default();
    let subprotocols = PyList::empty(py);
    for item in items.try_iter()? {
        let item = item?;
        let pair = item.cast::<PyTuple>()?;
        let name = pair.get_item(0)?;
        let value = pair.get_item(1)?;
        let name = name.cast::<PyString>()?.to_str()?;
        let value = value.cast::<PyString>()?.to_str()?;
        if websocket {
            if name == "sec-websocket-protocol" {
                for offered in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    subprotocols.append(offered)?;
                }
            }
        } else {
            body.header(name, value);
        }
        headers.append((latin1_bytes(py, name)?, latin1_bytes(py, value)?))?;
    }
    out.set_item(intern!(py, "headers"), headers)?;
    out.set_item(intern!(py, "state"), state.copy()?)?;
    let extensions = PyDict::new(py);
    if websocket {
        out.set_item(intern!(py, "subprotocols"), subprotocols)?;
    } else {
        extensions.set_item(intern!(py, "http.response.pathsend"), PyDict::new(py))?;
        extensions.set_item(intern!(py, "http.response.zerocopysend"), PyDict::new(py))?;
    }
    out.set_item(intern!(py, "extensions"), extensions)?;
    let length = match body.finish(http2) {
        Some(length) => i64::try_from(length).unwrap_or(-1),
        None => -1,
    };
    Ok((out, length))
}

/// ASGI response headers (`(bytes, bytes)` pairs) as the `(str, str)` pairs
/// granian's `response_*` methods take, bytes read as latin-1.
#[pyfunction]
fn rsgi_headers<'py>(py: Python<'py>, headers: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for item in headers.try_iter()? {
        let item = item?;
        let name = item.get_item(0)?;
        let value = item.get_item(1)?;
        out.append((latin1_str(py, &name)?, latin1_str(py, &value)?))?;
    }
    Ok(out)
}

fn latin1_str<'py>(py: Python<'py>, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
    let owned;
    let bytes = if let Ok(bytes) = value.cast::<PyBytes>() {
        bytes.as_bytes()
    } else {
        owned = py
            .get_type::<PyBytes>()
            .call1((value,))?
            .cast_into::<PyBytes>()?;
        owned.as_bytes()
    };
    if bytes.is_ascii() {
        // ASCII is valid UTF-8: no decoding step.
        return Ok(PyString::new(
            py,
            std::str::from_utf8(bytes).unwrap_or_default(),
        ));
    }
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    Ok(PyString::new(py, &text))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rsgi_scope, m)?)?;
    m.add_function(wrap_pyfunction!(rsgi_headers, m)?)?;
    Ok(())
}
