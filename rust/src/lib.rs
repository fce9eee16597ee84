//! CovetPy's Rust core.
//!
//! The pure-Rust modules (router, parsers, header validation) have no Python
//! dependency so that `cargo test` and the Criterion benches link them directly; the
//! PyO3 bindings in `python` are compiled only with the `python` feature, which
//! maturin enables (see pyproject.toml).

// Tests build inputs with format! in iterators and compare exact float results.
#![cfg_attr(
    test,
    allow(
        clippy::float_cmp,
        clippy::format_collect,
        reason = "test inputs and exact expectations"
    )
)]

pub mod forms;
pub mod http;
pub mod limits;
pub mod router;
pub mod rsgi;
pub mod stats;
pub mod websocket;

#[cfg(feature = "python")]
mod python;
