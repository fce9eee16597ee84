//! The static children of a tree node, keyed by segment text (the router's cache of
//! parameter-free paths uses the same table, keyed by the whole path).
//!
//! Each child is a 32-byte slot holding its key packed into two words, the key
//! length and the child node, so a probe reads one slot and compares three words
//! (keys longer than `PACKED` bytes are confirmed against their full text). A few
//! children are scanned linearly; a larger fan-out gets an open-addressing table,
//! at most half full.

use super::hash::{hash, pack, Packed, PACKED};

/// Up to this many children are scanned linearly.
const LINEAR: usize = 8;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    key: Packed,
    len: usize,
    /// The child node; 0 (the root, never a child) marks an empty table slot.
    node: usize,
}

/// What a node with many children or long keys needs besides its slots.
#[derive(Debug, Default)]
struct Extra {
    /// Number of children, once they are in a hashed table.
    count: usize,
    /// Full text of the keys longer than `PACKED`, by child node (ascending, as
    /// nodes are numbered in creation order).
    long: Vec<(usize, Box<[u8]>)>,
}

/// 24 bytes, so that a tree node fits one cache line.
#[derive(Debug, Default)]
pub(crate) struct StaticChildren {
    /// Up to `LINEAR` children: exactly them, scanned in order. More: a power-of-two
    /// open-addressing table (at least `2 * LINEAR` slots).
    slots: Box<[Slot]>,
    extra: Option<Box<Extra>>,
}

impl StaticChildren {
    /// The child node for segment `key`.
    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Option<usize> {
        let len = key.len();
        let packed = pack(key);
        let is = |slot: &Slot| {
            slot.len == len
                && slot.key == packed
                && (len <= PACKED || self.long_key_is(slot.node, key))
        };
        if self.slots.len() <= LINEAR {
            return self.slots.iter().find(|s| is(s)).map(|s| s.node);
        }
        let mask = self.slots.len() - 1;
        let mut i = hash(packed, len) as usize & mask;
        // The table is at most half full, so an empty slot ends every probe.
        loop {
            let slot = self.slots.get(i)?;
            if slot.node == 0 {
                return None;
            }
            if is(slot) {
                return Some(slot.node);
            }
            i = (i + 1) & mask;
        }
    }

    fn long_key_is(&self, node: usize, key: &[u8]) -> bool {
        let Some(extra) = &self.extra else {
            return false;
        };
        let long = &extra.long;
        long.binary_search_by_key(&node, |&(n, _)| n)
            .ok()
            .and_then(|i| long.get(i))
            .is_some_and(|(_, text)| **text == *key)
    }

    /// Adds child `node` (never 0) under `key`; the caller has checked that `key`
    /// is not present.
    pub(crate) fn insert(&mut self, key: &str, node: usize) {
        let bytes = key.as_bytes();
        let slot = Slot {
            key: pack(bytes),
            len: bytes.len(),
            node,
        };
        if bytes.len() > PACKED {
            // Nodes are created in ascending order, which keeps the list sorted.
            self.extra
                .get_or_insert_with(Box::default)
                .long
                .push((node, bytes.into()));
        }
        let linear = self.slots.len() <= LINEAR;
        let count = if linear {
            self.slots.len()
        } else {
            self.extra.as_ref().map_or(0, |e| e.count)
        } + 1;
        if count <= LINEAR {
            let mut slots = std::mem::take(&mut self.slots).into_vec();
            slots.push(slot);
            self.slots = slots.into_boxed_slice();
            return;
        }
        if linear || count * 2 > self.slots.len() {
            let size = (count * 2).next_power_of_two().max(2 * LINEAR);
            let mut table = vec![Slot::default(); size].into_boxed_slice();
            for &old in self.slots.iter().filter(|s| s.node != 0) {
                place(&mut table, old);
            }
            self.slots = table;
        }
        place(&mut self.slots, slot);
        self.extra.get_or_insert_with(Box::default).count = count;
    }
}

/// Puts `slot` into the first free place of its probe sequence in `table`.
fn place(table: &mut [Slot], slot: Slot) {
    let mask = table.len().wrapping_sub(1);
    let mut i = hash(slot.key, slot.len) as usize & mask;
    while table.get(i).is_some_and(|s| s.node != 0) {
        i = (i + 1) & mask;
    }
    if let Some(free) = table.get_mut(i) {
        *free = slot;
    }
}

#[cfg(test)]
mod tests {
    use super::StaticChildren;

    #[test]
    fn static_children_find_every_key_linear_and_hashed() {
        for count in [0usize, 1, 3, 8, 9, 17, 64, 300] {
            let mut children = StaticChildren::default();
            let keys: Vec<String> = (0..count).map(|i| format!("k{i}")).collect();
            for (i, key) in keys.iter().enumerate() {
                children.insert(key, 1000 + i);
            }
            for (i, key) in keys.iter().enumerate() {
                assert_eq!(
                    children.get(key.as_bytes()),
                    Some(1000 + i),
                    "{count} {key}"
                );
            }
            let misses: [&[u8]; 6] = [b"", b"k", b"K0", b"k0 ", b"kk", b"k100000"];
            for miss in misses {
                assert_eq!(children.get(miss), None, "{count} {miss:?}");
            }
        }
    }

    #[test]
    fn static_children_empty_short_and_long_keys() {
        let keys = [
            "",
            "a",
            "ab",
            "abc",
            "abcdefgh",
            "abcdefghi",
            "b",
            "ba",
            "bab",
            "x y",
            "abcdefghijklmnop",
            "abcdefghijklmnopq",
            "abcdefgh-middle-ijklmnop",
            "abcdefgh-MIDDLE-ijklmnop",
        ];
        // Both the linear scan (first keys only) and the table.
        for take in [LINEAR_KEYS, keys.len()] {
            let mut children = StaticChildren::default();
            for (i, key) in keys.iter().take(take).enumerate() {
                children.insert(key, i + 1);
            }
            for (i, key) in keys.iter().take(take).enumerate() {
                assert_eq!(children.get(key.as_bytes()), Some(i + 1), "{key:?}");
            }
            let misses: [&[u8]; 5] = [
                b"abcd",
                b"abcdefgh-middlX-ijklmnop",
                b"abcdefgh-middle-ijklmnoq",
                b"abcdefghijklmnoq",
                b"abcdefghijklmnopqr",
            ];
            for miss in misses {
                assert_eq!(children.get(miss), None, "{miss:?}");
            }
        }
    }

    const LINEAR_KEYS: usize = super::LINEAR;
}
