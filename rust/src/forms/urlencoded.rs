//! `application/x-www-form-urlencoded` parsing, used for query strings and form bodies.

use std::borrow::Cow;
use std::fmt;

use crate::http::percent::decode_lossy;

/// A pair list in input order; keys may repeat.
pub type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlencodedError {
    /// More `key=value` pairs than the configured limit.
    TooManyFields { limit: usize },
}

impl fmt::Display for UrlencodedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyFields { limit } => {
                write!(f, "too many form fields: the limit is {limit}")
            }
        }
    }
}

impl std::error::Error for UrlencodedError {}

/// Splits on `&`, then on the first `=`; `+` is a space and `%XX` is decoded.
/// Empty chunks (`a=1&&b=2`) are skipped; a chunk without `=` is a key with an
/// empty value, as browsers and Starlette do.
pub fn parse(input: &[u8], max_fields: usize) -> Result<Pairs<'_>, UrlencodedError> {
    let mut pairs = Vec::new();
    for chunk in input.split(|&b| b == b'&') {
        if chunk.is_empty() {
            continue;
        }
        if pairs.len() == max_fields {
            return Err(UrlencodedError::TooManyFields { limit: max_fields });
        }
        let (key, value) = match chunk.iter().position(|&b| b == b'=') {
            Some(eq) => (&chunk[..eq], &chunk[eq + 1..]),
            None => (chunk, &chunk[chunk.len()..]),
        };
        pairs.push((decode_lossy(key, true), decode_lossy(value, true)));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn owned(input: &[u8]) -> Vec<(String, String)> {
        parse(input, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn parses_pairs_in_order_with_repeats() {
        assert_eq!(
            owned(b"a=1&b=2&a=3"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "2".into()),
                ("a".into(), "3".into())
            ]
        );
    }

    #[test]
    fn decodes_plus_and_escapes() {
        assert_eq!(
            owned(b"q=hello+world%21&name=caf%C3%A9"),
            vec![
                ("q".into(), "hello world!".into()),
                ("name".into(), "caf\u{e9}".into())
            ]
        );
    }

    #[test]
    fn handles_missing_values_and_empty_chunks() {
        assert_eq!(
            owned(b"&flag&x=&=v&&"),
            vec![
                ("flag".into(), String::new()),
                ("x".into(), String::new()),
                (String::new(), "v".into())
            ]
        );
    }

    #[test]
    fn value_may_contain_equals() {
        assert_eq!(owned(b"k=a=b"), vec![("k".into(), "a=b".into())]);
    }

    #[test]
    fn field_limit_is_exact() {
        assert_eq!(parse(b"a=1&b=2", 2).map(|p| p.len()), Ok(2));
        assert_eq!(
            parse(b"a=1&b=2&c=3", 2).map(|p| p.len()),
            Err(UrlencodedError::TooManyFields { limit: 2 })
        );
    }

    proptest! {
        #[test]
        fn never_panics(input in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(&input, 16);
        }

        #[test]
        fn round_trips_simple_pairs(pairs in proptest::collection::vec(("[a-z0-9 ]{0,8}", "[a-z0-9 =&+%é]{0,8}"), 0..8)) {
            let encoded: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
            let joined = encoded.join("&");
            let parsed = owned(joined.as_bytes());
            prop_assert_eq!(parsed, pairs);
        }
    }

    fn encode(s: &str) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'a'..=b'z' | b'0'..=b'9' => out.push(b as char),
                b' ' => out.push('+'),
                _ => {
                    let _ = write!(out, "%{b:02X}");
                }
            }
        }
        out
    }
}
