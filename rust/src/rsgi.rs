//! The pure parts of translating granian's RSGI scope into an ASGI scope: the
//! address strings, the HTTP version, the raw path rebuilt from the decoded one, and
//! how the request body is to be read.

/// ASGI's `http_version` for RSGI's (`"1"` is HTTP/1.0).
pub fn http_version(rsgi: &str) -> &str {
    match rsgi {
        "1" | "1.0" => "1.0",
        "2" | "2.0" => "2",
        "3" | "3.0" => "3",
        other => other,
    }
}

/// `"host:port"` or `"[v6]:port"` as `(host, port)`; None for anything else (a
/// Unix socket path, a missing or non-numeric port).
pub fn parse_address(value: &str) -> Option<(&str, u16)> {
    let (host, port) = value.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port = port.parse().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some((host, port))
}

/// Bytes kept as they are in a raw path: RFC 3986 unreserved characters, sub-delims,
/// `:`, `@` and `/`. Everything else (`%` included: the path is already decoded) is
/// percent-encoded.
/// How a request's body is read, from its headers: `Some(n)` bytes (its
/// `Content-Length`, 0 for no body) or None (length unknown: chunked, or any
/// HTTP/2 request without a `Content-Length`, or a length that is not a number).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BodyLength {
    #[allow(
        clippy::option_option,
        reason = "no header, a number, or a header that is not one"
    )]
    content_length: Option<Option<u64>>,
    chunked: bool,
}

impl BodyLength {
    /// Looks at one request header (name in lowercase).
    pub fn header(&mut self, name: &str, value: &str) {
        match name {
            "content-length" if self.content_length.is_none() => {
                let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
                self.content_length = Some(if digits { value.parse().ok() } else { None });
            }
            "transfer-encoding" => self.chunked = true,
            _ => {}
        }
    }

    /// The length once every header was seen; `http2` bodies need no header.
    pub fn finish(self, http2: bool) -> Option<u64> {
        match self.content_length {
            Some(length) => length,
            None if self.chunked || http2 => None,
            None => Some(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::paths::quote_path;
    use std::borrow::Cow;

    #[test]
    fn addresses_with_ipv4_ipv6_and_without_a_port() {
        assert_eq!(parse_address("127.0.0.1:8000"), Some(("127.0.0.1", 8000)));
        assert_eq!(parse_address("[::1]:5555"), Some(("::1", 5555)));
        assert_eq!(parse_address("/run/app.sock"), None);
        assert_eq!(parse_address("host:"), None);
        assert_eq!(parse_address("host:+80"), None);
        assert_eq!(parse_address("host:70000"), None);
    }

    #[test]
    fn http_versions_follow_asgi_names() {
        assert_eq!(http_version("1"), "1.0");
        assert_eq!(http_version("1.1"), "1.1");
        assert_eq!(http_version("2"), "2");
        assert_eq!(http_version("9"), "9");
    }

    #[test]
    fn raw_path_borrows_plain_paths_and_encodes_the_rest() {
        assert!(matches!(quote_path("/users/42/a-b_c.~"), Cow::Borrowed(_)));
        assert_eq!(&*quote_path("/a b/é"), b"/a%20b/%C3%A9");
        // The path is decoded already: a literal % must stay a literal.
        assert_eq!(&*quote_path("/100%"), b"/100%25");
        assert_eq!(&*quote_path("/q?#"), b"/q%3F%23");
        assert_eq!(&*quote_path("/:@!$&'()*+,;="), b"/:@!$&'()*+,;=");
    }

    #[test]
    fn encoding_a_long_path_is_linear() {
        let path = "é".repeat(100_000);
        assert_eq!(quote_path(&path).len(), 600_000);
    }

    fn length(headers: &[(&str, &str)], http2: bool) -> Option<u64> {
        let mut body = BodyLength::default();
        for (name, value) in headers {
            body.header(name, value);
        }
        body.finish(http2)
    }

    #[test]
    fn body_length_from_headers() {
        assert_eq!(length(&[], false), Some(0));
        assert_eq!(length(&[], true), None);
        assert_eq!(length(&[("content-length", "12")], false), Some(12));
        assert_eq!(length(&[("content-length", "12")], true), Some(12));
        assert_eq!(length(&[("transfer-encoding", "chunked")], false), None);
        assert_eq!(length(&[("content-length", "x1")], false), None);
        assert_eq!(
            length(&[("content-length", "99999999999999999999999")], false),
            None
        );
        // The first Content-Length counts (hyper refuses conflicting ones anyway).
        assert_eq!(
            length(&[("content-length", "3"), ("content-length", "4")], false),
            Some(3)
        );
    }
}
