//! Path helpers shared by the bindings: the raw path below a decoded root path, the
//! trailing-slash toggle of redirects, and percent-encoding a decoded path.

use std::borrow::Cow;

/// `path` with its trailing slash removed, or added; `None` for the root.
pub fn toggle_trailing_slash(path: &[u8]) -> Option<Cow<'_, [u8]>> {
    if path.is_empty() || path == b"/" {
        return None;
    }
    Some(if let Some(stripped) = path.strip_suffix(b"/") {
        Cow::Borrowed(stripped)
    } else {
        let mut toggled = path.to_vec();
        toggled.push(b'/');
        Cow::Owned(toggled)
    })
}

/// `raw` (percent-encoded) without the prefix whose *decoded* text is `prefix`, or
/// `None` if it does not start with it. `root_path` is decoded text (ASGI) while
/// routing uses the raw path, so `%` escapes in `raw` are decoded while comparing.
pub fn strip_decoded_prefix<'a>(raw: &'a [u8], prefix: &str) -> Option<&'a [u8]> {
    let prefix = prefix.as_bytes();
    let (mut i, mut j) = (0, 0);
    while j < prefix.len() {
        let (byte, width) = match raw.get(i..i + 3) {
            Some([b'%', hi, lo]) => match (hex(*hi), hex(*lo)) {
                (Some(hi), Some(lo)) => ((hi << 4) | lo, 3),
                _ => (b'%', 1),
            },
            _ => (*raw.get(i)?, 1),
        };
        if byte != prefix[j] {
            return None;
        }
        i += width;
        j += 1;
    }
    raw.get(i..)
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn path_safe(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&byte)
}

/// `path` (decoded text) percent-encoded as a raw URL path: unreserved characters,
/// `/` and the sub-delimiters a segment may hold stay, every other UTF-8 byte is
/// escaped. Borrowed when nothing needs encoding, the common case.
pub fn quote_path(path: &str) -> Cow<'_, [u8]> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = path.as_bytes();
    if bytes.iter().all(|&b| path_safe(b)) {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if path_safe(b) {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::{quote_path, strip_decoded_prefix, toggle_trailing_slash};
    use std::borrow::Cow;

    /// `(raw path, decoded root path, raw path below it)`.
    type StripCase = (&'static [u8], &'static str, Option<&'static [u8]>);

    #[test]
    fn strip_decoded_prefix_table() {
        let cases: &[StripCase] = &[
            (b"/api/users", "/api", Some(b"/users")),
            (b"/api/users", "", Some(b"/api/users")),
            (b"/a%20b/x", "/a b", Some(b"/x")),
            (b"/a%2Fb/x", "/a/b", Some(b"/x")),
            (b"/a%2fb/x", "/a/b", Some(b"/x")),
            (b"/api", "/api", Some(b"")),
            (b"/ap", "/api", None),
            (b"/other", "/api", None),
            (b"/%zz/x", "/%zz", Some(b"/x")),
            (b"/%e2%82%ac/x", "/\u{20ac}", Some(b"/x")),
        ];
        for &(raw, prefix, want) in cases {
            assert_eq!(strip_decoded_prefix(raw, prefix), want, "{raw:?} {prefix}");
        }
    }

    #[test]
    fn quote_path_keeps_path_characters_and_escapes_the_rest() {
        assert!(matches!(quote_path("/users/42/a-b_c.~"), Cow::Borrowed(_)));
        assert_eq!(
            &*quote_path("/a b/\u{20ac}/x;y=1"),
            b"/a%20b/%E2%82%AC/x;y=1"
        );
        assert_eq!(&*quote_path("/%2F?#"), b"/%252F%3F%23");
        assert_eq!(&*quote_path("/:@!$&'()*+,;="), b"/:@!$&'()*+,;=");
    }

    #[test]
    fn toggle_trailing_slash_table() {
        assert_eq!(toggle_trailing_slash(b"/a").as_deref(), Some(&b"/a/"[..]));
        assert_eq!(toggle_trailing_slash(b"/a/").as_deref(), Some(&b"/a"[..]));
        assert_eq!(toggle_trailing_slash(b"/"), None);
        assert_eq!(toggle_trailing_slash(b""), None);
    }
}
