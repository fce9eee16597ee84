//! Percent-decoding shared by the query, form and cookie parsers.

use std::borrow::Cow;

pub(crate) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_as_space`, as in
/// `application/x-www-form-urlencoded`).
///
/// Lenient like browsers and Starlette: a `%` not followed by two hex digits is kept
/// literally. Invalid UTF-8 after decoding is replaced with U+FFFD rather than
/// rejected, so one bad byte in a query string does not fail the whole request.
/// Borrows when nothing needs decoding.
pub fn decode_lossy(input: &[u8], plus_as_space: bool) -> Cow<'_, str> {
    let needs_work = input
        .iter()
        .any(|&b| b == b'%' || (plus_as_space && b == b'+'));
    if !needs_work {
        return String::from_utf8_lossy(input);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                input.get(i + 1).copied().and_then(hex_val),
                input.get(i + 2).copied().and_then(hex_val),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
            out.push(b'%');
        } else if plus_as_space && b == b'+' {
            out.push(b' ');
        } else {
            out.push(b);
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// Strict decoding for path segments: a malformed escape or invalid UTF-8 is `None`,
/// because a path that cannot be decoded cannot match a route. Borrows when there is
/// no `%`.
pub fn decode_strict(input: &str) -> Option<Cow<'_, str>> {
    let bytes = input.as_bytes();
    let Some(first) = bytes.iter().position(|&b| b == b'%') else {
        return Some(Cow::Borrowed(input));
    };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(bytes.get(..first)?);
    let mut i = first;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let h = hex_val(*bytes.get(i + 1)?)?;
            let l = hex_val(*bytes.get(i + 2)?)?;
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossy_borrows_plain_input() {
        assert!(matches!(decode_lossy(b"abc", true), Cow::Borrowed("abc")));
    }

    #[test]
    fn lossy_decodes_escapes_and_plus() {
        assert_eq!(decode_lossy(b"a+b%20c%2Bd", true), "a b c+d");
        assert_eq!(decode_lossy(b"a+b", false), "a+b");
        assert_eq!(decode_lossy(b"caf%C3%A9", false), "caf\u{e9}");
    }

    #[test]
    fn lossy_keeps_malformed_escapes() {
        assert_eq!(decode_lossy(b"100%", false), "100%");
        assert_eq!(decode_lossy(b"%zz%4", false), "%zz%4");
    }

    #[test]
    fn lossy_replaces_invalid_utf8() {
        assert_eq!(decode_lossy(b"%FF", false), "\u{fffd}");
    }

    #[test]
    fn strict_rejects_malformed() {
        assert_eq!(decode_strict("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(decode_strict("plain").as_deref(), Some("plain"));
        assert!(decode_strict("%zz").is_none());
        assert!(decode_strict("%4").is_none());
        assert!(decode_strict("%FF").is_none());
    }
}
