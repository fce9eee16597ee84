//! The typed-parameter converters.

use crate::http::percent::hex_val;

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `-?[0-9]+`, fitting in an `i64`.
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !all_digits(digits) {
        return None;
    }
    s.parse().ok()
}

/// `-?[0-9]+(\.[0-9]+)?`, finite as an `f64` (no exponent, `inf` or `nan`).
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let (whole, frac) = match unsigned.split_once('.') {
        Some((whole, frac)) => (whole, Some(frac)),
        None => (unsigned, None),
    };
    if !all_digits(whole) || frac.is_some_and(|f| !all_digits(f)) {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Canonical `8-4-4-4-12` hex UUID, any letter case.
pub(crate) fn parse_uuid(s: &str) -> Option<u128> {
    let bytes = s.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut value: u128 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if b != b'-' {
                return None;
            }
        } else {
            value = (value << 4) | u128::from(hex_val(b)?);
        }
    }
    Some(value)
}
