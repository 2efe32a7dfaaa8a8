//! A catalog or disk from someone else must not make dsbfs show odd names or read
//! outside a disk's object store.

use crate::common::*;
use crate::harness::*;
use std::os::unix::fs::MetadataExt;

#[test]
fn crafted_names_are_hidden_and_objects_never_follow_symlinks() {
    let w = World::new();
    let src = w.path("src");
    write(src.join("photo.jpg"), b"the real photo");
    write(src.join("victim.txt"), b"points elsewhere");
    w.ok([os("source"), os("add"), os("/"), src.as_os_str()]);
    w.ok(["scan"]);
    w.ok([os("disk"), os("add"), os("d1"), w.path("d1").as_os_str()]);
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
