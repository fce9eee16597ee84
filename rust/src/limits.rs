//! Default request limits, defined once. The Python `covet.Limits` settings object
//! reads them from `covet._core.DEFAULT_LIMITS`; the multipart parser uses them as
//! its defaults. What each limit answers when exceeded is documented on `Limits`.

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Request body, in bytes (413).
pub const MAX_BODY_SIZE: usize = 16 * MIB;
/// Non-file fields in a form (413).
pub const MAX_FORM_FIELDS: usize = 1000;
/// File parts in a multipart form (413).
pub const MAX_FILES: usize = 1000;
/// Bytes of one non-file value or key (413).
pub const MAX_FIELD_SIZE: usize = MIB;
/// Bytes of one multipart part's header block (413).
pub const MAX_PART_HEADER_SIZE: usize = 16 * KIB;
/// Header lines in one multipart part (413).
pub const MAX_PART_HEADERS: usize = 32;
/// Upload size kept in memory before spooling to disk (not an error).
pub const SPOOL_MAX_SIZE: usize = MIB;
/// `raw_path` plus query string, in bytes (414).
pub const MAX_URL_LENGTH: usize = 8 * KIB;
/// Request header lines (431).
pub const MAX_HEADER_COUNT: usize = 100;
/// One incoming WebSocket message, in bytes (close 1009).
pub const WEBSOCKET_MAX_MESSAGE_SIZE: usize = MIB;

/// `(name, default)` of every limit, as the Python `Limits` fields are named.
pub const DEFAULTS: [(&str, usize); 10] = [
    ("max_body_size", MAX_BODY_SIZE),
    ("max_form_fields", MAX_FORM_FIELDS),
    ("max_files", MAX_FILES),
    ("max_field_size", MAX_FIELD_SIZE),
    ("max_part_header_size", MAX_PART_HEADER_SIZE),
    ("max_part_headers", MAX_PART_HEADERS),
    ("spool_max_size", SPOOL_MAX_SIZE),
    ("max_url_length", MAX_URL_LENGTH),
    ("max_header_count", MAX_HEADER_COUNT),
    ("websocket_max_message_size", WEBSOCKET_MAX_MESSAGE_SIZE),
];
