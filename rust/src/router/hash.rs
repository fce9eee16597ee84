//! The hash of a path segment for the static-children tables.
//!
//! The tables are keyed by route text chosen by the application, never by clients;
//! clients only probe them, and every probe that matches a hash is confirmed by
//! comparing the bytes. Flooding a table with colliding keys therefore is not
//! possible, and a keyed (slower) hash buys nothing on this path.

const SEED: u64 = 0x9E37_79B9_7F4A_7C15;
const MUL: u64 = 0x51_7C_C1_B7_27_22_0A_95;

/// Multiplies into 128 bits and folds the halves, so every input bit reaches the
/// low bits (the table index) and the high bits alike.
#[inline]
fn fold(x: u64) -> u64 {
    let product = u128::from(x ^ SEED) * u128::from(MUL);
    (product as u64) ^ ((product >> 64) as u64)
}

/// Word-at-a-time hash of `bytes`, length included.
#[inline]
pub(crate) fn hash_segment(bytes: &[u8]) -> u64 {
    let mut hash = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        if let Some(word) = chunk.first_chunk::<8>() {
            hash = fold(hash ^ u64::from_le_bytes(*word)).rotate_left(23);
        }
    }
    let mut tail = 0u64;
    for (i, &b) in chunks.remainder().iter().enumerate() {
        tail |= u64::from(b) << (8 * i);
    }
    fold(hash ^ tail)
}

#[cfg(test)]
mod tests {
    use super::hash_segment;
    use std::collections::HashSet;

    #[test]
    fn hash_segment_separates_lengths_words_and_tails() {
        let keys: &[&[u8]] = &[
            b"",
            b"\0",
            b"\0\0",
            b"a",
            b"ab",
            b"ba",
            b"abcdefgh",
            b"abcdefgh\0",
            b"abcdefghi",
            b"abcdefghabcdefgh",
            b"r1",
            b"r10",
            b"users",
            b"user",
        ];
        let hashes: HashSet<u64> = keys.iter().map(|k| hash_segment(k)).collect();
        assert_eq!(hashes.len(), keys.len());
    }

    #[test]
    fn hash_segment_spreads_similar_keys_over_low_bits() {
        // Keys like `r0`..`r49` must not pile up in a 128-slot table.
        let mut used = HashSet::new();
        for i in 0..50 {
            used.insert(hash_segment(format!("r{i}").as_bytes()) & 127);
        }
        assert!(used.len() >= 35, "{} distinct slots", used.len());
    }
}
