//! Where a large file part's content goes: straight to a file on disk.
//!
//! Once Python has moved an upload to its temporary file, the multipart parser
//! writes the rest of that part there itself, from the chunk being parsed (no copy
//! and no Python bytes object), with the GIL released. A write lands in the page
//! cache; a thread hop per write cost more than the write itself.

use std::fs::File;
use std::io::{self, Write};

#[derive(Debug)]
pub struct Spool {
    file: File,
    /// Bytes written in all.
    written: u64,
}

impl Spool {
    /// Writes to `file` at its current position.
    pub fn new(file: File) -> Self {
        Self { file, written: 0 }
    }

    /// Writes all of `data`. After an error (a full disk...) the file is
    /// incomplete: the caller discards the upload.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)?;
        self.written += data.len() as u64;
        Ok(())
    }

    /// Bytes written in all.
    pub fn written(&self) -> u64 {
        self.written
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
    fn writes_reach_the_file_at_its_position() {
        let mut file = temp_file("write");
        file.write_all(b"head:").unwrap();
        let mut spool = Spool::new(file.try_clone().unwrap());
        spool.write(b"abc").unwrap();
        spool.write(b"").unwrap();
        spool.write(b"defg").unwrap();
        assert_eq!(spool.written(), 7);
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
        let err = spool.write(&vec![7; 100_000]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(28)); // ENOSPC
        assert_eq!(spool.written(), 0);
    }
}
