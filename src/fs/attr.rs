//! From catalog nodes to what the kernel sees: attributes, file types, and the checks
//! the kernel would do itself.

use crate::catalog::Kind;
use crate::catalog::view::Node;
use fuser::{FileAttr, FileType, INodeNo};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The block size reported by `stat`.
pub const BLKSIZE: u32 = 4096;

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
        blocks: n.size.div_ceil(512),
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
        blksize: BLKSIZE,
        flags: 0,
    }
}

/// A name the tree may show. A catalog from an untrusted disk could hold anything;
/// names with `/` or NUL, empty names and `.`/`..` are never shown.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}

/// `access(2)` as the kernel decides it for mode bits (read-only: write is refused).
pub fn access_allowed(n: &Node, uid: u32, gids: &[u32], mask: i32) -> Result<(), i32> {
    if mask & libc::W_OK != 0 {
        return Err(libc::EROFS);
    }
    let want = mask & (libc::R_OK | libc::X_OK);
    if want == 0 {
        return Ok(());
    }
    let mode = n.mode;
    if uid == 0 {
        // Root may read anything, and execute anything that someone may execute.
        if want & libc::X_OK != 0 && n.kind != Kind::Dir && mode & 0o111 == 0 {
            return Err(libc::EACCES);
        }
        return Ok(());
    }
    let bits = if uid == n.uid {
        (mode >> 6) & 7
    } else if gids.contains(&n.gid) {
        (mode >> 3) & 7
    } else {
        mode & 7
    } as i32;
    // R_OK = 4, X_OK = 1 match the rwx bit positions.
    if bits & want == want {
        Ok(())
    } else {
        Err(libc::EACCES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(kind: Kind, mode: u32) -> Node {
        Node {
            ino: 7,
            entry: 7,
            parent: 1,
            kind,
            mode,
            uid: 1000,
            gid: 100,
            mtime_ns: -1_500_000_001,
            size: 1025,
            nlink: 1,
            target: None,
            object: None,
        }
    }

    #[test]
    fn attributes_carry_mode_owner_size_and_nanosecond_times() {
        let a = file_attr(&node(Kind::File, 0o104_755));
        assert_eq!(a.perm, 0o4755);
        assert_eq!((a.uid, a.gid, a.size, a.blocks), (1000, 100, 1025, 3));
        assert_eq!(a.kind, FileType::RegularFile);
        assert_eq!(a.ino, INodeNo(7));
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

    #[test]
    fn unsafe_names_are_hidden() {
        assert!(valid_name(b"caf\xe9\nx"));
        for bad in [&b""[..], b".", b"..", b"a/b", b"a\0b"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(valid_name(b"..."));
    }

    #[test]
    fn access_follows_the_mode_bits_and_refuses_writes() {
        let f = node(Kind::File, 0o640);
        assert_eq!(access_allowed(&f, 1000, &[], libc::R_OK), Ok(()));
        assert_eq!(access_allowed(&f, 1000, &[], libc::W_OK), Err(libc::EROFS));
        assert_eq!(access_allowed(&f, 1000, &[], libc::X_OK), Err(libc::EACCES));
        assert_eq!(access_allowed(&f, 5, &[100], libc::R_OK), Ok(()));
        assert_eq!(access_allowed(&f, 5, &[7], libc::R_OK), Err(libc::EACCES));
        assert_eq!(access_allowed(&f, 0, &[], libc::R_OK), Ok(()));
        assert_eq!(access_allowed(&f, 0, &[], libc::X_OK), Err(libc::EACCES));
        assert_eq!(access_allowed(&f, 5, &[], libc::F_OK), Ok(()));
        let d = node(Kind::Dir, 0o700);
        assert_eq!(access_allowed(&d, 0, &[], libc::X_OK), Ok(()));
    }
}
