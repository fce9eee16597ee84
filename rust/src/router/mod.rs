//! URL router: maps `(method, raw path)` to a registered route.
//!
//! Patterns are `/`-separated segments; each segment is either static text or a
//! whole-segment parameter `{name}`, `{name:str}`, `{name:int}`, `{name:float}`,
//! `{name:uuid}` or (last segment only) the catch-all `{name:path}`.
//!
//! Routes are stored in a segment tree. At every position the candidates are tried
//! in priority order — static, then `int`, `uuid`, `float`, plain `str`, and finally
//! the catch-all — with full backtracking, so the lookup result does not depend on
//! the insertion order. Routes without parameters are additionally answered by a
//! single probe of a whole-path table (the route cache).
//!
//! Lookups take the *raw* (percent-encoded) path, split it on literal `/`, and
//! percent-decode each segment on its own, so `%2F` stays inside the parameter it
//! belongs to. A path without `%` escapes and with at most eight parameters is
//! matched without any heap allocation.

mod convert;
mod hash;
mod method;
mod params;
pub mod paths;
mod pattern;
mod scan;
mod statics;
mod tree;

#[cfg(test)]
mod tests;

use std::fmt;

pub use params::{ParamValue, Params};
pub use pattern::ParamKind;
pub use tree::Router;

/// The pseudo-method of WebSocket routes: `router.add_route("/ws", h, ["WEBSOCKET"])`.
pub const WEBSOCKET: &str = "WEBSOCKET";
/// Matches every method, WebSocket included, after the exact methods registered at
/// the same path (mounts use it).
pub const ANY_METHOD: &str = "*";
/// Matches every HTTP method but not WebSocket, after the exact methods at the same
/// path (a plain request handler served as a whole app uses it).
pub const ANY_HTTP_METHOD: &str = "*HTTP";

/// Index of a route in insertion order (the first successful `insert` is `RouteId(0)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteId(pub usize);

/// The outcome of [`Router::lookup`].
///
/// `Found` is large because [`Params`] keeps up to eight parameters inline; boxing it
/// would cost a heap allocation on every matched request, which is what the inline
/// storage exists to avoid.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Match<'r, 'p, T> {
    /// A route handles this method and path.
    Found {
        value: &'r T,
        route: RouteId,
        params: Params<'r, 'p>,
    },
    /// The path exists but not for this method; `allow` is the `Allow` header value,
    /// e.g. `"GET, HEAD, OPTIONS, POST"`.
    MethodNotAllowed { allow: &'r str },
    /// An `OPTIONS` request for a path that exists but has no `OPTIONS` handler.
    Options { allow: &'r str },
    /// No route matches the path (for this kind of request: HTTP or WebSocket).
    NotFound,
}

/// Why [`Router::insert`] rejected a route. A failed insert leaves the router unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// The pattern (or its method list) is malformed.
    InvalidPattern { pattern: String, reason: String },
    /// The route would be ambiguous with an existing one. Routes are rendered as
    /// `"GET /users/{id}"` (several methods are joined with `|`).
    Conflict {
        new_route: String,
        existing_route: String,
        reason: String,
    },
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::InvalidPattern { pattern, reason } => {
                write!(f, "invalid route pattern `{pattern}`: {reason}")
            }
            RouteError::Conflict {
                new_route,
                existing_route,
                reason,
            } => write!(
                f,
                "route `{new_route}` conflicts with existing route `{existing_route}`: {reason}"
            ),
        }
    }
}

impl std::error::Error for RouteError {}

/// The parameter names of a pattern, in order; a match's [`Params`] come in the same
/// order, so bindings can pair them with names prepared once at registration.
pub fn param_names(pattern: &str) -> Result<Vec<&str>, RouteError> {
    Ok(pattern::parse_pattern(pattern)?
        .into_iter()
        .filter_map(|segment| match segment {
            pattern::Segment::Param { name, .. } => Some(name),
            pattern::Segment::Static(_) => None,
        })
        .collect())
}
