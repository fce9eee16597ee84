//! WebSocket message accounting: the size limit check and the message and byte
//! counters, per connection and summed over an app's connections.
//!
//! A message's size is its payload on the wire: the bytes of a binary message, the
//! UTF-8 bytes of a text message. Text arrives as Python's str storage (1, 2 or 4
//! bytes per code point), so its UTF-8 length is computed from the code points,
//! without encoding; a lone surrogate counts 3 bytes, as Python's
//! `"surrogatepass"` encodes it.
//!
//! Counters are `AtomicU64` with relaxed adds: a connection's counter is touched
//! by its own handler, the app totals by every connection at once, and none of
//! them orders anything else, so no update is lost and nothing waits.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// UTF-8 length of latin-1 code points (Python's 1-byte str storage).
pub fn utf8_len_ucs1(units: &[u8]) -> u64 {
    let wide = units.iter().filter(|&&u| u >= 0x80).count();
    (units.len() + wide) as u64
}

/// UTF-8 length of BMP code points (Python's 2-byte str storage).
pub fn utf8_len_ucs2(units: &[u16]) -> u64 {
    units
        .iter()
        .map(|&u| match u {
            0..=0x7f => 1u64,
            0x80..=0x7ff => 2,
            _ => 3,
        })
        .sum()
}

/// UTF-8 length of code points (Python's 4-byte str storage).
pub fn utf8_len_ucs4(units: &[u32]) -> u64 {
    units
        .iter()
        .map(|&u| match u {
            0..=0x7f => 1u64,
            0x80..=0x7ff => 2,
            0x800..=0xffff => 3,
            _ => 4,
        })
        .sum()
}

/// Message and byte counts in both directions.
#[derive(Debug, Default)]
pub struct Counts {
    messages_received: AtomicU64,
    bytes_received: AtomicU64,
    messages_sent: AtomicU64,
    bytes_sent: AtomicU64,
}

/// A copy of `Counts` at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CountsSnapshot {
    pub messages_received: u64,
    pub bytes_received: u64,
    pub messages_sent: u64,
    pub bytes_sent: u64,
}

impl Counts {
    pub fn received(&self, size: u64) {
        self.messages_received.fetch_add(1, Relaxed);
        self.bytes_received.fetch_add(size, Relaxed);
    }

    pub fn sent(&self, size: u64) {
        self.messages_sent.fetch_add(1, Relaxed);
        self.bytes_sent.fetch_add(size, Relaxed);
    }

    pub fn snapshot(&self) -> CountsSnapshot {
        CountsSnapshot {
            messages_received: self.messages_received.load(Relaxed),
            bytes_received: self.bytes_received.load(Relaxed),
            messages_sent: self.messages_sent.load(Relaxed),
            bytes_sent: self.bytes_sent.load(Relaxed),
        }
    }

    pub fn reset(&self) {
        for counter in [
            &self.messages_received,
            &self.bytes_received,
            &self.messages_sent,
            &self.bytes_sent,
        ] {
            counter.store(0, Relaxed);
        }
    }
}

/// Whether a message of `size` bytes is within `limit` (None: no limit).
pub fn within_limit(size: u64, limit: Option<u64>) -> bool {
    limit.is_none_or(|limit| size <= limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn ucs2(text: &str) -> Vec<u16> {
        text.encode_utf16().collect()
    }

    #[test]
    fn utf8_lengths_match_rust_encoding_for_every_storage_width() {
        for text in ["", "hello", "café", "ÿ", "€uro", "中文", "ߺ"] {
            let expected = text.len() as u64;
            let code_points: Vec<u32> = text.chars().map(u32::from).collect();
            assert_eq!(utf8_len_ucs4(&code_points), expected, "{text}");
            if code_points.iter().all(|&c| c <= 0xffff) {
                assert_eq!(utf8_len_ucs2(&ucs2(text)), expected, "{text}");
            }
            if code_points.iter().all(|&c| c <= 0xff) {
                let latin1: Vec<u8> = code_points.iter().map(|&c| c as u8).collect();
                assert_eq!(utf8_len_ucs1(&latin1), expected, "{text}");
            }
        }
        assert_eq!(utf8_len_ucs4(&[0x1f600, 0x41]), 5); // an emoji and "A"
    }

    #[test]
    fn a_lone_surrogate_counts_three_bytes_as_surrogatepass_encodes_it() {
        assert_eq!(utf8_len_ucs2(&[0xd800, 0x41]), 4);
        assert_eq!(utf8_len_ucs4(&[0xdfff]), 3);
    }

    #[test]
    fn lengths_of_large_texts_are_linear() {
        let units = vec![0x4e2du16; 1 << 20];
        assert_eq!(utf8_len_ucs2(&units), 3 << 20);
    }

    #[test]
    fn limit_is_inclusive_and_optional() {
        assert!(within_limit(10, Some(10)));
        assert!(!within_limit(11, Some(10)));
        assert!(within_limit(u64::MAX, None));
    }

    #[test]
    fn counts_add_up_across_threads_and_reset() {
        let counts = Arc::new(Counts::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counts = Arc::clone(&counts);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counts.received(3);
                        counts.sent(5);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("counting thread panicked");
        }
        assert_eq!(
            counts.snapshot(),
            CountsSnapshot {
                messages_received: 4000,
                bytes_received: 12_000,
                messages_sent: 4000,
                bytes_sent: 20_000,
            }
        );
        counts.reset();
        assert_eq!(counts.snapshot(), CountsSnapshot::default());
    }
}
