//! Whose fault an error is: what the user typed wrong is a usage error (exit 2, one line
//! saying what to do), what went wrong while working is a failure (exit 1) that keeps
//! its cause.

mod common;

use common::*;

/// Runs dsbfs, insists on exit code `code` and one line on stderr; returns that line.
fn fails(w: &World, code: i32, args: &[&str]) -> String {
    let out = w.run(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "dsbfs {args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err.trim_end().to_owned()
}

fn world_with_disk() -> World {
    let w = World::new();
    write(w.path("src/a.txt"), "a");
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok(["scan", "-q"]);
    w.ok(["disk", "add", "d", w.path("d").to_str().unwrap(), "-q"]);
    w
}

#[test]
fn an_unknown_disk_name_is_a_usage_error_that_says_where_to_look() {
    let w = world_with_disk();
    let dest = w.path("dest");
    for args in [
        &["disk", "set", "nosuch", "--size", "1G"][..],
        &["disk", "rename", "nosuch", "other"],
        &["disk", "drop", "nosuch"],
        &["disk", "remove", "nosuch"],
        &["disk", "discover", "nosuch", "/"],
        &["status", "--simulate-drop", "nosuch"],
        &["backup", "nosuch"],
        &["verify", "nosuch"],
        &["ls", "--on", "nosuch"],
        &["ls", "--not-on", "nosuch"],
        &["restore", dest.to_str().unwrap(), "--from", "nosuch"],
    ] {
        assert_eq!(
            fails(&w, 2, args),
            "dsbfs: no disk is called \"nosuch\"; see `dsbfs disk list`",
            "dsbfs {args:?}"
        );
    }
    assert_eq!(
        fails(&w, 2, &["source", "remove", "/nope"]),
        "dsbfs: no source is mapped at /nope; see `dsbfs source list`"
    );
    w.ok(["disk", "remove", "d"]);
}

/// Overwrites the page that holds the `disks` table with bytes SQLite cannot read.
fn corrupt_disks_table(catalog: &std::path::Path) {
    let conn = rusqlite::Connection::open(catalog).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    let root: i64 = conn
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE type = 'table' AND name = 'disks'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(conn);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(catalog)
        .unwrap();
    std::os::unix::fs::FileExt::write_all_at(
        &file,
        &vec![0xff; page_size as usize],
        ((root - 1) * page_size) as u64,
    )
    .unwrap();
}

#[test]
fn a_catalog_that_cannot_be_read_is_a_failure_with_its_cause_not_a_usage_error() {
    let w = world_with_disk();
    corrupt_disks_table(&w.catalog);
    for args in [
        &["disk", "remove", "d"][..],
        &["disk", "set", "d", "--size", "1G"],
        &["ls", "--on", "d"],
    ] {
        let err = fails(&w, 1, args);
        assert!(
            err.starts_with(
                "dsbfs: cannot look up disk d in the catalog: database disk image is malformed"
            ),
            "dsbfs {args:?}: {err}"
        );
    }
}
