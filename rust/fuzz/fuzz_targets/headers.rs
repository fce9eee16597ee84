//! Response header validation is exactly RFC 9110's grammar: names are tokens,
//! values are field-values. The grammar is restated here independently.
//!
//! Input: the name's length (1 byte), the name, then the value.
#![no_main]

use covet_core::http::headers::{content_type_value, validate, validate_name, validate_value};
use libfuzzer_sys::fuzz_target;

fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn vchar(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) || b >= 0x80
}

fn field_value(v: &[u8]) -> bool {
    match (v.first(), v.last()) {
        (None, _) | (_, None) => true,
        (Some(&first), Some(&last)) => {
            vchar(first) && vchar(last) && v.iter().all(|&b| vchar(b) || b == b' ' || b == b'\t')
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&name_len, rest)) = input.split_first() else {
        return;
    };
    let (name, value) = rest.split_at(usize::from(name_len).min(rest.len()));
    let name_ok = !name.is_empty() && name.iter().all(|&b| tchar(b));
    assert_eq!(validate_name(name).is_ok(), name_ok);
    assert_eq!(validate_value(name, value).is_ok(), field_value(value));
    assert_eq!(validate(name, value).is_ok(), name_ok && field_value(value));
    if let Ok(media_type) = std::str::from_utf8(value) {
        match content_type_value(media_type) {
            Ok(full) => assert!(field_value(full.as_bytes())),
            Err(_) => assert!(!field_value(value)),
        }
    }
});
