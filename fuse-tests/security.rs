//! Other users get what the owners and modes allow, nobody may write, and a catalog
//! or disk from someone else must not make dsbfs show odd names or read outside a
//! disk's object store.

use crate::common::*;
use crate::harness::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

#[test]
fn crafted_names_are_hidden_and_objects_never_follow_symlinks() {
    let w = World::new();
    let src = w.path("src");
    write(src.join("photo.jpg"), b"the real photo");
    write(src.join("victim.txt"), b"points elsewhere");
    w.ok([os("source"), os("add"), os("/"), src.as_os_str()]);
    w.ok(["scan"]);
    w.ok([
        os("disk"),
        os("add"),
        os("--create"),
        os("d1"),
        w.path("d1").as_os_str(),
    ]);
    w.ok(["backup", "d1"]);
    // Entries no filesystem can hold, visible in scan 1, each with a file version.
    let conn = rusqlite::Connection::open(&w.catalog).unwrap();
    for (id, name) in [
        (9001, &b".."[..]),
        (9002, b"."),
        (9003, b"a/b"),
        (9004, b"nul\0byte"),
        (9005, b""),
    ] {
        conn.execute(
            "INSERT INTO entries(id, parent, name) VALUES (?1, 1, ?2)",
            rusqlite::params![id, name],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO versions(entry, first_scan, kind, mode, uid, gid, mtime_ns, size)
             VALUES (?1, 1, 2, 420, 0, 0, 0, 0)",
            [id],
        )
        .unwrap();
    }
    drop(conn);
    // The disk's copy of victim.txt is replaced by a symlink to a file outside it.
    let hash = dsbfs::util::hex(&dsbfs::scan::hash::sha256(b"points elsewhere"));
    let object = w.path("d1/objects").join(&hash[..2]).join(&hash);
    std::fs::remove_file(&object).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &object).unwrap();

    let m = mount(&w, &w.catalog, "mnt", &[]);
    let mut names: Vec<_> = std::fs::read_dir(&m.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["photo.jpg", "victim.txt"]);
    assert_eq!(
        std::fs::read(m.path("photo.jpg")).unwrap(),
        b"the real photo"
    );
    let e = std::fs::read(m.path("victim.txt")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOMEDIUM), "{e}");
    // ".." still leads to the mount's parent, not to a crafted entry.
    assert_eq!(
        std::fs::metadata(m.path("..")).unwrap().ino(),
        std::fs::metadata(w.dir.path()).unwrap().ino()
    );
}

/// Runs `args` as user `uid` (group `uid`, no other groups).
fn as_user(uid: u32, args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .arg("--clear-groups")
        .args(args)
        .output()
        .expect("setpriv runs (scripts/test.sh installs util-linux)")
}

#[test]
fn other_users_get_what_owners_and_modes_allow_and_nobody_may_write() {
    let w = backed_up("1M");
    // Other users must be able to reach the mountpoint.
    std::fs::set_permissions(w.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let m = mount(&w, &w.catalog, "mnt", &["allow_other"]);
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    // A file all may read, owned by someone else.
    let read = as_user(65534, &[os("cat"), m.path("readonly.txt").as_os_str()]);
    assert!(read.status.success(), "{}", stderr(&read));
    assert_eq!(read.stdout, b"read only");
    // The owner's private file and folder: theirs alone.
    for args in [
        [os("cat"), m.path("private/secret.txt").as_os_str()],
        [os("ls"), m.path("private").as_os_str()],
    ] {
        let denied = as_user(65534, &args);
        assert!(!denied.status.success(), "{args:?}");
        assert!(
            stderr(&denied).contains("Permission denied"),
            "{}",
            stderr(&denied)
        );
    }
    let owner = as_user(1000, &[os("cat"), m.path("private/secret.txt").as_os_str()]);
    assert_eq!(owner.stdout, b"only the owner", "{}", stderr(&owner));
    // Writing is refused to everybody, root included.
    for (prog, args) in [
        ("touch", vec![m.path("new.txt")]),
        ("mkdir", vec![m.path("new-folder")]),
        ("rm", vec![m.path("readonly.txt")]),
        (
            "mv",
            vec![m.path("docs/notes.txt"), m.path("docs/moved.txt")],
        ),
        ("chmod", vec!["777".into(), m.path("docs/notes.txt")]),
        ("truncate", vec!["-s0".into(), m.path("docs/notes.txt")]),
    ] {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let out = tool(prog, &args);
        assert!(!out.status.success(), "{prog} {args:?}");
        assert!(
            stderr(&out).contains("Read-only file system"),
            "{prog}: {}",
            stderr(&out)
        );
    }
    let e = std::fs::OpenOptions::new()
        .append(true)
        .open(m.path("docs/notes.txt"))
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EROFS));
}
