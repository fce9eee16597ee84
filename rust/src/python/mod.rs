//! The `covet._core` extension module: thin PyO3 wrappers over the pure-Rust core.
//! Each Rust error class maps to exactly one Python exception (see `errors`).

use pyo3::prelude::*;

mod app;
mod bases;
mod driver;
mod errors;
mod forms;
mod gil;
mod parsers;
mod ranges;
mod render;
mod request;
mod router;
mod rsgi;
mod stats;
mod websocket;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    gil::require_gil(m.py())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    let defaults = pyo3::types::PyDict::new(m.py());
    for (name, value) in crate::limits::DEFAULTS {
        defaults.set_item(name, value)?;
    }
    m.add("DEFAULT_LIMITS", defaults)?;
    errors::register(m)?;
    router::register(m)?;
    parsers::register(m)?;
    forms::register(m)?;
    stats::register(m)?;
    ranges::register(m)?;
    render::register(m)?;
    request::register(m)?;
    driver::register(m)?;
    app::register(m)?;
    rsgi::register(m)?;
    websocket::register(m)?;
    Ok(())
}
