//! `AppBase`, the base class of `covet.app.CovetASGIApp`: `app(scope, receive, send)`
//! is this type's call slot, so a server's call reaches the HTTP driver with no
//! Python frame in between (a Python-level `__call__` costs a frame and a descriptor
//! lookup per request, ~0.14 µs in-process).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::driver::Dispatcher;
use super::gil::GilCell;

/// What a call of the application runs.
enum Entry {
    /// Not chosen yet (the app's `__init__` has not finished).
    Unset,
    /// The Rust driver, called directly.
    Driver(Py<Dispatcher>),
    /// Any other ASGI callable: the middleware stack's entry, the debug logger.
    Other(Py<PyAny>),
}

#[pyclass(name = "AppBase", module = "covet._core", subclass, frozen)]
pub struct AppBase {
    entry: GilCell<Entry>,
}

#[pymethods]
impl AppBase {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        AppBase {
            entry: GilCell::new(Entry::Unset),
        }
    }

    fn __call__(
        &self,
        py: Python<'_>,
        scope: Bound<'_, PyDict>,
        receive: Py<PyAny>,
        send: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        // The borrow ends before anything runs: the request runs Python code, which
        // may change the entry (middleware added while serving).
        let entry = match &*self.entry.borrow(py)? {
            Entry::Driver(driver) => Ok(driver.clone_ref(py)),
            Entry::Other(entry) => Err(entry.clone_ref(py)),
            Entry::Unset => {
                return Err(PyRuntimeError::new_err(
                    "the application is called before its __init__ has finished",
                ))
            }
        };
        match entry {
            Ok(driver) => Dispatcher::serve(driver.bind(py), scope, receive, send),
            Err(other) => other.call1(py, (scope, receive, send)),
        }
    }

    /// Chooses what `app(scope, receive, send)` runs.
    fn _set_entry(slf: &Bound<'_, Self>, entry: Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let entry = match entry.cast_into::<Dispatcher>() {
            Ok(driver) => Entry::Driver(driver.unbind()),
            Err(other) => Entry::Other(other.into_inner().unbind()),
        };
        slf.get().entry.replace(py, |current| current, entry)
    }

    // The app holds its driver and the driver the app: let the collector see it.
    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        self.entry.traverse(&visit, |entry, visit| match entry {
            Entry::Driver(driver) => visit.call(driver),
            Entry::Other(entry) => visit.call(entry),
            Entry::Unset => Ok(()),
        })
    }

    fn __clear__(&self) {
        // SAFETY: called by the cycle collector, which runs attached.
        unsafe {
            self.entry
                .clear(|entry| std::mem::replace(entry, Entry::Unset));
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<AppBase>()
}
