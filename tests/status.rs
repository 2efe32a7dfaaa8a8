//! `dsbfs status`, `ls` filters and `disk discover`: knowing what is at risk.

mod common;

use common::*;
use std::os::unix::fs::MetadataExt;

fn setup(w: &World, files: usize) {
    for i in 0..files {
        write(
            w.path(&format!("src/f{i:02}")),
            vec![i as u8; 10_000 * (i + 1)],
        );
    }
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok(["scan", "-q"]);
}

#[test]
fn status_names_the_next_disk_and_what_a_lost_disk_would_cost() {
    let w = World::new();
    setup(&w, 6);
    for d in ["a", "b"] {
        w.ok(["disk", "add", "--create", d, w.path(d).to_str().unwrap()]);
    }
    let s = w.json(["status", "--json"]);
    assert_eq!(s["protection"]["by_copies"][0]["files"], 6);
    assert!(s["next_disk"].is_string(), "{s}");
    assert!(s["advice"].to_string().contains("on no disk at all"));
    w.ok(["backup", "a", "-q"]);
    let out = w.run(["status", "--json", "--simulate-drop", "a"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "files below their wanted copies"
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["next_disk"], "b", "{s}");
    assert_eq!(
        s["simulate_drop"]["protection"]["by_copies"][0]["files"], 6,
        "losing a would leave six files with no copy"
    );
    assert!(s["verify_due"].as_array().unwrap().contains(&"a".into()));
    w.ok(["backup", "b", "-q"]);
    w.ok(["verify", "a", "-q"]);
    w.ok(["verify", "b", "-q"]);
    let s = w.json(["status", "--json"]);
    assert_eq!(s["protection"]["below_wanted"]["files"], 0);
    assert!(s["next_disk"].is_null());
    assert!(s["verify_due"].as_array().unwrap().is_empty());
    w.ok(["status"]);
}

#[test]
fn ls_filters_by_copies_and_disk() {
    let w = World::new();
    setup(&w, 4);
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
        "--size",
        "30K",
    ]);
    w.ok(["backup", "a", "-q"]);
    w.ok(["backup", "b", "-q"]);
    let count = |args: &[&str]| {
        let mut a = vec!["ls", "--json"];
        a.extend_from_slice(args);
        w.json(a).as_array().unwrap().len()
    };
    assert_eq!(count(&[]), 4);
    assert_eq!(
        count(&["--copies", "2"]),
        1,
        "only the 10K file fits on b beside nothing else"
    );
    assert_eq!(count(&["--on", "b"]), 1);
    assert_eq!(count(&["--not-on", "b"]), 3);
    assert_eq!(count(&["--max-copies", "1"]), 3);
    assert_eq!(count(&["--at-risk"]), 3);
    assert_eq!(count(&["--min-copies", "1"]), 4);
}

#[test]
fn discover_adopts_an_old_rsync_copy_without_copying_bytes() {
    let w = World::new();
    setup(&w, 5);
    let drive = w.path("drive");
    std::fs::create_dir_all(drive.join("old-backup")).unwrap();
    let rsync = std::process::Command::new("rsync")
        .args([
            "-a",
            &format!("{}/", w.path("src").display()),
            drive.join("old-backup").to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(rsync.success());
    write(drive.join("old-backup/unrelated.txt"), "not in the catalog");
    w.ok([
        "disk",
        "add",
        "--create",
        "d",
        drive.to_str().unwrap(),
        "--force",
    ]);
    let r = w.json([
        "disk",
        "discover",
        "d",
        drive.join("old-backup").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r["adopted"]["objects"], 5, "{r}");
    let list = w.json(["ls", "--json", "--on", "d"]);
    assert_eq!(list.as_array().unwrap().len(), 5);
    // Hard links: the object is the same inode as the old copy, no byte was copied.
    let hash = w.json(["where", "/f03", "--json"])[0]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let object = drive.join(format!("objects/{}/{hash}", &hash[..2]));
    assert_eq!(
        std::fs::metadata(&object).unwrap().ino(),
        std::fs::metadata(drive.join("old-backup/f03"))
            .unwrap()
            .ino()
    );
    let plan = w.json(["backup", "d", "--dry-run", "--json"]);
    assert_eq!(
        plan["planned_copy"]["objects"], 0,
        "nothing left to copy: {plan}"
    );
    let v = w.json(["verify", "d", "--json"]);
    assert!(v["damaged"].as_array().unwrap().is_empty());
}

#[test]
fn what_people_read_counts_right_and_names_kinds_sizes_and_disks_as_they_are() {
    let w = World::new();
    write(w.path("src/photos/2019/a.jpg"), vec![7u8; 3 << 20]);
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    let scan = w.ok(["scan"]);
    assert!(
        scan.contains("hashed 1 file (3.00 MiB); 3 folders, 0 symlinks"),
        "{scan}"
    );
    w.ok([
        "disk",
        "add",
        "--create",
        "a",
        w.path("a").to_str().unwrap(),
    ]);
    let status = w.expect(3, ["status"]);
    assert!(
        status.contains("1 file (3.00 MiB) is on no disk at all")
            && status.contains("disk a is connected: run `dsbfs backup a`: 1 at-risk object (")
            && !status.contains("plug in"),
        "{status}"
    );
    let backup = w.ok(["backup", "a"]);
    assert!(
        backup.contains("copy 1 object (3.00 MiB)")
            && backup.contains("copied 1 object (3.00 MiB)"),
        "{backup}"
    );
    let status = w.expect(3, ["status"]);
    assert!(status.contains("   1 copy            1 file "), "{status}");
    let folder = w.ok(["where", "/photos/2019"]);
    assert_eq!(
        folder,
        "/photos/2019: folder, stored in the catalog itself\n"
    );
    // The disk holding the selection is connected: nothing to plug in.
    let plan = w.ok(["restore", w.path("out").to_str().unwrap(), "--plan"]);
    assert_eq!(plan, "1. disk a (connected): 1 file (3.00 MiB)\n");
    std::fs::rename(w.path("a"), w.path("a.drawer")).unwrap();
    let plan = w.ok(["restore", w.path("out").to_str().unwrap(), "--plan"]);
    assert_eq!(plan, "1. plug in disk a: 1 file (3.00 MiB)\n");
    // ls: a header, and sizes in bytes or, with -h, in IEC units.
    let ls = w.ok(["ls"]);
    assert_eq!(
        ls.lines().collect::<Vec<_>>(),
        [
            "COPIES         SIZE PATH",
            "   1/2      3145728 /photos/2019/a.jpg"
        ]
    );
    let ls = w.ok(["ls", "-h", "/photos"]);
    assert!(
        ls.ends_with("   1/2     3.00 MiB /photos/2019/a.jpg\n"),
        "{ls}"
    );
    // --size takes binary units and says so.
    let help = w.ok(["disk", "add", "--help"]);
    assert!(help.contains("2T = 2 TiB"), "{help}");
    w.ok([
        "disk",
        "add",
        "--create",
        "b",
        w.path("b").to_str().unwrap(),
        "--size",
        "2T",
    ]);
    let list = w.ok(["disk", "list"]);
    assert!(list.contains("2.00 TiB"), "{list}");
}
