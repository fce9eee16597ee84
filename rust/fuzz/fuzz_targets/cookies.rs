//! `Cookie` parsing against a second, deliberately naive statement of the rules
//! (Starlette's `cookie_parser` with `http.cookies._unquote`'s search-based
//! unquoting), and its own invariants.
#![no_main]

use covet_core::http::cookies::{parse, unquote};
use libfuzzer_sys::fuzz_target;

fn is_space(c: char) -> bool {
    // Python's str.isspace().
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `_unquote`: find the next `\ooo` and the next `\<any but newline>`; take
/// whichever starts first (the octal one on a tie). Quadratic, like the original.
fn reference_unquote(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let s = match chars.as_slice() {
        ['"', inner @ .., '"'] => inner,
        _ => return value.to_owned(),
    };
    let octal_at = |j: usize| {
        matches!(s.get(j..j + 4), Some(&['\\', a, b, c])
            if ('0'..='3').contains(&a) && ('0'..='7').contains(&b) && ('0'..='7').contains(&c))
    };
    let quote_at = |k: usize| matches!(s.get(k..k + 2), Some(&['\\', c]) if c != '\n');
    let mut out = String::new();
    let mut i = 0;
    while i < s.len() {
        let octal = (i..s.len()).find(|&j| octal_at(j));
        let quote = (i..s.len()).find(|&k| quote_at(k));
        let take_octal = match (octal, quote) {
            (Some(j), Some(k)) => j <= k,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if take_octal {
            let j = octal.unwrap_or(i);
            out.extend(&s[i..j]);
            let code = s[j + 1..j + 4]
                .iter()
                .fold(0u32, |acc, d| acc * 8 + d.to_digit(8).unwrap_or(0));
            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            i = j + 4;
        } else if let Some(k) = quote {
            out.extend(&s[i..k]);
            out.push(s[k + 1]);
            i = k + 2;
        } else {
            out.extend(&s[i..]);
            break;
        }
    }
    out
}

fn reference(header: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for chunk in header.split(';') {
        let (name, value) = match chunk.find('=') {
            Some(eq) => (&chunk[..eq], &chunk[eq + 1..]),
            None => ("", chunk),
        };
        let (name, value) = (name.trim_matches(is_space), value.trim_matches(is_space));
        if !name.is_empty() || !value.is_empty() {
            out.push((name.to_owned(), reference_unquote(value)));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let header = String::from_utf8_lossy(data);
    let parsed = parse(&header);
    let owned: Vec<(String, String)> = parsed
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.to_string()))
        .collect();
    // The reference is quadratic on backslash-heavy input: compare on short headers.
    if header.len() <= 1024 {
        assert_eq!(owned, reference(&header));
        assert_eq!(unquote(&header), reference_unquote(&header));
    }
    for (name, _) in &parsed {
        assert!(!name.contains('=') && !name.contains(';'));
        assert_eq!(*name, name.trim_matches(is_space));
    }
});
