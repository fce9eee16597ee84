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

#[cfg(test)]
mod tests {
    use super::*;

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
