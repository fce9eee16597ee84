//! The router as a Python class. One call does the whole routing step for a scope:
//! the URL and header-count limits, the path relative to `root_path`, the match,
//! method dispatch, percent-decoding and parameter conversion, the raw path left
//! for a mount, and the trailing-slash check. The answer is a typed `RouteMatch`.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use std::borrow::Cow;
use std::cell::Ref;

use pyo3::intern;
use pyo3::types::{PyBytes, PyDict, PyString, PyType};

use super::errors::route_error;
use super::gil::GilCell;
use crate::router::paths::{quote_path, strip_decoded_prefix, toggle_trailing_slash};
use crate::router::{param_names, Match, ParamValue, Router, WEBSOCKET};

/// `RouteMatch.kind`: a route handles the request (`route`, `params`).
const FOUND: u8 = 0;
/// An `OPTIONS` request for a path that has routes but no OPTIONS handler (`allow`).
const OPTIONS: u8 = 1;
/// The path has routes, not for this method (`allow`).
const METHOD_NOT_ALLOWED: u8 = 2;
/// No route; `redirect` tells whether the path matches with its trailing slash toggled.
pub(crate) const NOT_FOUND: u8 = 3;
/// The raw path plus query string is longer than the URL limit.
const URI_TOO_LONG: u8 = 4;
/// The request has more header lines than the header-count limit.
const HEADERS_TOO_LARGE: u8 = 5;

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

/// What the tree stores per route: the route object and its parameter names as
/// interned Python strings (building the params dict allocates no key strings).
pub(crate) struct RouteEntry {
    route: Py<PyAny>,
    names: Box<[Py<PyString>]>,
    /// `route.call` of a plain endpoint (`route.app is None`), read once at
    /// registration so that the driver calls it without attribute lookups.
    endpoint: Option<Py<PyAny>>,
    /// `route.stats_id`, for the per-route stats.
    stats_id: Option<i64>,
}

/// The outcome of routing one request.
#[pyclass(name = "RouteMatch", module = "covet._core", frozen, freelist = 64)]
pub struct RouteMatch {
    /// One of `FOUND`, `OPTIONS`, `METHOD_NOT_ALLOWED`, `NOT_FOUND`,
    /// `URI_TOO_LONG`, `HEADERS_TOO_LARGE`.
    #[pyo3(get)]
    kind: u8,
    /// The registered route object (`FOUND` only).
    #[pyo3(get)]
    route: Option<Py<PyAny>>,
    /// The converted path parameters (`FOUND` only; None when the route has none,
    /// read as an empty dict from Python).
    params: Option<Py<PyDict>>,
    /// The `Allow` header value (`OPTIONS`, `METHOD_NOT_ALLOWED`).
    #[pyo3(get)]
    allow: Option<Py<PyString>>,
    /// `NOT_FOUND` only: the path matches with its trailing slash toggled.
    #[pyo3(get)]
    redirect: bool,
    /// For the driver: the endpoint of a plain route and its stats id.
    endpoint: Option<Py<PyAny>>,
    stats_id: Option<i64>,
}

#[pymethods]
impl RouteMatch {
    /// A `FOUND` match made outside the tree (a `Host` entry, matched on the
    /// `Host` header).
    #[staticmethod]
    fn found(route: Py<PyAny>, params: Py<PyDict>) -> Self {
        RouteMatch {
            kind: FOUND,
            route: Some(route),
            params: Some(params),
            allow: None,
            redirect: false,
            endpoint: None,
            stats_id: None,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let kind = match self.kind {
            FOUND => "FOUND",
            OPTIONS => "OPTIONS",
            METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
            NOT_FOUND => "NOT_FOUND",
            URI_TOO_LONG => "URI_TOO_LONG",
            _ => "HEADERS_TOO_LARGE",
        };
        let route = self
            .route
            .as_ref()
            .and_then(|r| r.bind(py).repr().ok())
            .map_or_else(|| "None".to_owned(), |r| r.to_string());
        format!("RouteMatch({kind}, route={route})")
    }

    /// The converted path parameters (`FOUND`): a new empty dict when the route
    /// has none.
    #[getter(params)]
    fn py_params(&self, py: Python<'_>) -> Option<Py<PyDict>> {
        match &self.params {
            Some(params) => Some(params.clone_ref(py)),
            None if self.kind == FOUND => Some(PyDict::new(py).unbind()),
            None => None,
        }
    }
}

impl RouteMatch {
    /// The endpoint to call for a plain route, and the route's stats id.
    pub(crate) fn endpoint<'py>(
        &self,
        py: Python<'py>,
    ) -> Option<(Bound<'py, PyAny>, Option<i64>)> {
        self.endpoint
            .as_ref()
            .map(|endpoint| (endpoint.bind(py).clone(), self.stats_id))
    }

    pub(crate) fn kind(&self) -> u8 {
        self.kind
    }

    pub(crate) fn redirects(&self) -> bool {
        self.redirect
    }

    /// The converted path parameters (`FOUND`), for the driver: None when the route
    /// has none (the request makes its dict on first read).
    pub(crate) fn params<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyDict>> {
        self.params.as_ref().map(|params| params.bind(py).clone())
    }

    fn outcome(kind: u8) -> Self {
        RouteMatch {
            kind,
            route: None,
            params: None,
            allow: None,
            redirect: false,
            endpoint: None,
            stats_id: None,
        }
    }

    fn allow(py: Python<'_>, kind: u8, allow: &str) -> Self {
        RouteMatch {
            allow: Some(PyString::new(py, allow).unbind()),
            ..Self::outcome(kind)
        }
    }
}

/// The Rust matcher of a `CovetRouter` (its `_core`). Frozen, with its table in a
/// `GilCell`: the driver borrows it once per request without an atomic operation.
#[pyclass(name = "Router", module = "covet._core", frozen)]
pub struct PyRouter(GilCell<RouteTable>);

/// The routes of a `PyRouter` and the settings the driver reads with them.
pub struct RouteTable {
    inner: Router<RouteEntry>,
    /// `CovetRouter.redirect_slashes`, kept here for the driver.
    pub(crate) redirect_slashes: bool,
    /// Whether the `CovetRouter` has `Host` entries (matched in Python first).
    pub(crate) has_hosts: bool,
}

impl PyRouter {
    pub(crate) fn table<'a>(&'a self, py: Python<'_>) -> PyResult<Ref<'a, RouteTable>> {
        self.0.borrow(py)
    }
}

#[pymethods]
impl PyRouter {
    #[new]
    fn new() -> Self {
        PyRouter(GilCell::new(RouteTable {
            inner: Router::new(),
            redirect_slashes: true,
            has_hosts: false,
        }))
    }

    #[getter]
    fn redirect_slashes(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.0.borrow(py)?.redirect_slashes)
    }

    #[setter]
    fn set_redirect_slashes(&self, py: Python<'_>, value: bool) -> PyResult<()> {
        self.0.borrow_mut(py)?.redirect_slashes = value;
        Ok(())
    }

    #[getter]
    fn has_hosts(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.0.borrow(py)?.has_hosts)
    }

    #[setter]
    fn set_has_hosts(&self, py: Python<'_>, value: bool) -> PyResult<()> {
        self.0.borrow_mut(py)?.has_hosts = value;
        Ok(())
    }

    /// Registers `route` for `pattern` and `methods`; returns the route's index.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "PyO3 extracts a list as a Vec"
    )]
    fn add(
        &self,
        py: Python<'_>,
        pattern: &str,
        methods: Vec<String>,
        route: Py<PyAny>,
    ) -> PyResult<usize> {
        let methods: Vec<&str> = methods.iter().map(String::as_str).collect();
        let names = param_names(pattern)
            .map_err(route_error)?
            .into_iter()
            .map(|name| PyString::intern(py, name).unbind())
            .collect();
        let bound = route.bind(py);
        let endpoint = match bound.getattr(intern!(py, "app")) {
            Ok(app) if app.is_none() => Some(bound.getattr(intern!(py, "call"))?.unbind()),
            _ => None,
        };
        let stats_id = bound
            .getattr(intern!(py, "stats_id"))
            .ok()
            .and_then(|id| id.extract().ok());
        let entry = RouteEntry {
            route,
            names,
            endpoint,
            stats_id,
        };
        self.0
            .borrow_mut(py)?
            .inner
            .insert(pattern, &methods, entry)
            .map(|id| id.0)
            .map_err(route_error)
    }

    /// Routes `method` and the raw, percent-encoded `path` (already relative to
    /// this router).
    #[pyo3(signature = (method, path, slash_hint = false))]
    fn match_path(
        &self,
        py: Python<'_>,
        method: &str,
        path: &[u8],
        slash_hint: bool,
    ) -> PyResult<RouteMatch> {
        self.0.borrow(py)?.route(py, method, path, slash_hint)
    }

    /// Routes an HTTP or WebSocket scope: reads `type`, `method`, `raw_path` (else
    /// `path`) and `root_path` from the scope itself and matches the path relative
    /// to `root_path`. WebSocket scopes are routed with the method `WEBSOCKET`.
    ///
    /// With limits given it first answers `HEADERS_TOO_LARGE` when the request has
    /// more header lines than `max_header_count`, and `URI_TOO_LONG` when the raw
    /// path plus query string is longer than `max_url_length` bytes.
    #[pyo3(signature = (scope, max_header_count = None, max_url_length = None, slash_hint = false))]
    pub(crate) fn match_scope<'py>(
        &self,
        py: Python<'py>,
        scope: &Bound<'py, PyDict>,
        max_header_count: Option<usize>,
        max_url_length: Option<usize>,
        slash_hint: bool,
    ) -> PyResult<RouteMatch> {
        let method = match scope.get_item(intern!(py, "method"))? {
            Some(method) => method,
            None => PyString::new(py, WEBSOCKET).into_any(),
        };
        let method = method.cast::<PyString>()?.to_str()?;
        self.0.borrow(py)?.match_request(
            py,
            scope,
            method,
            max_header_count,
            max_url_length,
            slash_hint,
        )
    }

    /// The pattern a route was registered with, by index.
    fn pattern(&self, py: Python<'_>, route: usize) -> PyResult<Option<String>> {
        Ok(self
            .0
            .borrow(py)?
            .inner
            .route_pattern(crate::router::RouteId(route))
            .map(str::to_owned))
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.0.borrow(py)?.inner.len())
    }

    // Endpoints often reference the router through their module globals; let the
    // cycle collector see them.
    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        self.0.traverse(&visit, |table, visit| {
            for entry in table.inner.values() {
                visit.call(&entry.route)?;
            }
            Ok(())
        })
    }
}

/// The path a scope is routed on: `raw_path` when the server sends it, else `path`.
enum ScopePath<'py> {
    Raw(Bound<'py, PyAny>),
    Decoded(Bound<'py, PyAny>),
}

impl<'py> ScopePath<'py> {
    fn read(py: Python<'py>, scope: &Bound<'py, PyDict>) -> PyResult<Self> {
        match scope
            .get_item(intern!(py, "raw_path"))?
            .filter(|raw| !raw.is_none())
        {
            Some(raw) => Ok(ScopePath::Raw(raw)),
            None => Ok(ScopePath::Decoded(required(scope, intern!(py, "path"))?)),
        }
    }

    fn len(&self) -> PyResult<usize> {
        match self {
            ScopePath::Raw(p) | ScopePath::Decoded(p) => p.len(),
        }
    }

    /// The raw, percent-encoded bytes. Without `raw_path`, `%` in the decoded path
    /// is re-escaped so that the router's single decoding step is still right.
    fn raw_bytes(&self) -> PyResult<Cow<'_, [u8]>> {
        Ok(match self {
            ScopePath::Raw(raw) => Cow::Borrowed(raw.cast::<PyBytes>()?.as_bytes()),
            ScopePath::Decoded(path) => Cow::Owned(
                path.cast::<PyString>()?
                    .to_str()?
                    .replace('%', "%25")
                    .into_bytes(),
            ),
        })
    }
}

/// `scope[key]`, a `KeyError` naming the key when the server left it out.
pub(crate) fn required<'py>(
    scope: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyAny>> {
    scope
        .get_item(key)?
        .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(key.clone().unbind()))
}

impl RouteTable {
    /// `match_scope` with the request's method already read (the driver reads it
    /// once, for the stats too).
    pub(crate) fn match_request<'py>(
        &self,
        py: Python<'py>,
        scope: &Bound<'py, PyDict>,
        method: &str,
        max_header_count: Option<usize>,
        max_url_length: Option<usize>,
        slash_hint: bool,
    ) -> PyResult<RouteMatch> {
        if let Some(limit) = max_header_count {
            if required(scope, intern!(py, "headers"))?.len()? > limit {
                return Ok(RouteMatch::outcome(HEADERS_TOO_LARGE));
            }
        }
        let path = ScopePath::read(py, scope)?;
        if let Some(limit) = max_url_length {
            let query_len = match scope.get_item(intern!(py, "query_string"))? {
                Some(query) => query.len()?,
                None => 0,
            };
            if path.len()?.saturating_add(query_len) > limit {
                return Ok(RouteMatch::outcome(URI_TOO_LONG));
            }
        }
        let root_path = scope.get_item(intern!(py, "root_path"))?;
        let root_path = match &root_path {
            Some(root) => root.cast::<PyString>()?.to_str()?,
            None => "",
        };
        let raw = path.raw_bytes()?;
        let relative = strip_decoded_prefix(&raw, root_path).unwrap_or(&raw);
        self.route(py, method, relative, slash_hint)
    }

    /// Whether `path` with its trailing slash toggled has a route for `method` (or
    /// answers its OPTIONS).
    fn slash_toggled_matches(&self, method: &str, path: &str) -> bool {
        let Some(toggled) = toggle_trailing_slash(path.as_bytes()) else {
            return false;
        };
        let Ok(toggled) = std::str::from_utf8(&toggled) else {
            return false;
        };
        matches!(
            self.inner.lookup(method, toggled),
            Match::Found { .. } | Match::Options { .. }
        )
    }

    fn route(
        &self,
        py: Python<'_>,
        method: &str,
        path: &[u8],
        slash_hint: bool,
    ) -> PyResult<RouteMatch> {
        let Ok(text) = std::str::from_utf8(path) else {
            return Ok(RouteMatch::outcome(NOT_FOUND));
        };
        Ok(match self.inner.lookup(method, text) {
            Match::Found { value, params, .. } => {
                // A route without parameters allocates no dict (see `params`).
                let dict = if params.is_empty() {
                    None
                } else {
                    let dict = PyDict::new(py);
                    for (i, (name, v)) in params.iter().enumerate() {
                        let v = param_to_py(py, v)?;
                        match value.names.get(i) {
                            Some(key) => dict.set_item(key.bind(py), v)?,
                            None => dict.set_item(name, v)?,
                        }
                    }
                    Some(dict.unbind())
                };
                RouteMatch {
                    kind: FOUND,
                    route: Some(value.route.clone_ref(py)),
                    params: dict,
                    allow: None,
                    redirect: false,
                    endpoint: value.endpoint.as_ref().map(|e| e.clone_ref(py)),
                    stats_id: value.stats_id,
                }
            }
            Match::Options { allow } => RouteMatch::allow(py, OPTIONS, allow),
            Match::MethodNotAllowed { allow } => RouteMatch::allow(py, METHOD_NOT_ALLOWED, allow),
            Match::NotFound => RouteMatch {
                redirect: slash_hint && self.slash_toggled_matches(method, text),
                ..RouteMatch::outcome(NOT_FOUND)
            },
        })
    }
}

/// The `Location` of a trailing-slash redirect for `scope`: its full raw path with
/// the trailing slash toggled, under the application's root path, plus the query
/// string. `None` when the target would leave the site (`//host`, `/\host`).
#[pyfunction]
fn slash_redirect_location(py: Python<'_>, scope: &Bound<'_, PyDict>) -> PyResult<Option<String>> {
    let path = ScopePath::read(py, scope)?;
    let full: Cow<'_, [u8]> = match &path {
        ScopePath::Raw(raw) => Cow::Borrowed(raw.cast::<PyBytes>()?.as_bytes()),
        ScopePath::Decoded(decoded) => {
            Cow::Owned(quote_path(decoded.cast::<PyString>()?.to_str()?).into_owned())
        }
    };
    let root = match scope.get_item(intern!(py, "app_root_path"))? {
        Some(root) => Some(root),
        None => scope.get_item(intern!(py, "root_path"))?,
    };
    let root: Vec<u8> = match &root {
        Some(root) => quote_path(root.cast::<PyString>()?.to_str()?).into_owned(),
        None => Vec::new(),
    };
    let mut target = Vec::with_capacity(root.len() + full.len() + 1);
    if !root.is_empty() && !full.starts_with(&root) {
        target.extend_from_slice(&root);
    }
    target.extend_from_slice(&full);
    let Some(target) = toggle_trailing_slash(&target) else {
        return Ok(None);
    };
    if !target.starts_with(b"/") || target.starts_with(b"//") || target.starts_with(b"/\\") {
        return Ok(None);
    }
    let mut location: String = target.iter().map(|&b| char::from(b)).collect();
    if let Some(query) = scope.get_item(intern!(py, "query_string"))? {
        let query = query.cast::<PyBytes>()?.as_bytes();
        if !query.is_empty() {
            location.push('?');
            location.extend(query.iter().map(|&b| char::from(b)));
        }
    }
    Ok(Some(location))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRouter>()?;
    m.add_class::<RouteMatch>()?;
    m.add_function(wrap_pyfunction!(slash_redirect_location, m)?)?;
    m.add("FOUND", FOUND)?;
    m.add("OPTIONS", OPTIONS)?;
    m.add("METHOD_NOT_ALLOWED", METHOD_NOT_ALLOWED)?;
    m.add("NOT_FOUND", NOT_FOUND)?;
    m.add("URI_TOO_LONG", URI_TOO_LONG)?;
    m.add("HEADERS_TOO_LARGE", HEADERS_TOO_LARGE)?;
    m.add("WEBSOCKET", WEBSOCKET)?;
    m.add("ANY_METHOD", crate::router::ANY_METHOD)?;
    m.add("ANY_HTTP_METHOD", crate::router::ANY_HTTP_METHOD)?;
    Ok(())
}
