//! Change detection: pure functions from what the catalog recorded and what the
//! filesystem says now to what the scan must do.

use crate::catalog::{Kind, NodeAttr};
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

/// What a scan does with a regular file it finds.
#[derive(Debug, PartialEq, Eq)]
pub enum FileChange {
    /// Same size, mtime, ctime, inode and device: trust the recorded hash.
    Unchanged,
    /// New, or something changed: hash it.
    Hash,
}

/// Decides whether a file must be re-hashed. ctime is part of the test because a rewrite
/// that keeps the size and puts the old mtime back (or lands in the same second)
/// still moves ctime, which no user can set.
pub fn file_change(recorded: Option<&NodeAttr>, now: &NodeAttr) -> FileChange {
    match recorded {
        Some(r)
            if r.kind == Kind::File
                && r.size == now.size
                && r.mtime_ns == now.mtime_ns
                && r.ctime_ns == now.ctime_ns
                && r.ino == now.ino
                && r.dev == now.dev =>
        {
            FileChange::Unchanged
        }
        _ => FileChange::Hash,
    }
}

/// True when what the mount shows of a path (kind, mode, owner, mtime, size, link target)
/// differs, so a new version is needed.
pub fn visible_change(recorded: &NodeAttr, now: &NodeAttr) -> bool {
    recorded.kind != now.kind
        || recorded.mode != now.mode
        || recorded.uid != now.uid
        || recorded.gid != now.gid
        || recorded.mtime_ns != now.mtime_ns
        || recorded.size != now.size
        || recorded.target != now.target
}

pub fn kind_of(meta: &Metadata) -> Option<Kind> {
    let ft = meta.file_type();
    if ft.is_dir() {
        Some(Kind::Dir)
    } else if ft.is_file() {
        Some(Kind::File)
    } else if ft.is_symlink() {
        Some(Kind::Symlink)
    } else {
        None
    }
}

/// The attributes of a file as the catalog records them. Folders record size 0, since
/// their st_size differs between filesystems and means nothing to users.
pub fn attr_of(meta: &Metadata, kind: Kind, target: Option<Vec<u8>>) -> NodeAttr {
    NodeAttr {
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        size: if kind == Kind::Dir { 0 } else { meta.size() },
        target,
        dev: meta.dev(),
        ino: meta.ino(),
        nlink: meta.nlink() as u32,
        ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> NodeAttr {
        NodeAttr {
            kind: Kind::File,
            mode: 0o644,
            uid: 1000,
            gid: 1000,
            mtime_ns: 1_700_000_000_123_456_789,
            size: 100,
            target: None,
            dev: 2049,
            ino: 77,
            nlink: 1,
            ctime_ns: 1_700_000_000_123_456_789,
        }
    }

    #[test]
    fn identical_stat_is_unchanged() {
        assert_eq!(file_change(Some(&file()), &file()), FileChange::Unchanged);
    }

    #[test]
    fn new_file_is_hashed() {
        assert_eq!(file_change(None, &file()), FileChange::Hash);
    }

    #[test]
    fn same_size_same_mtime_rewrite_is_caught_by_ctime() {
        let mut now = file();
        now.ctime_ns += 1;
        assert_eq!(file_change(Some(&file()), &now), FileChange::Hash);
    }

    #[test]
    fn any_of_size_mtime_inode_device_triggers_a_hash() {
        for change in [
            |a: &mut NodeAttr| a.size += 1,
            |a: &mut NodeAttr| a.mtime_ns += 1,
            |a: &mut NodeAttr| a.ino += 1,
            |a: &mut NodeAttr| a.dev += 1,
        ] {
            let mut now = file();
            change(&mut now);
            assert_eq!(file_change(Some(&file()), &now), FileChange::Hash);
        }
    }

    #[test]
    fn a_folder_that_became_a_file_is_hashed() {
        let mut old = file();
        old.kind = Kind::Dir;
        assert_eq!(file_change(Some(&old), &file()), FileChange::Hash);
    }

    #[test]
    fn visible_change_ignores_ctime_and_inode_but_not_mode() {
        let mut now = file();
        now.ctime_ns += 5;
        now.ino += 1;
        assert!(!visible_change(&file(), &now));
        now.mode = 0o600;
        assert!(visible_change(&file(), &now));
    }
}
