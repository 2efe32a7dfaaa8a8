//! Catalog nodes as the kernel sees them: fuser's attributes and file types, for the
//! adapter (`fuse`).

use super::filesystem::BLOCK_SIZE;
use crate::catalog::Kind;
use crate::catalog::view::Node;
use fuser::{FileAttr, FileType, INodeNo};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The unit of `st_blocks`, whatever the block size.
const STAT_BLOCK: u64 = 512;

pub fn file_type(kind: Kind) -> FileType {
    match kind {
        Kind::Dir => FileType::Directory,
        Kind::File => FileType::RegularFile,
        Kind::Symlink => FileType::Symlink,
    }
}

/// Nanoseconds since the epoch (negative before 1970) as a `SystemTime`.
pub fn time(ns: i64) -> SystemTime {
    if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    }
}

/// The attributes of a node. atime and ctime are the mtime: the catalog does not keep
/// them, and a stable value keeps `rsync` and `make` from seeing changes that are not.
pub fn file_attr(n: &Node) -> FileAttr {
    let t = time(n.mtime_ns);
    FileAttr {
        ino: INodeNo(n.ino),
        size: n.size,
        blocks: n.size.div_ceil(STAT_BLOCK),
        atime: t,
        mtime: t,
        ctime: t,
        crtime: t,
        kind: file_type(n.kind),
        perm: (n.mode & 0o7777) as u16,
        nlink: n.nlink,
        uid: n.uid,
        gid: n.gid,
        rdev: 0,
        blksize: BLOCK_SIZE,
        flags: 0,
    }
}

/// The attributes of a name that does not exist: inode 0 tells the kernel to cache the
/// absence for the entry's TTL, so probes for `.hidden`, `.git` and the like are asked
/// once.
pub fn negative_attr() -> FileAttr {
    FileAttr {
        ino: INodeNo(0),
        size: 0,
        blocks: 0,
        atime: UNIX_EPOCH,
        mtime: UNIX_EPOCH,
        ctime: UNIX_EPOCH,
        crtime: UNIX_EPOCH,
        kind: FileType::RegularFile,
        perm: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: BLOCK_SIZE,
        flags: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::access::tests::node;

    #[test]
    fn attributes_carry_mode_owner_size_and_nanosecond_times() {
        let a = file_attr(&node(Kind::File, 0o104_755));
        assert_eq!(a.perm, 0o4755);
        assert_eq!((a.uid, a.gid, a.size, a.blocks), (1000, 100, 1025, 3));
        assert_eq!(a.kind, FileType::RegularFile);
        assert_eq!(a.ino, INodeNo(7));
        // The catalog keeps no atime nor ctime: both are the mtime, which never moves.
        assert!(a.atime == a.mtime && a.ctime == a.mtime && a.crtime == a.mtime);
        assert_eq!(
            UNIX_EPOCH.duration_since(a.mtime).unwrap(),
            Duration::new(1, 500_000_001)
        );
        assert_eq!(
            time(1_700_000_000_123_456_789)
                .duration_since(UNIX_EPOCH)
                .unwrap(),
            Duration::new(1_700_000_000, 123_456_789)
        );
    }
}
