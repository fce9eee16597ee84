//! `Range` request header parsing (RFC 9110 §14.1–14.2) for byte ranges.
//!
//! `parse("bytes=0-99, 200-, -50", size, max_ranges)` returns the satisfiable ranges
//! as inclusive `(first, last)` byte positions, sorted and with overlapping or
//! adjacent ranges coalesced (RFC 9110 §14.2 allows a server to coalesce).
//!
//! The parser makes one pass over the header and stops as soon as it has seen more
//! than `max_ranges` range specs, so its cost is linear in the header length and the
//! work after parsing (a sort of at most `max_ranges` items) is bounded by the cap.
//! Quadratic merging of many ranges was a denial-of-service in other servers.
//!
//! Failure classes, and what an HTTP server should do with each:
//! - [`RangeError::Malformed`]: not a valid `bytes` ranges-specifier (or another
//!   range unit). RFC 9110 §14.2: the server ignores the header and sends 200.
//! - [`RangeError::TooManyRanges`]: more than `max_ranges` range specs. CovetPy
//!   ignores the header and sends the whole representation (RFC 9110 §14.2 allows
//!   ignoring such requests); the full body costs no more than a plain GET.
//! - [`RangeError::Unsatisfiable`]: valid, but no range overlaps the representation;
//!   the answer is `416` with `Content-Range: bytes */size`.
//!
//! A zero-length representation satisfies no range: every spec is unsatisfiable
//! (callers normally skip range handling for empty files and send 200).

use std::fmt;

/// The default cap on range specs in one header.
pub const DEFAULT_MAX_RANGES: usize = 16;

/// An inclusive byte range `first..=last` within a representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

impl ByteRange {
    /// Number of bytes in the range (never zero).
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    /// The header is not a valid `bytes` ranges-specifier.
    Malformed(&'static str),
    /// The header lists more than `limit` range specs.
    TooManyRanges { limit: usize },
    /// No listed range overlaps the representation of `size` bytes.
    Unsatisfiable { size: u64 },
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(reason) => write!(f, "malformed Range header: {reason}"),
            Self::TooManyRanges { limit } => {
                write!(f, "Range header lists more than {limit} ranges")
            }
            Self::Unsatisfiable { size } => {
                write!(f, "no requested range overlaps the {size} bytes available")
            }
        }
    }
}

impl std::error::Error for RangeError {}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_ows(*first) {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if is_ows(*last) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Parses `1*DIGIT`, saturating at `u64::MAX` (a position beyond any real size
/// behaves the same as `u64::MAX`).
fn parse_digits(s: &[u8]) -> Result<u64, RangeError> {
    if s.is_empty() {
        return Err(RangeError::Malformed("expected a byte position"));
    }
    let mut value: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return Err(RangeError::Malformed(
                "byte positions must be decimal digits",
            ));
        }
        value = value.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    Ok(value)
}

/// One range spec resolved against `size`: `Ok(None)` when it is valid but
/// unsatisfiable.
fn parse_spec(spec: &[u8], size: u64) -> Result<Option<ByteRange>, RangeError> {
    let dash = spec
        .iter()
        .position(|&b| b == b'-')
        .ok_or(RangeError::Malformed("a range must contain '-'"))?;
    let (first, last) = (&spec[..dash], &spec[dash + 1..]);
    if first.is_empty() {
        // suffix-range: the last N bytes.
        let suffix = parse_digits(last)?;
        if suffix == 0 || size == 0 {
            return Ok(None);
        }
        return Ok(Some(ByteRange {
            first: size.saturating_sub(suffix),
            last: size - 1,
        }));
    }
    let first = parse_digits(first)?;
    let last = if last.is_empty() {
        None
    } else {
        let last = parse_digits(last)?;
        if last < first {
            return Err(RangeError::Malformed(
                "a range's last position precedes its first",
            ));
        }
        Some(last)
    };
    if first >= size {
        return Ok(None);
    }
    let last = last.map_or(size - 1, |l| l.min(size - 1));
    Ok(Some(ByteRange { first, last }))
}

/// Parses a `Range` header value against a representation of `size` bytes.
///
/// Returns the satisfiable ranges, sorted by position, with overlapping and
/// adjacent ranges merged (so the result may have fewer entries than the header).
/// The range unit is case-insensitive; optional whitespace around specs and empty
/// list elements are accepted (RFC 9110 §5.6.1).
pub fn parse(header: &[u8], size: u64, max_ranges: usize) -> Result<Vec<ByteRange>, RangeError> {
    let header = trim_ows(header);
    let eq = header
        .iter()
        .position(|&b| b == b'=')
        .ok_or(RangeError::Malformed("expected `bytes=`"))?;
    let unit = trim_ows(&header[..eq]);
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return Err(RangeError::Malformed(
            "only the `bytes` range unit is supported",
        ));
    }
    let mut ranges: Vec<ByteRange> = Vec::new();
    let mut specs = 0usize;
    for spec in header[eq + 1..].split(|&b| b == b',') {
        let spec = trim_ows(spec);
        if spec.is_empty() {
            continue;
        }
        specs += 1;
        if specs > max_ranges {
            return Err(RangeError::TooManyRanges { limit: max_ranges });
        }
        if let Some(range) = parse_spec(spec, size)? {
            ranges.push(range);
        }
    }
    if specs == 0 {
        return Err(RangeError::Malformed("no ranges listed"));
    }
    if ranges.is_empty() {
        return Err(RangeError::Unsatisfiable { size });
    }
    // At most `max_ranges` items: O(k log k) with k bounded by the cap.
    ranges.sort_unstable();
    let mut merged: Vec<ByteRange> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(prev) if range.first <= prev.last.saturating_add(1) => {
                prev.last = prev.last.max(range.last);
            }
            _ => merged.push(range),
        }
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(first: u64, last: u64) -> ByteRange {
        ByteRange { first, last }
    }

    fn ok(header: &str, size: u64) -> Vec<(u64, u64)> {
        parse(header.as_bytes(), size, DEFAULT_MAX_RANGES)
            .unwrap()
            .into_iter()
            .map(|b| (b.first, b.last))
            .collect()
    }

    #[test]
    fn single_closed_range() {
        assert_eq!(ok("bytes=0-99", 1000), vec![(0, 99)]);
    }

    #[test]
    fn open_and_suffix_ranges() {
        assert_eq!(ok("bytes=200-", 1000), vec![(200, 999)]);
        assert_eq!(ok("bytes=-50", 1000), vec![(950, 999)]);
    }

    #[test]
    fn mixed_list_is_sorted() {
        assert_eq!(ok("bytes=900-, 0-99 ,-10", 1000), vec![(0, 99), (900, 999)]);
        assert_eq!(ok("bytes=500-599,0-9", 1000), vec![(0, 9), (500, 599)]);
    }

    #[test]
    fn whitespace_and_empty_elements_are_tolerated() {
        assert_eq!(ok("  bytes = 0-1 ,\t, 5-6 ,", 10), vec![(0, 1), (5, 6)]);
    }

    #[test]
    fn unit_is_case_insensitive() {
        assert_eq!(ok("Bytes=0-0", 10), vec![(0, 0)]);
    }

    #[test]
    fn overlapping_and_adjacent_ranges_are_merged() {
        assert_eq!(ok("bytes=0-10,5-20", 100), vec![(0, 20)]);
        assert_eq!(ok("bytes=0-9,10-19", 100), vec![(0, 19)]);
        assert_eq!(ok("bytes=0-9,11-19", 100), vec![(0, 9), (11, 19)]);
        assert_eq!(ok("bytes=0-99,10-20", 100), vec![(0, 99)]);
        assert_eq!(ok("bytes=-5,90-", 100), vec![(90, 99)]);
    }

    #[test]
    fn last_position_is_clamped_to_size() {
        assert_eq!(ok("bytes=5-999999", 10), vec![(5, 9)]);
        assert_eq!(ok("bytes=0-99999999999999999999999999", 10), vec![(0, 9)]);
        assert_eq!(ok("bytes=-99999999999999999999999999", 10), vec![(0, 9)]);
    }

    #[test]
    fn unsatisfiable_ranges_are_dropped_or_reported() {
        assert_eq!(ok("bytes=0-1,50-60", 10), vec![(0, 1)]);
        assert_eq!(
            parse(b"bytes=10-20", 10, 16),
            Err(RangeError::Unsatisfiable { size: 10 })
        );
        assert_eq!(
            parse(b"bytes=-0", 10, 16),
            Err(RangeError::Unsatisfiable { size: 10 })
        );
        assert_eq!(
            parse(b"bytes=0-0", 0, 16),
            Err(RangeError::Unsatisfiable { size: 0 })
        );
        assert_eq!(
            parse(b"bytes=-5", 0, 16),
            Err(RangeError::Unsatisfiable { size: 0 })
        );
    }

    #[test]
    fn malformed_headers_are_rejected() {
        for header in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "bytes=abc",
            "bytes=5",
            "bytes=5-3",
            "bytes=1-2-3",
            "bytes=-",
            "bytes=+1-2",
            "bytes=0x1-2",
            "bytes=1 - 2",
            "items=0-1",
            "bytes=0-1;2-3",
        ] {
            assert!(
                matches!(
                    parse(header.as_bytes(), 100, 16),
                    Err(RangeError::Malformed(_))
                ),
                "{header:?} should be malformed"
            );
        }
    }

    #[test]
    fn range_cap_is_exact() {
        let at_cap = vec!["0-0"; 16].join(",");
        assert_eq!(ok(&format!("bytes={at_cap}"), 10), vec![(0, 0)]);
        let over = vec!["0-0"; 17].join(",");
        assert_eq!(
            parse(format!("bytes={over}").as_bytes(), 10, 16),
            Err(RangeError::TooManyRanges { limit: 16 })
        );
    }

    #[test]
    fn huge_headers_stop_at_the_cap() {
        // 1 MiB of ranges: the parser stops after the 17th spec.
        let header = format!("bytes={}", "1-2,".repeat(262_144));
        assert_eq!(
            parse(header.as_bytes(), 100, 16),
            Err(RangeError::TooManyRanges { limit: 16 })
        );
        // 1 MiB of empty list elements is one linear scan, not a quadratic one.
        let header = format!("bytes={}0-1", ",".repeat(1 << 20));
        assert_eq!(parse(header.as_bytes(), 100, 16), Ok(vec![r(0, 1)]));
    }

    #[test]
    fn byte_range_len() {
        assert_eq!(r(0, 0).len(), 1);
        assert_eq!(r(10, 19).len(), 10);
        assert!(!r(3, 3).is_empty());
    }

    proptest! {
        #[test]
        fn never_panics(input in proptest::collection::vec(any::<u8>(), 0..200), size in any::<u64>(), cap in 0usize..32) {
            let _ = parse(&input, size, cap);
        }

        #[test]
        fn never_panics_on_range_like_text(input in "[bB]ytes ?= ?[0-9, \\-]{0,60}", size in 0u64..2000) {
            let _ = parse(input.as_bytes(), size, 16);
        }

        /// The result is sorted, disjoint, non-adjacent, within bounds, and covers
        /// exactly the union of the requested (clamped) ranges.
        #[test]
        fn result_is_the_merged_union(
            specs in proptest::collection::vec((0u64..300, 0u64..300, 0u8..3), 1..16),
            size in 1u64..256,
        ) {
            let mut text = Vec::new();
            let mut covered = vec![false; usize::try_from(size).unwrap_or(0)];
            for &(a, b, kind) in &specs {
                let (lo, hi) = (a.min(b), a.max(b));
                match kind {
                    0 => {
                        text.push(format!("{lo}-{hi}"));
                        for i in lo..=hi.min(size - 1) {
                            if i < size { covered[i as usize] = true; }
                        }
                    }
                    1 => {
                        text.push(format!("{lo}-"));
                        for i in lo..size { covered[i as usize] = true; }
                    }
                    _ => {
                        text.push(format!("-{lo}"));
                        for i in size.saturating_sub(lo)..size {
                            if lo > 0 { covered[i as usize] = true; }
                        }
                    }
                }
            }
            let header = format!("bytes={}", text.join(","));
            let result = parse(header.as_bytes(), size, 16);
            if covered.iter().any(|&c| c) {
                let ranges = result.unwrap();
                let mut seen = vec![false; covered.len()];
                for pair in ranges.windows(2) {
                    prop_assert!(pair[0].last + 1 < pair[1].first);
                }
                for range in &ranges {
                    prop_assert!(range.first <= range.last && range.last < size);
                    for i in range.first..=range.last { seen[i as usize] = true; }
                }
                prop_assert_eq!(seen, covered);
            } else {
                prop_assert_eq!(result, Err(RangeError::Unsatisfiable { size }));
            }
        }
    }
}
