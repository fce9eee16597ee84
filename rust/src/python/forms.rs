//! Request-body parsers exposed to Python: `Content-Type` parsing, urlencoded forms
//! and the incremental multipart parser. `covet.core.formparsers` drives them; one
//! `MultipartParser.feed` call per received chunk is the only crossing.

use crate::limits;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use std::fs::File;
use std::os::fd::{BorrowedFd, RawFd};

use super::errors::{content_type_error, form_error};
use crate::forms::multipart::{self, FormError, MultipartLimits, Piece};
use crate::forms::spool::Spool;
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
///
/// After `spool_to(fd)` the rest of the current part's content is not returned as
/// `DATA`: the parser writes it to that file itself, with the GIL released, and
/// `end_spool()` after the part's `PART_END` says how many bytes it wrote.
#[pyclass(name = "MultipartParser", module = "covet._core")]
pub struct PyMultipartParser {
    inner: multipart::MultipartParser,
    spool: Option<Spool>,
    /// False once the spooled part has ended: the next part's content is
    /// returned as `DATA` again.
    spool_open: bool,
    /// Whether the last event returned left a part open (a `PART_START` without
    /// its `PART_END`). `spool_to` is meant for that part, once the caller has
    /// handled the events; without one the spool receives nothing.
    in_part: bool,
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
        Ok(Self {
            inner,
            spool: None,
            spool_open: false,
            in_part: false,
        })
    }

    /// Parses one chunk and returns the events it completed. A failed write to
    /// the spool file (a full disk...) raises `OSError` with the errno.
    fn feed<'py>(&mut self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        let mut failure: Option<PyErr> = None;
        let spool = &mut self.spool;
        let spool_open = &mut self.spool_open;
        let in_part = &mut self.in_part;
        let result = self.inner.feed_with(data, &mut |piece| {
            if failure.is_some() {
                return;
            }
            let item: PyResult<Bound<'py, PyTuple>> = match piece {
                Piece::Data(bytes) => match spool {
                    Some(spool) if *spool_open => {
                        if let Err(err) = py.detach(|| spool.write(bytes)) {
                            failure = Some(io_error(&err, WRITE_FAILED));
                        }
                        return;
                    }
                    _ => (Self::DATA, PyBytes::new(py, bytes)).into_pyobject(py),
                },
                Piece::PartStart(part) => {
                    *in_part = true;
                    part_start(py, part)
                }
                Piece::PartEnd => {
                    *in_part = false;
                    *spool_open = false;
                    (Self::PART_END,).into_pyobject(py)
                }
                Piece::End => (Self::END,).into_pyobject(py),
            };
            if let Err(err) = item.and_then(|item| list.append(item)) {
                failure = Some(err);
            }
        });
        result.map_err(form_error)?;
        match failure {
            Some(err) => {
                self.close();
                Err(err)
            }
            None => Ok(list),
        }
    }

    /// From now on, the current part's content is written to the file open on
    /// `fd` (at its current position) instead of being returned as `DATA`.
    /// The parser uses a duplicate of `fd`, closed by `end_spool()`.
    fn spool_to(&mut self, fd: RawFd) -> PyResult<()> {
        if self.spool.is_some() {
            return Err(PyValueError::new_err(
                "the parser is already spooling a part: end_spool() it after its PART_END",
            ));
        }
        if fd < 0 {
            return Err(PyValueError::new_err(format!(
                "invalid file descriptor {fd}"
            )));
        }
        // SAFETY: `fd` is only borrowed for the `dup` below, which fails cleanly
        // (EBADF) if it is not an open descriptor; the parser then owns the copy.
        let owned = unsafe { BorrowedFd::borrow_raw(fd) }
            .try_clone_to_owned()
            .map_err(|e| io_error(&e, "could not duplicate the upload's file descriptor"))?;
        self.spool = Some(Spool::new(File::from(owned)));
        self.spool_open = self.in_part;
        Ok(())
    }

    /// Ends the spooled part once its `PART_END` has been returned; returns how
    /// many bytes the parser wrote for it.
    fn end_spool(&mut self) -> PyResult<u64> {
        match &self.spool {
            None => Err(PyValueError::new_err("the parser is not spooling a part")),
            Some(_) if self.spool_open => Err(PyValueError::new_err(
                "the spooled part has not ended: wait for its PART_END",
            )),
            Some(spool) => {
                let written = spool.written();
                self.spool = None;
                Ok(written)
            }
        }
    }

    /// Stops the parser and releases the spool file (for a form being abandoned:
    /// a bad body, a disconnect, a failed write...).
    fn close(&mut self) {
        self.spool = None;
        self.spool_open = false;
        // Only to close the parser: an unfinished body is no error here.
        let _ = self.inner.finish();
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

fn part_start(py: Python<'_>, part: multipart::PartHeaders) -> PyResult<Bound<'_, PyTuple>> {
    let headers = PyList::empty(py);
    for (name, value) in &part.headers {
        headers.append((PyBytes::new(py, name), PyBytes::new(py, value)))?;
    }
    (
        PyMultipartParser::PART_START,
        part.name,
        part.filename,
        part.content_type,
        headers,
    )
        .into_pyobject(py)
}

const WRITE_FAILED: &str = "could not write an upload to its temporary file";

/// An `OSError` with the errno (so `ENOSPC` is recognisable) and what failed.
fn io_error(err: &std::io::Error, what: &str) -> PyErr {
    match err.raw_os_error() {
        Some(code) => PyOSError::new_err((code, format!("{what}: {err}"))),
        None => PyOSError::new_err(format!("{what}: {err}")),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse_content_type, m)?)?;
    m.add_function(wrap_pyfunction!(parse_urlencoded_form, m)?)?;
    m.add_class::<PyMultipartParser>()?;
    Ok(())
}
