//! The per-request driver: the application's ASGI entry for HTTP, in Rust.
//!
//! `Dispatcher(app)(scope, receive, send)` serves the request as far as it goes
//! without waiting: it routes, builds the `Request`, drives the handler's coroutine
//! (passing on what it waits for, and results, exceptions and cancellation back into
//! it, as `await` does), sends a rendered response with two `send` calls and records
//! the stats, so that a plain request runs no Python frame but the handler's and the
//! server's `send`. What it returns to be awaited is the shared `Served` when the
//! request is done, else a `Serve` holding the request in flight. Everything that is
//! not a plain endpoint (errors, mounts, route middleware, WebSocket and lifespan
//! scopes, responses that send themselves, exception handlers, upload clean-up,
//! background tasks) is delegated to the application's Python coroutines, driven
//! the same way.

use std::time::Instant;

use pyo3::exceptions::{PyException, PyStopIteration};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyString, PyType};

use super::gil::{visit_each, GilCell};
use super::render::ResponseBase;
use super::request::{RequestBase, RequestFactory};
use super::router::{required, PyRouter, RouteMatch, NOT_FOUND};
use super::stats::PyStats;
use crate::stats::routes::method_index;

/// The objects the driver calls, looked up once per application, and the app's
/// settings it reads on every request (kept current by `configure`). Frozen: the
/// stages of a request read it without a borrow flag; the settings `configure`
/// changes sit in a `GilCell`, borrowed once per request.
#[pyclass(name = "Dispatcher", module = "covet._core", frozen)]
pub struct Dispatcher {
    app: Py<PyAny>,
    stats: Py<PyStats>,
    config: GilCell<Config>,
    /// The default 404: its body and header tuples, made once.
    not_found: (Py<PyBytes>, Py<PyAny>, Py<PyAny>),
    unmatched_route: i64,
    request_class: RequestFactory,
    /// `Response.__call__`: a response of a class that keeps it is fully rendered.
    send_rendered: Py<PyAny>,
    to_response: Py<PyAny>,
    send_response: Py<PyAny>,
    run_task: Py<PyAny>,
    perf_counter_ns: Py<PyAny>,
    /// The strings every request uses, interned once (an `intern!` site costs a
    /// check per use).
    names: Names,
}

/// Scope keys, message keys and the two response messages' templates.
struct Names {
    app: Py<PyString>,
    type_: Py<PyString>,
    http: Py<PyString>,
    method: Py<PyString>,
    status: Py<PyString>,
    headers: Py<PyString>,
    body: Py<PyString>,
    /// `{"type": "http.response.start", "status": 200, "headers": None}`
    start: Py<PyDict>,
    /// `{"type": "http.response.body", "body": b""}`
    body_message: Py<PyDict>,
}

impl Names {
    fn new(py: Python<'_>) -> PyResult<Self> {
        let name = |text: &str| PyString::intern(py, text).unbind();
        let (type_, status, headers, body) =
            (name("type"), name("status"), name("headers"), name("body"));
        let start = PyDict::new(py);
        start.set_item(&type_, name("http.response.start"))?;
        start.set_item(&status, 200)?;
        start.set_item(&headers, py.None())?;
        let body_message = PyDict::new(py);
        body_message.set_item(&type_, name("http.response.body"))?;
        body_message.set_item(&body, PyBytes::new(py, b""))?;
        Ok(Names {
            app: name("app"),
            type_,
            http: name("http"),
            method: name("method"),
            status,
            headers,
            body,
            start: start.unbind(),
            body_message: body_message.unbind(),
        })
    }

    // A message is a copy of its template with the values set: copying a small dict
    // clones its key table in one allocation, cheaper than inserting key by key into
    // a table grown from empty.

    /// `{"type": "http.response.start", "status": status, "headers": headers}`.
    fn start_message<'py>(
        &self,
        py: Python<'py>,
        status: u16,
        headers: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let message = self.start.bind(py).copy()?;
        message.set_item(self.status.bind(py), status)?;
        message.set_item(self.headers.bind(py), headers)?;
        Ok(message)
    }

    /// `{"type": "http.response.body", "body": body}`.
    fn body_message<'py>(
        &self,
        py: Python<'py>,
        body: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let message = self.body_message.bind(py).copy()?;
        message.set_item(self.body.bind(py), body)?;
        Ok(message)
    }
}

/// What `Dispatcher.configure` sets.
#[derive(Default)]
struct Config {
    /// The app's `CovetRouter` and its Rust matcher.
    router: Option<(Py<PyAny>, Py<PyRouter>)>,
    max_header_count: Option<usize>,
    max_url_length: Option<usize>,
    /// Whether the app has exception handlers (a 404 must then consult them).
    handlers: bool,
}

/// One request's copy of the settings, taken under a short borrow (`Bound` references:
/// dropping them needs no check of the interpreter state).
struct Settings<'py> {
    router: Bound<'py, PyAny>,
    core: Bound<'py, PyRouter>,
    max_header_count: Option<usize>,
    max_url_length: Option<usize>,
    handlers: bool,
}

impl Config {
    fn copy<'py>(&self, py: Python<'py>) -> PyResult<Settings<'py>> {
        let Some((router, core)) = &self.router else {
            return Err(driver_error("the app was not configured"));
        };
        Ok(Settings {
            router: router.bind(py).clone(),
            core: core.bind(py).clone(),
            max_header_count: self.max_header_count,
            max_url_length: self.max_url_length,
            handlers: self.handlers,
        })
    }
}

#[pymethods]
impl Dispatcher {
    #[new]
    #[pyo3(signature = (app, *, stats, request_class, response_class, to_response, send_response, run_task, not_found_body, unmatched_route))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        app: Py<PyAny>,
        stats: Py<PyStats>,
        request_class: Bound<'_, PyType>,
        response_class: &Bound<'_, PyType>,
        to_response: Py<PyAny>,
        send_response: Py<PyAny>,
        run_task: Py<PyAny>,
        not_found_body: &Bound<'_, PyBytes>,
        unmatched_route: i64,
    ) -> PyResult<Self> {
        let length = not_found_body.as_bytes().len().to_string();
        let not_found = (
            not_found_body.clone().unbind(),
            (
                PyBytes::new(py, b"content-length"),
                PyBytes::new(py, length.as_bytes()),
            )
                .into_pyobject(py)?
                .into_any()
                .unbind(),
            (
                PyBytes::new(py, b"content-type"),
                PyBytes::new(py, b"application/json"),
            )
                .into_pyobject(py)?
                .into_any()
                .unbind(),
        );
        let send_rendered = response_class.getattr(intern!(py, "__call__"))?.unbind();
        let perf_counter_ns = py.import("time")?.getattr("perf_counter_ns")?.unbind();
        Ok(Dispatcher {
            app,
            stats,
            config: GilCell::new(Config::default()),
            not_found,
            unmatched_route,
            request_class: RequestFactory::new(request_class)?,
            send_rendered,
            to_response,
            send_response,
            run_task,
            perf_counter_ns,
            names: Names::new(py)?,
        })
    }

    /// Called by the app whenever its router, limits or exception handlers change.
    #[pyo3(signature = (router, max_header_count, max_url_length, handlers))]
    fn configure(
        &self,
        py: Python<'_>,
        router: Bound<'_, PyAny>,
        max_header_count: Option<usize>,
        max_url_length: Option<usize>,
        handlers: bool,
    ) -> PyResult<()> {
        let core = router.getattr("_core")?.cast_into::<PyRouter>()?.unbind();
        let config = Config {
            router: Some((router.unbind(), core)),
            max_header_count,
            max_url_length,
            handlers,
        };
        self.config.replace(py, |current| current, config)
    }

    // The app holds its dispatcher and the dispatcher the app: let the cycle
    // collector see the edges (the app's own clear breaks the cycle).
    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.app)?;
        // The settings are borrowed only to move or copy references (no allocation,
        // so no collection starts meanwhile): the borrow succeeds here.
        self.config
            .traverse(&visit, |config, visit| match &config.router {
                Some((router, _)) => visit.call(router),
                None => Ok(()),
            })
    }

    fn __call__(
        slf: &Bound<'_, Self>,
        scope: Bound<'_, PyDict>,
        receive: Py<PyAny>,
        send: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        Dispatcher::serve(slf, scope, receive, send)
    }
}

impl Dispatcher {
    /// Serves one request as far as it goes without waiting, and returns what the
    /// caller awaits: the shared `Served` when the request is done (a plain request
    /// whose `send` calls did not wait), else a `Serve` holding the request in
    /// flight, which hands what it waits on to its first resumption.
    ///
    /// The work is done at the call, not at the first resumption: callers await the
    /// call at once (servers, middleware: `await app(scope, receive, send)`), in the
    /// same task and context, so nothing else can run in between. A request done by
    /// then allocates no awaitable of its own. An error is raised when awaited, as
    /// from a coroutine.
    pub fn serve(
        slf: &Bound<'_, Self>,
        scope: Bound<'_, PyDict>,
        receive: Py<PyAny>,
        send: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let mut flight = Flight {
            dispatcher: slf.clone().unbind(),
            scope: scope.unbind(),
            receive,
            send,
            stage: Stage::Start,
            inner: None,
            yielded: None,
            started: None,
            stats_id: None,
            request: None,
            response: None,
            body: None,
            response_status: 0,
            status: 0,
            method: 0,
            head: false,
            background: None,
            error: None,
        };
        match flight.drive(py, Input::Value(py.None().into_bound(py))) {
            Ok(None) => return Ok(served(py)?.clone_ref(py).into_any()),
            Ok(Some(yielded)) => flight.yielded = Some(yielded),
            Err(error) => {
                flight.stage = Stage::AfterClose;
                flight.error = Some(error);
            }
        }
        Ok(Py::new(py, Serve(GilCell::new(flight)))?.into_any())
    }
}

/// The one `Served`.
fn served(py: Python<'_>) -> PyResult<&Py<Served>> {
    static SERVED: PyOnceLock<Py<Served>> = PyOnceLock::new();
    SERVED.get_or_try_init(py, || Py::new(py, Served))
}

/// What awaiting a request that was done at the call returns: None, at once. Shared
/// by every such request (it holds nothing).
#[pyclass(name = "Served", module = "covet._core", frozen)]
pub struct Served;

// The protocol's methods take the receiver, which holds nothing.
#[allow(clippy::unused_self)]
#[pymethods]
impl Served {
    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self) -> Option<Py<PyAny>> {
        None
    }

    fn send(&self, py: Python<'_>, _value: Py<PyAny>) -> PyResult<Py<PyAny>> {
        Err(PyStopIteration::new_err(py.None()))
    }

    #[pyo3(signature = (typ, val = None, _tb = None))]
    fn throw(
        &self,
        typ: Bound<'_, PyAny>,
        val: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        Err(PyErr::from_value(thrown(typ, val)?))
    }

    fn close(&self) {}
}

/// The exception `throw(typ, val)` raises: `val`, else `typ` (an instance, or a class
/// to instantiate).
fn thrown<'py>(
    typ: Bound<'py, PyAny>,
    val: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(match val {
        Some(val) if !val.is_none() => val,
        _ if typ.is_instance_of::<PyType>() => typ.call0()?,
        _ => typ,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Start,
    /// The handler's coroutine.
    Handler,
    /// The app's exception handling (`_handle_exception`).
    HandleException,
    /// Deciding how to send the response.
    Respond,
    SendStart,
    SendBody,
    /// A response that sends itself (`_send_response`).
    SendOther,
    Finish,
    /// The request's uploads being closed.
    CloseForm,
    AfterClose,
    Background,
    /// A Python coroutine of the app that does the whole request.
    Delegate,
    Done,
}

/// What one resumption of the current awaitable produced.
enum Outcome<'py> {
    Yield(Bound<'py, PyAny>),
    Return(Bound<'py, PyAny>),
    Error(PyErr),
}

/// What the awaiting coroutine passes in: a value, or an exception to raise there
/// (small, as it moves through every step of the loop).
enum Input<'py> {
    Value(Bound<'py, PyAny>),
    Throw(Bound<'py, PyAny>),
}

/// One request in flight (see the module docs); awaitable once. Its state is in a
/// `GilCell`: resuming it takes no atomic operation.
#[pyclass(name = "Serve", module = "covet._core", frozen)]
pub struct Serve(GilCell<Flight>);

/// The state of a request in flight: the stage it is at, what it awaits, what it has
/// made so far.
pub struct Flight {
    dispatcher: Py<Dispatcher>,
    scope: Py<PyDict>,
    receive: Py<PyAny>,
    send: Py<PyAny>,
    stage: Stage,
    /// The awaitable being driven (a coroutine, or an iterator from `__await__`).
    inner: Option<Py<PyAny>>,
    /// What `inner` yielded during the call (see `Dispatcher::serve`): the first
    /// resumption hands it on.
    yielded: Option<Py<PyAny>>,
    started: Option<Instant>,
    /// The route's stats id (a plain endpoint), or the unmatched id (the 404).
    stats_id: Option<i64>,
    request: Option<Py<PyAny>>,
    response: Option<Py<PyAny>>,
    /// The rendered response's body and status, read once when it is sent.
    body: Option<Py<PyAny>>,
    response_status: u16,
    /// The status recorded in the stats (0: the client went away).
    status: u16,
    /// The request's method, as the stats index it (`routes::method_index`).
    method: usize,
    /// A HEAD request: the body is not sent.
    head: bool,
    background: Option<Py<PyAny>>,
    /// An exception to raise once the clean-up is done.
    error: Option<PyErr>,
}

#[pymethods]
impl Serve {
    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.0
            .borrow_mut(py)?
            .drive(py, Input::Value(py.None().into_bound(py)))
    }

    fn send(&self, py: Python<'_>, value: Py<PyAny>) -> PyResult<Py<PyAny>> {
        match self
            .0
            .borrow_mut(py)?
            .drive(py, Input::Value(value.into_bound(py)))?
        {
            Some(yielded) => Ok(yielded),
            None => Err(PyStopIteration::new_err(py.None())),
        }
    }

    #[pyo3(signature = (typ, val = None, _tb = None))]
    fn throw(
        &self,
        py: Python<'_>,
        typ: Bound<'_, PyAny>,
        val: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let error = thrown(typ, val)?;
        match self.0.borrow_mut(py)?.drive(py, Input::Throw(error))? {
            Some(yielded) => Ok(yielded),
            None => Err(PyStopIteration::new_err(py.None())),
        }
    }

    // A request in flight holds the handler's coroutine, which may hold (through
    // its frames) whatever awaits this object: let the cycle collector see it all
    // (unless it is running: then it is reachable from the running frame anyway).
    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        self.0.traverse(&visit, |flight, visit| {
            visit.call(&flight.dispatcher)?;
            visit.call(&flight.scope)?;
            visit.call(&flight.receive)?;
            visit.call(&flight.send)?;
            visit_each(
                visit,
                [
                    &flight.inner,
                    &flight.yielded,
                    &flight.request,
                    &flight.response,
                    &flight.body,
                    &flight.background,
                ],
            )
        })
    }

    fn __clear__(&self) {
        // SAFETY: called by the cycle collector, which runs attached.
        unsafe {
            self.0.clear(|flight| {
                flight.stage = Stage::Done;
                (
                    flight.inner.take(),
                    flight.yielded.take(),
                    flight.request.take(),
                    flight.response.take(),
                    flight.body.take(),
                    flight.background.take(),
                )
            });
        }
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let inner = {
            let mut flight = self.0.borrow_mut(py)?;
            flight.stage = Stage::Done;
            flight.inner.take()
        };
        if let Some(inner) = inner {
            let inner = inner.bind(py);
            if inner.hasattr(intern!(py, "close"))? {
                inner.call_method0(intern!(py, "close"))?;
            }
        }
        Ok(())
    }
}

/// `value` as something to resume: a coroutine as it is, another awaitable through
/// its `__await__()` iterator.
fn awaitable(py: Python<'_>, value: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    if unsafe { ffi::PyCoro_CheckExact(value.as_ptr()) } != 0 {
        return Ok(value.unbind());
    }
    Ok(value.call_method0(intern!(py, "__await__"))?.unbind())
}

/// Resumes `inner` with `input`.
fn resume<'py>(py: Python<'py>, inner: &Py<PyAny>, input: Input<'py>) -> Outcome<'py> {
    match input {
        Input::Value(value) => {
            let mut result: *mut ffi::PyObject = std::ptr::null_mut();
            // SAFETY: `inner` and `value` are live references held by this function;
            // PyIter_Send returns a new reference in `result` for PYGEN_NEXT and
            // PYGEN_RETURN, and sets the error indicator for PYGEN_ERROR.
            let code = unsafe { ffi::PyIter_Send(inner.as_ptr(), value.as_ptr(), &raw mut result) };
            match code {
                ffi::PySendResult::PYGEN_NEXT => {
                    Outcome::Yield(unsafe { Bound::from_owned_ptr(py, result) })
                }
                ffi::PySendResult::PYGEN_RETURN => {
                    Outcome::Return(unsafe { Bound::from_owned_ptr(py, result) })
                }
                ffi::PySendResult::PYGEN_ERROR => Outcome::Error(
                    PyErr::take(py).unwrap_or_else(|| PyException::new_err("awaitable failed")),
                ),
            }
        }
        Input::Throw(error) => match inner.bind(py).call_method1(intern!(py, "throw"), (error,)) {
            Ok(yielded) => Outcome::Yield(yielded),
            Err(err) if err.is_instance_of::<PyStopIteration>(py) => {
                let value = err
                    .value(py)
                    .getattr(intern!(py, "value"))
                    .unwrap_or_else(|_| py.None().into_bound(py));
                Outcome::Return(value)
            }
            Err(err) => Outcome::Error(err),
        },
    }
}

impl Flight {
    /// Runs the request until it waits (returns what it waits on) or is done.
    fn drive<'py>(&mut self, py: Python<'py>, input: Input<'py>) -> PyResult<Option<Py<PyAny>>> {
        if let Some(yielded) = self.yielded.take() {
            // The first resumption after the call: `inner` waits on `yielded`. A
            // value goes to whoever awaits, a thrown exception into `inner`.
            if let Input::Value(_) = input {
                return Ok(Some(yielded));
            }
        }
        let mut input = Some(input);
        loop {
            if let Some(inner) = self.inner.take() {
                let given = input
                    .take()
                    .unwrap_or_else(|| Input::Value(py.None().into_bound(py)));
                match resume(py, &inner, given) {
                    Outcome::Yield(yielded) => {
                        self.inner = Some(inner);
                        return Ok(Some(yielded.unbind()));
                    }
                    Outcome::Return(value) => self.returned(py, value)?,
                    Outcome::Error(error) => self.failed(py, error)?,
                }
                continue;
            }
            if let Some(Input::Throw(error)) = input.take() {
                // Thrown in while nothing is awaited (not done by asyncio): end.
                self.stage = Stage::Done;
                return Err(PyErr::from_value(error));
            }
            match self.stage {
                Stage::Start => self.start(py)?,
                Stage::Respond => self.respond(py)?,
                Stage::Finish => self.finish(py)?,
                Stage::AfterClose => self.after_close(py)?,
                Stage::Done => return Ok(None),
                stage => return Err(stage_error("nothing to await", stage)),
            }
        }
    }

    /// The dispatcher (a new reference, so that `self` stays free to change).
    fn dispatcher<'py>(&self, py: Python<'py>) -> Bound<'py, Dispatcher> {
        self.dispatcher.bind(py).clone()
    }

    /// Routes the request and calls a plain endpoint; the rest is outlined (`#[cold]`
    /// keeps it out of the hot path's instruction cache lines).
    fn start(&mut self, py: Python<'_>) -> PyResult<()> {
        let dispatcher = self.dispatcher(py);
        let dispatcher = dispatcher.get();
        let scope = self.scope.bind(py).clone();
        let names = &dispatcher.names;
        scope.set_item(names.app.bind(py), dispatcher.app.bind(py))?;
        let kind = required(&scope, names.type_.bind(py))?;
        if !str_is(&kind, names.http.bind(py), "http") {
            return self.start_other(py, dispatcher, &scope);
        }
        self.started = Some(Instant::now());
        let method = required(&scope, names.method.bind(py))?;
        let method = method.cast::<PyString>()?.to_str()?;
        self.head = method == "HEAD";
        self.method = method_index(method);
        let config = dispatcher.config.borrow(py)?.copy(py)?;
        let core = config.core.get().table(py)?;
        if core.has_hosts {
            drop(core);
            return self.route_in_python(py, dispatcher, &config, &scope);
        }
        let found = core.match_request(
            py,
            &scope,
            method,
            config.max_header_count,
            config.max_url_length,
            core.redirect_slashes,
        )?;
        drop(core);
        if let Some((endpoint, stats_id)) = found.endpoint(py) {
            return self.call_endpoint(py, dispatcher, &endpoint, stats_id, found.params(py));
        }
        self.unrouted(py, dispatcher, &config, &scope, Bound::new(py, found)?)
    }

    /// A WebSocket or lifespan scope: the app's Python coroutine.
    #[cold]
    #[inline(never)]
    fn start_other(
        &mut self,
        py: Python<'_>,
        dispatcher: &Dispatcher,
        scope: &Bound<'_, PyDict>,
    ) -> PyResult<()> {
        let coroutine = dispatcher.app.bind(py).call_method1(
            intern!(py, "_serve_other"),
            (scope, &self.receive, &self.send),
        )?;
        self.delegate(py, coroutine)
    }

    /// Routing with `Host` entries, which the Python router matches first.
    #[cold]
    #[inline(never)]
    fn route_in_python(
        &mut self,
        py: Python<'_>,
        dispatcher: &Dispatcher,
        config: &Settings<'_>,
        scope: &Bound<'_, PyDict>,
    ) -> PyResult<()> {
        let slash = config.core.get().table(py)?.redirect_slashes;
        let route_match = config
            .router
            .call_method1(
                intern!(py, "match_scope"),
                (scope, config.max_header_count, config.max_url_length, slash),
            )?
            .cast_into::<RouteMatch>()?;
        let found = route_match.get();
        if let Some((endpoint, stats_id)) = found.endpoint(py) {
            return self.call_endpoint(py, dispatcher, &endpoint, stats_id, found.params(py));
        }
        self.unrouted(py, dispatcher, config, scope, route_match)
    }

    /// Anything but a plain endpoint: the default 404 from here, the rest (errors,
    /// mounts, route middleware) from the app's Python dispatcher.
    #[cold]
    #[inline(never)]
    fn unrouted(
        &mut self,
        py: Python<'_>,
        dispatcher: &Dispatcher,
        config: &Settings<'_>,
        scope: &Bound<'_, PyDict>,
        route_match: Bound<'_, RouteMatch>,
    ) -> PyResult<()> {
        let found = route_match.get();
        if found.kind() == NOT_FOUND && !found.redirects() && !config.handlers {
            // A plain 404, the commonest error (scanners): the default body, made
            // once, in two sends from here.
            self.stats_id = Some(dispatcher.unmatched_route);
            let (_, length, content_type) = &dispatcher.not_found;
            let headers = pyo3::types::PyList::new(py, [length, content_type])?.into_any();
            let message = dispatcher.names.start_message(py, 404, headers)?;
            self.stage = Stage::SendStart;
            return self.send_message(py, &message);
        }
        // The time routing started, on the Python dispatcher's clock.
        let elapsed = self.elapsed_ns();
        let now: u64 = dispatcher.perf_counter_ns.bind(py).call0()?.extract()?;
        let coroutine = dispatcher.app.bind(py).call_method1(
            intern!(py, "_dispatch_recorded"),
            (
                &config.router,
                route_match,
                scope,
                &self.receive,
                &self.send,
                now.saturating_sub(elapsed),
            ),
        )?;
        self.delegate(py, coroutine)
    }

    fn call_endpoint(
        &mut self,
        py: Python<'_>,
        dispatcher: &Dispatcher,
        endpoint: &Bound<'_, PyAny>,
        stats_id: Option<i64>,
        params: Option<Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let request =
            dispatcher
                .request_class
                .make(py, self.scope.bind(py), &self.receive, params)?;
        self.stats_id = stats_id;
        self.request = Some(request.clone().unbind());
        self.stage = Stage::Handler;
        match endpoint.call1((request,)) {
            Ok(coroutine) => self.inner = Some(awaitable(py, coroutine)?),
            Err(error) => self.failed(py, error)?,
        }
        Ok(())
    }

    fn delegate(&mut self, py: Python<'_>, coroutine: Bound<'_, PyAny>) -> PyResult<()> {
        self.stage = Stage::Delegate;
        self.inner = Some(awaitable(py, coroutine)?);
        Ok(())
    }

    fn elapsed_ns(&self) -> u64 {
        self.started.map_or(0, |started| {
            u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)
        })
    }

    /// The current awaitable returned `value`.
    fn returned(&mut self, py: Python<'_>, value: Bound<'_, PyAny>) -> PyResult<()> {
        match self.stage {
            Stage::Handler => {
                let dispatcher = self.dispatcher(py);
                let dispatcher = dispatcher.get();
                // Every `Response` is a `ResponseBase` and nothing else is: a type
                // check, not an `isinstance` call.
                if value.cast::<ResponseBase>().is_ok() {
                    self.response = Some(value.unbind());
                    self.stage = Stage::Respond;
                } else {
                    self.convert_response(py, dispatcher, &value)?;
                }
            }
            Stage::HandleException => {
                self.response = Some(value.unbind());
                self.stage = Stage::Respond;
            }
            Stage::SendStart => {
                let dispatcher = self.dispatcher(py);
                let names = &dispatcher.get().names;
                let body = match self.body.take() {
                    _ if self.head => PyBytes::new(py, b"").into_any(),
                    Some(body) => body.into_bound(py),
                    None => dispatcher.get().not_found.0.bind(py).clone().into_any(),
                };
                let message = names.body_message(py, body)?;
                self.stage = Stage::SendBody;
                self.send_message(py, &message)?;
            }
            Stage::SendBody => {
                self.status = if self.response.is_some() {
                    self.response_status
                } else {
                    404
                };
                self.stage = Stage::Finish;
            }
            Stage::SendOther => {
                self.status = value.extract().unwrap_or(0);
                self.stage = Stage::Finish;
            }
            Stage::CloseForm => self.stage = Stage::AfterClose,
            Stage::Background | Stage::Delegate => self.stage = Stage::Done,
            stage => return Err(stage_error("unexpected return", stage)),
        }
        Ok(())
    }

    /// The handler returned something else than a response (a dict, a str...).
    #[inline(never)]
    fn convert_response(
        &mut self,
        py: Python<'_>,
        dispatcher: &Dispatcher,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        match dispatcher.to_response.bind(py).call1((value,)) {
            Ok(response) => {
                self.response = Some(response.unbind());
                self.stage = Stage::Respond;
                Ok(())
            }
            Err(error) => self.failed(py, error),
        }
    }

    /// The current awaitable raised `error`.
    #[cold]
    #[inline(never)]
    fn failed(&mut self, py: Python<'_>, error: PyErr) -> PyResult<()> {
        match self.stage {
            Stage::Handler if error.is_instance_of::<PyException>(py) => {
                let dispatcher = self.dispatcher(py);
                let app = dispatcher.get().app.bind(py);
                let coroutine = app.call_method1(
                    intern!(py, "_handle_exception"),
                    (self.request.as_ref(), error.into_value(py)),
                )?;
                self.stage = Stage::HandleException;
                self.inner = Some(awaitable(py, coroutine)?);
                Ok(())
            }
            Stage::Handler
            | Stage::HandleException
            | Stage::SendStart
            | Stage::SendBody
            | Stage::SendOther => {
                // As the `finally` of a coroutine: record (a client that left),
                // close the uploads, then raise.
                self.status = 0;
                self.error = Some(error);
                self.stage = Stage::Finish;
                Ok(())
            }
            Stage::CloseForm => {
                if self.error.is_none() {
                    self.error = Some(error);
                }
                self.stage = Stage::AfterClose;
                Ok(())
            }
            _ => {
                self.stage = Stage::Done;
                Err(error)
            }
        }
    }

    fn send_message(&mut self, py: Python<'_>, message: &Bound<'_, PyDict>) -> PyResult<()> {
        match self.send.bind(py).call1((message,)) {
            Ok(coroutine) => self.inner = Some(awaitable(py, coroutine)?),
            Err(error) => self.failed(py, error)?,
        }
        Ok(())
    }

    fn respond(&mut self, py: Python<'_>) -> PyResult<()> {
        let dispatcher = self.dispatcher(py);
        let dispatcher = dispatcher.get();
        let Some(response) = self.response.as_ref().map(|r| r.bind(py).clone()) else {
            return Err(driver_error("no response"));
        };
        let rendering = {
            let base = response.cast::<ResponseBase>()?.get().fields(py)?;
            let sends_itself = match base.sends_itself() {
                Some(known) => known,
                None => !response
                    .get_type()
                    .getattr(intern!(py, "__call__"))?
                    .is(dispatcher.send_rendered.bind(py)),
            };
            if sends_itself {
                None
            } else {
                Some(base.rendering(py)?)
            }
        };
        if let Some(rendering) = rendering {
            // A fully rendered response: its two messages, sent from here, read
            // from the Rust struct once (the handler is done with it).
            self.response_status = rendering.status_code;
            self.body = Some(rendering.body);
            // Run only after a successful send: a failure ends in `error`.
            self.background = rendering.background;
            let message = dispatcher.names.start_message(
                py,
                rendering.status_code,
                rendering.raw_headers.into_bound(py),
            )?;
            self.stage = Stage::SendStart;
            return self.send_message(py, &message);
        }
        self.respond_itself(py, dispatcher, &response)
    }

    /// A response that sends itself (and runs its own background task).
    #[cold]
    #[inline(never)]
    fn respond_itself(
        &mut self,
        py: Python<'_>,
        dispatcher: &Dispatcher,
        response: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let coroutine = dispatcher.send_response.bind(py).call1((
            response,
            self.scope.bind(py),
            &self.receive,
            &self.send,
        ))?;
        self.stage = Stage::SendOther;
        self.inner = Some(awaitable(py, coroutine)?);
        Ok(())
    }

    fn finish(&mut self, py: Python<'_>) -> PyResult<()> {
        let dispatcher = self.dispatcher(py);
        let stats = dispatcher.get().stats.bind(py).get();
        if self.status == 0 {
            stats.client_disconnected();
        } else {
            stats.record_request(self.status, self.elapsed_ns(), self.stats_id, self.method);
        }
        drop(dispatcher);
        self.stage = Stage::AfterClose;
        if let Some(request) = &self.request {
            if RequestBase::has_form(request.bind(py))? {
                self.close_form(py)?;
            }
        }
        Ok(())
    }

    /// The request read a form: its uploads are closed.
    #[cold]
    #[inline(never)]
    fn close_form(&mut self, py: Python<'_>) -> PyResult<()> {
        if let Some(request) = &self.request {
            let coroutine = request.bind(py).call_method0(intern!(py, "close"))?;
            self.stage = Stage::CloseForm;
            self.inner = Some(awaitable(py, coroutine)?);
        }
        Ok(())
    }

    fn after_close(&mut self, py: Python<'_>) -> PyResult<()> {
        if let Some(error) = self.error.take() {
            self.stage = Stage::Done;
            return Err(error);
        }
        if let Some(background) = self.background.take() {
            return self.run_background(py, background);
        }
        self.stage = Stage::Done;
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn run_background(&mut self, py: Python<'_>, background: Py<PyAny>) -> PyResult<()> {
        let dispatcher = self.dispatcher(py);
        let coroutine = dispatcher.get().run_task.bind(py).call1((background,))?;
        self.stage = Stage::Background;
        self.inner = Some(awaitable(py, coroutine)?);
        Ok(())
    }
}

/// An internal error of the driver (a bug, not a request's doing).
#[cold]
fn driver_error(what: &str) -> PyErr {
    PyException::new_err(format!("covet driver: {what}"))
}

#[cold]
fn stage_error(what: &str, stage: Stage) -> PyErr {
    driver_error(&format!("{what} in stage {stage:?}"))
}

/// Whether `value` is the str `text`: first by identity with its interned copy
/// (servers' literals are interned), else by content, never by a Python comparison.
fn str_is(value: &Bound<'_, PyAny>, interned: &Bound<'_, PyString>, text: &str) -> bool {
    value.is(interned)
        || value
            .cast::<PyString>()
            .is_ok_and(|value| value.to_str().is_ok_and(|value| value == text))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Dispatcher>()?;
    m.add_class::<Serve>()?;
    m.add_class::<Served>()?;
    Ok(())
}
