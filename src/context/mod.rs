//! The restore context: a plain-text list of every path of a snapshot (kind, mode,
//! owner, mtime, size, SHA-256, and the object's name on a disk), which `grep`, `awk`,
//! `sort` and a shell loop can read without dsbfs. Each backup leaves one on its disk
//! beside the catalog copy; `context export` and `context import` move trees between
//! catalogs with it. The format is in doc/DISK-FORMAT.md.

pub mod escape;
pub mod export;
pub mod import;
pub mod line;

pub use export::{leave_on_disk, write};
pub use import::{ImportOptions, ImportReport, import};

/// The restore context's name in a disk's folder.
pub const CONTEXT_FILE: &str = "dsbfs-context.tsv";
