//! Response header validation: names must be RFC 9110 tokens and values must not
//! carry CR, LF or NUL, so no header or response splitting can be injected.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    InvalidName(String),
    InvalidValue { name: String },
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(name) => write!(f, "invalid header name {name:?}"),
            Self::InvalidValue { name } => write!(
                f,
                "invalid value for header {name:?}: CR, LF and NUL are not allowed"
            ),
        }
    }
}

impl std::error::Error for HeaderError {}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub fn validate_name(name: &[u8]) -> Result<(), HeaderError> {
    if !name.is_empty() && name.iter().all(|&b| is_token_byte(b)) {
        Ok(())
    } else {
        Err(HeaderError::InvalidName(
            String::from_utf8_lossy(name).into_owned(),
        ))
    }
}

pub fn validate_value(name: &[u8], value: &[u8]) -> Result<(), HeaderError> {
    if value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
        Err(HeaderError::InvalidValue {
            name: String::from_utf8_lossy(name).into_owned(),
        })
    } else {
        Ok(())
    }
}

/// The `content-type` value for a media type: text types get `; charset=utf-8`
/// unless they name a charset already. Rejects CR, LF and NUL like any header value.
pub fn content_type_value(media_type: &str) -> Result<std::borrow::Cow<'_, str>, HeaderError> {
    validate_value(b"content-type", media_type.as_bytes())?;
    let is_text = media_type
        .get(..5)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("text/"));
    if is_text && !media_type.to_ascii_lowercase().contains("charset=") {
        Ok(std::borrow::Cow::Owned(format!(
            "{media_type}; charset=utf-8"
        )))
    } else {
        Ok(std::borrow::Cow::Borrowed(media_type))
    }
}

/// Whether a response with this status carries a body and so a `content-length`
/// (RFC 9110 §8.6: not for 1xx, 204 and 304).
pub fn status_has_body(status: u16) -> bool {
    status >= 200 && status != 204 && status != 304
}

/// `n` in decimal ASCII, written into `buf` without going through `fmt` (this runs
/// for every response's `content-length`).
pub fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        if let Some(digit) = buf.get_mut(start) {
            *digit = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || start == 0 {
            break;
        }
    }
    buf.get(start..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_formats_like_to_string() {
        for n in [0usize, 7, 10, 99, 1_234_567_890, usize::MAX] {
            let mut buf = [0u8; 20];
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }

    #[test]
    fn content_type_adds_charset_to_text_only() {
        assert_eq!(
            content_type_value("text/plain").as_deref(),
            Ok("text/plain; charset=utf-8")
        );
        assert_eq!(
            content_type_value("text/html; charset=latin-1").as_deref(),
            Ok("text/html; charset=latin-1")
        );
        assert_eq!(
            content_type_value("application/json").as_deref(),
            Ok("application/json")
        );
        assert!(content_type_value("text/plain\r\nx-evil: 1").is_err());
    }

    #[test]
    fn bodyless_statuses() {
        assert!(!status_has_body(101));
        assert!(!status_has_body(204));
        assert!(!status_has_body(304));
        assert!(status_has_body(200));
        assert!(status_has_body(404));
    }

    #[test]
    fn accepts_tokens_and_plain_values() {
        assert!(validate_name(b"x-request-id").is_ok());
        assert!(validate_value(b"x", b"a value; with=stuff\t").is_ok());
    }

    #[test]
    fn rejects_crlf_injection_in_values() {
        assert!(validate_value(b"x", b"a\r\nset-cookie: evil=1").is_err());
        assert!(validate_value(b"x", b"a\nb").is_err());
        assert!(validate_value(b"x", b"a\0b").is_err());
    }

    #[test]
    fn rejects_bad_names() {
        assert!(validate_name(b"").is_err());
        assert!(validate_name(b"bad name").is_err());
        assert!(validate_name(b"x:y").is_err());
        assert!(validate_name(b"x\r\n").is_err());
    }
}
