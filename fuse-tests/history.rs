//! Past snapshots through the mount: `-o snapshot=` shows an old tree as it was, byte for
//! byte, and `-o history` shows every snapshot side by side, with `latest`.

use crate::common::*;
use crate::harness::*;
use std::path::Path;

/// The rich tree backed up to d1; then a file deleted, one overwritten and a folder
/// removed at the source, scanned and backed up again. Returns the world and a copy
/// (`cp -a`) of the first tree at `old`.
fn changed_after_a_backup() -> World {
    let w = backed_up("1G");
    let (src, old) = (w.path("src"), w.path("old"));
    run_ok("cp", &[os("-a"), src.as_os_str(), old.as_os_str()]);
    std::fs::remove_file(src.join("docs/empty.txt")).unwrap();
    std::fs::write(src.join("docs/notes.txt"), b"overwritten by mistake\n").unwrap();
    std::fs::remove_dir_all(src.join("photos/2023")).unwrap();
    w.ok(["scan"]);
    w.ok(["backup", "d1"]);
    w
}

/// `rsync -a -n -i -c` from `a` to `b`: what it would change (nothing when equal).
fn rsync_differences(a: &Path, b: &Path) -> String {
    let out = run_ok(
        "rsync",
        &[
            os("-a"),
            os("-n"),
            os("-i"),
            os("-c"),
            os("-H"),
            format!("{}/", a.display()).as_ref(),
            format!("{}/", b.display()).as_ref(),
        ],
    );
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_past_snapshot_mounts_as_the_tree_it_was() {
    let w = changed_after_a_backup();
    let m = mount(&w, &w.catalog, "mnt", &["snapshot=1"]);
    assert_eq!(rsync_differences(&w.path("old"), &m.dir), "");
    assert_eq!(rsync_differences(&m.dir, &w.path("old")), "");
    run_ok(
        "diff",
        &[
            os("-r"),
            os("--no-dereference"),
            w.path("old").as_os_str(),
            m.dir.as_os_str(),
        ],
    );
    assert_eq!(tree_signature(&m.dir), tree_signature(&w.path("old")));
    assert!(m.log_text().contains("(snapshot 1)"), "{}", m.log_text());
    // The default mount is the latest snapshot.
    let now = mount(&w, &w.catalog, "now", &[]);
    assert_eq!(rsync_differences(&w.path("src"), &now.dir), "");
    assert!(!now.path("photos/2023").exists());
    // A date picks the last snapshot taken at or before it.
    let dated = mount(&w, &w.catalog, "dated", &["snapshot=2999-12-31"]);
    assert_eq!(rsync_differences(&w.path("src"), &dated.dir), "");
}

#[test]
fn history_holds_every_snapshot_and_latest() {
    let w = changed_after_a_backup();
    let m = mount(&w, &w.catalog, "mnt", &["history"]);
    let ls = run_ok("ls", &[os("-1"), m.dir.as_os_str()]);
    let names: Vec<String> = String::from_utf8(ls)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names[2], "latest");
    assert_eq!(
        std::fs::read_link(m.path("latest")).unwrap(),
        Path::new(&names[1])
    );
    assert_eq!(rsync_differences(&w.path("old"), &m.path(&names[0])), "");
    assert_eq!(rsync_differences(&w.path("src"), &m.path(&names[1])), "");
    assert_eq!(rsync_differences(&w.path("src"), &m.path("latest")), "");
    // cp -a of an old folder out of the history gives it back as it was.
    let out = w.path("restored");
    run_ok(
        "cp",
        &[
            os("-a"),
            m.path(&format!("{}/photos", names[0])).as_os_str(),
            out.as_os_str(),
        ],
    );
    assert_eq!(rsync_differences(&w.path("old/photos"), &out), "");
    // find walks all of it; inodes are unique within the mount.
    let listed = run_ok("find", &[m.dir.as_os_str(), os("-printf"), os("%i\\n")]);
    let mut inos: Vec<&str> = std::str::from_utf8(&listed).unwrap().lines().collect();
    let all = inos.len();
    inos.sort();
    inos.dedup();
    // Hard links share an inode within a snapshot (docs/notes.txt and notes-link.txt).
    assert_eq!(inos.len(), all - 2, "inodes repeated across snapshots");
    // Read-only like every dsbfs mount.
    let e = std::fs::write(m.path(&format!("{}/new.txt", names[0])), b"x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EROFS));
}

#[test]
fn an_old_version_never_backed_up_is_named_in_the_log_without_asking_for_a_backup() {
    let w = World::new();
    write(w.path("src/a.txt"), b"first");
    w.ok([os("source"), os("add"), os("/"), w.path("src").as_os_str()]);
    w.ok(["scan"]);
    write(w.path("src/a.txt"), b"second");
    w.ok(["scan"]);
    w.ok([
        os("disk"),
        os("add"),
        os("--create"),
        os("d1"),
        w.path("d1").as_os_str(),
    ]);
    w.ok(["backup", "d1"]);
    let m = mount(&w, &w.catalog, "mnt", &["snapshot=1"]);
    let e = std::fs::read(m.path("a.txt")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOMEDIUM));
    let log = m.log_text();
    assert!(
        log.contains("/a.txt is an old version that no disk holds"),
        "{log}"
    );
    assert!(!log.contains("back it up"), "{log}");
}

#[test]
fn snapshot_and_history_options_are_checked_before_mounting() {
    let w = changed_after_a_backup();
    let dir = w.path("mnt");
    std::fs::create_dir_all(&dir).unwrap();
    for (opts, says) in [
        ("snapshot=9", "there is no snapshot 9"),
        ("snapshot=1999-01-01", "no snapshot was taken at or before"),
        ("history,snapshot=1", "exclude each other"),
        ("snapshot", "needs a value"),
    ] {
        let out = w
            .command()
            .args([
                os("mount"),
                w.catalog.as_os_str(),
                dir.as_os_str(),
                os("-o"),
                os(opts),
            ])
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(0), "{opts}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{opts}: {err}");
        assert!(!is_mounted(&dir), "{opts}");
    }
}
