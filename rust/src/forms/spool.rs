//! Where a large file part's content goes: a file on disk, written in batches.
//!
//! Once Python has moved an upload to its temporary file, the multipart parser
//! appends that part's content here instead of handing it to Python; the caller
//! flushes a batch whenever `pending()` reaches its batch size, from a worker
//! thread, so the data crosses from the request body to the file with one copy.

use std::fs::File;
use std::io::{self, Write};

#[derive(Debug)]
pub struct Spool {
    file: File,
    /// Bytes received but not yet written.
    pending: Vec<u8>,
    /// Bytes received in all.
    received: u64,
}

impl Spool {
    /// Writes to `file` at its current position.
    pub fn new(file: File) -> Self {
        Self {
            file,
            pending: Vec::new(),
            received: 0,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
        self.received += data.len() as u64;
    }

    /// Bytes received but not yet written.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Bytes received in all (written or pending).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Writes every pending byte. On an error (a full disk...) the unwritten bytes
    /// are dropped: the upload is lost either way, and the caller discards it.
    pub fn flush(&mut self) -> io::Result<()> {
        let result = self.file.write_all(&self.pending);
        self.pending.clear();
        result
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
    fn pushed_bytes_reach_the_file_at_its_position() {
        let mut file = temp_file("write");
        file.write_all(b"head:").unwrap();
        let mut spool = Spool::new(file.try_clone().unwrap());
        spool.push(b"abc");
        spool.push(b"def");
        assert_eq!((spool.pending(), spool.received()), (6, 6));
        spool.flush().unwrap();
        spool.push(b"g");
        spool.flush().unwrap();
        assert_eq!((spool.pending(), spool.received()), (0, 7));
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
        let err = spool.flush().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(28)); // ENOSPC
        assert_eq!(spool.pending(), 0);
    }
}
