//! Segment keys for the static-children tables: a segment packed into two words
//! (with its length, equal keys compare equal word for word), and their hash.
//!
//! The tables are keyed by route text chosen by the application, never by clients;
//! clients only probe them, and every probe is confirmed by comparing the key. So
//! flooding a table with colliding keys is not possible, and a keyed (slower) hash
//! buys nothing on this path.

const SEED: u64 = 0x9E37_79B9_7F4A_7C15;
const MUL: u64 = 0x51_7C_C1_B7_27_22_0A_95;

/// Keys up to this length are compared by their packed words alone.
pub(crate) const PACKED: usize = 16;

/// A segment packed for comparison: for the same length, two segments of at most
/// `PACKED` bytes are equal exactly when their packed words are. Longer segments
/// pack their first and last eight bytes, which only narrows the candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Packed {
    pub(crate) lo: u64,
    pub(crate) hi: u64,
}

#[inline]
fn word8(bytes: Option<&[u8; 8]>) -> u64 {
    bytes.map_or(0, |b| u64::from_le_bytes(*b))
}

#[inline]
fn word4(bytes: Option<&[u8; 4]>) -> u64 {
    bytes.map_or(0, |b| u64::from(u32::from_le_bytes(*b)))
}

/// Packs `bytes` with overlapping loads: every byte lands in a fixed place for a
/// given length, so no per-byte loop and no padding copy is needed.
#[inline]
pub(crate) fn pack(bytes: &[u8]) -> Packed {
    let len = bytes.len();
    if len >= 8 {
        Packed {
            lo: word8(bytes.first_chunk::<8>()),
            hi: word8(bytes.last_chunk::<8>()),
        }
    } else if len >= 4 {
        Packed {
            lo: word4(bytes.first_chunk::<4>()) | (word4(bytes.last_chunk::<4>()) << 32),
            hi: 0,
        }
    } else {
        // Bytes 0, len / 2 and len - 1 cover every byte of a 1..=3 byte segment.
        let at = |i: usize| bytes.get(i).map_or(0, |&b| u64::from(b));
        Packed {
            lo: at(0) | (at(len / 2) << 8) | (at(len.wrapping_sub(1)) << 16),
            hi: 0,
        }
    }
}

/// Multiplies into 128 bits and folds the halves, so every input bit reaches the
/// low bits (the table index).
#[inline]
fn fold(x: u64) -> u64 {
    let product = u128::from(x ^ SEED) * u128::from(MUL);
    (product as u64) ^ ((product >> 64) as u64)
}

/// The hash of a packed key of `len` bytes.
#[inline]
pub(crate) fn hash(key: Packed, len: usize) -> u64 {
    fold(key.lo ^ fold(key.hi ^ len as u64))
}

#[cfg(test)]
mod tests {
    use super::{hash, pack, Packed};
    use std::collections::HashSet;

    fn assert_injective(alphabet: &[u8], lengths: std::ops::RangeInclusive<usize>) {
        for len in lengths {
            let mut seen: HashSet<(u64, u64)> = HashSet::new();
            let total = alphabet.len().pow(u32::try_from(len).unwrap_or(0));
            for mut n in 0..total {
                let key: Vec<u8> = (0..len)
                    .map(|_| {
                        let b = alphabet[n % alphabet.len()];
                        n /= alphabet.len();
                        b
                    })
                    .collect();
                let Packed { lo, hi } = pack(&key);
                assert!(seen.insert((lo, hi)), "{key:?}");
            }
        }
    }

    /// Every pair of distinct short keys of the same length packs differently.
    #[test]
    fn pack_is_injective_for_short_keys_of_one_length() {
        assert_injective(&[0u8, 1, b'a', b'b', 0xff], 0..=6);
        assert_injective(&[0u8, b'a', 0xff], 7..=10);
        assert_injective(b"ab", 11..=16);
    }

    #[test]
    fn pack_table() {
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"", b"", true),
            (b"a", b"a", true),
            (b"ab", b"ba", false),
            (b"abc", b"abd", false),
            (b"abc", b"bbc", false),
            (b"abcd", b"abcd", true),
            (b"abcde", b"abcdf", false),
            (b"abcdefg", b"abcxefg", false),
            (b"abcdefgh", b"abcdefgh", true),
            (b"abcdefghi", b"abcdefghj", false),
            (b"abcdefghijklmnop", b"abcdefghijklmnoq", false),
            (b"abcdefghijklmnop", b"abcdefgxijklmnop", false),
            (b"abcdefghijklmnop", b"abcdefghijklmnop", true),
        ];
        for &(a, b, same) in cases {
            assert_eq!(a.len(), b.len());
            assert_eq!(pack(a) == pack(b), same, "{a:?} {b:?}");
        }
    }

    #[test]
    fn hash_spreads_similar_keys_over_low_bits() {
        // Keys like `r0`..`r49` must not pile up in a 128-slot table.
        let mut used = HashSet::new();
        for i in 0..50 {
            let key = format!("r{i}");
            used.insert(hash(pack(key.as_bytes()), key.len()) & 127);
        }
        assert!(used.len() >= 35, "{} distinct slots", used.len());
    }
}
