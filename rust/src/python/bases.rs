//! What the Rust base classes of `Request` and `Response` share.

use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};

/// `__init_subclass__` of a Rust base: refuses a subclass that defines, on the
/// class, one of the fields the base keeps in its struct (its getset descriptors).
/// Such an attribute would hide the field the driver fills or sends from.
pub(crate) fn refuse_shadowed_fields(
    cls: &Bound<'_, PyType>,
    base: &Bound<'_, PyType>,
    what: &str,
) -> PyResult<()> {
    let py = cls.py();
    let own = cls.getattr(intern!(py, "__dict__"))?;
    let fields = base.getattr(intern!(py, "__dict__"))?;
    for item in fields.call_method0(intern!(py, "items"))?.try_iter()? {
        let (name, value): (Bound<'_, PyString>, Bound<'_, PyAny>) = item?.extract()?;
        if value.get_type().name()? == "getset_descriptor" && own.contains(&name)? {
            return Err(PyTypeError::new_err(format!(
                "{}.{name}: a {what}'s {name} is set per instance (in __init__), not defined \
                 on the class",
                cls.name()?
            )));
        }
    }
    Ok(())
}
