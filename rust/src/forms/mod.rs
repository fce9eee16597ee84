//! Request-body forms: `application/x-www-form-urlencoded` (also the query string
//! parser), an incremental `multipart/form-data` state machine, and the spool that
//! writes large file parts to disk.

pub mod multipart;
pub mod spool;
pub mod urlencoded;
