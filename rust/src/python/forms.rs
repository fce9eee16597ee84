//! Request-body parsers exposed to Python: `Content-Type` parsing, urlencoded forms
//! and the incremental multipart parser. `covet.core.formparsers` drives them; one
//! `MultipartParser.feed` call per received chunk is the only crossing.

use crate::limits;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use super::errors::{content_type_error, form_error};
use crate::forms::multipart::{self, Event, FormError, MultipartLimits};
use crate::http::content_type;

/// Parses a `Content-Type` value into `(media_type, params)`: the lowercased
/// `type/subtype` and a dict of lowercased parameter names to values.
#[pyfunction]
fn parse_content_type<'py>(py: Python<'py>, value: &str) -> PyResult<(String, Bound<'py, PyDict>)> {
    let parsed = content_type::parse(value).map_err(content_type_error)?;
    let params = PyDict::new(py);
    for (name, value) in &parsed.params {
        params.set_item(name, value.as_ref())?;
    }
    Ok((parsed.media_type, params))
}

/// Parses an urlencoded form body into `[(key, value), ...]`, enforcing the field
/// count and the decoded size of each key and each value.
#[pyfunction]
#[pyo3(signature = (data, max_fields, max_field_size))]
fn parse_urlencoded_form<'py>(
    py: Python<'py>,
    data: &[u8],
    max_fields: usize,
    max_field_size: usize,
) -> PyResult<Bound<'py, PyList>> {
    let pairs = multipart::parse_urlencoded(data, max_fields, max_field_size)
        .map_err(|e| form_error(FormError::Limit(e)))?;
    let list = PyList::empty(py);
    for (k, v) in pairs {
        list.append((PyString::new(py, &k), PyString::new(py, &v)))?;
    }
    Ok(list)
}

/// The incremental multipart parser. `feed(chunk)` returns a list of event tuples:
/// `(PART_START, name, filename, content_type, headers)`, `(DATA, bytes)`,
/// `(PART_END,)` and `(END,)`; `finish()` raises if the body was truncated.
#[pyclass(name = "MultipartParser", module = "covet._core")]
pub struct PyMultipartParser {
    inner: multipart::MultipartParser,
}

#[pymethods]
impl PyMultipartParser {
    #[classattr]
    const PART_START: u8 = 0;
    #[classattr]
    const DATA: u8 = 1;
    #[classattr]
    const PART_END: u8 = 2;
    #[classattr]
    const END: u8 = 3;

    #[new]
    #[pyo3(signature = (
        boundary,
        *,
        max_fields = limits::MAX_FORM_FIELDS,
        max_files = limits::MAX_FILES,
        max_part_header_size = limits::MAX_PART_HEADER_SIZE,
        max_part_headers = limits::MAX_PART_HEADERS,
        max_field_size = limits::MAX_FIELD_SIZE,
    ))]
    fn new(
        boundary: &[u8],
        max_fields: usize,
        max_files: usize,
        max_part_header_size: usize,
        max_part_headers: usize,
        max_field_size: usize,
    ) -> PyResult<Self> {
        let limits = MultipartLimits {
            max_fields,
            max_files,
            max_part_header_size,
            max_part_headers,
            max_field_size,
        };
        let inner = multipart::MultipartParser::new(boundary, limits)
            .map_err(|e| form_error(FormError::Malformed(e)))?;
        Ok(Self { inner })
    }

    /// Parses one chunk and returns the events it completed.
    fn feed<'py>(&mut self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyList>> {
        let mut events = Vec::new();
        self.inner
            .feed_into(data, &mut events)
            .map_err(form_error)?;
        let list = PyList::empty(py);
        for event in events {
            let item: Bound<'py, PyTuple> = match event {
                Event::PartStart(part) => {
                    let headers = PyList::empty(py);
                    for (name, value) in &part.headers {
                        headers.append((PyBytes::new(py, name), PyBytes::new(py, value)))?;
                    }
                    (
                        Self::PART_START,
                        part.name,
                        part.filename,
                        part.content_type,
                        headers,
                    )
                        .into_pyobject(py)?
                }
                Event::Data(bytes) => (Self::DATA, PyBytes::new(py, &bytes)).into_pyobject(py)?,
                Event::PartEnd => (Self::PART_END,).into_pyobject(py)?,
                Event::End => (Self::END,).into_pyobject(py)?,
            };
            list.append(item)?;
        }
        Ok(list)
    }

    /// Declares the body complete; raises `MalformedMultipartError` unless the
    /// closing boundary was read.
    fn finish(&mut self) -> PyResult<()> {
        self.inner
            .finish()
            .map_err(|e| form_error(FormError::Malformed(e)))
    }

    /// Whether the closing boundary has been read.
    #[getter]
    fn complete(&self) -> bool {
        self.inner.is_complete()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse_content_type, m)?)?;
    m.add_function(wrap_pyfunction!(parse_urlencoded_form, m)?)?;
    m.add_class::<PyMultipartParser>()?;
    Ok(())
}
