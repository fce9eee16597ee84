//! Percent-decoding and the typed-parameter converters.

use std::borrow::Cow;

/// Percent-decodes `s` (`%XX` escapes only; `+` is left alone).
///
/// Returns `Cow::Borrowed` when `s` contains no `%`. Returns `None` when an escape is
/// malformed (`%` not followed by two hex digits) or the decoded bytes are not UTF-8.
pub fn percent_decode(s: &str) -> Option<Cow<'_, str>> {
    let bytes = s.as_bytes();
    let Some(first) = bytes.iter().position(|&b| b == b'%') else {
        return Some(Cow::Borrowed(s));
    };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(bytes.get(..first)?);
    let mut i = first;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = hex_value(*bytes.get(i + 1)?)?;
            let lo = hex_value(*bytes.get(i + 2)?)?;
            out.push((hi << 4) | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

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
            value = (value << 4) | u128::from(hex_value(b)?);
        }
    }
    Some(value)
}
