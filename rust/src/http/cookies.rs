//! `Cookie` request header parsing (RFC 6265 §5.4, lenient like browsers).

/// Splits on `;`, then on the first `=`; trims spaces and strips one pair of double
/// quotes around the value. Chunks without a name are skipped. Values are not
/// percent-decoded: RFC 6265 gives cookie values no encoding.
pub fn parse(header: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    for chunk in header.split(';') {
        let (name, value) = match chunk.split_once('=') {
            Some((n, v)) => (n.trim(), v.trim()),
            None => continue,
        };
        if name.is_empty() {
            continue;
        }
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        out.push((name, value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_simple_cookies() {
        assert_eq!(parse("a=1; b=two"), vec![("a", "1"), ("b", "two")]);
    }

    #[test]
    fn strips_quotes_and_spaces() {
        assert_eq!(
            parse(" sid = \"abc\" ;x=\""),
            vec![("sid", "abc"), ("x", "\"")]
        );
    }

    #[test]
    fn keeps_equals_in_value_and_skips_nameless() {
        assert_eq!(
            parse("tok=a=b; =v; flag; c=3"),
            vec![("tok", "a=b"), ("c", "3")]
        );
    }

    #[test]
    fn empty_header_has_no_cookies() {
        assert!(parse("").is_empty());
        assert!(parse(";;;").is_empty());
    }

    proptest! {
        #[test]
        fn never_panics_and_names_are_trimmed(input in ".{0,200}") {
            for (name, _) in parse(&input) {
                prop_assert!(!name.is_empty());
                prop_assert_eq!(name, name.trim());
            }
        }
    }
}
