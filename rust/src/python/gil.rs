//! `GilCell`: mutable state of the per-request objects without atomic operations.
//!
//! PyO3 guards a mutable pyclass with an atomic borrow flag, made for free-threaded
//! Python: a shared borrow is a compare-and-swap plus an atomic decrement, ~9 ns on
//! this kind of machine against ~1 ns for a plain counter, and a plain request took
//! about twenty of them (borrows, a settings lock). This module runs with the GIL
//! (it does not declare free-threading support, and `require_gil` refuses an
//! interpreter that keeps the GIL off), so attached threads already run one at a
//! time: a `RefCell` whose every access takes the `Python` token keeps the same
//! dynamic borrow check with ordinary loads and stores.

use std::cell::{Ref, RefCell, RefMut};

use pyo3::exceptions::{PyImportError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::{PyTraverseError, PyVisit};

/// A `RefCell` that threads share while attached to the interpreter.
pub struct GilCell<T>(RefCell<T>);

// SAFETY: the cell is only reached through `borrow`/`borrow_mut` (which take a
// `Python` token, so the caller is attached), `traverse` (which takes the
// collector's `PyVisit`) or `clear` (whose callers vouch for being the collector);
// the cycle collector runs attached.
// Attached threads run one at a time under the GIL, which `require_gil` ensures is
// on; a `Ref` is not `Send`, so it cannot cross `Python::detach`.
unsafe impl<T: Send> Sync for GilCell<T> {}

impl<T> GilCell<T> {
    pub fn new(value: T) -> Self {
        GilCell(RefCell::new(value))
    }

    /// A shared borrow; an error if the value is being changed (re-entrant use).
    pub fn borrow<'a>(&'a self, _py: Python<'_>) -> PyResult<Ref<'a, T>> {
        self.0.try_borrow().map_err(|_| busy())
    }

    /// An exclusive borrow; an error if the value is borrowed (re-entrant use).
    pub fn borrow_mut<'a>(&'a self, _py: Python<'_>) -> PyResult<RefMut<'a, T>> {
        self.0.try_borrow_mut().map_err(|_| busy())
    }

    /// Sets the part `field` picks to `value`. The old value is dropped once the
    /// borrow has ended: dropping may run code, which may use this cell.
    pub fn replace<V>(
        &self,
        py: Python<'_>,
        field: impl FnOnce(&mut T) -> &mut V,
        value: V,
    ) -> PyResult<()> {
        let old = std::mem::replace(field(&mut *self.borrow_mut(py)?), value);
        drop(old);
        Ok(())
    }

    /// `__traverse__`'s look at the value: `visit_fields` runs on it unless it is
    /// being changed (it is then reachable from the running frame anyway). The
    /// `PyVisit` shows the caller is the cycle collector, which runs attached.
    pub fn traverse(
        &self,
        visit: &PyVisit<'_>,
        visit_fields: impl FnOnce(&T, &PyVisit<'_>) -> Result<(), PyTraverseError>,
    ) -> Result<(), PyTraverseError> {
        match self.0.try_borrow() {
            Ok(value) => visit_fields(&value, visit),
            Err(_) => Ok(()),
        }
    }

    /// `__clear__`'s work: `take` moves references out of the value (unless it is
    /// borrowed), and they are dropped once the borrow has ended, as dropping may
    /// run code.
    ///
    /// # Safety
    ///
    /// The caller is attached to the interpreter (the cycle collector, which calls
    /// `__clear__`, is; `__clear__` gets no `Python` token to show it).
    pub unsafe fn clear<R>(&self, take: impl FnOnce(&mut T) -> R) {
        let taken = self
            .0
            .try_borrow_mut()
            .ok()
            .map(|mut value| take(&mut value));
        drop(taken);
    }
}

/// Visits the references among `held` that are set: a `__traverse__`'s optional
/// fields.
pub fn visit_each<'a>(
    visit: &PyVisit<'_>,
    held: impl IntoIterator<Item = &'a Option<Py<PyAny>>>,
) -> Result<(), PyTraverseError> {
    for held in held.into_iter().flatten() {
        visit.call(held)?;
    }
    Ok(())
}

#[cold]
fn busy() -> PyErr {
    PyRuntimeError::new_err("the object is in use by the call that is running it")
}

/// Refuses to load in an interpreter running without the GIL (`PYTHON_GIL=0` on a
/// free-threaded build): `GilCell` relies on it.
pub fn require_gil(py: Python<'_>) -> PyResult<()> {
    let Ok(is_gil_enabled) = py.import("sys")?.getattr("_is_gil_enabled") else {
        return Ok(()); // before 3.13: the GIL is always on
    };
    if is_gil_enabled.call0()?.is_truthy()? {
        Ok(())
    } else {
        Err(PyImportError::new_err(
            "covet._core needs the GIL: run the free-threaded interpreter without PYTHON_GIL=0",
        ))
    }
}
