//! Response header validation against RFC 9110's grammar (§5.1, §5.5):
//!
//! ```text
//! field-name    = token
//! field-value   = *field-content
//! field-content = field-vchar [ 1*( SP / HTAB / field-vchar ) field-vchar ]
//! field-vchar   = VCHAR / obs-text        ; %x21-7E / %x80-FF
//! ```
//!
//! So a value holds visible ASCII and bytes 0x80-0xFF, with spaces and tabs only
//! between them: no control character (CR, LF and NUL inject headers or split the
//! response; the others, like VT or DEL, are refused by servers halfway through
//! sending the response) and no leading or trailing whitespace (which h11 refuses
//! and RFC 9110 says is not part of the value). Checking here, when the header is
//! set, turns all of these into an error the application sees at the line that
//! caused it.

use std::fmt;

/// Why a header value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueProblem {
    /// A control character (anything below 0x20 but HTAB, or DEL) at byte `at`.
    ControlByte { byte: u8, at: usize },
    /// The value starts or ends with a space or tab.
    SurroundingWhitespace,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// The name is empty or not an RFC 9110 token.
    InvalidName(String),
    InvalidValue {
        name: String,
        problem: ValueProblem,
    },
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(name) => write!(
                f,
                "invalid header name {name:?}: a name is one or more letters, digits \
                 or !#$%&'*+-.^_`|~"
            ),
            Self::InvalidValue {
                name,
                problem: ValueProblem::ControlByte { byte, at },
            } => write!(
                f,
                "invalid value for header {name:?}: control character 0x{byte:02x} at \
                 byte {at} (CR, LF, NUL and other controls but tab are not allowed)"
            ),
            Self::InvalidValue {
                name,
                problem: ValueProblem::SurroundingWhitespace,
            } => write!(
                f,
                "invalid value for header {name:?}: leading or trailing whitespace is not \
                 allowed (strip the value)"
            ),
        }
    }
}

impl std::error::Error for HeaderError {}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9110 `field-vchar` plus SP and HTAB: every byte a value may contain.
fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= b' ' && b != 0x7f)
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A header name must be a token.
pub fn validate_name(name: &[u8]) -> Result<(), HeaderError> {
    if !name.is_empty() && name.iter().all(|&b| is_token_byte(b)) {
        Ok(())
    } else {
        Err(HeaderError::InvalidName(
            String::from_utf8_lossy(name).into_owned(),
        ))
    }
}

/// A header value must be an RFC 9110 `field-value`; `name` is only for the error.
pub fn validate_value(name: &[u8], value: &[u8]) -> Result<(), HeaderError> {
    let problem = if let Some(at) = value.iter().position(|&b| !is_value_byte(b)) {
        let byte = value.get(at).copied().unwrap_or_default();
        Some(ValueProblem::ControlByte { byte, at })
    } else if value.first().copied().is_some_and(is_ows)
        || value.last().copied().is_some_and(is_ows)
    {
        Some(ValueProblem::SurroundingWhitespace)
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(HeaderError::InvalidValue {
            name: String::from_utf8_lossy(name).into_owned(),
            problem,
        }),
    }
}

/// Validates one response header: the name as a token, the value as a field-value.
pub fn validate(name: &[u8], value: &[u8]) -> Result<(), HeaderError> {
    validate_name(name)?;
    validate_value(name, value)
}

/// The `content-type` value for a media type: text types get `; charset=utf-8`
/// unless they name a charset already. Validated like any header value.
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
        assert!(validate_name(b"!#$%&'*+-.^_`|~09azAZ").is_ok());
        assert!(validate(b"x", b"a value; with=stuff\tand tabs").is_ok());
        assert!(validate(b"x", b"").is_ok());
        assert!(validate(b"x", b"v").is_ok());
        assert!(validate(b"x", b"obs-text \x80\xff caf\xc3\xa9").is_ok());
    }

    #[test]
    fn rejects_crlf_injection_in_values() {
        assert!(validate_value(b"x", b"a\r\nset-cookie: evil=1").is_err());
        assert!(validate_value(b"x", b"a\nb").is_err());
        assert!(validate_value(b"x", b"a\0b").is_err());
    }

    #[test]
    fn rejects_every_control_character_but_tab() {
        for byte in (0u8..0x20).chain([0x7f]) {
            let value = [b'a', byte, b'b'];
            let result = validate_value(b"x", &value);
            if byte == b'\t' {
                assert!(result.is_ok());
            } else {
                assert_eq!(
                    result,
                    Err(HeaderError::InvalidValue {
                        name: "x".into(),
                        problem: ValueProblem::ControlByte { byte, at: 1 }
                    }),
                    "0x{byte:02x}"
                );
            }
        }
    }

    #[test]
    fn rejects_leading_and_trailing_whitespace() {
        for value in [&b" v"[..], b"v ", b"\tv", b"v\t", b" ", b"\t", b"  a b  "] {
            assert_eq!(
                validate_value(b"x", value),
                Err(HeaderError::InvalidValue {
                    name: "x".into(),
                    problem: ValueProblem::SurroundingWhitespace
                }),
                "{value:?}"
            );
        }
    }

    #[test]
    fn error_messages_name_the_header_and_the_byte() {
        let err = validate(b"X-A", b"ok\x0bno").unwrap_err().to_string();
        assert!(
            err.contains("\"X-A\"") && err.contains("0x0b at byte 2"),
            "{err}"
        );
        let err = validate(b"x", b"v ").unwrap_err().to_string();
        assert!(err.contains("whitespace"), "{err}");
        let err = validate(b"a b", b"v").unwrap_err().to_string();
        assert!(err.contains("invalid header name \"a b\""), "{err}");
    }

    #[test]
    fn rejects_bad_names() {
        assert!(validate_name(b"").is_err());
        assert!(validate_name(b"bad name").is_err());
        assert!(validate_name(b"x:y").is_err());
        assert!(validate_name(b"x\r\n").is_err());
        assert!(validate_name(b"caf\xc3\xa9").is_err());
        assert!(validate_name(b"(x)").is_err());
        assert!(validate(b"x\x7f", b"v").is_err());
    }

    proptest::proptest! {
        /// The check is exactly RFC 9110's grammar, written as a second, independent
        /// definition here.
        #[test]
        fn value_check_matches_the_rfc_grammar(value in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::strategy::Just(b' '),
                proptest::strategy::Just(b'\t'),
                proptest::strategy::Just(b'a'),
                0u8..0x21,
                proptest::prelude::any::<u8>(),
            ],
            0..12,
        )) {
            let vchar = |b: u8| (0x21..=0x7e).contains(&b) || b >= 0x80;
            let grammar = value.is_empty()
                || (value.first().copied().is_some_and(vchar)
                    && value.last().copied().is_some_and(vchar)
                    && value.iter().all(|&b| vchar(b) || b == b' ' || b == b'\t'));
            proptest::prop_assert_eq!(validate_value(b"x", &value).is_ok(), grammar);
        }

        #[test]
        fn name_check_is_the_token_grammar(name in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8)) {
            let tchar = |b: u8| b.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".bytes().any(|t| t == b);
            let grammar = !name.is_empty() && name.iter().all(|&b| tchar(b));
            proptest::prop_assert_eq!(validate_name(&name).is_ok(), grammar);
        }
    }
}
