//! The router as a Python class. `lookup` does the whole routing step in one
//! crossing: match, method dispatch, percent-decoding and parameter conversion.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use std::borrow::Cow;

use pyo3::intern;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple, PyType};

use super::errors::route_error;
use crate::router::{param_names, Match, ParamValue, Router};

/// Lookup outcome codes, chosen to be the HTTP status the shell answers with.
const FOUND: u16 = 200;
const OPTIONS: u16 = 204;
const NOT_FOUND: u16 = 404;
const METHOD_NOT_ALLOWED: u16 = 405;
const URI_TOO_LONG: u16 = 414;
const HEADERS_TOO_LARGE: u16 = 431;

static UUID_CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn param_to_py<'py>(py: Python<'py>, value: &ParamValue<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        ParamValue::Str(s) | ParamValue::Path(s) => s.as_ref().into_pyobject(py)?.into_any(),
        ParamValue::Int(i) => i.into_pyobject(py)?.into_any(),
        ParamValue::Float(f) => f.into_pyobject(py)?.into_any(),
        ParamValue::Uuid(u) => {
            let class = UUID_CLASS.import(py, "uuid", "UUID")?;
            let kwargs = PyDict::new(py);
            kwargs.set_item("int", *u)?;
            class.call((), Some(&kwargs))?
        }
    })
}

/// What the tree stores per route: the endpoint, and the parameter names as interned
/// Python strings so that building the params dict allocates no key strings.
struct RouteEntry {
    endpoint: Py<PyAny>,
    names: Box<[Py<PyString>]>,
}

#[pyclass(name = "Router", module = "covet._core")]
pub struct PyRouter {
    inner: Router<RouteEntry>,
}

#[pymethods]
impl PyRouter {
    #[new]
    fn new() -> Self {
        Self {
            inner: Router::new(),
        }
    }

    /// Registers `endpoint` for `pattern` and `methods`; returns the route's index.
    fn add(
        &mut self,
        py: Python<'_>,
        pattern: &str,
        methods: Vec<String>,
        endpoint: Py<PyAny>,
    ) -> PyResult<usize> {
        let methods: Vec<&str> = methods.iter().map(String::as_str).collect();
        let names = param_names(pattern)
            .map_err(route_error)?
            .into_iter()
            .map(|name| PyString::intern(py, name).unbind())
            .collect();
        self.inner
            .insert(pattern, &methods, RouteEntry { endpoint, names })
            .map(|id| id.0)
            .map_err(route_error)
    }

    /// Returns `(status, endpoint, extra)`: `(200, endpoint, params)` on a match,
    /// `(204, None, allow)` for an OPTIONS request nobody handles, `(405, None,
    /// allow)` and `(404, None, None)`. `path` is the raw, percent-encoded path.
    fn lookup<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        path: &[u8],
    ) -> PyResult<Bound<'py, PyTuple>> {
        self.lookup_bytes(py, method, path, false)
    }

    /// `lookup` for an HTTP scope: reads `method`, `raw_path` (else `path`) and
    /// `root_path` from the scope itself, so the request path costs one crossing
    /// and no Python-level dict reads. The path is made relative to `root_path`.
    ///
    /// With limits given it first answers `(431, None, None)` when the request has
    /// more header lines than `max_header_count`, and `(414, None, None)` when the
    /// raw path plus query string is longer than `max_url_length` bytes.
    ///
    /// With `slash_hint`, a 404 whose path would match with its trailing slash
    /// toggled answers `(404, None, True)`, so that the shell builds a redirect only
    /// then and a plain 404 costs no second Python-level lookup.
    #[pyo3(signature = (scope, max_header_count = None, max_url_length = None, slash_hint = false))]
    fn match_scope<'py>(
        &self,
        py: Python<'py>,
        scope: &Bound<'py, PyDict>,
        max_header_count: Option<usize>,
        max_url_length: Option<usize>,
        slash_hint: bool,
    ) -> PyResult<Bound<'py, PyTuple>> {
        if let Some(limit) = max_header_count {
            if required(scope, intern!(py, "headers"))?.len()? > limit {
                return (HEADERS_TOO_LARGE, py.None(), py.None()).into_pyobject(py);
            }
        }
        let raw = scope
            .get_item(intern!(py, "raw_path"))?
            .filter(|raw| !raw.is_none());
        let decoded = match &raw {
            Some(_) => None,
            None => Some(required(scope, intern!(py, "path"))?),
        };
        if let Some(limit) = max_url_length {
            let path_len = match (&raw, &decoded) {
                (Some(raw), _) | (None, Some(raw)) => raw.len()?,
                (None, None) => 0,
            };
            let query_len = match scope.get_item(intern!(py, "query_string"))? {
                Some(query) => query.len()?,
                None => 0,
            };
            if path_len.saturating_add(query_len) > limit {
                return (URI_TOO_LONG, py.None(), py.None()).into_pyobject(py);
            }
        }
        let method = required(scope, intern!(py, "method"))?;
        let method = method.cast::<PyString>()?.to_str()?;
        let root_path = scope.get_item(intern!(py, "root_path"))?;
        let root_path = match &root_path {
            Some(root) => root.cast::<PyString>()?.to_str()?,
            None => "",
        };
        let path: Cow<'_, [u8]> = match (&raw, &decoded) {
            (Some(raw), _) => Cow::Borrowed(raw.cast::<PyBytes>()?.as_bytes()),
            // No raw_path: re-escape `%` so that the router's one decoding step is
            // still right for the already-decoded `path`.
            (None, Some(decoded)) => Cow::Owned(
                decoded
                    .cast::<PyString>()?
                    .to_str()?
                    .replace('%', "%25")
                    .into_bytes(),
            ),
            (None, None) => Cow::Borrowed(b"".as_slice()),
        };
        let relative = path
            .strip_prefix(root_path.as_bytes())
            .filter(|_| !root_path.is_empty())
            .unwrap_or(&path);
        self.lookup_bytes(py, method, relative, slash_hint)
    }

    /// The pattern a route was registered with, by index.
    fn pattern(&self, route: usize) -> Option<&str> {
        self.inner.route_pattern(crate::router::RouteId(route))
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    // Endpoints often reference the router through their module globals; let the
    // cycle collector see them.
    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        for entry in self.inner.values() {
            visit.call(&entry.endpoint)?;
        }
        Ok(())
    }
}

fn required<'py>(
    scope: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyAny>> {
    scope
        .get_item(key)?
        .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(key.clone().unbind()))
}

impl PyRouter {
    /// Whether `path` with its trailing slash added or removed has a route for
    /// `method` (or answers its OPTIONS). The root path has no toggle.
    fn slash_toggled_matches(&self, method: &str, path: &str) -> bool {
        if path.is_empty() || path == "/" {
            return false;
        }
        let toggled = match path.strip_suffix('/') {
            Some(stripped) => Cow::Borrowed(stripped),
            None => Cow::Owned(format!("{path}/")),
        };
        matches!(
            self.inner.lookup(method, &toggled),
            Match::Found { .. } | Match::Options { .. }
        )
    }

    fn lookup_bytes<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        path: &[u8],
        slash_hint: bool,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let Ok(path) = std::str::from_utf8(path) else {
            return (NOT_FOUND, py.None(), py.None()).into_pyobject(py);
        };
        match self.inner.lookup(method, path) {
            Match::Found { value, params, .. } => {
                let dict = PyDict::new(py);
                for (i, (name, v)) in params.iter().enumerate() {
                    let v = param_to_py(py, v)?;
                    match value.names.get(i) {
                        Some(key) => dict.set_item(key.bind(py), v)?,
                        None => dict.set_item(name, v)?,
                    }
                }
                (FOUND, value.endpoint.clone_ref(py), dict).into_pyobject(py)
            }
            Match::Options { allow } => (OPTIONS, py.None(), allow).into_pyobject(py),
            Match::MethodNotAllowed { allow } => {
                (METHOD_NOT_ALLOWED, py.None(), allow).into_pyobject(py)
            }
            Match::NotFound if slash_hint && self.slash_toggled_matches(method, path) => {
                (NOT_FOUND, py.None(), true).into_pyobject(py)
            }
            Match::NotFound => (NOT_FOUND, py.None(), py.None()).into_pyobject(py),
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRouter>()
}
