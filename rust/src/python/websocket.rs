//! WebSocket accounting as Python classes: `WsCounters`, an app's totals, and
//! `WsConnection`, one connection's counters, which every message received and sent
//! passes through (one call each: size, limit check, counts).

use std::sync::Arc;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::string::PyStringData;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString};

use crate::websocket::{utf8_len_ucs1, utf8_len_ucs2, utf8_len_ucs4, within_limit, Counts};

/// The UTF-8 length of a str, from its code points: no encoding, no copy.
fn text_size(text: &Bound<'_, PyString>) -> PyResult<u64> {
    // SAFETY: `data` reads the str's canonical storage (PyO3 decodes CPython's
    // kind bitfield; tested on x86_64, the targets this crate ships for) while the
    // GIL is held and `text` keeps the object alive; the slice is not kept.
    let data = unsafe { text.data()? };
    Ok(match data {
        PyStringData::Ucs1(units) => utf8_len_ucs1(units),
        PyStringData::Ucs2(units) => utf8_len_ucs2(units),
        PyStringData::Ucs4(units) => utf8_len_ucs4(units),
    })
}

/// The payload size of a bytes-like object.
fn data_size(data: &Bound<'_, PyAny>) -> PyResult<u64> {
    let len = if let Ok(bytes) = data.cast::<PyBytes>() {
        bytes.as_bytes().len()
    } else if let Ok(array) = data.cast::<PyByteArray>() {
        array.len()
    } else {
        // A memoryview or another buffer: its size in bytes.
        data.getattr(intern!(data.py(), "nbytes"))?.extract()?
    };
    Ok(len as u64)
}

/// The size of a `websocket.receive`/`websocket.send` message: its `bytes` if set,
/// else its `text` (UTF-8 bytes), else 0.
fn message_size(message: &Bound<'_, PyDict>) -> PyResult<u64> {
    let py = message.py();
    if let Some(data) = message.get_item(intern!(py, "bytes"))? {
        if !data.is_none() {
            return data_size(&data);
        }
    }
    match message.get_item(intern!(py, "text"))? {
        Some(text) if !text.is_none() => text_size(text.cast::<PyString>()?),
        _ => Ok(0),
    }
}

/// An app's WebSocket totals over all its connections (``app.get_stats()``).
#[pyclass(name = "WsCounters", module = "covet._core", frozen)]
pub struct PyWsCounters {
    totals: Arc<Counts>,
}

#[pymethods]
impl PyWsCounters {
    #[new]
    fn new() -> Self {
        Self {
            totals: Arc::new(Counts::default()),
        }
    }

    /// The counters of one new connection; its messages also add to these totals.
    fn connection(&self) -> PyWsConnection {
        PyWsConnection {
            own: Counts::default(),
            totals: Some(Arc::clone(&self.totals)),
        }
    }

    /// The totals as ``websocket_*`` stats keys.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.totals.snapshot();
        let dict = PyDict::new(py);
        dict.set_item("websocket_messages_received", s.messages_received)?;
        dict.set_item("websocket_messages_sent", s.messages_sent)?;
        dict.set_item("websocket_bytes_received", s.bytes_received)?;
        dict.set_item("websocket_bytes_sent", s.bytes_sent)?;
        Ok(dict)
    }

    /// Zeroes the totals (each connection keeps its own counts).
    fn reset(&self) {
        self.totals.reset();
    }
}

/// One connection's message and byte counters, and its size limit check.
#[pyclass(name = "WsConnection", module = "covet._core", frozen)]
pub struct PyWsConnection {
    own: Counts,
    totals: Option<Arc<Counts>>,
}

impl PyWsConnection {
    fn count_received(&self, size: u64) {
        self.own.received(size);
        if let Some(totals) = &self.totals {
            totals.received(size);
        }
    }

    fn count_sent(&self, size: u64) {
        self.own.sent(size);
        if let Some(totals) = &self.totals {
            totals.sent(size);
        }
    }
}

#[pymethods]
impl PyWsConnection {
    /// Counters of a connection that belongs to no app's totals.
    #[new]
    fn new() -> Self {
        Self {
            own: Counts::default(),
            totals: None,
        }
    }

    /// Counts an incoming ``websocket.receive`` message; False if it is larger than
    /// ``limit`` bytes (None: no limit). An oversized message is counted too: it
    /// was received.
    #[pyo3(signature = (message, limit))]
    fn received(&self, message: &Bound<'_, PyDict>, limit: Option<u64>) -> PyResult<bool> {
        let size = message_size(message)?;
        self.count_received(size);
        Ok(within_limit(size, limit))
    }

    /// Counts an outgoing ``websocket.send`` message.
    fn sent(&self, message: &Bound<'_, PyDict>) -> PyResult<()> {
        let size = message_size(message)?;
        self.count_sent(size);
        Ok(())
    }

    /// Counts an outgoing text message (``send_text``'s path, no message dict).
    fn sent_text(&self, text: &Bound<'_, PyString>) -> PyResult<()> {
        let size = text_size(text)?;
        self.count_sent(size);
        Ok(())
    }

    #[getter]
    fn messages_received(&self) -> u64 {
        self.own.snapshot().messages_received
    }

    #[getter]
    fn messages_sent(&self) -> u64 {
        self.own.snapshot().messages_sent
    }

    #[getter]
    fn bytes_received(&self) -> u64 {
        self.own.snapshot().bytes_received
    }

    #[getter]
    fn bytes_sent(&self) -> u64 {
        self.own.snapshot().bytes_sent
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyWsCounters>()?;
    m.add_class::<PyWsConnection>()?;
    Ok(())
}
