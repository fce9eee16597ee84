//! Query strings and urlencoded forms: the field and size limits are exact, and
//! whatever is parsed re-encodes and parses back to the same pairs.
//!
//! Input: `max_fields` (1 byte), `max_field_size` (2 bytes, little-endian), then
//! the body.
#![no_main]

use covet_core::forms::multipart::{parse_urlencoded, Limit};
use covet_core::forms::urlencoded::{parse, UrlencodedError};
use libfuzzer_sys::fuzz_target;

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => char::from(b).to_string(),
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fuzz_target!(|input: &[u8]| {
    let [max_fields, size_lo, size_hi, data @ ..] = input else {
        return;
    };
    let max_fields = usize::from(*max_fields);
    let max_field_size = usize::from(u16::from_le_bytes([*size_lo, *size_hi]));
    let Ok(all) = parse(data, usize::MAX) else {
        panic!("no field limit, no error");
    };
    let chunks = data.split(|&b| b == b'&').filter(|c| !c.is_empty()).count();
    assert_eq!(all.len(), chunks);

    match parse(data, max_fields) {
        Ok(pairs) => {
            assert!(pairs.len() <= max_fields);
            assert_eq!(pairs, all);
        }
        Err(UrlencodedError::TooManyFields { limit }) => {
            assert_eq!(limit, max_fields);
            assert!(all.len() > max_fields);
        }
    }

    let oversized_key = all.iter().any(|(k, _)| k.len() > max_field_size);
    let oversized_value = all.iter().any(|(_, v)| v.len() > max_field_size);
    match parse_urlencoded(data, max_fields, max_field_size) {
        Ok(pairs) => {
            assert!(all.len() <= max_fields && !oversized_key && !oversized_value);
            assert_eq!(pairs, all);
        }
        Err(e) => match e.limit {
            Limit::Fields => assert!(all.len() > max_fields),
            Limit::FieldNameSize | Limit::FieldSize => {
                assert!(all.len() <= max_fields && (oversized_key || oversized_value));
                assert_eq!(e.max, max_field_size);
            }
            other => panic!("unexpected limit {other:?}"),
        },
    }

    let reencoded: Vec<String> = all
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let joined = reencoded.join("&");
    let again = parse(joined.as_bytes(), usize::MAX).unwrap_or_default();
    // A pair whose key and value are both empty re-encodes to "=", still one pair.
    assert_eq!(again, all);
});
