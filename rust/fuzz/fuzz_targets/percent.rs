//! Percent-decoding: the lenient decoder (query strings, forms) and the strict one
//! (path parameters) never panic, agree wherever the strict one succeeds, and
//! undo percent-encoding exactly.
#![no_main]

use covet_core::http::percent::{decode_lossy, decode_strict};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lossy = decode_lossy(data, false);
    let plus = decode_lossy(data, true);
    // At worst every input byte becomes one U+FFFD (3 bytes).
    assert!(lossy.len() <= data.len() * 3);
    if !data.contains(&b'+') {
        assert_eq!(lossy, plus);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        match decode_strict(text) {
            Some(strict) => assert_eq!(strict, lossy),
            None => assert!(text.contains('%')),
        }
    }
    let encoded: String = data.iter().map(|b| format!("%{b:02x}")).collect();
    assert_eq!(
        decode_lossy(encoded.as_bytes(), true),
        String::from_utf8_lossy(data)
    );
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(decode_strict(&encoded).as_deref(), Some(text));
    }
});
