//! History: a file deleted or overwritten at the source survives the next backup; the
//! retention policy, `forget`, `snapshots`, `versions` and `diff`.

mod common;

use common::*;
use std::path::Path;

fn sha(data: &[u8]) -> String {
    dsbfs::util::hex(&dsbfs::scan::hash::sha256(data))
}

/// Where a disk folder keeps the object with this content.
fn object(disk: &Path, content: &[u8]) -> std::path::PathBuf {
    let h = sha(content);
    disk.join("objects").join(&h[..2]).join(&h)
}

const REPORT: &[u8] = b"the quarterly report, first draft\n";
const NOTE_OLD: &[u8] = b"note: buy milk\n";
const NOTE_NEW: &[u8] = b"note: overwritten by mistake\n";
const A: &[u8] = b"folder/a: holiday photo\n";
const B: &[u8] = b"folder/b: another photo\n";
const KEEP: &[u8] = b"keep.txt never changes\n";

/// A tree backed up once to disk `d`; then report.txt deleted, note.md overwritten and
/// folder/ removed at the source, scanned and backed up again.
fn two_snapshots(w: &World) {
    write(w.path("src/report.txt"), REPORT);
    write(w.path("src/note.md"), NOTE_OLD);
    write(w.path("src/folder/a"), A);
    write(w.path("src/folder/b"), B);
    write(w.path("src/keep.txt"), KEEP);
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok(["scan", "-q"]);
    w.ok([
        "disk",
        "add",
        "--create",
        "d",
        w.path("d").to_str().unwrap(),
    ]);
    w.ok(["backup", "d", "-q"]);
    let orig = w.path("orig");
    tool_ok(
        "cp",
        &["-a".as_ref(), w.path("src").as_os_str(), orig.as_os_str()],
    );
    std::fs::remove_file(w.path("src/report.txt")).unwrap();
    std::fs::write(w.path("src/note.md"), NOTE_NEW).unwrap();
    std::fs::remove_dir_all(w.path("src/folder")).unwrap();
    w.ok(["scan", "-q"]);
}

#[test]
fn deleted_and_overwritten_files_survive_the_next_backup() {
    let w = World::new();
    two_snapshots(&w);
    let r = w.json(["backup", "d", "--json"]);
    assert_eq!(
        r["deleted"]["objects"], 0,
        "the backup deleted history: {r}"
    );
    let disk = w.path("d");
    for old in [REPORT, NOTE_OLD, A, B, KEEP, NOTE_NEW] {
        let p = object(&disk, old);
        assert_eq!(
            std::fs::read(&p).unwrap_or_default(),
            old,
            "{} missing on the disk",
            p.display()
        );
    }
    // Another backup changes nothing either.
    let r = w.json(["backup", "d", "--json"]);
    assert_eq!(
        (
            r["deleted"]["objects"].as_u64(),
            r["planned_copy"]["objects"].as_u64()
        ),
        (Some(0), Some(0))
    );
}

#[test]
fn snapshots_versions_and_diff_name_the_changes() {
    let w = World::new();
    two_snapshots(&w);
    let s = w.json(["snapshots", "--json"]);
    let s = s.as_array().unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(
        (s[0]["id"].as_i64(), s[1]["id"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(s[0]["files"], 5);
    assert_eq!(s[1]["files"], 2);
    assert_eq!(
        s[0]["bytes"].as_u64().unwrap() as usize,
        REPORT.len() + NOTE_OLD.len() + A.len() + B.len() + KEEP.len()
    );
    assert_eq!(
        (&s[1]["new"], &s[1]["changed"], &s[1]["deleted"]),
        (&0.into(), &1.into(), &3.into())
    );
    let t = s[1]["time"].as_str().unwrap();
    assert!(
        t.len() == 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T',
        "{t}"
    );
    let text = w.ok(["snapshots"]);
    assert!(
        text.lines().count() == 3 && text.contains("CHANGED"),
        "{text}"
    );

    let v = w.json(["versions", "/note.md", "--json"]);
    let v = v.as_array().unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0]["sha256"], sha(NOTE_OLD));
    assert_eq!(v[0]["snapshots"], serde_json::json!([1]));
    assert_eq!(v[0]["current"], false);
    assert_eq!(v[1]["sha256"], sha(NOTE_NEW));
    assert_eq!(v[1]["current"], true);
    let gone = w.json(["versions", "/report.txt", "--json"]);
    assert_eq!(gone[0]["current"], false);
    assert_eq!(gone.as_array().unwrap().len(), 1);
    let text = w.ok(["versions", "/note.md"]);
    assert!(
        text.contains("snapshots 1:") && text.contains("snapshots 2 (current)"),
        "{text}"
    );
    let missing = w.expect(2, ["versions", "/never.txt"]);
    assert!(missing.is_empty());

    let d = w.ok(["diff"]);
    assert_eq!(
        d.lines().collect::<Vec<_>>(),
        vec![
            "-    /folder",
            "-    /folder/a",
            "-    /folder/b",
            "M    /note.md",
            "-    /report.txt"
        ]
    );
    assert_eq!(w.ok(["diff", "1", "2"]), d);
    assert_eq!(
        w.ok(["diff", "2", "1"])
            .lines()
            .filter(|l| l.starts_with('+'))
            .count(),
        4
    );
    let j = w.json(["diff", "--json"]);
    assert_eq!(j["from"], 1);
    assert_eq!(j["changes"][3]["change"], "modified");
    assert!(
        w.ok(["diff", "--metadata"]).contains("U    /"),
        "the root folder's mtime moved"
    );
    w.expect(2, ["diff", "9"]);
}

#[test]
fn forget_drops_snapshots_and_the_next_backup_deletes_only_what_they_alone_held() {
    let w = World::new();
    two_snapshots(&w);
    w.ok(["backup", "d", "-q"]);
    let disk = w.path("d");
    let before = files_below(&disk);

    let dry = w.ok(["forget", "--keep-last", "1", "--dry-run"]);
    assert!(dry.contains("dry run: nothing was changed"), "{dry}");
    assert!(
        dry.contains("would release 6 versions and 4 contents"),
        "{dry}"
    );
    assert_eq!(w.json(["snapshots", "--json"]).as_array().unwrap().len(), 2);
    w.ok(["backup", "d", "-q"]);
    assert_eq!(files_below(&disk), before, "a dry run released nothing");

    let j = w.json(["forget", "--keep-last", "1", "--json"]);
    assert_eq!(j["forget"][0]["id"], 1);
    assert_eq!(j["keep"][0]["id"], 2);
    assert_eq!(j["released"]["objects"], 4);
    let s = w.json(["snapshots", "--json"]);
    assert_eq!(s.as_array().unwrap().len(), 1);
    assert_eq!(s[0]["new"], 2, "the oldest kept snapshot is all new");
    let r = w.json(["backup", "d", "--json"]);
    assert_eq!(r["deleted"]["objects"], 4);
    for gone in [REPORT, NOTE_OLD, A, B] {
        assert!(!object(&disk, gone).exists());
    }
    for kept in [KEEP, NOTE_NEW] {
        assert_eq!(std::fs::read(object(&disk, kept)).unwrap(), kept);
    }
    assert_eq!(w.expect(2, ["versions", "/report.txt"]), "");
    // The stored policy (the default) now keeps everything that is left.
    let j = w.json(["forget", "--json"]);
    assert_eq!(j["forget"].as_array().unwrap().len(), 0);
}

#[test]
fn the_policy_is_stored_and_shown() {
    let w = World::new();
    let p = w.ok(["policy"]);
    assert_eq!(
        p.trim(),
        "--keep-last 10 --keep-daily 30 --keep-weekly 13 --keep-monthly 24 --history-copies 1"
    );
    let p = w.ok([
        "policy",
        "--keep-last",
        "3",
        "--keep-within",
        "1y6m",
        "--history-copies",
        "2",
    ]);
    assert!(
        p.contains("--keep-last 3 --keep-within 1y6m --history-copies 2"),
        "{p}"
    );
    let j = w.json(["policy", "--json"]);
    assert_eq!(j["keep_last"], 3);
    assert_eq!(j["keep_daily"], serde_json::Value::Null);
    assert_eq!(j["history_copies"], 2);
    let out = w.run(["policy", "--keep-within", "3x"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines().next().unwrap().contains("is not a duration"),
        "{err}"
    );
    w.expect(2, ["policy", "--history-copies", "0"]);
    w.ok(["policy", "--reset"]);
    assert!(w.ok(["policy"]).starts_with("--keep-last 10"));
}

#[test]
fn a_mass_change_keeps_released_history_until_the_user_forgets() {
    let w = World::new();
    for i in 0..20 {
        write(w.path(&format!("src/f{i:02}")), format!("original {i}\n"));
    }
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok(["scan", "-q"]);
    w.ok([
        "disk",
        "add",
        "--create",
        "d",
        w.path("d").to_str().unwrap(),
    ]);
    w.ok(["backup", "d", "-q"]);
    // An ordinary edit, then a forget that releases its old version.
    write(w.path("src/f00"), "edited\n");
    w.ok(["scan", "-q"]);
    w.ok(["backup", "d", "-q"]);
    w.ok(["forget", "--keep-last", "1", "-q"]);
    assert!(object(&w.path("d"), b"original 0\n").exists());
    // Then something rewrites 12 of the 20 files.
    for i in 1..13 {
        write(w.path(&format!("src/f{i:02}")), format!("encrypted {i}\n"));
    }
    let out = w.run(["scan"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("changed 12 and removed 0 of 20 files (60%)"),
        "{err}"
    );
    assert!(w.ok(["snapshots"]).contains("until you run `dsbfs forget`"));
    let r = w.json(["backup", "d", "--json"]);
    assert_eq!(
        r["deleted"]["objects"], 0,
        "released history deleted under the guard"
    );
    assert!(object(&w.path("d"), b"original 0\n").exists());
    // The user looks, and forgets: the guard is lowered and the released copy goes.
    let f = w.ok(["forget"]);
    assert!(f.contains("the guard is lowered"), "{f}");
    let r = w.json(["backup", "d", "--json"]);
    assert_eq!(r["deleted"]["objects"], 1);
    assert!(!object(&w.path("d"), b"original 0\n").exists());
    assert!(
        object(&w.path("d"), b"original 1\n").exists(),
        "kept snapshot 2 holds it"
    );
}

#[test]
fn restore_and_where_read_a_past_snapshot() {
    let w = World::new();
    two_snapshots(&w);
    w.ok(["backup", "d", "-q"]);
    let out = w.path("out");
    w.ok(["restore", out.to_str().unwrap(), "--snapshot", "1", "-q"]);
    assert_eq!(tree_signature(&out), tree_signature(&w.path("orig")));
    let rsync = tool_ok(
        "rsync",
        &[
            "-a".as_ref(),
            "-n".as_ref(),
            "-i".as_ref(),
            "-c".as_ref(),
            format!("{}/", w.path("orig").display()).as_ref(),
            format!("{}/", out.display()).as_ref(),
        ],
    );
    assert!(rsync.is_empty(), "{}", String::from_utf8_lossy(&rsync));
    // The current tree is what a plain restore gives.
    let now = w.path("now");
    w.ok(["restore", now.to_str().unwrap(), "-q"]);
    assert_eq!(tree_signature(&now), tree_signature(&w.path("src")));
    // A pattern within a snapshot; a date names the last snapshot before it, which has
    // no /folder: the pattern matches nothing there, and that is said.
    let one = w.path("one");
    let said = w.run([
        "restore",
        one.to_str().unwrap(),
        "/folder",
        "--snapshot",
        "2999-01-01",
    ]);
    assert_eq!(said.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&said.stderr).contains("/folder matches nothing in snapshot 2")
    );
    assert!(
        !one.join("folder").exists(),
        "the latest snapshot has no folder"
    );
    w.ok([
        "restore",
        one.to_str().unwrap(),
        "/folder",
        "--snapshot",
        "1",
    ]);
    assert_eq!(std::fs::read(one.join("folder/a")).unwrap(), A);

    let wh = w.json(["where", "/report.txt", "--snapshot", "1", "--json"]);
    assert_eq!(wh[0]["sha256"], sha(REPORT));
    assert_eq!(wh[0]["disks"][0]["disk"], "d");
    let now = w.run(["where", "/report.txt", "--json"]);
    let now: serde_json::Value = serde_json::from_slice(&now.stdout).unwrap();
    assert_eq!(now[0]["error"], "not in the catalog");
    let out = w.run(["where", "/report.txt", "--snapshot", "7"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no snapshot 7"));
}

#[test]
fn status_says_when_history_fills_the_disks_and_forget_makes_room() {
    let w = World::new();
    for i in 0..10 {
        write(w.path(&format!("src/f{i}")), vec![b'a' + i as u8; 40_000]);
    }
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok(["source", "set", "/", "--copies", "1"]);
    w.ok(["scan", "-q"]);
    w.ok([
        "disk",
        "add",
        "--create",
        "d",
        w.path("d").to_str().unwrap(),
        "--size",
        "700K",
    ]);
    w.ok(["backup", "d", "-q"]);
    // Every file is rewritten: the old contents are history, and the disk is too small
    // for both. History keeps its only copy; the new contents wait.
    for i in 0..10 {
        write(w.path(&format!("src/f{i}")), vec![b'A' + i as u8; 40_000]);
    }
    w.ok(["scan", "-q"]);
    let out = w.run(["backup", "d", "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["deleted"]["objects"], 0);
    assert!(r["copied"]["objects"].as_u64().unwrap() < 10, "{r}");
    let out = w.run(["status"]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("history   2 snapshots; old and deleted files hold 10 contents"),
        "{text}"
    );
    assert!(
        text.contains("history (old and deleted files) takes"),
        "{text}"
    );
    assert!(text.contains("dsbfs forget --dry-run"), "{text}");
    let j = w.json(["status", "--json"]);
    assert_eq!(j["history"]["objects"], 10);
    assert_eq!(j["history"]["disk_bytes"], 10 * 40960);
    // The user decides: forget the old snapshot, and the next backup has room.
    w.ok(["forget", "--keep-last", "1", "-q"]);
    let r = w.json(["backup", "d", "--json"]);
    assert_eq!(r["deleted"]["objects"], 10);
    w.ok(["status"]);
}

#[test]
fn history_copies_come_from_a_connected_disk_and_are_not_promised_without_one() {
    let w = World::new();
    write(w.path("src/a.txt"), b"version one\n");
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok(["source", "set", "/", "--copies", "1"]);
    w.ok(["policy", "--history-copies", "2", "-q"]);
    w.ok(["scan", "-q"]);
    w.ok([
        "disk",
        "add",
        "--create",
        "a",
        w.path("a").to_str().unwrap(),
    ]);
    w.ok([
        "disk",
        "add",
        "--create",
        "b",
        w.path("b").to_str().unwrap(),
    ]);
    w.ok(["backup", "a", "-q"]);
    write(w.path("src/a.txt"), b"version two\n");
    w.ok(["scan", "-q"]);
    // Disk a, the only holder of version one, is in the drawer: b can only get version two.
    std::fs::rename(w.path("a"), w.path("a.drawer")).unwrap();
    let r = w.json(["backup", "b", "--dry-run", "--json"]);
    assert_eq!(r["planned_copy"]["objects"], 1, "{r}");
    std::fs::rename(w.path("a.drawer"), w.path("a")).unwrap();
    // With a connected, version one gets its second copy, read from a.
    let r = w.json(["backup", "b", "--json"]);
    assert_eq!(r["copied"]["objects"], 2, "{r}");
    assert_eq!(
        std::fs::read(object(&w.path("b"), b"version one\n")).unwrap(),
        b"version one\n"
    );
}
