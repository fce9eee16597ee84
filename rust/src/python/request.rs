//! `RequestBase`, the base class of `covet.requests.Request`: a request's own
//! references (scope, receive channel, path parameters) in a Rust struct.
//!
//! The driver makes a plain endpoint's request without a Python call: it allocates
//! the `Request` through the class's `tp_new` and fills the struct, skipping
//! `type.__call__` and `__init__`. The lazily built views (headers, query, body,
//! form, state) stay Python attributes, made on first access.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use super::bases::refuse_shadowed_fields;
use super::gil::{visit_each, GilCell};

#[pyclass(name = "RequestBase", module = "covet._core", subclass, frozen)]
pub struct RequestBase {
    fields: GilCell<RequestFields>,
}

/// The fields of a `RequestBase`.
struct RequestFields {
    scope: Option<Py<PyAny>>,
    receive: Option<Py<PyAny>>,
    /// Made on first read when the route has none (a plain GET allocates no dict).
    path_params: Option<Py<PyAny>>,
    /// The parsed form (`request.form()`), whose uploads the driver closes after
    /// the response; None until a form is read.
    form: Option<Py<PyAny>>,
}

/// What `request._receive` is for a request made without a body channel.
#[pyfunction]
fn no_receive() -> PyResult<()> {
    Err(PyRuntimeError::new_err("this request has no body channel"))
}

fn no_receive_function(py: Python<'_>) -> PyResult<Py<PyAny>> {
    static NO_RECEIVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    NO_RECEIVE
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(wrap_pyfunction!(no_receive, py)?.into_any().unbind())
        })
        .map(|f| f.clone_ref(py))
}

#[pymethods]
impl RequestBase {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        RequestBase {
            fields: GilCell::new(RequestFields {
                scope: None,
                receive: None,
                path_params: None,
                form: None,
            }),
        }
    }

    /// `Request(scope, receive=None, path_params=None)`.
    #[pyo3(signature = (scope, receive = None, path_params = None))]
    fn __init__(
        &self,
        py: Python<'_>,
        scope: Py<PyAny>,
        receive: Option<Py<PyAny>>,
        path_params: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let mut fields = self.fields.borrow_mut(py)?;
        let old = (
            fields.scope.replace(scope),
            std::mem::replace(&mut fields.receive, receive),
            std::mem::replace(&mut fields.path_params, path_params),
        );
        drop(fields);
        drop(old); // after the borrow: dropping may run code
        Ok(())
    }

    #[classmethod]
    fn __init_subclass__(cls: &Bound<'_, PyType>) -> PyResult<()> {
        refuse_shadowed_fields(cls, &cls.py().get_type::<RequestBase>(), "request")
    }

    #[getter]
    fn scope(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self
            .fields
            .borrow(py)?
            .scope
            .as_ref()
            .map_or_else(|| py.None(), |s| s.clone_ref(py)))
    }

    #[setter]
    fn set_scope(&self, py: Python<'_>, scope: Py<PyAny>) -> PyResult<()> {
        self.fields
            .replace(py, |fields| &mut fields.scope, Some(scope))
    }

    #[getter(_receive)]
    fn receive(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let receive = self
            .fields
            .borrow(py)?
            .receive
            .as_ref()
            .map(|r| r.clone_ref(py));
        match receive {
            Some(receive) => Ok(receive),
            None => no_receive_function(py),
        }
    }

    #[setter(_receive)]
    fn set_receive(&self, py: Python<'_>, receive: Py<PyAny>) -> PyResult<()> {
        self.fields
            .replace(py, |fields| &mut fields.receive, Some(receive))
    }

    #[getter]
    fn path_params(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if let Some(params) = &self.fields.borrow(py)?.path_params {
            return Ok(params.clone_ref(py));
        }
        let params = PyDict::new(py).into_any().unbind();
        self.fields.borrow_mut(py)?.path_params = Some(params.clone_ref(py));
        Ok(params)
    }

    #[setter]
    fn set_path_params(&self, py: Python<'_>, path_params: Py<PyAny>) -> PyResult<()> {
        self.fields
            .replace(py, |fields| &mut fields.path_params, Some(path_params))
    }

    #[getter(_form)]
    fn form(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self
            .fields
            .borrow(py)?
            .form
            .as_ref()
            .map_or_else(|| py.None(), |f| f.clone_ref(py)))
    }

    #[setter(_form)]
    fn set_form(&self, py: Python<'_>, form: Option<Py<PyAny>>) -> PyResult<()> {
        self.fields.replace(py, |fields| &mut fields.form, form)
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        self.fields.traverse(&visit, |fields, visit| {
            visit_each(
                visit,
                [
                    &fields.scope,
                    &fields.receive,
                    &fields.path_params,
                    &fields.form,
                ],
            )
        })
    }

    fn __clear__(&self) {
        // SAFETY: called by the cycle collector, which runs attached.
        unsafe {
            self.fields.clear(|fields| {
                (
                    fields.scope.take(),
                    fields.receive.take(),
                    fields.path_params.take(),
                    fields.form.take(),
                )
            });
        }
    }
}

impl RequestBase {
    /// Whether `request` (the driver's request) has a parsed form to close.
    pub fn has_form(request: &Bound<'_, PyAny>) -> PyResult<bool> {
        let py = request.py();
        match request.cast::<RequestBase>() {
            Ok(request) => Ok(request.get().fields.borrow(py)?.form.is_some()),
            Err(_) => Ok(!request.getattr(pyo3::intern!(py, "_form"))?.is_none()),
        }
    }
}

/// How the driver makes requests: `Request`'s own constructor, filled from Rust,
/// or (for a class with its own `__init__`) a call of the class.
pub struct RequestFactory {
    class: Py<PyType>,
    /// The class keeps `RequestBase`'s `__init__` (its `tp_init` slot).
    direct: bool,
}

impl RequestFactory {
    pub fn new(class: Bound<'_, PyType>) -> PyResult<Self> {
        let py = class.py();
        let base = py.get_type::<RequestBase>();
        // A subclass without its own `__init__` has the base's slot copied into
        // its type object, so the pointers are equal exactly then.
        // SAFETY: both are live type objects; only their `tp_init` slots are read.
        let inits = unsafe {
            (
                (*class.as_type_ptr()).tp_init,
                (*base.as_type_ptr()).tp_init,
            )
        };
        let same_init = matches!(inits, (Some(a), Some(b)) if std::ptr::fn_addr_eq(a, b));
        let direct = class.is_subclass(&base)? && same_init;
        Ok(RequestFactory {
            class: class.unbind(),
            direct,
        })
    }

    /// A request for `scope`, as `Request(scope, receive, path_params)` makes it.
    pub fn make<'py>(
        &self,
        py: Python<'py>,
        scope: &Bound<'py, PyDict>,
        receive: &Py<PyAny>,
        path_params: Option<Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let class = self.class.bind(py);
        if !self.direct {
            return class.call1((scope, receive, path_params));
        }
        let request = allocate(class)?;
        {
            // A new object: its fields are all None, nothing to drop.
            let mut fields = request.cast::<RequestBase>()?.get().fields.borrow_mut(py)?;
            fields.scope = Some(scope.clone().into_any().unbind());
            fields.receive = Some(receive.clone_ref(py));
            fields.path_params = path_params.map(|p| p.into_any().unbind());
        }
        Ok(request)
    }
}

/// A new, empty instance of `class` (a subclass of `RequestBase`) from its `tp_new`.
fn allocate<'py>(class: &Bound<'py, PyType>) -> PyResult<Bound<'py, PyAny>> {
    let py = class.py();
    let args = PyTuple::empty(py);
    // SAFETY: `class` is a live type object; `tp_new` is read from it and called
    // with a valid (empty) argument tuple and no keywords, as `type.__call__` does.
    // The result is a new reference or NULL with an exception set.
    unsafe {
        let type_ptr = class.as_type_ptr();
        let Some(new) = (*type_ptr).tp_new else {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "the request class cannot be instantiated",
            ));
        };
        let object = new(type_ptr, args.as_ptr(), std::ptr::null_mut());
        Bound::from_owned_ptr_or_err(py, object)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RequestBase>()?;
    Ok(())
}
