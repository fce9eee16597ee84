//! `Stats` as a Python class. `record` is the one call per HTTP request; it never
//! takes a lock and never allocates. `frozen` spares every call PyO3's borrow flag.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::stats::Stats;

const NS_PER_SECOND: f64 = 1e9;

#[pyclass(name = "Stats", module = "covet._core", frozen)]
pub struct PyStats {
    inner: Stats,
}

#[pymethods]
impl PyStats {
    #[new]
    fn new() -> Self {
        Self {
            inner: Stats::new(),
        }
    }

    /// Records one finished request: its status code and how long it took, in
    /// nanoseconds. A status outside 100..=999 counts in the totals only; a negative
    /// duration counts as 0.
    fn record(&self, status: i64, elapsed_ns: i64) {
        let status = u16::try_from(status).unwrap_or(0);
        let elapsed = u64::try_from(elapsed_ns).unwrap_or(0);
        self.inner.record(status, elapsed);
    }

    /// A client went away before its request was answered.
    fn client_disconnected(&self) {
        self.inner.client_disconnected();
    }

    /// A WebSocket connection was accepted.
    fn websocket_opened(&self) {
        self.inner.websocket_opened();
    }

    /// An accepted WebSocket connection ended.
    fn websocket_closed(&self) {
        self.inner.websocket_closed();
    }

    /// Zeroes the counters; open WebSocket connections stay counted.
    fn reset(&self) {
        self.inner.reset();
    }

    /// The counters as a dict; times are in seconds.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.snapshot();
        let dict = PyDict::new(py);
        let seconds = |ns: u64| ns as f64 / NS_PER_SECOND;
        dict.set_item("requests_processed", s.requests)?;
        dict.set_item("average_response_time", s.mean_ns() / NS_PER_SECOND)?;
        dict.set_item("websocket_connections", s.websocket_active)?;
        dict.set_item("websocket_connections_total", s.websocket_total)?;
        dict.set_item("errors", s.errors)?;
        dict.set_item("client_disconnects", s.client_disconnects)?;
        let codes = PyDict::new(py);
        for (code, count) in &s.status_codes {
            codes.set_item(code, count)?;
        }
        dict.set_item("status_codes", codes)?;
        dict.set_item("latency_p50", seconds(s.p50_ns))?;
        dict.set_item("latency_p90", seconds(s.p90_ns))?;
        dict.set_item("latency_p99", seconds(s.p99_ns))?;
        dict.set_item("latency_max", seconds(s.max_ns))?;
        Ok(dict)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStats>()
}
