//! An incremental `multipart/form-data` parser (RFC 7578 over RFC 2046).
//!
//! The parser is a state machine fed the body in whatever chunks the server
//! delivers; a boundary may be split across chunks at any offset. It never holds a
//! part's content: each `feed` returns the events the chunk completed, and keeps at
//! most one delimiter's length of undecided bytes (plus, while a part's header
//! block is arriving, at most `max_part_header_size` bytes). Every limit is checked
//! as soon as the offending byte arrives, so an oversized or over-numerous form is
//! rejected without being buffered.

use crate::limits;
use memchr::memmem::Finder;
use std::fmt;

use crate::http::content_type::{self, is_tchar};
use crate::http::percent::decode_lossy;

/// The longest boundary accepted. RFC 2046 says 70; a little slack costs nothing.
pub const MAX_BOUNDARY_LEN: usize = 200;

/// While undecided bytes from earlier chunks are waiting, a new chunk is appended to
/// them this many bytes at a time, so that the rest of the chunk can be parsed in
/// place (without a copy) as soon as they are decided.
const CARRY_STEP: usize = 4096;

/// Limits applied while parsing. The defaults match `covet.core.limits.Limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultipartLimits {
    /// Parts without a `filename` (text fields).
    pub max_fields: usize,
    /// Parts with a `filename` (file uploads, even empty ones).
    pub max_files: usize,
    /// Bytes in one part's header block (the lines between the boundary and the
    /// blank line).
    pub max_part_header_size: usize,
    /// Header lines in one part.
    pub max_part_headers: usize,
    /// Bytes in one text field's value, and in any part's name. File contents
    /// are bounded only by the body size limit, which the caller enforces.
    pub max_field_size: usize,
}

impl Default for MultipartLimits {
    fn default() -> Self {
        Self {
            max_fields: limits::MAX_FORM_FIELDS,
            max_files: limits::MAX_FILES,
            max_part_header_size: limits::MAX_PART_HEADER_SIZE,
            max_part_headers: limits::MAX_PART_HEADERS,
            max_field_size: limits::MAX_FIELD_SIZE,
        }
    }
}

/// What one part declared in its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHeaders {
    /// The `name` parameter of `Content-Disposition: form-data`.
    pub name: String,
    /// The `filename` (or RFC 5987 `filename*`) parameter; its presence makes the
    /// part a file.
    pub filename: Option<String>,
    /// The part's `Content-Type` value as sent, if any.
    pub content_type: Option<String>,
    /// Every header line: lowercased name and raw value, in order.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
}

/// An event as `MultipartParser::feed_with` reports it: part content is borrowed
/// from the chunk being parsed (or the parser's few undecided bytes), not copied.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    PartStart(PartHeaders),
    /// Content of the current part; one chunk may give several pieces.
    Data(&'a [u8]),
    PartEnd,
    End,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    PartStart(PartHeaders),
    /// Content of the current part. Consecutive data from one `feed` call is
    /// delivered as one event.
    Data(Vec<u8>),
    PartEnd,
    /// The closing delimiter was read; anything after it is ignored.
    End,
}

/// A body that is not well-formed multipart (a 400 for the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartError {
    /// The boundary parameter is empty, too long or has characters RFC 2046 forbids.
    InvalidBoundary,
    /// The body ended before any delimiter line was found.
    NoBoundaryFound,
    /// The body ended before the closing delimiter (`--boundary--`).
    Truncated,
    /// A delimiter line is followed by something other than CRLF or `--`.
    InvalidDelimiterLine,
    /// A part header line is not `name: value`.
    MalformedHeader,
    /// A part has no `Content-Disposition` header.
    MissingContentDisposition,
    /// A part has more than one `Content-Disposition` header.
    DuplicateContentDisposition,
    /// `Content-Disposition` is not `form-data; ...` or does not parse.
    InvalidContentDisposition(String),
    /// `Content-Disposition` has no `name` parameter.
    MissingName,
    /// `feed` was called after an error or after `finish`.
    ParserClosed,
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidBoundary => write!(
                f,
                "invalid multipart boundary (1 to {MAX_BOUNDARY_LEN} characters from \
                 RFC 2046's set: letters, digits and '()+_,-./:=? )"
            ),
            Self::NoBoundaryFound => f.write_str("the body does not contain the boundary"),
            Self::Truncated => {
                f.write_str("the body ended before the closing boundary (truncated upload)")
            }
            Self::InvalidDelimiterLine => {
                f.write_str("a boundary line is followed by something other than CRLF or '--'")
            }
            Self::MalformedHeader => f.write_str("a part header line is not 'Name: value'"),
            Self::MissingContentDisposition => {
                f.write_str("a part has no Content-Disposition header")
            }
            Self::DuplicateContentDisposition => {
                f.write_str("a part has more than one Content-Disposition header")
            }
            Self::InvalidContentDisposition(why) => {
                write!(f, "a part's Content-Disposition is invalid: {why}")
            }
            Self::MissingName => f.write_str("a part's Content-Disposition has no name parameter"),
            Self::ParserClosed => f.write_str("the multipart parser has already stopped"),
        }
    }
}

impl std::error::Error for MultipartError {}

/// Which limit a form exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Fields,
    Files,
    PartHeaderSize,
    PartHeaders,
    FieldSize,
    /// A field's name (an urlencoded key or a part's `name`), against
    /// `max_field_size` like values.
    FieldNameSize,
}

/// A form that exceeds a configured limit (a 413 for the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitExceeded {
    pub limit: Limit,
    pub max: usize,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = self.max;
        match self.limit {
            Limit::Fields => write!(f, "too many form fields: the limit is {max}"),
            Limit::Files => write!(f, "too many files in the form: the limit is {max}"),
            Limit::PartHeaderSize => {
                write!(f, "a multipart part's headers exceed {max} bytes")
            }
            Limit::PartHeaders => {
                write!(f, "a multipart part has more than {max} header lines")
            }
            Limit::FieldSize => write!(f, "a form field's value exceeds {max} bytes"),
            Limit::FieldNameSize => write!(f, "a form field's name exceeds {max} bytes"),
        }
    }
}

impl std::error::Error for LimitExceeded {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    Malformed(MultipartError),
    Limit(LimitExceeded),
}

impl From<MultipartError> for FormError {
    fn from(e: MultipartError) -> Self {
        Self::Malformed(e)
    }
}

impl From<LimitExceeded> for FormError {
    fn from(e: LimitExceeded) -> Self {
        Self::Limit(e)
    }
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => e.fmt(f),
            Self::Limit(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for FormError {}

/// RFC 2046 `bchars`.
fn is_bchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&b)
}

/// Checks a boundary parameter: `1..=MAX_BOUNDARY_LEN` bchars, not ending in space.
pub fn validate_boundary(boundary: &[u8]) -> Result<(), MultipartError> {
    let ok = !boundary.is_empty()
        && boundary.len() <= MAX_BOUNDARY_LEN
        && boundary.iter().all(|&b| is_bchar(b))
        && boundary.last() != Some(&b' ');
    if ok {
        Ok(())
    } else {
        Err(MultipartError::InvalidBoundary)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter; bytes are discarded.
    Preamble,
    /// Right after a delimiter: expecting transport padding then CRLF, or `--`.
    AfterDelimiter,
    /// Collecting a part's header block.
    Headers,
    /// Inside a part's content.
    Body,
    /// After the closing delimiter; bytes are discarded.
    Epilogue,
    /// After an error or `finish`.
    Closed,
}

/// The incremental parser. See the module documentation.
#[derive(Debug)]
pub struct MultipartParser {
    /// `CRLF "--" boundary`: what ends a part's content.
    delimiter: Vec<u8>,
    /// A SIMD substring searcher for `delimiter` (linear time in the worst case).
    /// Boxed: it holds 32-byte-aligned vectors, and the Python binding embeds this
    /// parser in a Python object, whose storage is only 16-byte aligned.
    finder: Box<Finder<'static>>,
    limits: MultipartLimits,
    state: State,
    /// Undecided bytes. Initialised with CRLF so that a delimiter at the very start
    /// of the body (no preamble) is found by the same search.
    buf: Vec<u8>,
    /// In `Headers`: how far the search for the blank line has got, so that a
    /// header block arriving a byte at a time is scanned once, not quadratically.
    header_scan: usize,
    seen_delimiter: bool,
    fields: usize,
    files: usize,
    part_is_file: bool,
    part_size: usize,
}

impl MultipartParser {
    pub fn new(boundary: &[u8], limits: MultipartLimits) -> Result<Self, MultipartError> {
        validate_boundary(boundary)?;
        let mut delimiter = Vec::with_capacity(boundary.len() + 4);
        delimiter.extend_from_slice(b"\r\n--");
        delimiter.extend_from_slice(boundary);
        Ok(Self {
            finder: Box::new(Finder::new(&delimiter).into_owned()),
            delimiter,
            limits,
            state: State::Preamble,
            buf: b"\r\n".to_vec(),
            header_scan: 0,
            seen_delimiter: false,
            fields: 0,
            files: 0,
            part_is_file: false,
            part_size: 0,
        })
    }

    /// Parses `chunk`, returning the events it completes.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Event>, FormError> {
        let mut events = Vec::new();
        self.feed_into(chunk, &mut events)?;
        Ok(events)
    }

    /// Like `feed`, appending to `events`. After an error the parser is closed.
    pub fn feed_into(&mut self, chunk: &[u8], events: &mut Vec<Event>) -> Result<(), FormError> {
        let start = events.len();
        self.feed_with(chunk, &mut |piece| match piece {
            Piece::Data(data) => {
                let fresh = events.len() > start;
                match events.last_mut() {
                    // Consecutive data from one call is one event.
                    Some(Event::Data(last)) if fresh => last.extend_from_slice(data),
                    _ => events.push(Event::Data(data.to_vec())),
                }
            }
            Piece::PartStart(part) => events.push(Event::PartStart(part)),
            Piece::PartEnd => events.push(Event::PartEnd),
            Piece::End => events.push(Event::End),
        })
    }

    /// Parses `chunk`, handing each event to `on_event` as it is found. Part
    /// content is passed as slices of `chunk`: the bytes are copied only when a
    /// delimiter may straddle two chunks. After an error the parser is closed.
    pub fn feed_with(
        &mut self,
        chunk: &[u8],
        on_event: &mut dyn FnMut(Piece<'_>),
    ) -> Result<(), FormError> {
        if self.state == State::Closed {
            return Err(MultipartError::ParserClosed.into());
        }
        if self.state == State::Epilogue {
            return Ok(());
        }
        let result = self.consume(chunk, on_event);
        if result.is_err() {
            self.state = State::Closed;
            self.buf = Vec::new();
        }
        result
    }

    fn consume(
        &mut self,
        mut chunk: &[u8],
        on_event: &mut dyn FnMut(Piece<'_>),
    ) -> Result<(), FormError> {
        // Undecided bytes from earlier chunks are completed from this one a step at
        // a time; once they are decided, the rest is parsed where it lies. Each
        // step appends at most CARRY_STEP bytes and drains what was decided, so the
        // copying stays linear in the body size.
        while !self.buf.is_empty() && !chunk.is_empty() {
            let (step, rest) = chunk.split_at(chunk.len().min(CARRY_STEP));
            chunk = rest;
            self.buf.extend_from_slice(step);
            let buf = std::mem::take(&mut self.buf);
            let used = self.run(&buf, on_event);
            self.buf = buf;
            self.buf.drain(..used?.min(self.buf.len()));
        }
        if !chunk.is_empty() {
            let used = self.run(chunk, on_event)?;
            self.buf
                .extend_from_slice(chunk.get(used..).unwrap_or_default());
        }
        if self.state == State::Epilogue {
            self.buf = Vec::new();
        }
        Ok(())
    }

    /// Declares the body complete: an error unless the closing delimiter was read.
    pub fn finish(&mut self) -> Result<(), MultipartError> {
        let state = std::mem::replace(&mut self.state, State::Closed);
        self.buf = Vec::new();
        match state {
            State::Epilogue => Ok(()),
            State::Closed => Err(MultipartError::ParserClosed),
            _ if !self.seen_delimiter => Err(MultipartError::NoBoundaryFound),
            _ => Err(MultipartError::Truncated),
        }
    }

    /// Whether the closing delimiter has been read.
    pub fn is_complete(&self) -> bool {
        self.state == State::Epilogue
    }

    /// Parses as much of `input` as can be decided; returns how many bytes that was.
    fn run(
        &mut self,
        input: &[u8],
        on_event: &mut dyn FnMut(Piece<'_>),
    ) -> Result<usize, FormError> {
        let mut pos = 0;
        loop {
            let rest = input.get(pos..).unwrap_or(&[]);
            match self.state {
                State::Preamble => {
                    if let Some(at) = self.finder.find(rest) {
                        pos += at + self.delimiter.len();
                        self.seen_delimiter = true;
                        self.state = State::AfterDelimiter;
                    } else {
                        pos += partial_start(rest, &self.delimiter);
                        break;
                    }
                }
                State::AfterDelimiter => {
                    let padding = rest
                        .iter()
                        .take_while(|&&b| b == b' ' || b == b'\t')
                        .count();
                    pos += padding;
                    let rest = rest.get(padding..).unwrap_or(&[]);
                    match rest {
                        [b'-', b'-', ..] => {
                            on_event(Piece::End);
                            self.state = State::Epilogue;
                            pos = input.len();
                            break;
                        }
                        [b'\r', b'\n', ..] => {
                            pos += 2;
                            self.state = State::Headers;
                            self.header_scan = 0;
                        }
                        [] | [b'-' | b'\r'] => break,
                        _ => return Err(MultipartError::InvalidDelimiterLine.into()),
                    }
                }
                State::Headers => {
                    // An empty header block is just CRLF; otherwise the block ends at
                    // the first CRLFCRLF.
                    let end = if rest.starts_with(b"\r\n") {
                        Some((0, 2))
                    } else {
                        let from = self.header_scan.saturating_sub(3);
                        find(rest.get(from..).unwrap_or(&[]), b"\r\n\r\n")
                            .map(|at| (from + at, from + at + 4))
                    };
                    let Some((block_end, consumed)) = end else {
                        if rest.len() > self.limits.max_part_header_size + 3 {
                            return Err(self.limit(Limit::PartHeaderSize).into());
                        }
                        self.header_scan = rest.len();
                        break;
                    };
                    if block_end > self.limits.max_part_header_size {
                        return Err(self.limit(Limit::PartHeaderSize).into());
                    }
                    let part =
                        parse_part_headers(rest.get(..block_end).unwrap_or(&[]), &self.limits)?;
                    self.start_part(&part)?;
                    pos += consumed;
                    on_event(Piece::PartStart(part));
                    self.state = State::Body;
                }
                State::Body => {
                    let (data_end, next) = match self.finder.find(rest) {
                        Some(at) => (at, Some(at + self.delimiter.len())),
                        None => (partial_start(rest, &self.delimiter), None),
                    };
                    if data_end > 0 {
                        if !self.part_is_file {
                            self.part_size += data_end;
                            if self.part_size > self.limits.max_field_size {
                                return Err(self.limit(Limit::FieldSize).into());
                            }
                        }
                        on_event(Piece::Data(rest.get(..data_end).unwrap_or(&[])));
                    }
                    if let Some(skip) = next {
                        on_event(Piece::PartEnd);
                        pos += skip;
                        self.state = State::AfterDelimiter;
                    } else {
                        pos += data_end;
                        break;
                    }
                }
                State::Epilogue | State::Closed => {
                    pos = input.len();
                    break;
                }
            }
        }
        Ok(pos.min(input.len()))
    }

    fn limit(&self, limit: Limit) -> LimitExceeded {
        exceeded(&self.limits, limit)
    }

    /// Counts the part against the field or file limit and checks its name's size.
    fn start_part(&mut self, part: &PartHeaders) -> Result<(), LimitExceeded> {
        self.part_is_file = part.filename.is_some();
        self.part_size = 0;
        if part.name.len() > self.limits.max_field_size {
            return Err(self.limit(Limit::FieldNameSize));
        }
        if self.part_is_file {
            if self.files == self.limits.max_files {
                return Err(self.limit(Limit::Files));
            }
            self.files += 1;
        } else {
            if self.fields == self.limits.max_fields {
                return Err(self.limit(Limit::Fields));
            }
            self.fields += 1;
        }
        Ok(())
    }
}

fn exceeded(limits: &MultipartLimits, limit: Limit) -> LimitExceeded {
    let max = match limit {
        Limit::Fields => limits.max_fields,
        Limit::Files => limits.max_files,
        Limit::PartHeaderSize => limits.max_part_header_size,
        Limit::PartHeaders => limits.max_part_headers,
        Limit::FieldSize | Limit::FieldNameSize => limits.max_field_size,
    };
    LimitExceeded { limit, max }
}

/// Parses one part's header block (without the terminating blank line).
fn parse_part_headers(block: &[u8], limits: &MultipartLimits) -> Result<PartHeaders, FormError> {
    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    if !block.is_empty() {
        for line in split_crlf(block) {
            if let [b' ' | b'\t', ..] = line {
                // obs-fold: a continuation of the previous header's value.
                let Some((_, value)) = headers.last_mut() else {
                    return Err(MultipartError::MalformedHeader.into());
                };
                value.push(b' ');
                value.extend_from_slice(trim(line));
                continue;
            }
            if headers.len() == limits.max_part_headers {
                return Err(exceeded(limits, Limit::PartHeaders).into());
            }
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .ok_or(MultipartError::MalformedHeader)?;
            let name = line.get(..colon).unwrap_or(&[]);
            if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
                return Err(MultipartError::MalformedHeader.into());
            }
            let value = trim(line.get(colon + 1..).unwrap_or(&[]));
            headers.push((name.to_ascii_lowercase(), value.to_vec()));
        }
    }
    let mut disposition = None;
    let mut content_type = None;
    for (name, value) in &headers {
        match name.as_slice() {
            b"content-disposition" => {
                if disposition.is_some() {
                    return Err(MultipartError::DuplicateContentDisposition.into());
                }
                disposition = Some(value);
            }
            b"content-type" if content_type.is_none() => {
                content_type = Some(String::from_utf8_lossy(value).into_owned());
            }
            _ => {}
        }
    }
    let disposition = disposition.ok_or(MultipartError::MissingContentDisposition)?;
    // Browsers send names and filenames as raw UTF-8.
    let disposition = String::from_utf8_lossy(disposition);
    let parsed = content_type::parse_disposition(&disposition)
        .map_err(|e| MultipartError::InvalidContentDisposition(e.to_string()))?;
    if parsed.media_type != "form-data" {
        return Err(MultipartError::InvalidContentDisposition(format!(
            "expected form-data, got {:?}",
            parsed.media_type
        ))
        .into());
    }
    let name = parsed
        .param("name")
        .ok_or(MultipartError::MissingName)?
        .to_owned();
    let filename = parsed
        .param("filename*")
        .and_then(decode_ext_value)
        .or_else(|| parsed.param("filename").map(str::to_owned));
    Ok(PartHeaders {
        name,
        filename,
        content_type,
        headers,
    })
}

/// Parses an `application/x-www-form-urlencoded` body with the form limits: at most
/// `max_fields` pairs, and keys and values of at most `max_field_size` bytes once
/// decoded (a key without `=` is as much a field as a value). The splitting and
/// decoding are `urlencoded::parse`'s.
pub fn parse_urlencoded(
    input: &[u8],
    max_fields: usize,
    max_field_size: usize,
) -> Result<crate::forms::urlencoded::Pairs<'_>, LimitExceeded> {
    let pairs = crate::forms::urlencoded::parse(input, max_fields).map_err(|e| match e {
        crate::forms::urlencoded::UrlencodedError::TooManyFields { limit } => LimitExceeded {
            limit: Limit::Fields,
            max: limit,
        },
    })?;
    let oversized = |limit: Limit| LimitExceeded {
        limit,
        max: max_field_size,
    };
    for (key, value) in &pairs {
        if key.len() > max_field_size {
            return Err(oversized(Limit::FieldNameSize));
        }
        if value.len() > max_field_size {
            return Err(oversized(Limit::FieldSize));
        }
    }
    Ok(pairs)
}

/// An RFC 8187 ext-value (`UTF-8''caf%C3%A9.txt`); `None` if the charset is neither
/// UTF-8 nor ISO-8859-1, so the caller falls back to plain `filename`.
fn decode_ext_value(value: &str) -> Option<String> {
    let mut parts = value.splitn(3, '\'');
    let charset = parts.next()?;
    let _language = parts.next()?;
    let encoded = parts.next()?;
    if charset.eq_ignore_ascii_case("utf-8") {
        Some(decode_lossy(encoded.as_bytes(), false).into_owned())
    } else if charset.eq_ignore_ascii_case("iso-8859-1") {
        let utf8 = decode_lossy(encoded.as_bytes(), false);
        // decode_lossy produced U+FFFD for non-UTF-8 bytes; redo byte-wise instead.
        if utf8.contains('\u{fffd}') {
            let mut bytes = Vec::with_capacity(encoded.len());
            let raw = encoded.as_bytes();
            let mut i = 0;
            while let Some(&b) = raw.get(i) {
                let hex = raw
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let (b'%', Some(v)) = (b, hex) {
                    bytes.push(v);
                    i += 3;
                } else {
                    bytes.push(b);
                    i += 1;
                }
            }
            Some(bytes.into_iter().map(char::from).collect())
        } else {
            Some(utf8.into_owned())
        }
    } else {
        None
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn split_crlf(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(block);
    std::iter::from_fn(move || {
        let current = rest?;
        if let Some(at) = find(current, b"\r\n") {
            rest = current.get(at + 2..);
            current.get(..at)
        } else {
            rest = None;
            Some(current)
        }
    })
}

/// The first occurrence of `needle` in `hay` (linear time in the worst case).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Where the longest suffix of `hay` that is a proper prefix of `needle` starts
/// (`hay.len()` if there is none): those bytes may be the start of a delimiter
/// completed by the next chunk, so they are kept back.
fn partial_start(hay: &[u8], needle: &[u8]) -> usize {
    let start = hay.len().saturating_sub(needle.len().saturating_sub(1));
    let tail = hay.get(start..).unwrap_or_default();
    // Only a position holding the needle's first byte can start a prefix.
    let Some(&first) = needle.first() else {
        return hay.len();
    };
    memchr::memchr_iter(first, tail)
        .map(|p| start + p)
        .find(|&p| {
            hay.get(p..)
                .is_some_and(|suffix| needle.starts_with(suffix))
        })
        .unwrap_or(hay.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const B: &[u8] = b"XyZ-boundary";

    /// A part as the tests compare them: name, filename, content type, content.
    type Part = (String, Option<String>, Option<String>, Vec<u8>);

    fn body(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, filename, content) in parts {
            out.extend_from_slice(b"--XyZ-boundary\r\n");
            match filename {
                Some(f) => out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                         Content-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                None => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            out.extend_from_slice(content);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--XyZ-boundary--\r\n");
        out
    }

    fn collect(chunks: &[&[u8]], limits: MultipartLimits) -> Result<Vec<Part>, FormError> {
        let mut parser = MultipartParser::new(B, limits)?;
        let mut events = Vec::new();
        for chunk in chunks {
            parser.feed_into(chunk, &mut events)?;
        }
        parser.finish()?;
        let mut parts: Vec<Part> = Vec::new();
        let mut open = false;
        let mut ended = false;
        for event in events {
            assert!(!ended, "event after End");
            match event {
                Event::PartStart(h) => {
                    assert!(!open, "PartStart inside a part");
                    open = true;
                    parts.push((h.name, h.filename, h.content_type, Vec::new()));
                }
                Event::Data(d) => {
                    assert!(open, "Data outside a part");
                    assert!(!d.is_empty(), "empty Data event");
                    parts.last_mut().unwrap().3.extend_from_slice(&d);
                }
                Event::PartEnd => {
                    assert!(open);
                    open = false;
                }
                Event::End => {
                    assert!(!open);
                    ended = true;
                }
            }
        }
        assert!(ended);
        Ok(parts)
    }

    fn one_shot(input: &[u8]) -> Result<Vec<Part>, FormError> {
        collect(&[input], MultipartLimits::default())
    }

    fn sample() -> Vec<u8> {
        body(&[
            ("title", None, b"hello\r\nworld"),
            (
                "upload",
                Some("a.bin"),
                b"\r\n--XyZ-boundar\r\n--XyZ\x00\xff",
            ),
            ("empty", None, b""),
        ])
    }

    #[test]
    fn parses_fields_and_files() {
        let parts = one_shot(&sample()).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            parts[0],
            ("title".into(), None, None, b"hello\r\nworld".to_vec())
        );
        assert_eq!(
            parts[1],
            (
                "upload".into(),
                Some("a.bin".into()),
                Some("application/octet-stream".into()),
                b"\r\n--XyZ-boundar\r\n--XyZ\x00\xff".to_vec()
            )
        );
        assert_eq!(parts[2], ("empty".into(), None, None, Vec::new()));
    }

    #[test]
    fn boundary_split_at_every_offset_gives_the_same_parts() {
        let input = sample();
        let expected = one_shot(&input).unwrap();
        for split in 0..=input.len() {
            let (a, b) = input.split_at(split);
            assert_eq!(
                collect(&[a, b], MultipartLimits::default()).unwrap(),
                expected,
                "split at {split}"
            );
        }
        for split_a in 0..input.len() {
            for split_b in split_a..=input.len() {
                let chunks = [
                    &input[..split_a],
                    &input[split_a..split_b],
                    &input[split_b..],
                ];
                assert_eq!(
                    collect(&chunks, MultipartLimits::default()).unwrap(),
                    expected
                );
            }
        }
    }

    #[test]
    fn byte_at_a_time_gives_the_same_parts() {
        let input = sample();
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(
            collect(&chunks, MultipartLimits::default()).unwrap(),
            one_shot(&input).unwrap()
        );
    }

    #[test]
    fn preamble_epilogue_and_padding_are_ignored() {
        let mut input = b"This is a preamble.\r\n".to_vec();
        input.extend_from_slice(
            b"--XyZ-boundary  \t\r\nContent-Disposition: form-data; name=a\r\n\r\n1",
        );
        input.extend_from_slice(b"\r\n--XyZ-boundary--\r\nepilogue --XyZ-boundary garbage");
        assert_eq!(
            one_shot(&input).unwrap(),
            vec![("a".into(), None, None, b"1".to_vec())]
        );
    }

    #[test]
    fn data_is_not_held_back_beyond_a_delimiter_length() {
        let mut parser = MultipartParser::new(B, MultipartLimits::default()).unwrap();
        let mut head =
            b"--XyZ-boundary\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\n"
                .to_vec();
        head.extend(std::iter::repeat_n(b'a', 10_000));
        let events = parser.feed(&head).unwrap();
        assert!(matches!(events[0], Event::PartStart(_)));
        assert_eq!(events[1], Event::Data(vec![b'a'; 10_000]));
        // A chunk ending in a possible delimiter prefix keeps only that prefix.
        let events = parser.feed(b"bbb\r\n--XyZ").unwrap();
        assert_eq!(events, vec![Event::Data(b"bbb".to_vec())]);
        let events = parser.feed(b"!").unwrap();
        assert_eq!(events, vec![Event::Data(b"\r\n--XyZ!".to_vec())]);
        assert!(parser.buf.len() <= B.len() + 4);
    }

    #[test]
    fn headers_are_case_insensitive_and_kept_raw() {
        let input = b"--XyZ-boundary\r\nCONTENT-DISPOSITION:form-data;NAME=\"f\";FileName=\"r\xc3\xa9sum\xc3\xa9.txt\"\r\nContent-Type:  text/plain; charset=utf-8 \r\nX-Custom: a\r\n  b\r\n\r\nhi\r\n--XyZ-boundary--";
        let mut parser = MultipartParser::new(B, MultipartLimits::default()).unwrap();
        let events = parser.feed(input).unwrap();
        parser.finish().unwrap();
        let Event::PartStart(h) = &events[0] else {
            panic!()
        };
        assert_eq!(h.name, "f");
        assert_eq!(h.filename.as_deref(), Some("r\u{e9}sum\u{e9}.txt"));
        assert_eq!(h.content_type.as_deref(), Some("text/plain; charset=utf-8"));
        assert_eq!(h.headers[2], (b"x-custom".to_vec(), b"a b".to_vec()));
    }

    #[test]
    fn filename_star_is_preferred() {
        let input = b"--XyZ-boundary\r\nContent-Disposition: form-data; name=f; filename=\"euro.txt\"; filename*=UTF-8''%E2%82%AC.txt\r\n\r\n\r\n--XyZ-boundary--";
        let parts = one_shot(input).unwrap();
        assert_eq!(parts[0].1.as_deref(), Some("\u{20ac}.txt"));
        let latin = b"--XyZ-boundary\r\nContent-Disposition: form-data; name=f; filename*=iso-8859-1'en'caf%E9\r\n\r\n\r\n--XyZ-boundary--";
        assert_eq!(one_shot(latin).unwrap()[0].1.as_deref(), Some("caf\u{e9}"));
    }

    #[test]
    fn invalid_boundaries_are_rejected() {
        for bad in [
            &b""[..],
            b"has\"quote",
            b"trailing ",
            &[b'a'; 201],
            b"semi;colon",
        ] {
            assert_eq!(
                MultipartParser::new(bad, MultipartLimits::default()).unwrap_err(),
                MultipartError::InvalidBoundary
            );
        }
        assert!(MultipartParser::new(&[b'a'; 200], MultipartLimits::default()).is_ok());
    }

    fn malformed(input: &[u8]) -> MultipartError {
        match one_shot(input) {
            Err(FormError::Malformed(e)) => e,
            other => panic!("expected a malformed error, got {other:?}"),
        }
    }

    #[test]
    fn malformed_bodies_are_reported_precisely() {
        assert_eq!(malformed(b""), MultipartError::NoBoundaryFound);
        assert_eq!(
            malformed(b"no boundary here"),
            MultipartError::NoBoundaryFound
        );
        assert_eq!(
            malformed(b"--XyZ-boundary\r\nContent-Disposition: form-data; name=a\r\n\r\nabc"),
            MultipartError::Truncated
        );
        assert_eq!(
            malformed(b"--XyZ-boundary\r\nContent-Disposition: form-da"),
            MultipartError::Truncated
        );
        assert_eq!(
            malformed(b"--XyZ-boundaryX\r\n"),
            MultipartError::InvalidDelimiterLine
        );
        assert_eq!(
            malformed(b"--XyZ-boundary\r\n\r\ndata\r\n--XyZ-boundary--"),
            MultipartError::MissingContentDisposition
        );
        assert_eq!(
            malformed(
                b"--XyZ-boundary\r\nContent-Disposition: form-data\r\n\r\n\r\n--XyZ-boundary--"
            ),
            MultipartError::MissingName
        );
        assert_eq!(
            malformed(b"--XyZ-boundary\r\nContent-Disposition: form-data; filename=a\r\n\r\n\r\n--XyZ-boundary--"),
            MultipartError::MissingName
        );
        assert_eq!(
            malformed(b"--XyZ-boundary\r\nno colon\r\n\r\n\r\n--XyZ-boundary--"),
            MultipartError::MalformedHeader
        );
        assert_eq!(
            malformed(b"--XyZ-boundary\r\n bad fold\r\n\r\n\r\n--XyZ-boundary--"),
            MultipartError::MalformedHeader
        );
        assert_eq!(
            malformed(b"--XyZ-boundary\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b\r\n\r\n\r\n--XyZ-boundary--"),
            MultipartError::DuplicateContentDisposition
        );
        assert!(matches!(
            malformed(b"--XyZ-boundary\r\nContent-Disposition: attachment; name=a\r\n\r\n\r\n--XyZ-boundary--"),
            MultipartError::InvalidContentDisposition(_)
        ));
        assert!(matches!(
            malformed(b"--XyZ-boundary\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\n\r\n--XyZ-boundary--"),
            MultipartError::InvalidContentDisposition(_)
        ));
    }

    #[test]
    fn parser_is_closed_after_an_error() {
        let mut parser = MultipartParser::new(B, MultipartLimits::default()).unwrap();
        assert!(parser.feed(b"--XyZ-boundary!!").is_err());
        assert_eq!(
            parser.feed(b"more"),
            Err(FormError::Malformed(MultipartError::ParserClosed))
        );
    }

    fn limited(input: &[u8], limits: MultipartLimits) -> Result<usize, LimitExceeded> {
        match collect(&[input], limits) {
            Ok(parts) => Ok(parts.len()),
            Err(FormError::Limit(e)) => Err(e),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn field_and_file_counts_are_exact() {
        let input = body(&[
            ("a", None, b"1"),
            ("b", None, b"2"),
            ("f", Some("x"), b"3"),
            ("g", Some(""), b""),
        ]);
        let at = |max_fields, max_files| MultipartLimits {
            max_fields,
            max_files,
            ..MultipartLimits::default()
        };
        assert_eq!(limited(&input, at(2, 2)), Ok(4));
        assert_eq!(
            limited(&input, at(1, 2)),
            Err(LimitExceeded {
                limit: Limit::Fields,
                max: 1
            })
        );
        assert_eq!(
            limited(&input, at(2, 1)),
            Err(LimitExceeded {
                limit: Limit::Files,
                max: 1
            })
        );
        assert_eq!(
            limited(&input, at(0, 0)),
            Err(LimitExceeded {
                limit: Limit::Fields,
                max: 0
            })
        );
    }

    #[test]
    fn field_size_is_exact_and_files_are_exempt() {
        let input = body(&[("a", None, &[b'x'; 100]), ("f", Some("x"), &[b'y'; 500])]);
        let at = |max_field_size| MultipartLimits {
            max_field_size,
            ..MultipartLimits::default()
        };
        assert_eq!(limited(&input, at(100)), Ok(2));
        assert_eq!(
            limited(&input, at(99)),
            Err(LimitExceeded {
                limit: Limit::FieldSize,
                max: 99
            })
        );
        // Exact also when the value arrives in pieces.
        let chunks: Vec<&[u8]> = input.chunks(7).collect();
        assert!(collect(&chunks, at(100)).is_ok());
        assert!(matches!(collect(&chunks, at(99)), Err(FormError::Limit(_))));
    }

    #[test]
    fn part_header_size_and_count_are_exact() {
        let disposition = b"Content-Disposition: form-data; name=\"a\"";
        let block_len = disposition.len();
        let mut input = b"--XyZ-boundary\r\n".to_vec();
        input.extend_from_slice(disposition);
        input.extend_from_slice(b"\r\n\r\nv\r\n--XyZ-boundary--");
        let size = |max_part_header_size| MultipartLimits {
            max_part_header_size,
            ..MultipartLimits::default()
        };
        assert_eq!(limited(&input, size(block_len)), Ok(1));
        assert_eq!(
            limited(&input, size(block_len - 1)),
            Err(LimitExceeded {
                limit: Limit::PartHeaderSize,
                max: block_len - 1
            })
        );
        // Also when the block never ends: the parser stops buffering at the limit.
        let mut parser = MultipartParser::new(B, size(64)).unwrap();
        parser.feed(b"--XyZ-boundary\r\nX-A: ").unwrap();
        let mut result = Ok(Vec::new());
        for _ in 0..100 {
            result = parser.feed(b"aaaaaaaa");
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(
            result,
            Err(FormError::Limit(LimitExceeded {
                limit: Limit::PartHeaderSize,
                ..
            }))
        ));

        let mut input = b"--XyZ-boundary\r\nContent-Disposition: form-data; name=a\r\nX-1: a\r\nX-2: b\r\n\r\nv\r\n--XyZ-boundary--".to_vec();
        let count = |max_part_headers| MultipartLimits {
            max_part_headers,
            ..MultipartLimits::default()
        };
        assert_eq!(limited(&input, count(3)), Ok(1));
        assert_eq!(
            limited(&input, count(2)),
            Err(LimitExceeded {
                limit: Limit::PartHeaders,
                max: 2
            })
        );
        input.clear();
    }

    #[test]
    fn header_block_byte_at_a_time_is_not_quadratic() {
        // 16 KiB of header fed a byte at a time would be 128M comparisons if the
        // parser rescanned the block on every feed; this finishes instantly.
        let mut parser = MultipartParser::new(B, MultipartLimits::default()).unwrap();
        parser
            .feed(b"--XyZ-boundary\r\nContent-Disposition: form-data; name=a\r\nX: ")
            .unwrap();
        for _ in 0..15_000 {
            parser.feed(b"v").unwrap();
        }
        let events = parser.feed(b"\r\n\r\nok\r\n--XyZ-boundary--").unwrap();
        assert_eq!(events.len(), 4);
        parser.finish().unwrap();
    }

    #[test]
    fn urlencoded_forms_share_the_limits() {
        let pairs = parse_urlencoded(b"a=1&b=x+y&a=%C3%A9", 3, 3).unwrap();
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        assert_eq!(pairs, vec![("a", "1"), ("b", "x y"), ("a", "\u{e9}")]);
        assert_eq!(
            parse_urlencoded(b"a=1&b=2&c=3", 2, 10).unwrap_err(),
            LimitExceeded {
                limit: Limit::Fields,
                max: 2
            }
        );
        // The size limit applies to the decoded value: "%41%41" is 2 bytes.
        assert!(parse_urlencoded(b"k=%41%41", 10, 2).is_ok());
        assert_eq!(
            parse_urlencoded(b"k=abc", 10, 2).unwrap_err(),
            LimitExceeded {
                limit: Limit::FieldSize,
                max: 2
            }
        );
    }

    #[test]
    fn urlencoded_keys_are_held_to_the_field_size_limit() {
        let name_too_long = LimitExceeded {
            limit: Limit::FieldNameSize,
            max: 2,
        };
        // A key without `=` (once accepted whatever its size), and one with a value.
        assert_eq!(parse_urlencoded(b"abc", 10, 2).unwrap_err(), name_too_long);
        assert_eq!(
            parse_urlencoded(b"abc=1", 10, 2).unwrap_err(),
            name_too_long
        );
        // Decoded size, as for values: "%41%41" is two bytes.
        assert!(parse_urlencoded(b"%41%41=v&ab", 10, 2).is_ok());
        assert_eq!(
            name_too_long.to_string(),
            "a form field's name exceeds 2 bytes"
        );
    }

    #[test]
    fn multipart_part_names_are_held_to_the_field_size_limit() {
        let input = body(&[("abc", None, b"v"), ("f", Some("x"), b"long file content")]);
        let at = |max_field_size| MultipartLimits {
            max_field_size,
            ..MultipartLimits::default()
        };
        assert!(collect(&[&input], at(3)).is_ok());
        assert_eq!(
            collect(&[&input], at(2)),
            Err(FormError::Limit(LimitExceeded {
                limit: Limit::FieldNameSize,
                max: 2
            }))
        );
        let file_named_long = body(&[("abc", Some("x"), b"v")]);
        assert!(matches!(
            collect(&[&file_named_long], at(2)),
            Err(FormError::Limit(LimitExceeded {
                limit: Limit::FieldNameSize,
                ..
            }))
        ));
    }

    /// Content that keeps the parser's carry busy: delimiter prefixes everywhere.
    fn near_misses(len: usize) -> Vec<u8> {
        b"\r\n--XyZ-bound\r\r\n-\x00"
            .iter()
            .copied()
            .cycle()
            .take(len)
            .collect()
    }

    #[test]
    fn chunks_larger_than_the_carry_step_match_one_shot_parsing() {
        let big = near_misses(5 * CARRY_STEP + 17);
        let other: Vec<u8> = (0..=255).cycle().take(3 * CARRY_STEP).collect();
        let input = body(&[
            ("a", Some("a.bin"), &big),
            ("b", None, b"x"),
            ("c", Some("c.bin"), &other),
        ]);
        let expected = one_shot(&input).unwrap();
        assert_eq!(expected[0].3, big);
        assert_eq!(expected[2].3, other);
        for size in [
            1,
            13,
            CARRY_STEP - 1,
            CARRY_STEP,
            CARRY_STEP + 1,
            3 * CARRY_STEP + 5,
        ] {
            let chunks: Vec<&[u8]> = input.chunks(size).collect();
            assert_eq!(
                collect(&chunks, MultipartLimits::default()).unwrap(),
                expected,
                "chunks of {size}"
            );
        }
    }

    #[test]
    fn content_is_passed_from_the_chunk_without_a_copy() {
        let mut parser = MultipartParser::new(B, MultipartLimits::default()).unwrap();
        parser
            .feed(b"--XyZ-boundary\r\nContent-Disposition: form-data; name=f; filename=x\r\n\r\n")
            .unwrap();
        let chunk = vec![b'z'; 64 * 1024];
        let range = chunk.as_ptr_range();
        let mut pieces = Vec::new();
        parser
            .feed_with(&chunk, &mut |piece| {
                if let Piece::Data(data) = piece {
                    pieces.push((data.as_ptr_range(), data.len()));
                }
            })
            .unwrap();
        // Everything but what the carry step copied lies inside the chunk itself.
        let in_place: usize = pieces
            .iter()
            .filter(|(r, _)| range.start <= r.start && r.end <= range.end)
            .map(|(_, len)| len)
            .sum();
        assert!(in_place >= chunk.len() - CARRY_STEP, "{pieces:?}");
        assert_eq!(
            pieces.iter().map(|(_, len)| len).sum::<usize>(),
            chunk.len()
        );
    }

    #[test]
    fn content_of_near_delimiters_is_passed_through_as_data() {
        // Content made of almost-delimiters (the worst case of a naive search).
        let long = [b'q'; 150];
        let mut delimiter_ish = b"\r\n--".to_vec();
        delimiter_ish.extend_from_slice(&long);
        let boundary = [&long[..], b"Z"].concat();
        let content: Vec<u8> = delimiter_ish
            .iter()
            .copied()
            .cycle()
            .take(1 << 20)
            .collect();
        let mut input = b"--".to_vec();
        input.extend_from_slice(&boundary);
        input.extend_from_slice(b"\r\nContent-Disposition: form-data; name=f; filename=x\r\n\r\n");
        input.extend_from_slice(&content);
        input.extend_from_slice(b"\r\n--");
        input.extend_from_slice(&boundary);
        input.extend_from_slice(b"--");
        let mut parser = MultipartParser::new(&boundary, MultipartLimits::default()).unwrap();
        let mut got = 0;
        for chunk in input.chunks(65536) {
            parser
                .feed_with(chunk, &mut |piece| {
                    if let Piece::Data(data) = piece {
                        got += data.len();
                    }
                })
                .unwrap();
        }
        parser.finish().unwrap();
        assert_eq!(got, content.len());
    }

    fn arbitrary_chunks(input: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for cut in cuts {
            chunks.push(input[last..cut].to_vec());
            last = cut;
        }
        chunks.push(input[last..].to_vec());
        chunks
    }

    proptest! {
        #[test]
        fn arbitrary_chunkings_match_one_shot_parsing(
            contents in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'-'), Just(b'X'), any::<u8>()],
                    0..64,
                ),
                1..5,
            ),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let parts: Vec<(String, Option<&str>, &[u8])> = contents
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("p{i}"), if i % 2 == 0 { None } else { Some("f.bin") }, c.as_slice()))
                .collect();
            let borrowed: Vec<(&str, Option<&str>, &[u8])> =
                parts.iter().map(|(n, f, c)| (n.as_str(), *f, *c)).collect();
            let input = body(&borrowed);
            let expected = one_shot(&input).unwrap();
            prop_assert_eq!(expected.len(), contents.len());
            for (part, content) in expected.iter().zip(&contents) {
                prop_assert_eq!(&part.3, content);
            }
            let chunks = arbitrary_chunks(&input, &cuts);
            let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(collect(&refs, MultipartLimits::default()).unwrap(), expected);
        }

        #[test]
        fn garbage_never_panics(
            input in proptest::collection::vec(
                prop_oneof![
                    Just(b'\r'), Just(b'\n'), Just(b'-'), Just(b':'), Just(b';'), Just(b'"'),
                    Just(b'X'), Just(b'y'), Just(b'Z'), any::<u8>()
                ],
                0..512,
            ),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let limits = MultipartLimits { max_part_header_size: 64, max_field_size: 64, max_fields: 3, max_files: 3, max_part_headers: 3 };
            let mut parser = MultipartParser::new(b"X", limits).unwrap();
            for chunk in arbitrary_chunks(&input, &cuts) {
                if parser.feed(&chunk).is_err() {
                    break;
                }
            }
            let _ = parser.finish();
        }

        #[test]
        fn garbage_after_a_valid_start_never_panics(
            tail in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let mut input = b"--XyZ-boundary\r\nContent-Disposition: form-data; name=a\r\n\r\n".to_vec();
            input.extend_from_slice(&tail);
            let _ = one_shot(&input);
        }
    }
}
