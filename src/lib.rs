//! dsbfs: back up an archive larger than any single disk onto a drawer of offline
//! disks, and browse it as a read-only filesystem.

#[macro_use]
pub mod output;

pub mod backup;
pub mod catalog;
pub mod cli;
pub mod cmd;
pub mod complete;
pub mod context;
pub mod damaged;
pub mod discover;
pub mod disks;
pub mod fs;
pub mod history;
pub mod interrupt;
pub mod manpage;
pub mod mount_helper;
pub mod mounts;
pub mod placement;
pub mod problems;
pub mod recover;
pub mod report;
pub mod restore;
pub mod rules;
pub mod runs;
pub mod scan;
pub mod select;
pub mod status;
pub mod store;
pub mod tally;
#[cfg(test)]
mod test_archive;
pub mod util;
pub mod verify;
pub mod watch;

/// An error in what the user asked for (exit code 2), as opposed to one met while working (1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// Exit codes (contract): 0 success, 1 failure, 2 usage, 3 finished but needs attention.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const ATTENTION: u8 = 3;
}
