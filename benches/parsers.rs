//! Parser throughput (MB/s via `Throughput::Bytes`): query strings, urlencoded
//! bodies, `Cookie` headers, percent-decoding, multipart bodies and `Range` headers.
//!
//! Inputs are generated deterministically and each parse is checked once before
//! timing (field counts and a decoded value), so a parser that silently bails out
//! early cannot look fast.
//!
//! Run: `cargo bench --bench parsers` (or `make bench`); smoke: `cargo test --benches`.

mod common;

use std::hint::black_box;

use covet_core::forms::multipart::{self, Event, MultipartLimits, MultipartParser};
use covet_core::forms::urlencoded as query;
use covet_core::http::{cookies, percent, range};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// A typical API query string: five fields, one `+` and one UTF-8 escape.
const QUERY_TYPICAL: &[u8] =
    b"q=rust+web+framework&page=2&per_page=50&sort=-created&city=M%C3%BCnchen";

/// `fields` urlencoded pairs; every third value has escapes or `+`, like form posts.
fn urlencoded(fields: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..fields {
        if i > 0 {
            out.push(b'&');
        }
        let value = match i % 3 {
            0 => format!("value{i}"),
            1 => format!("hello+world+{i}%21"),
            _ => format!("caf%C3%A9+%26+cr%C3%A8me+{i}"),
        };
        out.extend_from_slice(format!("field_{i}={value}").as_bytes());
    }
    out
}

/// A browser-like `Cookie` header: session ids, a quoted value, analytics noise.
fn cookie_header(cookies: usize) -> String {
    let mut parts = vec![
        "sessionid=3b1f0c9e8d7a6b5c4d3e2f1a0b9c8d7e".to_owned(),
        "csrftoken=Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Jj0Ii9Hh".to_owned(),
        "prefs=\"theme=dark|lang=en\"".to_owned(),
    ];
    for i in parts.len()..cookies {
        parts.push(format!(
            "_ga_{i}=GA1.2.{}.{}",
            1_000_000 + i * 37,
            1_600_000_000 + i
        ));
    }
    parts.join("; ")
}

/// Text with roughly one byte in four percent-escaped, mixing ASCII and UTF-8.
fn escaped_text(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut i = 0usize;
    while out.len() < len {
        match i % 4 {
            0 => out.push_str("%20"),
            1 => out.push_str("caf%C3%A9"),
            _ => out.push_str("segment"),
        }
        i += 1;
    }
    out
}

fn bench_query(c: &mut Criterion) {
    let mut group = c.benchmark_group("query_parse");
    let long = urlencoded(40);
    let form = urlencoded(600);
    let inputs: [(&str, &[u8], usize); 3] = [
        ("typical_5_fields", QUERY_TYPICAL, 5),
        ("long_40_fields", &long, 40),
        ("form_600_fields", &form, 600),
    ];
    for (name, input, fields) in inputs {
        let pairs = query::parse(input, usize::MAX).expect("no field limit");
        assert_eq!(pairs.len(), fields, "{name}");
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_with_input(BenchmarkId::new(name, input.len()), input, |b, input| {
            b.iter(|| query::parse(black_box(input), 1000).map(|p| p.len()));
        });
    }
    let decoded = query::parse(QUERY_TYPICAL, 10).expect("five fields");
    assert_eq!(
        decoded.get(4).map(|(_, v)| v.as_ref()),
        Some("M\u{fc}nchen")
    );
    group.finish();
}

fn bench_cookies(c: &mut Criterion) {
    let mut group = c.benchmark_group("cookies_parse");
    for count in [3usize, 12] {
        let header = cookie_header(count);
        let parsed = cookies::parse(&header);
        assert_eq!(parsed.len(), count);
        assert_eq!(
            parsed.get(2).map(|(k, v)| (*k, v.as_ref())),
            Some(("prefs", "theme=dark|lang=en"))
        );
        group.throughput(Throughput::Bytes(header.len() as u64));
        group.bench_with_input(BenchmarkId::new("cookies", count), &header, |b, header| {
            b.iter(|| cookies::parse(black_box(header)).len());
        });
    }
    group.finish();
}

fn bench_percent(c: &mut Criterion) {
    let mut group = c.benchmark_group("percent_decode");
    let escaped = escaped_text(4096);
    let plain = "a".repeat(4096);
    let decoded = percent::decode_lossy(escaped.as_bytes(), true);
    assert!(decoded.contains("caf\u{e9}") && !decoded.contains('%'));
    let strict = percent::decode_strict(&escaped).expect("well-formed escapes");
    assert_eq!(strict, decoded);
    group.throughput(Throughput::Bytes(escaped.len() as u64));
    group.bench_function(BenchmarkId::new("lossy_escaped", escaped.len()), |b| {
        b.iter(|| percent::decode_lossy(black_box(escaped.as_bytes()), true).len());
    });
    group.bench_function(BenchmarkId::new("strict_escaped", escaped.len()), |b| {
        b.iter(|| percent::decode_strict(black_box(&escaped)).map(|s| s.len()));
    });
    group.throughput(Throughput::Bytes(plain.len() as u64));
    group.bench_function(BenchmarkId::new("lossy_plain", plain.len()), |b| {
        b.iter(|| percent::decode_lossy(black_box(plain.as_bytes()), true).len());
    });
    group.finish();
}

const BOUNDARY: &[u8] = b"----covetbenchboundary7MA4YWxkTrZu0gW";

/// A browser-like multipart body: `fields` small text fields, then one file of
/// `file_size` bytes (all 256 byte values, so the boundary search sees CR/LF and
/// dashes inside the content).
fn multipart_body(fields: usize, file_size: usize) -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..fields {
        body.extend_from_slice(b"--");
        body.extend_from_slice(BOUNDARY);
        body.extend_from_slice(
            format!("\r\nContent-Disposition: form-data; name=\"field{i}\"\r\n\r\nvalue {i}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(b"--");
    body.extend_from_slice(BOUNDARY);
    body.extend_from_slice(
        b"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"data.bin\"\r\n\
          Content-Type: application/octet-stream\r\n\r\n",
    );
    body.extend((0..file_size).map(|i| (i % 256) as u8));
    body.extend_from_slice(b"\r\n--");
    body.extend_from_slice(BOUNDARY);
    body.extend_from_slice(b"--\r\n");
    body
}

/// Feeds `body` in `chunk`-byte pieces, as an ASGI server delivers it; returns
/// `(parts, file/field data bytes)`.
fn parse_multipart(body: &[u8], chunk: usize) -> (usize, usize) {
    let limits = MultipartLimits::default();
    let mut parser = MultipartParser::new(BOUNDARY, limits).expect("valid boundary");
    let mut events = Vec::new();
    let (mut parts, mut data) = (0, 0);
    for piece in body.chunks(chunk) {
        events.clear();
        parser
            .feed_into(piece, &mut events)
            .expect("well-formed body");
        for event in &events {
            match event {
                Event::PartStart(_) => parts += 1,
                Event::Data(bytes) => data += bytes.len(),
                Event::PartEnd | Event::End => {}
            }
        }
    }
    parser.finish().expect("complete body");
    (parts, data)
}

fn bench_multipart(c: &mut Criterion) {
    let mut group = c.benchmark_group("multipart_parse");
    group.sample_size(20);
    let cases = [
        ("file_1MiB_64KiB_chunks", 3usize, 1usize << 20, 64 * 1024),
        ("fields_200_small", 200, 0, 64 * 1024),
    ];
    for (name, fields, file_size, chunk) in cases {
        let body = multipart_body(fields, file_size);
        let value_bytes: usize = (0..fields).map(|i| format!("value {i}").len()).sum();
        assert_eq!(
            parse_multipart(&body, chunk),
            (fields + 1, value_bytes + file_size)
        );
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new(name, body.len()), &body, |b, body| {
            b.iter(|| parse_multipart(black_box(body), chunk));
        });
    }
    let form = urlencoded(600);
    let parsed = multipart::parse_urlencoded(&form, 1000, 1 << 20).expect("within limits");
    assert_eq!(parsed.len(), 600);
    group.throughput(Throughput::Bytes(form.len() as u64));
    group.bench_with_input(
        BenchmarkId::new("urlencoded_form_600_fields", form.len()),
        &form,
        |b, form| {
            b.iter(|| multipart::parse_urlencoded(black_box(form), 1000, 1 << 20).map(|p| p.len()));
        },
    );
    group.finish();
}

fn bench_range(c: &mut Criterion) {
    let mut group = c.benchmark_group("range_parse");
    let size = 10u64 << 20;
    let cases: [(&str, &[u8], usize); 3] = [
        ("single", b"bytes=0-1023", 1),
        ("suffix", b"bytes=-500", 1),
        (
            "multi_merging",
            b"bytes=0-99, 200-299, 250-399,-500, 1000-",
            3,
        ),
    ];
    for (name, header, ranges) in cases {
        let parsed = range::parse(header, size, range::DEFAULT_MAX_RANGES).expect("satisfiable");
        assert_eq!(parsed.len(), ranges, "{name}");
        group.throughput(Throughput::Bytes(header.len() as u64));
        group.bench_with_input(BenchmarkId::new(name, header.len()), header, |b, header| {
            b.iter(|| {
                range::parse(black_box(header), size, range::DEFAULT_MAX_RANGES).map(|r| r.len())
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench_query, bench_cookies, bench_percent, bench_multipart, bench_range
}
criterion_main!(benches);
