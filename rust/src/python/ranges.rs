//! `Range` header parsing for `FileResponse`, exposed to Python.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

use super::errors::range_error;
use crate::http::range;

/// Parses a `Range` header against a representation of `size` bytes and returns the
/// satisfiable ranges as sorted, merged, inclusive `(first, last)` pairs.
///
/// Raises `MalformedRangeError` (ignore the header, send 200), `TooManyRangesError`
/// (more than `max_ranges` specs; CovetPy ignores the header) or
/// `RangeNotSatisfiableError` (answer 416).
#[pyfunction]
#[pyo3(signature = (header, size, max_ranges = range::DEFAULT_MAX_RANGES))]
fn parse_range<'py>(
    py: Python<'py>,
    header: &Bound<'py, PyAny>,
    size: u64,
    max_ranges: usize,
) -> PyResult<Bound<'py, PyList>> {
    let ranges = if let Ok(b) = header.cast::<PyBytes>() {
        range::parse(b.as_bytes(), size, max_ranges)
    } else {
        let s = header.cast::<PyString>()?;
        range::parse(s.to_str()?.as_bytes(), size, max_ranges)
    }
    .map_err(range_error)?;
    let list = PyList::empty(py);
    for r in ranges {
        list.append((r.first, r.last))?;
    }
    Ok(list)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DEFAULT_MAX_RANGES", range::DEFAULT_MAX_RANGES)?;
    m.add_function(wrap_pyfunction!(parse_range, m)?)?;
    Ok(())
}
