//! `Range` parsing: the result is sorted, disjoint, non-adjacent and within the
//! representation, never exceeds the cap, and is a fixed point when written back.
//!
//! Input: `max_ranges` (1 byte), the representation size (8 bytes, little-endian),
//! then the header value.
#![no_main]

use covet_core::http::range::{parse, RangeError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&max_ranges, rest)) = input.split_first() else {
        return;
    };
    let Some((size, header)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let size = u64::from_le_bytes(*size);
    let max_ranges = usize::from(max_ranges);
    match parse(header, size, max_ranges) {
        Ok(ranges) => {
            assert!(!ranges.is_empty());
            assert!(ranges.len() <= max_ranges);
            for r in &ranges {
                assert!(r.first <= r.last && r.last < size);
            }
            for pair in ranges.windows(2) {
                assert!(pair[0].last.saturating_add(1) < pair[1].first);
            }
            let written: Vec<String> = ranges
                .iter()
                .map(|r| format!("{}-{}", r.first, r.last))
                .collect();
            let again = parse(
                format!("bytes={}", written.join(",")).as_bytes(),
                size,
                max_ranges,
            );
            assert_eq!(again.as_ref(), Ok(&ranges));
        }
        Err(RangeError::TooManyRanges { limit }) => assert_eq!(limit, max_ranges),
        Err(RangeError::Unsatisfiable { size: s }) => assert_eq!(s, size),
        Err(RangeError::Malformed(_)) => {}
    }
});
