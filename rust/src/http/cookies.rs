//! `Cookie` request header parsing, lenient like browsers and exactly like
//! Starlette's `cookie_parser` (which follows Django's):
//!
//! - the header is split on `;`, each chunk on its first `=`;
//! - a chunk without `=` is a cookie with an empty name whose value is the chunk
//!   (browsers send `Set-Cookie: token` back as `token`);
//! - names and values are stripped of whitespace (Python's `str.strip()` set);
//!   a chunk whose name and value are both empty is skipped;
//! - a value in double quotes is unquoted like `http.cookies._unquote`: the quotes
//!   are removed, `\ooo` (three octal digits, the first 0-3) is that byte as a
//!   Latin-1 character and `\x` is `x` for any other character but a newline.
//!
//! Values are not percent-decoded: RFC 6265 gives cookie values no encoding. The
//! result keeps every pair in order; a caller building a mapping lets the LAST
//! occurrence of a name win, as a dict built from Starlette's parser does. One pass
//! over the header, so the cost is linear whatever it contains (Python's own
//! `_unquote` was quadratic on some values before 3.13).

use std::borrow::Cow;

/// Every `(name, value)` pair in header order; names may repeat and may be empty.
pub fn parse(header: &str) -> Vec<(&str, Cow<'_, str>)> {
    let mut out = Vec::new();
    for chunk in header.split(';') {
        let (name, value) = chunk.split_once('=').unwrap_or(("", chunk));
        let (name, value) = (strip(name), strip(value));
        if name.is_empty() && value.is_empty() {
            continue;
        }
        out.push((name, unquote(value)));
    }
    out
}

/// Python's `str.isspace()`: Unicode `White_Space` plus the four ASCII separators
/// 0x1C-0x1F, which Python counts as whitespace and Rust does not.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// `http.cookies._unquote`: borrows unless there is an escape to decode.
pub fn unquote(value: &str) -> Cow<'_, str> {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return Cow::Borrowed(value);
    };
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(slash) = rest.find('\\') {
        out.push_str(rest.get(..slash).unwrap_or(""));
        let after = rest.get(slash + 1..).unwrap_or("");
        if let Some(byte) = octal_escape(after.as_bytes()) {
            out.push(char::from(byte));
            rest = after.get(3..).unwrap_or("");
        } else {
            match after.chars().next() {
                Some(next) if next != '\n' => {
                    out.push(next);
                    rest = after.get(next.len_utf8()..).unwrap_or("");
                }
                // A backslash before a newline or at the end stays as it is.
                _ => {
                    out.push('\\');
                    rest = after;
                }
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// `[0-3][0-7][0-7]` at the start of `s`, as the byte it encodes.
fn octal_escape(s: &[u8]) -> Option<u8> {
    match s {
        [a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7', ..] => {
            Some((a - b'0') * 64 + (b - b'0') * 8 + (c - b'0'))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(header: &str) -> Vec<(&str, String)> {
        parse(header)
            .into_iter()
            .map(|(k, v)| (k, v.into_owned()))
            .collect()
    }

    #[test]
    fn parses_simple_cookies() {
        assert_eq!(
            pairs("a=1; b=two"),
            vec![("a", "1".into()), ("b", "two".into())]
        );
    }

    #[test]
    fn strips_quotes_and_spaces() {
        assert_eq!(
            pairs(" sid = \"abc\" ;x=\""),
            vec![("sid", "abc".into()), ("x", "\"".into())]
        );
    }

    #[test]
    fn keeps_equals_in_value() {
        assert_eq!(pairs("tok=a=b"), vec![("tok", "a=b".into())]);
    }

    #[test]
    fn chunk_without_equals_is_a_nameless_cookie() {
        assert_eq!(
            pairs("flag; =v; c=3; ="),
            vec![("", "flag".into()), ("", "v".into()), ("c", "3".into())]
        );
    }

    #[test]
    fn repeated_names_are_all_kept_in_order() {
        assert_eq!(
            pairs("a=1; a=2"),
            vec![("a", "1".into()), ("a", "2".into())]
        );
    }

    #[test]
    fn empty_header_has_no_cookies() {
        assert!(parse("").is_empty());
        assert!(parse(";;;").is_empty());
        assert!(parse(" ; = ;\t").is_empty());
    }

    #[test]
    fn strips_python_whitespace_including_ascii_separators() {
        assert_eq!(
            pairs("\u{1c}a\u{1f}=\u{85}b\u{a0}\u{3000}"),
            vec![("a", "b".into())]
        );
    }

    #[test]
    fn unquotes_octal_and_backslash_escapes() {
        assert_eq!(unquote(r#""Hello\054 cookies!""#), "Hello, cookies!");
        assert_eq!(unquote(r#""a\"b\\c""#), r#"a"b\c"#);
        // \400 is not an octal escape (the first digit is 0-3), so it is `\4` + "00".
        assert_eq!(unquote(r#""\377\400\0""#), "\u{ff}4000");
        assert_eq!(unquote(r#""\q\é""#), "q\u{e9}");
    }

    #[test]
    fn backslash_before_newline_or_at_the_end_is_kept() {
        assert_eq!(unquote("\"a\\\nb\""), "a\\\nb");
        assert_eq!(unquote("\"a\\\""), "a\\");
    }

    #[test]
    fn only_fully_quoted_values_are_unquoted() {
        assert!(matches!(unquote("plain"), Cow::Borrowed("plain")));
        assert_eq!(unquote("\""), "\"");
        assert_eq!(unquote("\"\""), "");
        assert_eq!(unquote("\"open"), "\"open");
        assert_eq!(unquote("a\\054b"), "a\\054b");
        assert!(matches!(
            unquote("\"no escapes\""),
            Cow::Borrowed("no escapes")
        ));
    }

    proptest! {
        #[test]
        fn never_panics_and_names_are_stripped(input in ".{0,200}") {
            for (name, _) in parse(&input) {
                prop_assert_eq!(name, strip(name));
            }
        }

        #[test]
        fn unquote_never_panics(input in "\"[\\\\0-7\"a\n\u{e9}]{0,40}\"") {
            let _ = unquote(&input);
        }
    }
}
