//! One pass over a request path before the tree walk: where its `/` separators are
//! (as a bit mask, for paths up to 64 bytes) and whether it has `%` escapes.
//!
//! Eight bytes are compared at a time without per-byte branches, so finding each
//! segment's end afterwards is a shift and a trailing-zero count instead of a byte
//! loop whose exit the branch predictor cannot guess.

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
/// Gathers bit 8k of a word into bit 56 + k (the partial products never overlap).
const GATHER: u64 = 0x0102_0408_1020_4080;

/// What the walk needs to know about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Bit `i` is set when byte `i` is `/`; `None` for paths over 64 bytes.
    pub(crate) slashes: Option<u64>,
    /// Whether the path has a `%`.
    pub(crate) escaped: bool,
}

/// One bit per byte of `word` that equals `byte`, in byte order (bit k for byte k).
#[inline]
fn matches(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    // High bit of each byte set exactly where that byte of `x` is zero (no borrow
    // crosses bytes, so there are no false positives).
    let zero = !(((x & LOW7) + LOW7) | x | LOW7);
    ((zero >> 7).wrapping_mul(GATHER)) >> 56
}

/// The little-endian word of up to eight bytes, zero-padded.
#[inline]
fn load(bytes: &[u8]) -> u64 {
    if let Some(word) = bytes.first_chunk::<8>() {
        return u64::from_le_bytes(*word);
    }
    let len = bytes.len();
    let at = |i: usize| bytes.get(i).map_or(0, |&b| u64::from(b) << (8 * i));
    if len >= 4 {
        // Two overlapping four-byte loads cover 4..=7 bytes.
        let lo = bytes
            .first_chunk::<4>()
            .map_or(0, |w| u64::from(u32::from_le_bytes(*w)));
        let hi = bytes
            .last_chunk::<4>()
            .map_or(0, |w| u64::from(u32::from_le_bytes(*w)));
        lo | (hi << (8 * (len - 4)))
    } else {
        at(0) | at(len / 2) | at(len.wrapping_sub(1))
    }
}

/// Scans `bytes` (a path without its leading `/`).
#[inline]
pub(crate) fn scan(bytes: &[u8]) -> Scan {
    if bytes.len() > 64 {
        return Scan {
            slashes: None,
            escaped: bytes.contains(&b'%'),
        };
    }
    let mut slashes = 0u64;
    let mut percents = 0u64;
    for (i, chunk) in bytes.chunks(8).enumerate() {
        let word = load(chunk);
        slashes |= matches(word, b'/') << (8 * i);
        percents |= matches(word, b'%');
    }
    Scan {
        slashes: Some(slashes),
        escaped: percents != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::{scan, Scan};

    fn reference(bytes: &[u8]) -> Scan {
        Scan {
            slashes: (bytes.len() <= 64).then(|| {
                bytes
                    .iter()
                    .enumerate()
                    .filter(|&(_, &b)| b == b'/')
                    .fold(0u64, |mask, (i, _)| mask | (1 << i))
            }),
            escaped: bytes.contains(&b'%'),
        }
    }

    #[test]
    fn scan_table() {
        let cases: &[&[u8]] = &[
            b"",
            b"/",
            b"a",
            b"a/",
            b"/a",
            b"ab/",
            b"abc/",
            b"abcd/e",
            b"abcdefg/",
            b"abcdefgh/",
            b"s3/r12/45123/posts/post-title-123",
            b"users/%20/x",
            b"%",
            b"abcdefghijklmnop%",
            b"\xff/\x2e/\xaf\xd0",
            b"////////////////////////////////////////////////////////////////",
            b"/////////////////////////////////////////////////////////////////",
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/",
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/%",
        ];
        for &case in cases {
            assert_eq!(scan(case), reference(case), "{case:?}");
        }
    }

    #[test]
    fn scan_agrees_with_a_byte_loop_at_every_length_and_position() {
        for len in 0..=70usize {
            for at in 0..len {
                for byte in [b'/', b'%', b'.', 0x2f ^ 0x80, 0x25 ^ 0x80, 0xff, 0] {
                    let mut bytes = vec![b'x'; len];
                    if let Some(b) = bytes.get_mut(at) {
                        *b = byte;
                    }
                    if let Some(b) = bytes.get_mut(len - 1 - at / 2) {
                        *b = b'/';
                    }
                    assert_eq!(scan(&bytes), reference(&bytes), "{bytes:?}");
                }
            }
        }
    }
}
