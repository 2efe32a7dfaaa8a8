//! History: every finished scan is a snapshot; a retention policy decides which stay.

pub mod retention;
