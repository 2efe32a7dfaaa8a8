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
    w.ok([
        "disk",
        "add",
        "--create",
        "d",
        w.path("d").to_str().unwrap(),
        "-q",
    ]);
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

/// Runs dsbfs on the catalog file `catalog`, insisting on exit code `code` and one line
/// on stderr; returns that line.
fn fails_on(w: &World, catalog: &std::path::Path, code: i32, args: &[&str]) -> String {
    let out = w
        .command()
        .env("DSBFS_CATALOG", catalog)
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "dsbfs {args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err.trim_end().to_owned()
}

/// The files SQLite makes beside a database it reads in WAL mode.
fn beside(catalog: &std::path::Path) -> Vec<std::path::PathBuf> {
    ["-wal", "-shm", "-journal"]
        .iter()
        .map(|s| {
            let mut p = catalog.as_os_str().to_owned();
            p.push(s);
            std::path::PathBuf::from(p)
        })
        .filter(|p| p.exists())
        .collect()
}

#[test]
fn hostile_catalog_files_are_refused_in_one_line_and_nothing_is_written_beside_them() {
    let w = World::new();
    let garbage = w.path("notes.db");
    write(
        &garbage,
        "just some text, long enough to pass for a file header, not SQLite",
    );
    let foreign = w.path("other.sqlite");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .unwrap();
    let newer = w.path("newer.db");
    let out = w
        .command()
        .env("DSBFS_CATALOG", &newer)
        .args(["source", "list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute_batch("PRAGMA user_version = 999")
        .unwrap();
    for (file, says) in [
        (&garbage, "is not a dsbfs catalog"),
        (&foreign, "is not a dsbfs catalog"),
        (&newer, "was written by a newer dsbfs (format 999"),
    ] {
        assert_eq!(beside(file), Vec::<std::path::PathBuf>::new());
        let before = std::fs::read(file).unwrap();
        for args in [
            &["status"][..],
            &["ls"],
            &["where", "/x"],
            &["source", "list"],
            &["scan"],
        ] {
            let err = fails_on(&w, file, 1, args);
            assert!(
                err.contains(says),
                "dsbfs {args:?} on {}: {err}",
                file.display()
            );
            assert_eq!(
                std::fs::read(file).unwrap(),
                before,
                "{} changed",
                file.display()
            );
            assert_eq!(
                beside(file),
                Vec::<std::path::PathBuf>::new(),
                "dsbfs {args:?}"
            );
        }
    }
}

#[test]
fn an_empty_catalog_file_is_no_catalog_until_a_command_that_writes_makes_one() {
    let w = World::new();
    write(&w.catalog, "");
    for args in [&["status"][..], &["ls"]] {
        let err = fails_on(&w, &w.catalog, 1, args);
        assert_eq!(
            err,
            format!(
                "dsbfs: {} is empty, not a dsbfs catalog yet: add a source first (`dsbfs source add`) or give the path of a dsbfs catalog",
                w.catalog.display()
            )
        );
        assert_eq!(std::fs::metadata(&w.catalog).unwrap().len(), 0);
        assert_eq!(beside(&w.catalog), Vec::<std::path::PathBuf>::new());
    }
    write(w.path("src/a.txt"), "a");
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok(["scan", "-q"]);
    assert!(w.ok(["ls"]).contains("/a.txt"));
}

#[test]
fn a_catalog_of_an_older_format_says_how_to_upgrade_it_and_that_works() {
    let w = World::new();
    // Format 2, before history, as dsbfs wrote it (see tests/migration.rs).
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/catalog-v2.db"),
        &w.catalog,
    )
    .unwrap();
    let err = fails(&w, 1, &["status"]);
    assert_eq!(
        err,
        format!(
            "dsbfs: the catalog {} is in an older format (2); run `dsbfs source list` once to upgrade it",
            w.catalog.display()
        )
    );
    assert!(w.ok(["source", "list"]).contains("/tmp/"));
    let out = w.run(["status"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "the fixture's files lack copies"
    );
}
