//! `Stats` as a Python class, and the route template registry. `record` is the one
//! call per HTTP request; it never takes a lock and allocates only on the first
//! request of a route, method and status class. `frozen` spares every call PyO3's
//! borrow flag.

use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::stats::routes::{self, RouteSnapshot};
use crate::stats::{Stats, Writers};

const NS_PER_SECOND: f64 = 1e9;
const CLASS_NAMES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn seconds(ns: u64) -> f64 {
    ns as f64 / NS_PER_SECOND
}

fn class_name(class: u8) -> &'static str {
    CLASS_NAMES
        .get(usize::from(class).wrapping_sub(1))
        .copied()
        .unwrap_or("5xx")
}

/// `route` as a registry id; anything `route_id` never returned counts as unmatched.
fn route_of(route: i64) -> u32 {
    u32::try_from(route).unwrap_or(routes::UNMATCHED)
}

#[pyclass(name = "Stats", module = "covet._core", frozen)]
pub struct PyStats {
    inner: Stats,
}

#[pymethods]
impl PyStats {
    #[new]
    fn new() -> Self {
        // Every method runs attached to the interpreter, one thread at a time under
        // the GIL (see `gil`): the counters need no locked adds.
        Self {
            inner: Stats::with_writers(Writers::Serialized),
        }
    }

    /// Records one finished request: its status code and how long it took, in
    /// nanoseconds, and, given `route` (an id from `route_id`), also under that
    /// route, `method` and the status class. A status outside 100..=999 counts in
    /// the totals only (outside 100..=599, not per route); a negative duration counts
    /// as 0; an unknown route id counts under `<unmatched>`.
    #[pyo3(signature = (status, elapsed_ns, route = None, method = ""))]
    fn record(&self, status: i64, elapsed_ns: i64, route: Option<i64>, method: &str) {
        let status = u16::try_from(status).unwrap_or(0);
        let elapsed = u64::try_from(elapsed_ns).unwrap_or(0);
        self.inner.record(status, elapsed);
        if let Some(route) = route {
            self.inner.record_route(
                route_of(route),
                routes::method_index(method),
                status,
                elapsed,
            );
        }
    }

    /// Records under `route` alone, not in the request totals: a WebSocket session
    /// (method `WEBSOCKET`, status 101 once accepted, or its denial status).
    fn record_route(&self, status: i64, elapsed_ns: i64, route: i64, method: &str) {
        let status = u16::try_from(status).unwrap_or(0);
        let elapsed = u64::try_from(elapsed_ns).unwrap_or(0);
        self.inner.record_route(
            route_of(route),
            routes::method_index(method),
            status,
            elapsed,
        );
    }

    /// A client went away before its request was answered.
    pub(crate) fn client_disconnected(&self) {
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
        dict.set_item("routes", self.routes(py)?)?;
        Ok(dict)
    }

    /// What a metrics exporter needs, in one consistent read: `resets` (how many
    /// times `reset` ran), `client_disconnects`, `websocket_connections` and
    /// `series`, a list of `(template, method, status class, count, sum in
    /// nanoseconds, [cumulative count at each of bounds_ns])`. `bounds_ns` are
    /// histogram upper bounds in nanoseconds, ascending.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "PyO3 extracts a list as a Vec"
    )]
    fn export<'py>(&self, py: Python<'py>, bounds_ns: Vec<u64>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.snapshot();
        let dict = PyDict::new(py);
        dict.set_item("resets", self.inner.resets())?;
        dict.set_item("client_disconnects", s.client_disconnects)?;
        dict.set_item("websocket_connections", s.websocket_active)?;
        let series = PyList::empty(py);
        self.for_each_route(
            |template,
             RouteSnapshot {
                 method,
                 class,
                 cell,
                 ..
             }| {
                series.append(PyTuple::new(
                    py,
                    [
                        template.into_pyobject(py)?.into_any(),
                        method.into_pyobject(py)?.into_any(),
                        class_name(class).into_pyobject(py)?.into_any(),
                        cell.count.into_pyobject(py)?.into_any(),
                        cell.total_ns.into_pyobject(py)?.into_any(),
                        cell.cumulative(&bounds_ns).into_pyobject(py)?.into_any(),
                    ],
                )?)
            },
        )?;
        dict.set_item("series", series)?;
        Ok(dict)
    }
}

impl PyStats {
    /// `{template: {method: {"2xx": {count, errors, mean, p50, p90, p99, max}}}}`.
    fn routes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        self.for_each_route(
            |template,
             RouteSnapshot {
                 method,
                 class,
                 cell,
                 ..
             }| {
                let methods = if let Some(found) = out.get_item(template)? {
                    found.cast_into::<PyDict>()?
                } else {
                    let fresh = PyDict::new(py);
                    out.set_item(template, &fresh)?;
                    fresh
                };
                let classes = if let Some(found) = methods.get_item(method)? {
                    found.cast_into::<PyDict>()?
                } else {
                    let fresh = PyDict::new(py);
                    methods.set_item(method, &fresh)?;
                    fresh
                };
                let entry = PyDict::new(py);
                entry.set_item("count", cell.count)?;
                entry.set_item("errors", if class == 5 { cell.count } else { 0 })?;
                entry.set_item("mean", cell.mean_ns() / NS_PER_SECOND)?;
                entry.set_item("p50", seconds(cell.percentile(0.50)))?;
                entry.set_item("p90", seconds(cell.percentile(0.90)))?;
                entry.set_item("p99", seconds(cell.percentile(0.99)))?;
                entry.set_item("max", seconds(cell.max_ns))?;
                classes.set_item(class_name(class), entry)
            },
        )?;
        Ok(out)
    }

    /// Every per-route cell, with the template of its route.
    fn for_each_route(
        &self,
        mut visit: impl FnMut(&str, RouteSnapshot) -> PyResult<()>,
    ) -> PyResult<()> {
        let templates = routes::route_templates();
        for snapshot in self.inner.route_snapshot() {
            let template = templates
                .get(snapshot.route as usize)
                .map_or(routes::UNMATCHED_TEMPLATE, |t| &**t);
            visit(template, snapshot)?;
        }
        Ok(())
    }
}

impl PyStats {
    /// `record` for the driver, without a Python call.
    /// `method` is `method_index`'s index of the request's method.
    pub(crate) fn record_request(
        &self,
        status: u16,
        elapsed_ns: u64,
        route: Option<i64>,
        method: usize,
    ) {
        self.inner.record(status, elapsed_ns);
        if let Some(route) = route {
            self.inner
                .record_route(route_of(route), method, status, elapsed_ns);
        }
    }
}

/// The id of a route template (`"/users/{id:int}"`), registered on first use; the
/// same template always gets the same id in this process.
#[pyfunction]
fn route_id(template: &str) -> PyResult<u32> {
    routes::route_id(template).map_err(|e| PyOverflowError::new_err(e.to_string()))
}

/// The template registered under `id`, or None.
#[pyfunction]
fn route_template(id: i64) -> Option<String> {
    let id = u32::try_from(id).ok()?;
    routes::route_template(id).map(|t| t.to_string())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStats>()?;
    m.add_function(wrap_pyfunction!(route_id, m)?)?;
    m.add_function(wrap_pyfunction!(route_template, m)?)?;
    m.add("UNMATCHED_ROUTE", routes::UNMATCHED)?;
    m.add("UNMATCHED_TEMPLATE", routes::UNMATCHED_TEMPLATE)?;
    m.add("ROUTE_METHODS", PyTuple::new(m.py(), routes::METHODS)?)?;
    Ok(())
}
