//! What the tree may show and who may read what: the checks the kernel would do
//! itself, on catalog nodes that may come from an untrusted disk.

use crate::catalog::Kind;
use crate::catalog::view::Node;

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
pub(super) mod tests {
    use super::*;

    /// A node for tests: entry 7 in the root, owned by 1000:100, 1025 bytes.
    pub fn node(kind: Kind, mode: u32) -> Node {
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
