//! The one error the filesystem answers with: the errno the caller sees, how loudly
//! the mount's log tells it, and what to tell. It is built where the cause is known
//! (a name that does not exist is quiet, an offline file names the disks to plug in, a
//! failing disk names itself and the file) and logged in one place, by the adapter
//! that answers the kernel.

use std::borrow::Cow;
use std::fmt;

/// How loudly the log tells an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// What callers ask about and are told (no such name, not a folder, read-only...):
    /// nothing for the log, unless tracing is turned up to `trace`.
    Quiet,
    /// Something the user can fix, such as a disk to plug in.
    Warn,
    /// Something broken: a disk that fails, a damaged catalog.
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsError {
    pub errno: i32,
    pub level: Level,
    pub message: Cow<'static, str>,
}

impl FsError {
    pub fn new(errno: i32, level: Level, message: impl Into<Cow<'static, str>>) -> FsError {
        FsError {
            errno,
            level,
            message: message.into(),
        }
    }

    /// An answer the caller expects to get now and then, not worth a log line.
    pub fn quiet(errno: i32, message: impl Into<Cow<'static, str>>) -> FsError {
        FsError::new(errno, Level::Quiet, message)
    }

    pub fn not_found() -> FsError {
        FsError::quiet(libc::ENOENT, "no such file or folder")
    }

    pub fn read_only() -> FsError {
        FsError::quiet(libc::EROFS, "the mount is read-only")
    }

    /// Content that cannot be served as the catalog describes it, or a disk that
    /// failed with no other copy to turn to.
    pub fn io(message: impl Into<Cow<'static, str>>) -> FsError {
        FsError::new(libc::EIO, Level::Error, message)
    }

    /// A file whose content is on no connected disk: "No medium found", and a line
    /// naming the disks that hold it (`logged`: whether that line is due now; it is
    /// not repeated for every open).
    pub fn offline(path: &str, holders: &[String], logged: bool) -> FsError {
        let message = if holders.is_empty() {
            format!("{path} is not on any disk yet: back it up with `dsbfs backup DISK`")
        } else {
            format!("{path} is offline: plug in disk {}", holders.join(" or "))
        };
        let level = if logged { Level::Warn } else { Level::Quiet };
        FsError::new(libc::ENOMEDIUM, level, message)
    }

    /// ENOMEDIUM for an old version whose content no disk holds: it changed or went at
    /// the source before any backup copied it, so no backup will.
    pub fn never_backed_up(path: &str, logged: bool) -> FsError {
        let level = if logged { Level::Warn } else { Level::Quiet };
        FsError::new(
            libc::ENOMEDIUM,
            level,
            format!(
                "{path} is an old version that no disk holds: it changed at the source before a backup copied it, so it cannot be read"
            ),
        )
    }

    /// The catalog failed while `doing` something. Its cause picks the errno: a
    /// shortage worth trying again after (memory, descriptors, a catalog locked by a
    /// writer) keeps its own; anything else means the catalog cannot be read (EIO),
    /// whatever the system said while reading it.
    pub fn catalog(doing: &str, e: anyhow::Error) -> FsError {
        let message = format!("{doing}: {e:#}");
        for cause in e.chain() {
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                return match io.raw_os_error() {
                    Some(n @ (libc::ENOMEM | libc::EMFILE | libc::ENFILE | libc::EAGAIN)) => {
                        FsError::new(n, Level::Error, message)
                    }
                    _ => FsError::io(message),
                };
            }
            if let Some(rusqlite::Error::SqliteFailure(f, _)) =
                cause.downcast_ref::<rusqlite::Error>()
            {
                return match f.code {
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                        FsError::new(libc::EAGAIN, Level::Warn, message)
                    }
                    rusqlite::ErrorCode::OutOfMemory => {
                        FsError::new(libc::ENOMEM, Level::Error, message)
                    }
                    _ => FsError::io(message),
                };
            }
        }
        FsError::io(message)
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            self.message,
            std::io::Error::from_raw_os_error(self.errno)
        )
    }
}

impl std::error::Error for FsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_names_the_disks_to_plug_in_once() {
        let e = FsError::offline("/a.jpg", &["red".into(), "blue".into()], true);
        assert_eq!(e.errno, libc::ENOMEDIUM);
        assert_eq!(e.level, Level::Warn);
        assert_eq!(e.message, "/a.jpg is offline: plug in disk red or blue");
        assert_eq!(FsError::offline("/a.jpg", &[], false).level, Level::Quiet);
        assert!(
            FsError::offline("/a.jpg", &[], true)
                .message
                .contains("not on any disk yet")
        );
    }

    #[test]
    fn catalog_errors_take_their_errno_from_the_cause() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        let e = FsError::catalog("looking up a name", anyhow::Error::new(busy));
        assert_eq!((e.errno, e.level), (libc::EAGAIN, Level::Warn));
        assert!(e.message.starts_with("looking up a name: "), "{e}");
        let corrupt = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            None,
        );
        let e = FsError::catalog("listing", anyhow::Error::new(corrupt).context("page 3"));
        assert_eq!((e.errno, e.level), (libc::EIO, Level::Error));
        let full = std::io::Error::from_raw_os_error(libc::EMFILE);
        let e = FsError::catalog("opening", anyhow::Error::new(full).context("a connection"));
        assert_eq!((e.errno, e.level), (libc::EMFILE, Level::Error));
        // Not "no such file" for a file the tree has: the catalog cannot be read.
        let gone = std::io::Error::from_raw_os_error(libc::ENOENT);
        let e = FsError::catalog("opening", anyhow::Error::new(gone));
        assert_eq!((e.errno, e.level), (libc::EIO, Level::Error));
        let e = FsError::catalog("counting", anyhow::anyhow!("no root folder"));
        assert_eq!((e.errno, e.level), (libc::EIO, Level::Error));
    }
}
