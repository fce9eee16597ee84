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

#[pyclass(name = "RequestBase", module = "covet._core", subclass)]
pub struct RequestBase {
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
            scope: None,
            receive: None,
            path_params: None,
            form: None,
        }
    }

    /// `Request(scope, receive=None, path_params=None)`.
    #[pyo3(signature = (scope, receive = None, path_params = None))]
    fn __init__(
        &mut self,
        scope: Py<PyAny>,
        receive: Option<Py<PyAny>>,
        path_params: Option<Py<PyAny>>,
    ) {
        self.scope = Some(scope);
        self.receive = receive;
        self.path_params = path_params;
    }

    #[classmethod]
    fn __init_subclass__(cls: &Bound<'_, PyType>) -> PyResult<()> {
        refuse_shadowed_fields(cls, &cls.py().get_type::<RequestBase>(), "request")
    }

    #[getter]
    fn scope(&self, py: Python<'_>) -> Py<PyAny> {
        self.scope
            .as_ref()
            .map_or_else(|| py.None(), |s| s.clone_ref(py))
    }

    #[setter]
    fn set_scope(&mut self, scope: Py<PyAny>) {
        self.scope = Some(scope);
    }

    #[getter(_receive)]
    fn receive(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &self.receive {
            Some(receive) => Ok(receive.clone_ref(py)),
            None => no_receive_function(py),
        }
    }

    #[setter(_receive)]
    fn set_receive(&mut self, receive: Py<PyAny>) {
        self.receive = Some(receive);
    }

    #[getter]
    fn path_params(&mut self, py: Python<'_>) -> Py<PyAny> {
        self.path_params
            .get_or_insert_with(|| PyDict::new(py).into_any().unbind())
            .clone_ref(py)
    }

    #[setter]
    fn set_path_params(&mut self, path_params: Py<PyAny>) {
        self.path_params = Some(path_params);
    }

    #[getter(_form)]
    fn form(&self, py: Python<'_>) -> Py<PyAny> {
        self.form
            .as_ref()
            .map_or_else(|| py.None(), |f| f.clone_ref(py))
    }

    #[setter(_form)]
    fn set_form(&mut self, form: Option<Py<PyAny>>) {
        self.form = form;
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        for held in [&self.scope, &self.receive, &self.path_params, &self.form]
            .into_iter()
            .flatten()
        {
            visit.call(held)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.scope = None;
        self.receive = None;
        self.path_params = None;
        self.form = None;
    }
}

impl RequestBase {
    /// Whether `request` (the driver's request) has a parsed form to close.
    pub fn has_form(request: &Bound<'_, PyAny>) -> PyResult<bool> {
        match request.cast::<RequestBase>() {
            Ok(request) => Ok(request.borrow().form.is_some()),
            Err(_) => Ok(!request
                .getattr(pyo3::intern!(request.py(), "_form"))?
                .is_none()),
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
            let mut fields = request.cast::<RequestBase>()?.borrow_mut();
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
