//! HTTP message parsing and validation: header values, Content-Type parameters,
//! cookies, Range requests and percent-decoding. Each parser is linear in its input
//! and bounded by the caps it documents.

pub mod content_type;
pub mod cookies;
pub mod headers;
pub mod percent;
pub mod range;
