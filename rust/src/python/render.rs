//! Response rendering in one crossing: body bytes plus the ASGI header list, for the
//! common case of a response without user headers (`Response.__init__`'s fast path).

use std::cell::Ref;
use std::sync::Mutex;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyMemoryView, PyString, PyTuple, PyType};

use super::bases::refuse_shadowed_fields;
use super::errors::header_error;
use super::gil::{visit_each, GilCell};
use crate::http::headers::{content_type_value, decimal, status_has_body};

static ORJSON_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static CONTENT_LENGTH: PyOnceLock<Py<PyBytes>> = PyOnceLock::new();
static CONTENT_TYPE: PyOnceLock<Py<PyBytes>> = PyOnceLock::new();

/// A header name as a bytes object made once per process.
fn header_name<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyBytes>>,
    name: &'static str,
) -> Bound<'py, PyBytes> {
    cell.get_or_init(py, || PyBytes::new(py, name.as_bytes()).unbind())
        .bind(py)
        .clone()
}

fn orjson_dumps<'py>(
    py: Python<'py>,
    content: &Bound<'py, PyAny>,
    option: Option<i64>,
) -> PyResult<Bound<'py, PyBytes>> {
    let dumps = ORJSON_DUMPS.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("orjson")?.getattr("dumps")?.unbind())
    })?;
    let dumps = dumps.bind(py);
    let call = |option: i64| -> PyResult<Bound<'py, PyAny>> {
        if option == 0 {
            return dumps.call1((content,));
        }
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item(intern!(py, "option"), option)?;
        dumps.call((content,), Some(&kwargs))
    };
    let option = option.unwrap_or(0);
    let body = match call(option) {
        Ok(body) => body,
        // As `responses.dumps_json`: retry with non-str dict keys allowed, which
        // json.dumps users expect; costs nothing unless the first call refused.
        Err(err) if err.is_instance_of::<pyo3::exceptions::PyTypeError>(py) => {
            call(option | OPT_NON_STR_KEYS)?
        }
        Err(err) => return Err(err),
    };
    Ok(body.cast_into::<PyBytes>()?)
}

/// `orjson.OPT_NON_STR_KEYS`.
const OPT_NON_STR_KEYS: i64 = 4;

/// `(b"content-type", value)` header tuples by media type, shared by every response
/// (tuples are immutable). A process uses a handful of media types, so this stays
/// tiny; it is capped all the same, as media types can come from user input.
static CONTENT_TYPES: Mutex<Vec<(Box<str>, Py<PyTuple>)>> = Mutex::new(Vec::new());
const CONTENT_TYPES_CAP: usize = 32;

fn content_type_header<'py>(
    py: Python<'py>,
    media_type: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyTuple>> {
    let media_type = media_type.to_str()?;
    if let Ok(cache) = CONTENT_TYPES.lock() {
        if let Some((_, header)) = cache.iter().find(|(key, _)| &**key == media_type) {
            return Ok(header.bind(py).clone());
        }
    }
    let value = content_type_value(media_type).map_err(header_error)?;
    let header = PyTuple::new(
        py,
        [
            header_name(py, &CONTENT_TYPE, "content-type"),
            PyBytes::new(py, value.as_bytes()),
        ],
    )?;
    if let Ok(mut cache) = CONTENT_TYPES.lock() {
        if cache.len() < CONTENT_TYPES_CAP {
            cache.push((media_type.into(), header.clone().unbind()));
        }
    }
    Ok(header)
}

/// `(b"content-length", value)` header tuples for the commonest body sizes, made on
/// first use and shared like the content-type tuples: a small response then
/// allocates no header tuple and no length bytes of its own. One slot per length,
/// each set once: reading a set slot takes no lock.
static CONTENT_LENGTHS: [PyOnceLock<Py<PyTuple>>; CONTENT_LENGTHS_CACHED] =
    [const { PyOnceLock::new() }; CONTENT_LENGTHS_CACHED];
const CONTENT_LENGTHS_CACHED: usize = 4096;

fn content_length_header(py: Python<'_>, length: usize) -> PyResult<Bound<'_, PyTuple>> {
    let make = || {
        let mut buf = [0u8; 20];
        PyTuple::new(
            py,
            [
                header_name(py, &CONTENT_LENGTH, "content-length"),
                PyBytes::new(py, decimal(length, &mut buf)),
            ],
        )
        .map(Bound::unbind)
    };
    let Some(slot) = CONTENT_LENGTHS.get(length) else {
        return Ok(make()?.into_bound(py));
    };
    if let Some(header) = slot.get(py) {
        return Ok(header.bind(py).clone());
    }
    // Made outside the slot: an allocation may run a finaliser, which may ask for the
    // same length; whichever tuple is stored first is the one kept.
    let header = make()?;
    let _ = slot.set(py, header.clone_ref(py));
    Ok(slot.get(py).unwrap_or(&header).bind(py).clone())
}

/// `(body, raw_headers, media_type)`.
type Rendered<'py> = (
    Bound<'py, PyBytes>,
    Bound<'py, PyList>,
    Option<Bound<'py, PyString>>,
);

/// Whether `charset` is UTF-8, the encoding of the fast paths.
fn is_utf8(charset: &str) -> bool {
    // The default spelling first: a plain comparison, inlined.
    charset == "utf-8"
        || charset.eq_ignore_ascii_case("utf-8")
        || charset.eq_ignore_ascii_case("utf8")
}

/// The `(b"content-type", value)` header for `media_type` in `charset`: text types
/// get `; charset=...` unless they name one.
fn content_type_for<'py>(
    py: Python<'py>,
    media_type: &Bound<'py, PyString>,
    charset: &str,
    spec: Option<&RenderSpec>,
) -> PyResult<Bound<'py, PyTuple>> {
    if let Some((default, header)) = spec.and_then(|spec| spec.content_type.as_ref()) {
        if media_type.is(default) {
            return Ok(header.bind(py).clone());
        }
    }
    if is_utf8(charset) {
        return content_type_header(py, media_type);
    }
    let media = media_type.to_str()?;
    let value = if media.starts_with("text/") && !media.to_ascii_lowercase().contains("charset=") {
        format!("{media}; charset={charset}")
    } else {
        media.to_owned()
    };
    crate::http::headers::validate_value(b"content-type", value.as_bytes())
        .map_err(header_error)?;
    PyTuple::new(
        py,
        [
            header_name(py, &CONTENT_TYPE, "content-type"),
            PyBytes::new(py, value.as_bytes()),
        ],
    )
}

/// The response body and its default media type, as `Response(content)` renders
/// it: None is empty, bytes are sent as they are, str is encoded in `charset`
/// (text/plain), anything else is JSON; `JSONResponse` (`json_option`) is always JSON.
fn render_body<'py>(
    py: Python<'py>,
    content: &Bound<'py, PyAny>,
    json_option: Option<i64>,
    charset: &str,
) -> PyResult<(Bound<'py, PyBytes>, &'static str)> {
    Ok(if json_option.is_some() {
        (orjson_dumps(py, content, json_option)?, "application/json")
    } else if content.is_none() {
        (PyBytes::new(py, b""), "")
    } else if let Ok(bytes) = content.cast::<PyBytes>() {
        (bytes.clone(), "application/octet-stream")
    } else if let Ok(text) = content.cast::<PyString>() {
        let body = if is_utf8(charset) {
            text.encode_utf8()?
        } else {
            text.call_method1(intern!(py, "encode"), (charset,))?
                .cast_into::<PyBytes>()?
        };
        (body, "text/plain")
    } else if content.is_instance_of::<PyByteArray>() || content.is_instance_of::<PyMemoryView>() {
        let copied = py
            .get_type::<PyBytes>()
            .call1((content,))?
            .cast_into::<PyBytes>()?;
        (copied, "application/octet-stream")
    } else {
        (orjson_dumps(py, content, None)?, "application/json")
    })
}

/// `render_body`'s default media type as a Python str made once, not per response.
fn default_media_type<'py>(py: Python<'py>, media_type: &'static str) -> Bound<'py, PyString> {
    match media_type {
        "application/json" => intern!(py, "application/json").clone(),
        "text/plain" => intern!(py, "text/plain").clone(),
        "application/octet-stream" => intern!(py, "application/octet-stream").clone(),
        other => PyString::intern(py, other),
    }
}

/// Renders a response: `(body, raw_headers, media_type)`. The one renderer; the
/// Python response classes call it.
///
/// `content` is rendered by `render_body` unless `as_body` says it already is the
/// body (bytes from a subclass's own `render`); an explicit `media_type` wins over
/// the default. `headers` (a mapping or `(name, value)` pairs) are validated and
/// lowercased; `content-length` (for statuses that have a body) and `content-type`
/// are added unless given. `stream` leaves out `content-length`: the body comes
/// later, in pieces.
#[pyfunction]
#[pyo3(signature = (
    content, media_type, status_code, json_option = None, headers = None,
    charset = "utf-8", as_body = false, stream = false,
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn render_response<'py>(
    py: Python<'py>,
    content: &Bound<'py, PyAny>,
    media_type: Option<Bound<'py, PyString>>,
    status_code: u16,
    json_option: Option<i64>,
    headers: Option<&Bound<'py, PyAny>>,
    charset: &str,
    as_body: bool,
    stream: bool,
) -> PyResult<Rendered<'py>> {
    let (body, default_media) = if as_body {
        (content.cast::<PyBytes>()?.clone(), "")
    } else {
        render_body(py, content, json_option, charset)?
    };
    let media_type = match media_type {
        Some(media_type) => Some(media_type),
        None if default_media.is_empty() => None,
        None => Some(default_media_type(py, default_media)),
    };
    let list = render_headers(
        py,
        &body,
        media_type.as_ref(),
        status_code,
        headers,
        charset,
        stream,
        None,
    )?;
    Ok((body, list, media_type))
}

/// The ASGI header list of a response: the user's `headers` (validated,
/// lowercased), then `content-length` and `content-type` unless given (see
/// `render_response`). `spec` offers the class's prebuilt content-type header.
#[allow(clippy::too_many_arguments)]
fn render_headers<'py>(
    py: Python<'py>,
    body: &Bound<'py, PyBytes>,
    media_type: Option<&Bound<'py, PyString>>,
    status_code: u16,
    headers: Option<&Bound<'py, PyAny>>,
    charset: &str,
    stream: bool,
    spec: Option<&RenderSpec>,
) -> PyResult<Bound<'py, PyList>> {
    let length = |has_length: bool| -> PyResult<Option<Bound<'py, PyTuple>>> {
        if stream || has_length || !status_has_body(status_code) {
            return Ok(None);
        }
        content_length_header(py, body.as_bytes().len()).map(Some)
    };
    let content_type = |has_type: bool| -> PyResult<Option<Bound<'py, PyTuple>>> {
        match media_type {
            Some(media_type) if !has_type => {
                content_type_for(py, media_type, charset, spec).map(Some)
            }
            _ => Ok(None),
        }
    };
    let Some(headers) = headers.filter(|h| !h.is_none()) else {
        // No user headers, the common case: the list is made at its final size.
        return Ok(match (length(false)?, content_type(false)?) {
            (Some(length), Some(content_type)) => PyList::new(py, [length, content_type])?,
            (Some(one), None) | (None, Some(one)) => PyList::new(py, [one])?,
            (None, None) => PyList::empty(py),
        });
    };
    let items = if headers.hasattr(intern!(py, "items"))? {
        headers.call_method0(intern!(py, "items"))?
    } else {
        headers.clone()
    };
    let list = super::parsers::encode_headers(py, &items)?;
    let (mut has_length, mut has_type) = (false, false);
    for item in list.iter() {
        let name = item.cast::<PyTuple>()?.get_item(0)?;
        let name = name.cast::<PyBytes>()?.as_bytes();
        has_length |= name == b"content-length";
        has_type |= name == b"content-type";
    }
    for header in [length(has_length)?, content_type(has_type)?]
        .into_iter()
        .flatten()
    {
        list.append(header)?;
    }
    Ok(list)
}

fn py_bool(value: bool) -> &'static str {
    if value {
        "True"
    } else {
        "False"
    }
}

/// A response class's rendering defaults (`Response._render_spec`, set on every
/// subclass by `Response.__init_subclass__`), read by `__init__` in one lookup.
#[pyclass(name = "RenderSpec", module = "covet._core", frozen)]
pub struct RenderSpec {
    media_type: Option<Py<PyString>>,
    charset: String,
    always_json: bool,
    own_render: bool,
    /// The class overrides `Response.__call__`: its responses send themselves.
    sends_itself: bool,
    /// The class's media type with its content-type header, made once (None when
    /// the class has no media type, or one the header check refuses: that error
    /// is then raised per response, as for any media type).
    content_type: Option<(Py<PyString>, Py<PyTuple>)>,
}

#[pymethods]
impl RenderSpec {
    #[new]
    fn new(
        py: Python<'_>,
        media_type: Option<Bound<'_, PyString>>,
        charset: String,
        always_json: bool,
        own_render: bool,
        sends_itself: bool,
    ) -> Self {
        let content_type = media_type.as_ref().and_then(|media| {
            content_type_for(py, media, &charset, None)
                .ok()
                .map(|header| (media.clone().unbind(), header.unbind()))
        });
        RenderSpec {
            media_type: media_type.map(Bound::unbind),
            charset,
            always_json,
            own_render,
            sends_itself,
            content_type,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let media = self.media_type.as_ref().map_or_else(
            || "None".to_owned(),
            |m| format!("{:?}", m.bind(py).to_string()),
        );
        format!(
            "RenderSpec(media_type={media}, charset={:?}, always_json={}, own_render={}, \
             sends_itself={})",
            self.charset,
            py_bool(self.always_json),
            py_bool(self.own_render),
            py_bool(self.sends_itself),
        )
    }
}

extern "C" {
    // CPython's lookup of a name along a type's MRO, through the type attribute cache
    // (Include/cpython/object.h, in every version this module builds for): a borrowed
    // reference, or NULL with no exception set. pyo3-ffi leaves out underscored names.
    fn _PyType_Lookup(
        type_: *mut pyo3::ffi::PyTypeObject,
        name: *mut pyo3::ffi::PyObject,
    ) -> *mut pyo3::ffi::PyObject;
}

/// `type(response)._render_spec`, read along the MRO alone: a class attribute that is
/// not a descriptor needs neither the metatype lookup nor the descriptor protocol of
/// `getattr` (about 140 instructions per response).
fn render_spec<'py>(response: &Bound<'py, ResponseBase>) -> PyResult<Bound<'py, RenderSpec>> {
    let py = response.py();
    let name = intern!(py, "_render_spec");
    // SAFETY: both are live objects; the borrowed result is made an owned reference
    // at once, before any Python code can run.
    let found = unsafe {
        let found = _PyType_Lookup(pyo3::ffi::Py_TYPE(response.as_ptr()), name.as_ptr());
        Bound::from_borrowed_ptr_or_opt(py, found)
    };
    let Some(found) = found else {
        return Err(pyo3::exceptions::PyAttributeError::new_err(
            "the response class has no _render_spec (Response.__init_subclass__ sets it)",
        ));
    };
    Ok(found.cast_into::<RenderSpec>()?)
}

/// The base class of `covet.responses.Response`: the rendered response (status,
/// body bytes, ASGI header list, background task) in a Rust struct. Its `__init__`
/// is the type's `tp_init` slot, which Python subclasses inherit as a C slot (no
/// method lookup, no bound-method call on construction).
///
/// `Response("text")` costs one Rust call and no Python frame: `__init__` renders (as
/// `render_response`) into the struct, and the driver reads the struct directly
/// when it sends. Python code sees `status_code`, `body`, `raw_headers` and
/// `background` as attributes, read and assigned as usual (a subclass's own
/// `__init__` may set them or call `super().__init__(...)`); `media_type` stays a
/// Python attribute, stored only when it differs from the class default.
/// `_render_spec` (set on each class by `Response.__init_subclass__`) gives the
/// class defaults in one lookup: `(media_type, charset, always_json, own_render)`.
#[pyclass(name = "ResponseBase", module = "covet._core", subclass, frozen)]
pub struct ResponseBase {
    fields: GilCell<ResponseFields>,
}

/// The fields of a `ResponseBase`.
pub struct ResponseFields {
    status_code: Option<u16>,
    body: Option<Py<PyAny>>,
    raw_headers: Option<Py<PyAny>>,
    background: Option<Py<PyAny>>,
    /// Whether the class sends its responses itself (overrides `__call__`), as its
    /// `RenderSpec` says; None when `__init__` did not run (the driver then looks).
    sends_itself: Option<bool>,
}

/// What the driver sends for a rendered response.
pub struct Rendering {
    pub status_code: u16,
    pub body: Py<PyAny>,
    pub raw_headers: Py<PyAny>,
    pub background: Option<Py<PyAny>>,
}

impl ResponseBase {
    pub fn fields<'a>(&'a self, py: Python<'_>) -> PyResult<Ref<'a, ResponseFields>> {
        self.fields.borrow(py)
    }
}

impl ResponseFields {
    pub fn sends_itself(&self) -> Option<bool> {
        self.sends_itself
    }

    /// The response as the driver sends it, or an `AttributeError` naming what a
    /// subclass's `__init__` left unset.
    pub fn rendering(&self, py: Python<'_>) -> PyResult<Rendering> {
        Ok(Rendering {
            status_code: self.status_code.ok_or_else(|| unset("status_code"))?,
            body: self
                .body
                .as_ref()
                .ok_or_else(|| unset("body"))?
                .clone_ref(py),
            raw_headers: self
                .raw_headers
                .as_ref()
                .ok_or_else(|| unset("raw_headers"))?
                .clone_ref(py),
            background: self.background.as_ref().map(|b| b.clone_ref(py)),
        })
    }
}

fn unset(name: &str) -> PyErr {
    pyo3::exceptions::PyAttributeError::new_err(format!(
        "the response has no {name}: its __init__ did not set it"
    ))
}

#[pymethods]
impl ResponseBase {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>) -> Self {
        ResponseBase {
            fields: GilCell::new(ResponseFields {
                status_code: None,
                body: None,
                raw_headers: None,
                background: None,
                sends_itself: None,
            }),
        }
    }

    /// `option` (keyword only) is for classes that always render JSON
    /// (`JSONResponse`): orjson flags for this response, kept as `self.option`.
    #[pyo3(signature = (content = None, status_code = 200, headers = None, media_type = None, background = None, *, option = None))]
    #[allow(clippy::too_many_arguments)]
    fn __init__<'py>(
        slf: &Bound<'py, Self>,
        content: Option<&Bound<'py, PyAny>>,
        status_code: u16,
        headers: Option<&Bound<'py, PyAny>>,
        media_type: Option<Bound<'py, PyString>>,
        background: Option<Bound<'py, PyAny>>,
        option: Option<Bound<'py, PyAny>>,
    ) -> PyResult<()> {
        let py = slf.py();
        let spec = render_spec(slf)?;
        let spec = spec.get();
        if let Some(option) = option.filter(|o| !o.is_none()) {
            if !spec.always_json {
                return Err(pyo3::exceptions::PyTypeError::new_err(
                    "option= is for responses that render JSON (JSONResponse)",
                ));
            }
            slf.as_any().setattr(intern!(py, "option"), option)?;
        }
        let explicit_media = media_type.is_some();
        let media_type =
            media_type.or_else(|| spec.media_type.as_ref().map(|m| m.bind(py).clone()));
        let none = py.None().into_bound(py);
        let content = content.unwrap_or(&none);
        let (body, media_type) = if spec.own_render {
            let rendered = slf.call_method1(intern!(py, "render"), (content, media_type))?;
            let (body, media): (Bound<'py, PyAny>, Option<Bound<'py, PyString>>) =
                rendered.extract()?;
            (body.cast_into::<PyBytes>()?, media)
        } else {
            let json_option = if spec.always_json {
                let option = slf.getattr(intern!(py, "option"))?;
                Some(if option.is_none() {
                    0
                } else {
                    option.extract()?
                })
            } else {
                None
            };
            let (body, default_media) = render_body(py, content, json_option, &spec.charset)?;
            let media_type = match media_type {
                None if !default_media.is_empty() => Some(default_media_type(py, default_media)),
                media_type => media_type,
            };
            (body, media_type)
        };
        let raw_headers = render_headers(
            py,
            &body,
            media_type.as_ref(),
            status_code,
            headers,
            &spec.charset,
            false,
            Some(spec),
        )?;
        slf.get().fields.replace(
            py,
            |fields| fields,
            ResponseFields {
                status_code: Some(status_code),
                body: Some(body.into_any().unbind()),
                raw_headers: Some(raw_headers.into_any().unbind()),
                background: background.filter(|b| !b.is_none()).map(Bound::unbind),
                sends_itself: Some(spec.sends_itself),
            },
        )?;
        // The media type is stored only when it differs from the class default (a
        // class attribute): the common case stores nothing.
        if explicit_media || spec.own_render || (spec.media_type.is_none() && media_type.is_some())
        {
            slf.as_any().setattr(
                intern!(py, "media_type"),
                media_type.map_or(none, Bound::into_any),
            )?;
        }
        Ok(())
    }

    #[classmethod]
    fn __init_subclass__(cls: &Bound<'_, PyType>) -> PyResult<()> {
        refuse_shadowed_fields(cls, &cls.py().get_type::<ResponseBase>(), "response")
    }

    #[getter]
    fn status_code(&self, py: Python<'_>) -> PyResult<u16> {
        self.fields
            .borrow(py)?
            .status_code
            .ok_or_else(|| unset("status_code"))
    }

    #[setter]
    fn set_status_code(&self, py: Python<'_>, status_code: Option<u16>) -> PyResult<()> {
        self.fields.borrow_mut(py)?.status_code = status_code;
        Ok(())
    }

    #[getter]
    fn body(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.fields
            .borrow(py)?
            .body
            .as_ref()
            .map(|b| b.clone_ref(py))
            .ok_or_else(|| unset("body"))
    }

    #[setter]
    fn set_body(&self, py: Python<'_>, body: Option<Py<PyAny>>) -> PyResult<()> {
        self.fields.replace(py, |fields| &mut fields.body, body)
    }

    #[getter]
    fn raw_headers(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.fields
            .borrow(py)?
            .raw_headers
            .as_ref()
            .map(|h| h.clone_ref(py))
            .ok_or_else(|| unset("raw_headers"))
    }

    #[setter]
    fn set_raw_headers(&self, py: Python<'_>, raw_headers: Option<Py<PyAny>>) -> PyResult<()> {
        self.fields
            .replace(py, |fields| &mut fields.raw_headers, raw_headers)
    }

    /// The task run after the response is sent; None when there is none.
    #[getter]
    fn background(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self
            .fields
            .borrow(py)?
            .background
            .as_ref()
            .map_or_else(|| py.None(), |b| b.clone_ref(py)))
    }

    #[setter]
    fn set_background(&self, py: Python<'_>, background: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let background = background.filter(|b| !b.is_none()).map(Bound::unbind);
        self.fields
            .replace(py, |fields| &mut fields.background, background)
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        self.fields.traverse(&visit, |fields, visit| {
            visit_each(
                visit,
                [&fields.body, &fields.raw_headers, &fields.background],
            )
        })
    }

    fn __clear__(&self) {
        // SAFETY: called by the cycle collector, which runs attached.
        unsafe {
            self.fields.clear(|fields| {
                (
                    fields.body.take(),
                    fields.raw_headers.take(),
                    fields.background.take(),
                )
            });
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ResponseBase>()?;
    m.add_class::<RenderSpec>()?;
    m.add_function(wrap_pyfunction!(render_response, m)?)
}
