//! Route pattern parsing and validation.

use super::RouteError;

/// The converter of a path parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// `{name}` or `{name:str}`: one non-empty segment.
    Str,
    /// `{name:int}`: `-?[0-9]+` fitting in an `i64`.
    Int,
    /// `{name:float}`: `-?[0-9]+(\.[0-9]+)?`.
    Float,
    /// `{name:uuid}`: canonical 8-4-4-4-12 hex, any case.
    Uuid,
    /// `{name:path}`: the rest of the path, slashes included (last segment only).
    Path,
}

impl ParamKind {
    fn from_type_name(name: &str) -> Option<Self> {
        Some(match name {
            "str" => ParamKind::Str,
            "int" => ParamKind::Int,
            "float" => ParamKind::Float,
            "uuid" => ParamKind::Uuid,
            "path" => ParamKind::Path,
            _ => return None,
        })
    }
}

/// One segment of a parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    Static(&'a str),
    Param { name: &'a str, kind: ParamKind },
}

fn invalid(pattern: &str, reason: String) -> RouteError {
    RouteError::InvalidPattern {
        pattern: pattern.to_owned(),
        reason,
    }
}

fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Splits and validates `pattern`. `"/"` is one empty static segment and a trailing
/// slash yields a final empty static segment, so `/users` and `/users/` differ.
pub(crate) fn parse_pattern(pattern: &str) -> Result<Vec<Segment<'_>>, RouteError> {
    let Some(body) = pattern.strip_prefix('/') else {
        return Err(invalid(pattern, "a pattern must start with `/`".to_owned()));
    };
    let count = body.split('/').count();
    let mut segments: Vec<Segment<'_>> = Vec::with_capacity(count);
    for (position, part) in body.split('/').enumerate() {
        if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if inner.contains(['{', '}']) {
                return Err(invalid(
                    pattern,
                    format!("unbalanced or nested braces in segment `{part}`"),
                ));
            }
            let (name, type_name) = match inner.split_once(':') {
                Some((name, type_name)) => (name, Some(type_name)),
                None => (inner, None),
            };
            if name.is_empty() {
                return Err(invalid(
                    pattern,
                    format!("empty parameter name in segment `{part}`"),
                ));
            }
            if !is_identifier(name) {
                return Err(invalid(
                    pattern,
                    format!(
                        "invalid parameter name `{name}`: names must match [A-Za-z_][A-Za-z0-9_]*"
                    ),
                ));
            }
            let kind = match type_name {
                None => ParamKind::Str,
                Some(t) => ParamKind::from_type_name(t).ok_or_else(|| {
                    invalid(
                        pattern,
                        format!(
                            "unknown parameter type `{t}` in `{part}` (expected str, int, float, uuid or path)"
                        ),
                    )
                })?,
            };
            if kind == ParamKind::Path && position + 1 != count {
                return Err(invalid(
                    pattern,
                    format!("catch-all parameter `{part}` must be the last segment"),
                ));
            }
            let duplicate = segments
                .iter()
                .any(|s| matches!(s, Segment::Param { name: n, .. } if *n == name));
            if duplicate {
                return Err(invalid(
                    pattern,
                    format!("duplicate parameter name `{name}`"),
                ));
            }
            segments.push(Segment::Param { name, kind });
        } else if part.contains(['{', '}']) {
            let open = part.matches('{').count();
            let close = part.matches('}').count();
            let reason = if open == close {
                format!(
                    "braces inside static text in segment `{part}`: a parameter must span a whole segment"
                )
            } else {
                format!("unbalanced braces in segment `{part}`")
            };
            return Err(invalid(pattern, reason));
        } else {
            segments.push(Segment::Static(part));
        }
    }
    Ok(segments)
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Uppercases and de-duplicates the method list; rejects an empty list or a method
/// that is not an HTTP token.
pub(crate) fn normalize_methods(
    pattern: &str,
    methods: &[&str],
) -> Result<Vec<String>, RouteError> {
    if methods.is_empty() {
        return Err(invalid(
            pattern,
            "no methods given for the route".to_owned(),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(methods.len());
    for method in methods {
        if method.is_empty() || !method.bytes().all(is_token_byte) {
            return Err(invalid(
                pattern,
                format!("invalid method `{method}`: methods must be HTTP tokens"),
            ));
        }
        let upper = method.to_ascii_uppercase();
        if !out.contains(&upper) {
            out.push(upper);
        }
    }
    Ok(out)
}
