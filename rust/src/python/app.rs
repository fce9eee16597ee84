//! `AppBase`, the base class of `covet.app.CovetASGIApp`: `app(scope, receive, send)`
//! is this type's call slot, so a server's call reaches the HTTP driver with no
//! Python frame in between (a Python-level `__call__` costs a frame and a descriptor
//! lookup per request, ~0.14 µs in-process).

use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::driver::Dispatcher;

/// What a call of the application runs.
enum Entry {
    /// Not chosen yet (the app's `__init__` has not finished).
    Unset,
    /// The Rust driver, called directly.
    Driver(Py<Dispatcher>),
    /// Any other ASGI callable: the middleware stack's entry, the debug logger.
    Other(Py<PyAny>),
}

#[pyclass(name = "AppBase", module = "covet._core", subclass)]
pub struct AppBase {
    entry: Entry,
}

#[pymethods]
impl AppBase {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        AppBase {
            entry: Entry::Unset,
        }
    }

    fn __call__(
        &self,
        py: Python<'_>,
        scope: Bound<'_, PyDict>,
        receive: Py<PyAny>,
        send: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        match &self.entry {
            Entry::Driver(driver) => {
                let serve = Dispatcher::serve(driver.bind(py), scope, receive, send);
                Ok(Py::new(py, serve)?.into_any())
            }
            Entry::Other(entry) => entry.call1(py, (scope, receive, send)),
            Entry::Unset => Err(PyRuntimeError::new_err(
                "the application is called before its __init__ has finished",
            )),
        }
    }

    /// Chooses what `app(scope, receive, send)` runs. `app.__call__` (an instance
    /// attribute, which the call itself never looks up) is set to the same callable:
    /// servers tell an ASGI 3 app by `app.__call__` being a coroutine function.
    fn _set_entry(slf: &Bound<'_, Self>, entry: Bound<'_, PyAny>) -> PyResult<()> {
        slf.as_any()
            .setattr(intern!(slf.py(), "__call__"), &entry)?;
        slf.borrow_mut().entry = match entry.cast_into::<Dispatcher>() {
            Ok(driver) => Entry::Driver(driver.unbind()),
            Err(other) => Entry::Other(other.into_inner().unbind()),
        };
        Ok(())
    }

    // The app holds its driver and the driver the app: let the collector see it.
    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        match &self.entry {
            Entry::Driver(driver) => visit.call(driver),
            Entry::Other(entry) => visit.call(entry),
            Entry::Unset => Ok(()),
        }
    }

    fn __clear__(&mut self) {
        self.entry = Entry::Unset;
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<AppBase>()
}
