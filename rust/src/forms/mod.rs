//! Request-body forms: `application/x-www-form-urlencoded` (also the query string
//! parser) and an incremental `multipart/form-data` state machine.

pub mod multipart;
pub mod urlencoded;
