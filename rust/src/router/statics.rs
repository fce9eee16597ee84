//! The static children of a tree node, keyed by segment text.
//!
//! A few children are scanned linearly (comparing lengths first); a larger fan-out
//! gets an open-addressing table of `(hash, edge)` slots, at most half full, so a
//! probe usually touches one slot and then the key bytes once. Keys live in one
//! buffer per node rather than one allocation each.

use super::hash::hash_segment;

/// Up to this many children are scanned linearly.
const LINEAR: usize = 8;

#[derive(Debug, Clone, Copy)]
struct Edge {
    /// The key is `keys[start..start + len]`.
    start: usize,
    len: usize,
    node: usize,
    hash: u64,
}

/// One table slot: the key's hash and `edge index + 1` (0 = empty).
type Slot = (u64, usize);

#[derive(Debug, Default)]
pub(crate) struct StaticChildren {
    edges: Vec<Edge>,
    keys: Vec<u8>,
    /// Power-of-two open-addressing table; empty while the fan-out is linear.
    table: Box<[Slot]>,
}

impl StaticChildren {
    fn key(&self, edge: &Edge) -> &[u8] {
        self.keys
            .get(edge.start..edge.start + edge.len)
            .unwrap_or(&[])
    }

    /// The child node for segment `key`.
    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Option<usize> {
        if self.table.is_empty() {
            return self
                .edges
                .iter()
                .find(|e| e.len == key.len() && self.key(e) == key)
                .map(|e| e.node);
        }
        let hash = hash_segment(key);
        let mask = self.table.len() - 1;
        let mut i = hash as usize & mask;
        // The table is at most half full, so an empty slot ends every probe.
        loop {
            let &(slot_hash, slot) = self.table.get(i)?;
            if slot == 0 {
                return None;
            }
            if slot_hash == hash {
                let edge = self.edges.get(slot - 1)?;
                if self.key(edge) == key {
                    return Some(edge.node);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds a child; the caller has checked that `key` is not present.
    pub(crate) fn insert(&mut self, key: &str, node: usize) {
        self.edges.push(Edge {
            start: self.keys.len(),
            len: key.len(),
            node,
            hash: hash_segment(key.as_bytes()),
        });
        self.keys.extend_from_slice(key.as_bytes());
        if self.edges.len() <= LINEAR {
            return;
        }
        if self.edges.len() * 2 > self.table.len() {
            let size = (self.edges.len() * 2).next_power_of_two().max(16);
            self.table = vec![(0u64, 0usize); size].into_boxed_slice();
            for index in 0..self.edges.len() {
                self.place(index);
            }
        } else {
            self.place(self.edges.len() - 1);
        }
    }

    /// Puts edge `index` into the first free slot of its probe sequence.
    fn place(&mut self, index: usize) {
        let Some(hash) = self.edges.get(index).map(|e| e.hash) else {
            return;
        };
        let mask = self.table.len() - 1;
        let mut i = hash as usize & mask;
        while self.table.get(i).is_some_and(|&(_, slot)| slot != 0) {
            i = (i + 1) & mask;
        }
        if let Some(slot) = self.table.get_mut(i) {
            *slot = (hash, index + 1);
        }
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
    fn static_children_empty_key_and_prefixes() {
        let mut children = StaticChildren::default();
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
        ];
        for (i, key) in keys.iter().enumerate() {
            children.insert(key, i);
        }
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(children.get(key.as_bytes()), Some(i), "{key:?}");
        }
        assert_eq!(children.get(b"abcd"), None);
    }
}
