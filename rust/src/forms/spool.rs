//! Where a large file part's content goes: a file on disk, written in batches.
//!
//! Once Python has moved an upload to its temporary file, the multipart parser
//! appends that part's content here instead of handing it to Python. The caller
//! takes a `Batch` whenever `pending()` reaches its batch size and writes it from a
//! worker thread while the parser goes on filling the next one, so the data
//! crosses from the request body to the file with one copy and the disk write
//! overlaps the parsing.

use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;

#[derive(Debug)]
pub struct Spool {
    file: Arc<File>,
    /// Bytes received and not yet taken as a batch.
    pending: Vec<u8>,
    /// Bytes received in all.
    received: u64,
}

impl Spool {
    /// Writes to `file` at its current position (batches must be written in the
    /// order they were taken).
    pub fn new(file: File) -> Self {
        Self {
            file: Arc::new(file),
            pending: Vec::new(),
            received: 0,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
        self.received += data.len() as u64;
    }

    /// Bytes received and not yet taken as a batch.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Bytes received in all (written, taken or pending).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The pending bytes, to be written to the file.
    pub fn take_batch(&mut self) -> Batch {
        let capacity = self.pending.capacity();
        Batch {
            file: Arc::clone(&self.file),
            data: std::mem::replace(&mut self.pending, Vec::with_capacity(capacity)),
        }
    }
}

/// Bytes taken from a `Spool`, with the file they go to.
#[derive(Debug)]
pub struct Batch {
    file: Arc<File>,
    data: Vec<u8>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Writes the bytes (once: a second call writes nothing). On an error (a full
    /// disk...) the rest is dropped: the upload is lost, and the caller discards it.
    pub fn write(&mut self) -> io::Result<()> {
        let data = std::mem::take(&mut self.data);
        (&*self.file).write_all(&data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom};

    fn temp_file(tag: &str) -> File {
        let path = std::env::temp_dir().join(format!("covet-spool-{tag}-{}", std::process::id()));
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }

    #[test]
    fn batches_reach_the_file_in_order_at_its_position() {
        let mut file = temp_file("write");
        file.write_all(b"head:").unwrap();
        let mut spool = Spool::new(file.try_clone().unwrap());
        spool.push(b"abc");
        spool.push(b"def");
        assert_eq!((spool.pending(), spool.received()), (6, 6));
        let mut first = spool.take_batch();
        spool.push(b"g");
        let mut second = spool.take_batch();
        assert_eq!((first.len(), second.len(), spool.pending()), (6, 1, 0));
        first.write().unwrap();
        second.write().unwrap();
        second.write().unwrap(); // already written: nothing more
        assert!(second.is_empty());
        assert_eq!(spool.received(), 7);
        let mut content = String::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_string(&mut content).unwrap();
        assert_eq!(content, "head:abcdefg");
    }

    #[test]
    fn a_full_disk_is_an_error_not_a_panic() {
        let Ok(full) = File::options().write(true).open("/dev/full") else {
            return; // not a Linux-like system
        };
        let mut spool = Spool::new(full);
        spool.push(&vec![7; 100_000]);
        let err = spool.take_batch().write().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(28)); // ENOSPC
    }
}
