//! The incremental multipart parser: whatever the body and however it is cut into
//! chunks, parsing never panics, the event stream is well formed, and the result
//! (parts, or the error) is the one of parsing the whole body in one piece.
//!
//! Input: a 16-byte head, then the body. Head: the boundary (byte 0: one of four
//! fixed boundaries, or with 4 the text after the body's leading `--` up to CR),
//! `max_fields`, `max_files`, `max_part_headers` (1 byte each), `max_part_header_size`
//! and `max_field_size` (2 bytes each, little-endian), then four cut offsets
//! (2 bytes each) where the body is split into chunks.
#![no_main]

use covet_core::forms::multipart::{Event, FormError, MultipartLimits, MultipartParser};
use libfuzzer_sys::fuzz_target;

const BOUNDARIES: [&[u8]; 4] = [
    b"X",
    b"XyZ-boundary",
    b"a'()+_,-./:=? b",
    b"----WebKitFormBoundary7MA4YWxkTrZu0gW",
];

/// A part as compared: name, filename, content type, all header lines, content.
type Part = (
    String,
    Option<String>,
    Option<String>,
    Vec<(Vec<u8>, Vec<u8>)>,
    Vec<u8>,
);

fn run(boundary: &[u8], limits: MultipartLimits, chunks: &[&[u8]]) -> Result<Vec<Part>, FormError> {
    let mut parser = MultipartParser::new(boundary, limits)?;
    let mut parts: Vec<Part> = Vec::new();
    let (mut open, mut ended) = (false, false);
    for chunk in chunks {
        for event in parser.feed(chunk)? {
            assert!(!ended, "event after End");
            match event {
                Event::PartStart(h) => {
                    assert!(!open, "PartStart inside a part");
                    open = true;
                    parts.push((h.name, h.filename, h.content_type, h.headers, Vec::new()));
                }
                Event::Data(data) => {
                    assert!(open, "Data outside a part");
                    assert!(!data.is_empty(), "empty Data event");
                    if let Some(part) = parts.last_mut() {
                        part.4.extend_from_slice(&data);
                    }
                }
                Event::PartEnd => {
                    assert!(open, "PartEnd outside a part");
                    open = false;
                }
                Event::End => {
                    assert!(!open, "End inside a part");
                    ended = true;
                }
            }
        }
    }
    let complete = parser.is_complete();
    parser.finish()?;
    assert!(ended && complete);
    Ok(parts)
}

fn chunked<'b>(body: &'b [u8], cuts: &[usize]) -> Vec<&'b [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c % (body.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut last = 0;
    for cut in cuts {
        chunks.push(&body[last..cut]);
        last = cut;
    }
    chunks.push(&body[last..]);
    chunks
}

fn le16(bytes: &[u8; 16], at: usize) -> usize {
    usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

fuzz_target!(|input: &[u8]| {
    let Some((head, body)) = input.split_first_chunk::<16>() else {
        return;
    };
    let boundary: &[u8] = match BOUNDARIES.get(usize::from(head[0] % 5)) {
        Some(fixed) => fixed,
        None => {
            let line = body.strip_prefix(b"--").unwrap_or(body);
            let end = line.iter().position(|&b| b == b'\r').unwrap_or(line.len());
            &line[..end]
        }
    };
    let limits = MultipartLimits {
        max_fields: usize::from(head[1]),
        max_files: usize::from(head[2]),
        max_part_headers: usize::from(head[3]),
        max_part_header_size: le16(head, 4),
        max_field_size: le16(head, 6),
    };
    let cuts: Vec<usize> = (8..16).step_by(2).map(|at| le16(head, at)).collect();
    let whole = run(boundary, limits, &[body]);
    let pieces = chunked(body, &cuts);
    assert_eq!(run(boundary, limits, &pieces), whole, "cut at {cuts:?}");
    if body.len() <= 512 {
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(run(boundary, limits, &bytes), whole, "byte at a time");
    }
});
