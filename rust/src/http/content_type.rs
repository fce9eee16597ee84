//! `Content-Type` (and `Content-Disposition`) parsing: a media type or disposition
//! type followed by `; name=value` parameters (RFC 9110 §5.6.6, §8.3.1).
//!
//! One left-to-right pass with no backtracking, so the cost is linear in the input
//! whatever it contains (a regex-based Content-Type parser was a ReDoS in a peer
//! framework). Parameter names are lowercased; values are tokens or quoted strings.
//! Slightly lenient where real clients are: whitespace is accepted around `=` and
//! empty parameters (`;;`) are skipped, and an unquoted value may hold any visible
//! ASCII except `;` and `"` (some clients send unquoted boundaries containing `=`).
//! A repeated parameter name is an error, because two parsers that pick different
//! copies of `boundary` or `filename` disagree about what the body contains. The
//! names seen so far are kept in a hash set (std's randomly keyed hasher, so chosen
//! names cannot degrade it), making the duplicate check O(1) per parameter rather
//! than a comparison with every earlier one.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};

/// A parsed header value: the lowercased `type/subtype` (or disposition type) and
/// its parameters in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType<'a> {
    pub media_type: String,
    pub params: Vec<(String, Cow<'a, str>)>,
}

impl ContentType<'_> {
    /// The value of parameter `name` (lowercase).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentTypeError {
    /// Nothing but whitespace.
    Empty,
    /// The media type is not `token "/" token` (or the disposition type not a token).
    InvalidMediaType,
    /// A parameter is not `token "=" value`; `at` is its byte offset.
    InvalidParameter { at: usize },
    /// A quoted string has no closing quote.
    UnterminatedQuote { at: usize },
    /// The same parameter name appears twice.
    DuplicateParameter { name: String },
}

impl fmt::Display for ContentTypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the header value is empty"),
            Self::InvalidMediaType => f.write_str("the media type is not of the form type/subtype"),
            Self::InvalidParameter { at } => {
                write!(f, "malformed parameter at byte {at} (expected name=value)")
            }
            Self::UnterminatedQuote { at } => {
                write!(f, "unterminated quoted string starting at byte {at}")
            }
            Self::DuplicateParameter { name } => write!(f, "parameter {name:?} appears twice"),
        }
    }
}

impl std::error::Error for ContentTypeError {}

/// RFC 9110 `tchar`.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

struct Cursor<'a> {
    input: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.input.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn skip_ows(&mut self) {
        while self.peek().is_some_and(is_ows) {
            self.pos += 1;
        }
    }

    /// Advances over bytes matching `pred` and returns them.
    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        // Every predicate used here accepts ASCII only, so the cut is on a char
        // boundary; `get` keeps this panic-free regardless.
        self.input.get(start..self.pos).unwrap_or("")
    }

    /// A quoted string starting at the opening quote. `\"` and `\\` are escapes;
    /// a backslash before anything else is kept literally, so a Windows path sent
    /// unescaped in a filename survives.
    fn quoted(&mut self) -> Result<Cow<'a, str>, ContentTypeError> {
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        let mut owned: Option<String> = None;
        loop {
            let Some(b) = self.peek() else {
                return Err(ContentTypeError::UnterminatedQuote { at: open });
            };
            match b {
                b'"' => {
                    let value = match owned {
                        Some(s) => Cow::Owned(s),
                        None => Cow::Borrowed(self.input.get(start..self.pos).unwrap_or("")),
                    };
                    self.pos += 1;
                    return Ok(value);
                }
                b'\\' if matches!(self.bytes().get(self.pos + 1), Some(b'"' | b'\\')) => {
                    let s = owned.get_or_insert_with(|| {
                        self.input.get(start..self.pos).unwrap_or("").to_owned()
                    });
                    if let Some(&escaped) = self.bytes().get(self.pos + 1) {
                        s.push(char::from(escaped));
                    }
                    self.pos += 2;
                }
                _ => {
                    // Copy one whole character (the input is a str; non-ASCII
                    // characters are several bytes).
                    let ch_len = self
                        .input
                        .get(self.pos..)
                        .and_then(|rest| rest.chars().next())
                        .map_or(1, char::len_utf8);
                    if let Some(s) = owned.as_mut() {
                        s.push_str(self.input.get(self.pos..self.pos + ch_len).unwrap_or(""));
                    }
                    self.pos += ch_len;
                }
            }
        }
    }
}

/// Parses `type/subtype *( OWS ";" OWS name=value )`.
pub fn parse(input: &str) -> Result<ContentType<'_>, ContentTypeError> {
    parse_with(input, true)
}

/// Parses a `Content-Disposition` value: a single token (`form-data`) followed by
/// parameters.
pub fn parse_disposition(input: &str) -> Result<ContentType<'_>, ContentTypeError> {
    parse_with(input, false)
}

fn parse_with(input: &str, with_subtype: bool) -> Result<ContentType<'_>, ContentTypeError> {
    let mut cur = Cursor { input, pos: 0 };
    cur.skip_ows();
    if cur.peek().is_none() {
        return Err(ContentTypeError::Empty);
    }
    let kind = cur.take_while(is_tchar);
    if kind.is_empty() {
        return Err(ContentTypeError::InvalidMediaType);
    }
    let media_type = if with_subtype {
        if cur.peek() != Some(b'/') {
            return Err(ContentTypeError::InvalidMediaType);
        }
        cur.pos += 1;
        let subtype = cur.take_while(is_tchar);
        if subtype.is_empty() {
            return Err(ContentTypeError::InvalidMediaType);
        }
        format!("{kind}/{subtype}").to_ascii_lowercase()
    } else {
        kind.to_ascii_lowercase()
    };
    cur.skip_ows();
    let mut params: Vec<(String, Cow<'_, str>)> = Vec::new();
    // The names so far, as input slices: no copy per name, O(1) per check.
    let mut seen: HashSet<Caseless<'_>> = HashSet::new();
    loop {
        match cur.peek() {
            None => break,
            Some(b';') => cur.pos += 1,
            Some(_) => {
                return Err(if params.is_empty() {
                    ContentTypeError::InvalidMediaType
                } else {
                    ContentTypeError::InvalidParameter { at: cur.pos }
                })
            }
        }
        cur.skip_ows();
        match cur.peek() {
            None => break,
            Some(b';') => continue,
            Some(_) => {}
        }
        let at = cur.pos;
        let name = cur.take_while(is_tchar);
        if name.is_empty() {
            return Err(ContentTypeError::InvalidParameter { at });
        }
        cur.skip_ows();
        if cur.peek() != Some(b'=') {
            return Err(ContentTypeError::InvalidParameter { at });
        }
        cur.pos += 1;
        cur.skip_ows();
        let value = if cur.peek() == Some(b'"') {
            cur.quoted()?
        } else {
            let v = cur.take_while(|b| b.is_ascii_graphic() && b != b';' && b != b'"');
            if v.is_empty() {
                return Err(ContentTypeError::InvalidParameter { at });
            }
            Cow::Borrowed(v)
        };
        if !seen.insert(Caseless(name)) {
            let name = name.to_ascii_lowercase();
            return Err(ContentTypeError::DuplicateParameter { name });
        }
        params.push((name.to_ascii_lowercase(), value));
        cur.skip_ows();
    }
    Ok(ContentType { media_type, params })
}

/// A parameter name as it appears in the input, hashed and compared ignoring ASCII
/// case, so the duplicate set borrows the input instead of copying every name.
#[derive(Debug, Clone, Copy)]
struct Caseless<'a>(&'a str);

impl PartialEq for Caseless<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl Eq for Caseless<'_> {}

impl Hash for Caseless<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut lower = [0u8; 32];
        for chunk in self.0.as_bytes().chunks(lower.len()) {
            let lower = lower.get_mut(..chunk.len()).unwrap_or_default();
            lower.copy_from_slice(chunk);
            lower.make_ascii_lowercase();
            state.write(lower);
        }
        state.write_usize(self.0.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(input: &str) -> Vec<(String, String)> {
        parse(input)
            .unwrap()
            .params
            .into_iter()
            .map(|(k, v)| (k, v.into_owned()))
            .collect()
    }

    #[test]
    fn media_type_is_lowercased_and_trimmed() {
        let ct = parse("  Multipart/Form-Data  ").unwrap();
        assert_eq!(ct.media_type, "multipart/form-data");
        assert!(ct.params.is_empty());
    }

    #[test]
    fn parses_token_and_quoted_parameters() {
        assert_eq!(
            params("multipart/form-data; boundary=abc123; charset=\"UTF-8\""),
            vec![
                ("boundary".into(), "abc123".into()),
                ("charset".into(), "UTF-8".into())
            ]
        );
    }

    #[test]
    fn parameter_names_are_case_insensitive_values_are_not() {
        let ct = parse("text/plain; CharSet=Latin-1").unwrap();
        assert_eq!(ct.param("charset"), Some("Latin-1"));
    }

    #[test]
    fn whitespace_and_empty_parameters_are_tolerated() {
        assert_eq!(
            params("text/plain ;charset = utf-8 ;; ; a=b;"),
            vec![("charset".into(), "utf-8".into()), ("a".into(), "b".into())]
        );
    }

    #[test]
    fn quoted_strings_keep_semicolons_and_unescape_quotes() {
        assert_eq!(
            params(r#"multipart/form-data; boundary="a;b \"c\" \\ d\x""#),
            vec![("boundary".into(), r#"a;b "c" \ d\x"#.into())]
        );
    }

    #[test]
    fn quoted_strings_keep_non_ascii() {
        assert_eq!(
            params("form/x; filename=\"caf\u{e9} \\\"\u{20ac}\\\".txt\""),
            vec![("filename".into(), "caf\u{e9} \"\u{20ac}\".txt".into())]
        );
    }

    #[test]
    fn unquoted_values_may_contain_equals() {
        assert_eq!(
            params("multipart/mixed; boundary=----=_Part_0_12.34"),
            vec![("boundary".into(), "----=_Part_0_12.34".into())]
        );
    }

    #[test]
    fn duplicate_parameters_are_rejected() {
        assert_eq!(
            parse("multipart/form-data; boundary=a; BOUNDARY=b"),
            Err(ContentTypeError::DuplicateParameter {
                name: "boundary".into()
            })
        );
    }

    #[test]
    fn malformed_inputs_are_errors() {
        assert_eq!(parse(""), Err(ContentTypeError::Empty));
        assert_eq!(parse("   "), Err(ContentTypeError::Empty));
        assert_eq!(parse("text"), Err(ContentTypeError::InvalidMediaType));
        assert_eq!(parse("text/"), Err(ContentTypeError::InvalidMediaType));
        assert_eq!(parse("/plain"), Err(ContentTypeError::InvalidMediaType));
        assert_eq!(
            parse("text/plain x"),
            Err(ContentTypeError::InvalidMediaType)
        );
        assert_eq!(
            parse("text/plain; charset"),
            Err(ContentTypeError::InvalidParameter { at: 12 })
        );
        assert_eq!(
            parse("text/plain; charset="),
            Err(ContentTypeError::InvalidParameter { at: 12 })
        );
        assert_eq!(
            parse("text/plain; =x"),
            Err(ContentTypeError::InvalidParameter { at: 12 })
        );
        assert_eq!(
            parse("text/plain; a=\"open"),
            Err(ContentTypeError::UnterminatedQuote { at: 14 })
        );
        assert_eq!(
            parse("text/plain; a=b c=d"),
            Err(ContentTypeError::InvalidParameter { at: 16 })
        );
    }

    #[test]
    fn disposition_has_no_subtype() {
        let cd = parse_disposition("form-data; name=\"field\"; filename=\"a.txt\"").unwrap();
        assert_eq!(cd.media_type, "form-data");
        assert_eq!(cd.param("name"), Some("field"));
        assert_eq!(cd.param("filename"), Some("a.txt"));
        assert!(parse_disposition("form-data/x").is_err());
    }

    #[test]
    fn pathological_inputs_finish_quickly() {
        // Each is linear; a backtracking parser would take quadratic time or worse.
        let many_params = format!("text/plain; a=b{}", ";".repeat(200_000));
        assert!(parse(&many_params).is_ok());
        let open_quote = format!("text/plain; a=\"{}", "\\\"".repeat(200_000));
        assert!(parse(&open_quote).is_err());
        let spaces = format!("text/plain{}x", " ".repeat(200_000));
        assert!(parse(&spaces).is_err());
        let long_token = "a".repeat(200_000);
        assert!(parse(&long_token).is_err());
    }

    #[test]
    fn duplicate_is_found_beyond_the_scan_limit() {
        // The repeat of an early name after the switch to the hash set, and a
        // repeat of a late one, are both still errors.
        let names: Vec<String> = (0..20).map(|i| format!("p{i}=v")).collect();
        let base = format!("text/plain; {}", names.join("; "));
        assert_eq!(parse(&base).map(|ct| ct.params.len()), Ok(20));
        for repeat in ["p0", "P3", "p7", "p8", "p19"] {
            assert_eq!(
                parse(&format!("{base}; {repeat}=x")),
                Err(ContentTypeError::DuplicateParameter {
                    name: repeat.to_ascii_lowercase()
                }),
                "{repeat}"
            );
        }
    }

    #[test]
    fn many_distinct_parameters_are_all_kept() {
        // 100k distinct parameters (about 1 MB); tests/security/test_parser_complexity.py
        // checks that the cost grows linearly with the count.
        let header = format!(
            "text/plain{}",
            (0..100_000)
                .map(|i| format!("; k{i}=v"))
                .collect::<String>()
        );
        let ct = parse(&header).unwrap();
        assert_eq!(ct.params.len(), 100_000);
        assert_eq!(ct.param("k99999"), Some("v"));
    }

    proptest! {
        #[test]
        fn never_panics(input in "\\PC{0,64}") {
            let _ = parse(&input);
            let _ = parse_disposition(&input);
        }

        #[test]
        fn never_panics_on_structured_noise(input in "[a-z/; =\"\\\\\t]{0,64}") {
            let _ = parse(&input);
        }

        #[test]
        fn quoted_values_round_trip(value in "[ -~\u{e9}\u{20ac}]{0,24}") {
            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
            let header = format!("multipart/form-data; boundary=\"{escaped}\"; x=y");
            let ct = parse(&header).unwrap();
            prop_assert_eq!(ct.param("boundary"), Some(value.as_str()));
            prop_assert_eq!(ct.param("x"), Some("y"));
        }
    }
}
