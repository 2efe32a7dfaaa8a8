//! `dsbfs source` and `dsbfs scan` on real temporary trees.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn scan_json(w: &World) -> serde_json::Value {
    w.json(["scan", "--json"])
}

#[test]
fn odd_names_symlinks_empty_folders_and_specials_are_recorded_faithfully() {
    let w = World::new();
    let src = w.path("src");
    for name in odd_names() {
        write(bytes_path(&src, &name), &name);
    }
    std::fs::create_dir_all(src.join("empty/deeper")).unwrap();
    std::os::unix::fs::symlink("../target with space", src.join("link")).unwrap();
    nix::unistd::mkfifo(
        &src.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    w.ok([
        "source".as_ref(),
        "add".as_ref(),
        "/".as_ref(),
        src.as_os_str(),
    ]);
    let s = scan_json(&w);
    assert_eq!(s["new"]["files"], 5, "{s}");
    assert_eq!(s["symlinks"], 1);
    assert_eq!(s["skipped_special"], 1);

    let mut listed = w.ls_paths();
    listed.sort();
    let mut expected: Vec<Vec<u8>> = odd_names()
        .into_iter()
        .map(|n| [b"/".to_vec(), n].concat())
        .collect();
    expected.push(b"/link".to_vec());
    expected.sort();
    assert_eq!(listed, expected);
    let status = w.json(["status", "--json"]);
    assert_eq!(status["folders"], 3, "{status}");
}

#[test]
fn a_second_scan_of_an_unchanged_tree_hashes_nothing() {
    let w = World::new();
    for i in 0..50 {
        write(
            w.path(&format!("src/d{}/f{i}", i % 5)),
            format!("content {i}"),
        );
    }
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    let first = scan_json(&w);
    assert_eq!(first["hashed"]["files"], 50);
    let second = scan_json(&w);
    assert_eq!(second["hashed"]["files"], 0);
    assert_eq!(second["unchanged"]["files"], 50);
    assert_eq!(second["new"]["files"], 0);
}

#[test]
fn a_rewrite_that_keeps_size_and_mtime_is_detected() {
    let w = World::new();
    let f = w.path("src/photo.jpg");
    write(&f, "original bytes!!");
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    scan_json(&w);
    let before = w.json(["ls", "--json"]);
    let old_mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
    write(&f, "modified bytes!!");
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(old_mtime)
        .unwrap();
    assert_eq!(
        std::fs::metadata(&f).unwrap().modified().unwrap(),
        old_mtime
    );
    let s = scan_json(&w);
    assert_eq!(s["changed"]["files"], 1, "{s}");
    let after = w.json(["ls", "--json"]);
    assert_ne!(before[0]["sha256"], after[0]["sha256"]);
    let expected = sha256_hex(b"modified bytes!!");
    assert_eq!(after[0]["sha256"], expected.as_str());
}

#[test]
fn deleted_files_leave_the_tree_but_not_the_history() {
    let w = World::new();
    write(w.path("src/keep.txt"), "keep");
    write(w.path("src/gone/old.txt"), "old");
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    scan_json(&w);
    std::fs::remove_dir_all(w.path("src/gone")).unwrap();
    let s = scan_json(&w);
    assert_eq!(s["deleted"]["files"], 1, "{s}");
    assert_eq!(w.ls_paths(), vec![b"/keep.txt".to_vec()]);
    let ended: i64 = read_only(&w.catalog)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM versions v JOIN entries e ON e.id = v.entry
             WHERE e.name = CAST('old.txt' AS BLOB) AND v.end_scan = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(ended, 1, "the old version lives from scan 1 to scan 1");
}

#[test]
fn hard_links_are_hashed_once_and_recorded_as_one_content() {
    let w = World::new();
    write(w.path("src/a"), vec![7u8; 100_000]);
    std::fs::hard_link(w.path("src/a"), w.path("src/b")).unwrap();
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    let s = scan_json(&w);
    assert_eq!(s["new"]["files"], 2);
    assert_eq!(s["hashed"]["files"], 1, "{s}");
    let ls = w.json(["ls", "--json"]);
    assert_eq!(ls[0]["sha256"], ls[1]["sha256"]);
}

#[test]
fn nested_mappings_build_one_virtual_tree() {
    let w = World::new();
    write(w.path("data/notes.txt"), "n");
    write(
        w.path("data/photos/shadowed.jpg"),
        "hidden by the nested source",
    );
    write(w.path("pics/a.jpg"), "a");
    write(w.path("music/x.flac"), "x");
    w.ok(["source", "add", "/", w.path("data").to_str().unwrap()]);
    w.ok(["source", "add", "/photos", w.path("pics").to_str().unwrap()]);
    w.ok([
        "source",
        "add",
        "/media/audio",
        w.path("music").to_str().unwrap(),
    ]);
    scan_json(&w);
    let paths = w.ls_paths();
    let text: Vec<String> = paths
        .iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    assert!(text.contains(&"/photos/a.jpg".to_string()), "{text:?}");
    assert!(
        text.contains(&"/media/audio/x.flac".to_string()),
        "{text:?}"
    );
    assert!(text.contains(&"/notes.txt".to_string()));
    assert!(!text.iter().any(|p| p.contains("shadowed")), "{text:?}");
}

#[test]
fn excludes_and_copies_rules_apply_below_their_path() {
    let w = World::new();
    write(w.path("src/a.txt"), "a");
    write(w.path("src/cache/x"), "x");
    write(w.path("src/raw/b.cr2"), "b");
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    scan_json(&w);
    w.ok([
        "source",
        "set",
        "/",
        "--exclude",
        "/cache",
        "--exclude",
        "*.tmp",
    ]);
    w.ok(["source", "set", "/raw", "--copies", "3"]);
    write(w.path("src/junk.tmp"), "junk");
    let s = scan_json(&w);
    assert_eq!(s["deleted"]["files"], 1, "{s}");
    let ls = w.json(["ls", "--json"]);
    let rows: Vec<(String, u64)> = ls
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_string(),
                r["wanted"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, vec![("/a.txt".into(), 2), ("/raw/b.cr2".into(), 3)]);
}

#[test]
fn symlinks_are_not_followed_unless_the_source_says_so_and_loops_stop() {
    let w = World::new();
    write(w.path("outside/o.txt"), "o");
    write(w.path("src/in.txt"), "i");
    std::os::unix::fs::symlink(w.path("outside"), w.path("src/to-outside")).unwrap();
    std::os::unix::fs::symlink("..", w.path("src/loop")).unwrap();
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    scan_json(&w);
    let plain: Vec<String> = w
        .ls_paths()
        .iter()
        .map(|p| String::from_utf8_lossy(p).into())
        .collect();
    assert!(
        plain.contains(&"/to-outside".to_string()) && !plain.iter().any(|p| p.contains("o.txt"))
    );

    let w2 = World::new();
    w2.ok([
        "source",
        "add",
        "--follow-symlinks",
        "/",
        w.path("src").to_str().unwrap(),
    ]);
    let s = w2.json(["scan", "--json"]);
    let followed: Vec<String> = w2
        .ls_paths()
        .iter()
        .map(|p| String::from_utf8_lossy(p).into())
        .collect();
    assert!(
        followed.contains(&"/to-outside/o.txt".to_string()),
        "{followed:?}"
    );
    assert!(s["errors"].to_string().contains("loop"), "{s}");
}

#[test]
fn unreadable_files_and_folders_are_counted_and_the_scan_goes_on() {
    let w = World::new();
    write(w.path("src/ok.txt"), "fine");
    write(w.path("src/secret.txt"), "private");
    write(w.path("src/locked/inner.txt"), "inner");
    std::fs::set_permissions(
        w.path("src/secret.txt"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    std::fs::set_permissions(w.path("src/locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd = as_unprivileged(&w);
    cmd.args(["source", "add", "/", w.path("src").to_str().unwrap()]);
    assert!(cmd.status().unwrap().success());
    let out = as_unprivileged(&w)
        .args(["scan", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["unreadable"], 2, "{s}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("secret.txt") && stderr.contains("locked"),
        "{stderr}"
    );
    let ls = as_unprivileged(&w)
        .args(["ls", "--print0"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&ls.stdout).contains("/ok.txt"));
    std::fs::set_permissions(w.path("src/locked"), std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_missing_source_drive_is_not_a_deletion() {
    let w = World::new();
    write(w.path("drive/a.txt"), "a");
    w.ok(["source", "add", "/ext", w.path("drive").to_str().unwrap()]);
    scan_json(&w);
    std::fs::rename(w.path("drive"), w.path("unplugged")).unwrap();
    let out = w.run(["scan", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["deleted"]["files"], 0, "{s}");
    assert_eq!(w.ls_paths(), vec![b"/ext/a.txt".to_vec()]);
}

#[test]
fn a_file_that_keeps_changing_while_hashed_is_not_recorded() {
    let w = World::new();
    let f = w.path("src/growing.log");
    write(&f, "");
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_len(512 << 20)
        .unwrap();
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let f = f.clone();
        std::thread::spawn(move || {
            use std::os::unix::fs::FileExt;
            let file = std::fs::File::options().write(true).open(&f).unwrap();
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                file.write_at(&i.to_le_bytes(), (i * 4096) % (512 << 20))
                    .unwrap();
                i += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let out = w.run(["scan", "--json"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["changed_while_hashing"], 1, "{s}");
    assert!(
        w.ls_paths().is_empty(),
        "a file with no trustworthy hash is not recorded"
    );
}

#[test]
fn a_scan_killed_midway_resumes_without_rehashing() {
    let w = World::new();
    // Sparse files cost no disk but take real time to hash.
    for i in 0..12 {
        let f = w.path(&format!("src/big{i:02}"));
        write(&f, format!("head {i}"));
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_len(256 << 20)
            .unwrap();
    }
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    let mut child = w.command().args(["scan"]).spawn().unwrap();
    wait_for_committed_files(&w, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let s = scan_json(&w);
    assert_eq!(s["resumed"], true, "{s}");
    let rehashed = s["hashed"]["files"].as_u64().unwrap();
    assert!(
        rehashed < 12,
        "resumed scan re-hashed {rehashed} of 12 files"
    );
    assert_eq!(w.ls_paths().len(), 12);
    let again = scan_json(&w);
    assert_eq!(again["hashed"]["files"], 0);
    assert_eq!(again["resumed"], false);
}

/// Waits until the running scan has committed at least one hashed file, then returns.
fn wait_for_committed_files(w: &World, child: &mut std::process::Child) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "scan never committed anything"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the scan finished before it could be killed"
        );
        if let Ok(conn) = read_only(&w.catalog) {
            let n: i64 = conn
                .query_row("SELECT count(*) FROM versions WHERE kind = 2", [], |r| {
                    r.get(0)
                })
                .unwrap_or(0);
            if n > 0 {
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn bad_source_arguments_get_one_clear_line_and_exit_2() {
    let w = World::new();
    std::fs::create_dir_all(w.path("src")).unwrap();
    let src = w.path("src");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["source", "add", "/x", "/definitely/missing"],
            "missing",
        ),
        (
            vec!["source", "add", "relative", src.to_str().unwrap()],
            "must start with /",
        ),
        (
            vec!["source", "add", "/a/../b", src.to_str().unwrap()],
            ". or ..",
        ),
        (vec!["source", "remove", "/nothing"], "no source"),
        (
            vec!["source", "set", "/nothing", "--copies", "3"],
            "not inside any source",
        ),
        (vec!["scan"], "no sources"),
    ];
    for (args, needle) in cases {
        let out = w.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    }
    w.ok(["source", "add", "/x", src.to_str().unwrap()]);
    let out = w.run(["source", "add", "/x", src.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_file_that_is_not_a_catalog_is_refused_and_left_unchanged() {
    let w = World::new();
    let foreign = w.path("notes.db");
    std::fs::write(&foreign, b"just some text, not SQLite at all").unwrap();
    let other_app = w.path("other.sqlite");
    rusqlite::Connection::open(&other_app)
        .unwrap()
        .execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .unwrap();
    for f in [&foreign, &other_app] {
        let before = std::fs::read(f).unwrap();
        let out = w
            .command()
            .env("DSBFS_CATALOG", f)
            .args(["status"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a dsbfs catalog"), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1);
        assert_eq!(
            std::fs::read(f).unwrap(),
            before,
            "{} was modified",
            f.display()
        );
    }
}

#[test]
fn a_catalog_from_a_newer_dsbfs_is_refused() {
    let w = World::new();
    w.ok(["source", "list"]);
    let c = rusqlite::Connection::open(&w.catalog).unwrap();
    c.execute_batch("PRAGMA user_version = 999").unwrap();
    drop(c);
    let out = w.run(["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("newer dsbfs"));
}

fn sha256_hex(data: &[u8]) -> String {
    dsbfs::util::hex(&dsbfs::scan::hash::sha256(data))
}

/// A dsbfs command run as an ordinary user, so permission bits apply even when tests run as root.
fn as_unprivileged(w: &World) -> Command {
    if is_root() {
        std::fs::set_permissions(w.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let _ = std::fs::set_permissions(w.path("src"), std::fs::Permissions::from_mode(0o755));
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", DSBFS])
            .env("DSBFS_CATALOG", &w.catalog);
        c
    } else {
        w.command()
    }
}
