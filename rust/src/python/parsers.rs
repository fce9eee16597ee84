//! Request-side parsers (query strings, urlencoded bodies, cookies) and response
//! header encoding, exposed to Python.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use super::errors::{header_error, urlencoded_error};
use crate::forms::urlencoded as query;
use crate::http::{cookies, headers};

/// Parses a query string or urlencoded body into `[(key, value), ...]`.
#[pyfunction]
#[pyo3(signature = (data, max_fields = usize::MAX))]
fn parse_query<'py>(
    py: Python<'py>,
    data: &[u8],
    max_fields: usize,
) -> PyResult<Bound<'py, PyList>> {
    let pairs = query::parse(data, max_fields).map_err(urlencoded_error)?;
    let list = PyList::empty(py);
    for (k, v) in pairs {
        list.append((PyString::new(py, &k), PyString::new(py, &v)))?;
    }
    Ok(list)
}

/// Parses a `Cookie` header into a dict as Starlette's `cookie_parser` does: the
/// last occurrence of a name wins, a chunk without `=` is stored under the empty
/// name, and double-quoted values are unquoted like `http.cookies._unquote`.
#[pyfunction]
fn parse_cookies<'py>(py: Python<'py>, header: &str) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, value) in cookies::parse(header) {
        dict.set_item(name, value.as_ref())?;
    }
    Ok(dict)
}

fn to_bytes<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.clone());
    }
    let s = obj.cast::<PyString>()?;
    // Header values are latin-1 on the wire (RFC 9110 §5.5); encode that way.
    Ok(s.call_method1("encode", ("latin-1",))?
        .cast_into::<PyBytes>()?)
}

/// Turns `(name, value)` pairs of str or bytes into ASGI header tuples, lowercasing
/// names and rejecting names that are not tokens and values that are not RFC 9110
/// field-values (control characters, leading or trailing whitespace).
#[pyfunction]
pub(crate) fn encode_headers<'py>(
    py: Python<'py>,
    items: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for item in items.try_iter()? {
        let item = item?;
        let pair = item.cast::<PyTuple>()?;
        if pair.len() != 2 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "header items must be (name, value) pairs",
            ));
        }
        let name = to_bytes(&pair.get_item(0)?)?;
        let value = to_bytes(&pair.get_item(1)?)?;
        let name_bytes = name.as_bytes();
        headers::validate(name_bytes, value.as_bytes()).map_err(header_error)?;
        let name = if name_bytes.iter().any(u8::is_ascii_uppercase) {
            PyBytes::new(py, &name_bytes.to_ascii_lowercase())
        } else {
            name
        };
        out.append((name, value))?;
    }
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse_query, m)?)?;
    m.add_function(wrap_pyfunction!(parse_cookies, m)?)?;
    m.add_function(wrap_pyfunction!(encode_headers, m)?)?;
    Ok(())
}
