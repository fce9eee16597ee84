//! The typed-parameter converters.

use crate::http::percent::hex_val;

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `-?[0-9]+`, fitting in an `i64`. One pass, accumulating towards the sign so
/// that `i64::MIN` fits; any overflow is a mismatch.
#[inline]
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    for &b in digits.as_bytes() {
        let digit = i64::from(b.wrapping_sub(b'0'));
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?;
        value = if negative {
            value.checked_sub(digit)?
        } else {
            value.checked_add(digit)?
        };
    }
    Some(value)
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

#[cfg(test)]
mod tests {
    use super::parse_int;

    #[test]
    fn parse_int_agrees_with_std_on_edges() {
        let cases = [
            "0",
            "-0",
            "7",
            "007",
            "-7",
            "42",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999",
            "",
            "-",
            "--1",
            "+5",
            "1.0",
            "1e3",
            " 1",
            "1 ",
            "\u{661}",
            "12a",
            "a12",
            "0x10",
        ];
        for case in cases {
            let std = if case.starts_with('+') {
                None
            } else {
                case.parse::<i64>().ok()
            };
            assert_eq!(parse_int(case), std, "{case:?}");
        }
    }
}
