//! CovetPy's Rust core.
//!
//! The pure-Rust modules (router, parsers, header validation) have no Python
//! dependency so that `cargo test` and the Criterion benches link them directly; the
//! PyO3 bindings in `python` are compiled only with the `python` feature, which
//! maturin enables (see pyproject.toml).

pub mod forms;
pub mod http;
pub mod limits;
pub mod router;
pub mod rsgi;
pub mod stats;
pub mod websocket;

#[cfg(feature = "python")]
mod python;
