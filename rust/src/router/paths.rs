//! Path helpers shared by the bindings: the raw path below a decoded root path, the
//! trailing-slash toggle of redirects, and percent-encoding a decoded path.

use std::borrow::Cow;

/// `path` with its trailing slash removed, or added; `None` for the root.
pub fn toggle_trailing_slash(path: &[u8]) -> Option<Cow<'_, [u8]>> {
    if path.is_empty() || path == b"/" {
        return None;
    }
    Some(match path.strip_suffix(b"/") {
        Some(stripped) => Cow::Borrowed(stripped),
        None => {
            let mut toggled = path.to_vec();
            toggled.push(b'/');
            Cow::Owned(toggled)
        }
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

/// `text` percent-encoded as a URL path: unreserved characters, `/` and the
/// sub-delimiters a path segment may hold stay, every other UTF-8 byte is escaped.
pub fn quote_path(text: &str) -> String {
    const KEEP: &[u8] = b"-._~!$&'()*+,;=:@/";
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || KEEP.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{quote_path, strip_decoded_prefix, toggle_trailing_slash};

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
        assert_eq!(quote_path("/a b/\u{20ac}/x;y=1"), "/a%20b/%E2%82%AC/x;y=1");
        assert_eq!(quote_path("/%2F?#"), "/%252F%3F%23");
    }

    #[test]
    fn toggle_trailing_slash_table() {
        assert_eq!(toggle_trailing_slash(b"/a").as_deref(), Some(&b"/a/"[..]));
        assert_eq!(toggle_trailing_slash(b"/a/").as_deref(), Some(&b"/a"[..]));
        assert_eq!(toggle_trailing_slash(b"/"), None);
        assert_eq!(toggle_trailing_slash(b""), None);
    }
}
