//! `dsbfs restore`, `verify` and `where` on folder-disks.

mod common;

use common::*;

fn setup(w: &World) {
    setup_with(w, rich_tree);
}

/// Makes the tree `src` and scans it as the archive's root.
fn setup_with(w: &World, tree: fn(&std::path::Path)) {
    tree(&w.path("src"));
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok(["scan", "-q"]);
}

fn add_disk(w: &World, name: &str, size: Option<u64>) {
    let dir = w.path(name);
    let size = size.map(|s| s.to_string());
    let mut args = vec!["disk", "add", "--create", name, dir.to_str().unwrap()];
    if let Some(s) = &size {
        args.extend(["--size", s.as_str()]);
    }
    w.ok(args);
}

fn unplug(w: &World, name: &str) {
    std::fs::rename(w.path(name), w.path(&format!("{name}.drawer"))).unwrap();
}

fn plug(w: &World, name: &str) {
    std::fs::rename(w.path(&format!("{name}.drawer")), w.path(name)).unwrap();
}

#[test]
fn restoring_from_two_disks_plugged_in_turn_gives_the_source_tree_back() {
    let w = World::new();
    setup(&w);
    let total = w.total_bytes();
    // Each disk holds about 60%: neither alone has everything.
    add_disk(&w, "a", Some(total * 6 / 10));
    add_disk(&w, "b", Some(total * 6 / 10 + 400_000));
    w.ok(["backup", "a", "-q"]);
    w.ok(["backup", "b", "-q"]);
    let dest = w.path("restored");

    unplug(&w, "b");
    let out = w.run(["restore", dest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "not everything is on disk a");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("still missing") && text.contains("disk b"),
        "{text}"
    );
    plug(&w, "b");
    unplug(&w, "a");
    let r = w.json(["restore", dest.to_str().unwrap(), "--json"]);
    assert_eq!(r["missing_files"], 0, "{r}");
    assert!(
        r["already_there"].as_u64().unwrap() > 0,
        "the second run continues: {r}"
    );

    let diff = std::process::Command::new("diff")
        .args(["-r", "--no-dereference"])
        .arg(w.path("src"))
        .arg(&dest)
        .output()
        .unwrap();
    assert!(
        diff.status.success(),
        "{}{}",
        String::from_utf8_lossy(&diff.stdout),
        String::from_utf8_lossy(&diff.stderr)
    );
    assert_eq!(tree_signature(&w.path("src")), tree_signature(&dest));
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &str| std::fs::metadata(dest.join(p)).unwrap().ino();
    assert_eq!(
        ino("photos/2000/img000.jpg"),
        ino("photos/hardlinked.jpg"),
        "hard links are restored as links"
    );
}

#[test]
fn a_pattern_restores_only_the_selection_and_plan_names_the_disks() {
    let w = World::new();
    setup(&w);
    add_disk(&w, "a", None);
    w.ok(["backup", "a", "-q"]);
    let dest = w.path("some");
    let r = w.json(["restore", dest.to_str().unwrap(), "/photos/2001", "--json"]);
    assert_eq!(r["restored"]["files"], 10, "{r}");
    assert!(dest.join("photos/2001/img001.jpg").is_file());
    assert!(!dest.join("docs").exists());
    let plan = w.json(["restore", dest.to_str().unwrap(), "--plan", "--json"]);
    assert_eq!(plan["steps"].as_array().unwrap().len(), 1);
    assert_eq!(plan["steps"][0]["disk"], "a");
}

#[test]
fn a_pattern_that_matches_nothing_is_said_and_nothing_is_written() {
    let w = World::new();
    setup(&w);
    add_disk(&w, "a", None);
    w.ok(["backup", "a", "-q"]);
    let dest = w.path("out");
    for args in [
        vec!["restore", dest.to_str().unwrap(), "/no/such/path"],
        vec!["restore", dest.to_str().unwrap(), "/docs", "/nope/*.jpg"],
        vec!["restore", dest.to_str().unwrap(), "/no/such/path", "--plan"],
    ] {
        let out = w.run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("matches nothing in the catalog"), "{err}");
        assert!(!dest.exists(), "{args:?} wrote into DEST");
    }
    let out = w.run([
        "restore",
        dest.to_str().unwrap(),
        "/docs",
        "--snapshot",
        "1",
        "/gone",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/gone matches nothing in snapshot 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn local_edits_in_dest_are_kept_and_named_unless_overwrite_and_dry_run_writes_nothing() {
    let w = World::new();
    setup(&w);
    add_disk(&w, "a", None);
    w.ok(["backup", "a", "-q"]);
    let dest = w.path("out");
    let d = dest.to_str().unwrap();
    // A dry run into a folder that does not exist lists everything and makes nothing.
    let p = w.json(["restore", d, "--dry-run", "--json"]);
    assert!(!dest.exists(), "a dry run created DEST");
    assert!(
        p["write"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "/big.bin"),
        "{p}"
    );
    assert!(p["conflicts"].as_array().unwrap().is_empty(), "{p}");
    w.ok(["restore", d, "-q"]);
    // Local life goes on in DEST: an edit of the same size, one of another size, a
    // symlink pointed elsewhere, and a file removed.
    std::fs::write(dest.join("docs/private.txt"), "only MINE").unwrap();
    std::fs::write(dest.join("bin/tool.sh"), "#!/bin/sh\necho edited locally\n").unwrap();
    std::fs::remove_file(dest.join("bin/link-to-doc")).unwrap();
    std::os::unix::fs::symlink("elsewhere", dest.join("bin/link-to-doc")).unwrap();
    std::fs::remove_file(dest.join("big.bin")).unwrap();
    let edited = || std::fs::read_to_string(dest.join("bin/tool.sh")).unwrap();
    let before = tree_signature(&dest);

    let out = w.run(["restore", d, "--dry-run"]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("write: /big.bin"), "{text}");
    for kept in ["/docs/private.txt", "/bin/tool.sh", "/bin/link-to-doc"] {
        assert!(
            text.contains(&format!("keep (differs from the backup): {kept}")),
            "{text}"
        );
    }
    assert_eq!(tree_signature(&dest), before, "a dry run changed DEST");

    let out = w.run(["restore", d]);
    assert_eq!(out.status.code(), Some(3), "conflicts need attention");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("that differ from the backup (rerun with --overwrite to replace them)")
            && text.contains("  /bin/tool.sh"),
        "{text}"
    );
    assert_eq!(
        edited(),
        "#!/bin/sh\necho edited locally\n",
        "the edit was kept"
    );
    assert_eq!(
        std::fs::read(dest.join("big.bin")).unwrap(),
        std::fs::read(w.path("src/big.bin")).unwrap(),
        "what was missing is restored"
    );
    let r = w.json(["restore", d, "--json"]);
    let mut conflicts: Vec<&str> = r["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    conflicts.sort();
    assert_eq!(
        conflicts,
        ["/bin/link-to-doc", "/bin/tool.sh", "/docs/private.txt"],
        "{r}"
    );

    let p = w.json(["restore", d, "--dry-run", "--overwrite", "--json"]);
    assert_eq!(p["replace"].as_array().unwrap().len(), 3, "{p}");
    let r = w.json(["restore", d, "--overwrite", "--json"]);
    assert_eq!(r["replaced"], 3, "{r}");
    assert!(r["conflicts"].as_array().unwrap().is_empty(), "{r}");
    assert_eq!(tree_signature(&dest), tree_signature(&w.path("src")));
}

#[test]
fn a_flipped_byte_is_found_quarantined_and_the_copy_made_again() {
    let w = World::new();
    setup(&w);
    add_disk(&w, "a", None);
    add_disk(&w, "b", None);
    w.ok(["backup", "a", "-q"]);
    let where_ = w.json(["where", "/big.bin", "--json"]);
    let hash = where_[0]["sha256"].as_str().unwrap().to_string();
    let object = w.path(&format!("a/objects/{}/{hash}", &hash[..2]));
    let mut data = std::fs::read(&object).unwrap();
    data[1_000_000] ^= 0x01;
    std::fs::write(&object, &data).unwrap();

    let report = w.json(["verify", "a", "--json"]);
    assert_eq!(report["damaged"].as_array().unwrap().len(), 1, "{report}");
    // Named by the file that uses the object, and by the object.
    assert!(
        report["damaged"][0]
            .as_str()
            .unwrap()
            .starts_with(&format!("/big.bin (object {hash}): ")),
        "{report}"
    );
    assert!(!object.exists(), "moved out of the store");
    assert_eq!(
        std::fs::read_dir(w.path("a/quarantine")).unwrap().count(),
        1
    );
    let where_ = w.json(["where", "/big.bin", "--json"]);
    assert_eq!(
        where_[0]["disks"].as_array().unwrap().len(),
        0,
        "the catalog forgot the bad copy"
    );
    let list = w.json(["disk", "list", "--json"]);
    assert!(list[0]["last_verify"].is_string(), "{list}");

    w.ok(["backup", "b", "-q"]);
    let where_ = w.json(["where", "/big.bin", "--json"]);
    assert_eq!(where_[0]["disks"][0]["disk"], "b");
    let again = w.json(["verify", "a", "--json"]);
    assert!(again["damaged"].as_array().unwrap().is_empty());
}

#[test]
fn verify_names_the_files_of_a_damaged_object_once_and_counts_a_stray() {
    let w = World::new();
    setup(&w);
    add_disk(&w, "a", None);
    w.ok(["backup", "a", "-q"]);
    let hash = w.json(["where", "/big.bin", "--json"])[0]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let object = w.path(&format!("a/objects/{}/{hash}", &hash[..2]));
    let mut data = std::fs::read(&object).unwrap();
    data[7] ^= 0x10;
    std::fs::write(&object, &data).unwrap();
    write(
        w.path(&format!("a/objects/{}/stray.txt", &hash[..2])),
        "not mine",
    );
    let out = w.run(["verify", "a", "--check"]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("1 damaged, 0 missing, 1 unknown file,"),
        "{text}"
    );
    let damaged: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("damaged: "))
        .collect();
    assert_eq!(
        damaged,
        [format!(
            "damaged: /big.bin (object {hash}): content does not match its hash"
        )],
        "{text}"
    );
    assert!(text.contains("stray.txt"), "{text}");
    // Said once: in the report, not again in the log.
    assert!(!err.contains(&hash) && !err.contains("stray.txt"), "{err}");
    assert!(
        text.contains("nothing was changed: `dsbfs verify a`"),
        "{text}"
    );
}

#[test]
fn a_corrupt_object_fails_loudly_and_another_disk_is_used() {
    let w = World::new();
    setup(&w);
    add_disk(&w, "a", None);
    add_disk(&w, "b", None);
    w.ok(["backup", "a", "-q"]);
    w.ok(["backup", "b", "-q"]);
    let hash = w.json(["where", "/big.bin", "--json"])[0]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    for d in ["a", "b"] {
        let object = w.path(&format!("{d}/objects/{}/{hash}", &hash[..2]));
        let mut data = std::fs::read(&object).unwrap();
        data[5] ^= 0xff;
        if d == "a" {
            std::fs::write(&object, &data).unwrap();
        }
    }
    // Disk a's copy is bad, b's is good: the restore uses b and says so.
    let dest = w.path("out");
    let out = w.run(["restore", dest.to_str().unwrap(), "/big.bin", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["restored"]["files"], 1);
    assert!(r["corrupt"][0].as_str().unwrap().contains("disk a"), "{r}");
    assert_eq!(
        std::fs::read(dest.join("big.bin")).unwrap(),
        std::fs::read(w.path("src/big.bin")).unwrap()
    );
    // `status` says to verify the disk that gave the bad copy, until it is verified.
    let advice = |w: &World| {
        let out = w.run(["status"]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = advice(&w);
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains(
            "next: disk a holds a damaged copy of /big.bin, found by restore: run `dsbfs verify a`"
        ),
        "{text}"
    );
    assert!(!text.contains("disk b holds"), "{text}");

    // With only the bad copy connected, nothing corrupt lands under the final name.
    unplug(&w, "b");
    let dest2 = w.path("out2");
    let out = w.run(["restore", dest2.to_str().unwrap(), "/big.bin", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(!dest2.join("big.bin").exists());
    let leftovers: Vec<_> = std::fs::read_dir(&dest2)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    plug(&w, "b");
    w.expect(3, ["verify", "a", "-q"]);
    let (_, text) = advice(&w);
    assert!(
        !text.contains("damaged"),
        "verify took it off the list: {text}"
    );
}

/// The block hashes the catalog records for the object of `vpath`.
fn block_hashes(w: &World, vpath: &str) -> Option<Vec<u8>> {
    let hash = w.json(["where", vpath, "--json"])[0]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    read_only(&w.catalog)
        .unwrap()
        .query_row(
            "SELECT b.hashes FROM object_blocks b JOIN objects o ON o.id = b.object WHERE hex(o.hash) = upper(?1)",
            [&hash],
            |r| r.get(0),
        )
        .ok()
}

#[test]
fn backup_records_a_hash_per_mebibyte_and_verify_fills_in_missing_ones() {
    let w = World::new();
    setup(&w);
    add_disk(&w, "a", None);
    w.ok(["backup", "a", "-q"]);
    let big = std::fs::read(w.path("src/big.bin")).unwrap();
    assert!(big.len() > 1 << 20, "the tree has a file of several blocks");
    let want: Vec<u8> = big
        .chunks(1 << 20)
        .flat_map(dsbfs::store::checked::block_hash)
        .collect();
    assert_eq!(block_hashes(&w, "/big.bin"), Some(want.clone()));
    // Files of one block need none: their own hash is their block's.
    assert_eq!(block_hashes(&w, "/photos/2001/img001.jpg"), None);
    // A catalog from before block hashes: verify computes and records them.
    rusqlite::Connection::open(&w.catalog)
        .unwrap()
        .execute("DELETE FROM object_blocks", [])
        .unwrap();
    w.ok(["verify", "a", "--check", "-q"]);
    assert_eq!(
        block_hashes(&w, "/big.bin"),
        None,
        "--check changes nothing"
    );
    w.ok(["verify", "a", "-q"]);
    assert_eq!(block_hashes(&w, "/big.bin"), Some(want));
}

#[test]
fn where_names_the_disks_and_whether_they_are_connected() {
    let w = World::new();
    setup(&w);
    add_disk(&w, "a", None);
    w.ok(["backup", "a", "-q"]);
    unplug(&w, "a");
    let r = w.json(["where", "/docs/private.txt", "--json"]);
    assert_eq!(r[0]["disks"][0]["disk"], "a");
    assert_eq!(r[0]["disks"][0]["connected"], false);
    let out = w.run(["where", "/no/such/file"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn one_surviving_disk_mounted_read_only_elsewhere_restores_everything_it_holds() {
    assert!(
        is_root(),
        "this test bind-mounts a folder read-only and must run as root"
    );
    let w = World::new();
    setup(&w);
    add_disk(&w, "a", None);
    w.ok(["backup", "a", "-q"]);
    // The computer is gone; the drive turns up at another mount point, read-only.
    std::fs::remove_file(&w.catalog).unwrap();
    let elsewhere = w.path("media/usb");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::rename(w.path("a"), w.path("media/usb/old-name")).unwrap();
    let ro = w.path("ro");
    std::fs::create_dir_all(&ro).unwrap();
    let bind = |args: &[&str]| {
        assert!(
            std::process::Command::new("mount")
                .args(args)
                .status()
                .unwrap()
                .success()
        )
    };
    bind(&[
        "--bind",
        w.path("media/usb/old-name").to_str().unwrap(),
        ro.to_str().unwrap(),
    ]);
    let _guard = Unmount(ro.clone());
    bind(&["-o", "remount,ro,bind", ro.to_str().unwrap()]);

    let copy = ro.join("dsbfs-catalog.db");
    let dest = w.path("rescued");
    let out = w
        .command()
        .env("DSBFS_CATALOG", &copy)
        .args(["restore", dest.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tree_signature(&w.path("src")), tree_signature(&dest));
}

/// Thousands of files in many folders, with hard links whose names lie far apart (so
/// in different workers' hands and different flush batches).
fn many_files_with_far_hard_links(root: &std::path::Path) {
    for i in 0..3000 {
        write(
            root.join(format!("d{:02}/f{i:04}.txt", i % 40)),
            format!("file {i} ").repeat(1 + i % 50),
        );
    }
    for g in 0..15 {
        let first = root.join(format!("d00/linked{g:02}.bin"));
        write(&first, vec![g as u8; 20_000 + g * 1000]);
        for d in [17, 39] {
            std::fs::hard_link(&first, root.join(format!("d{d:02}/also{g:02}.bin"))).unwrap();
        }
    }
}

#[test]
fn many_files_with_far_apart_hard_links_restore_identically_and_resume() {
    use std::os::unix::fs::MetadataExt;
    let w = World::new();
    setup_with(&w, many_files_with_far_hard_links);
    let src = w.path("src");
    add_disk(&w, "a", None);
    w.ok(["backup", "a", "-q"]);
    let dest = w.path("restored");
    let restore = || w.json(["restore", dest.to_str().unwrap(), "--json"]);
    let ino = |p: &str| std::fs::metadata(dest.join(p)).unwrap().ino();
    let linked_everywhere = || {
        (0..15).all(|g| {
            let first = ino(&format!("d00/linked{g:02}.bin"));
            [17, 39]
                .iter()
                .all(|d| ino(&format!("d{d:02}/also{g:02}.bin")) == first)
        })
    };

    let r = restore();
    assert_eq!(r["restored"]["files"], 3015, "{r}");
    assert_eq!(r["hard_links"], 30, "{r}");
    assert_eq!(r["errors"].as_array().unwrap().len(), 0, "{r}");
    assert_eq!(tree_signature(&src), tree_signature(&dest));
    assert!(linked_everywhere());

    // An interrupted restore: some files and link names never made it.
    for p in [
        "d05/f0005.txt",
        "d39/f2999.txt",
        "d00/linked03.bin",
        "d17/also07.bin",
    ] {
        std::fs::remove_file(dest.join(p)).unwrap();
    }
    let r = restore();
    assert_eq!(r["restored"]["files"], 3, "{r}");
    assert_eq!(r["already_there"], 3015 - 3 + 30 - 3, "{r}");
    assert_eq!(r["hard_links"], 3, "{r}");
    assert_eq!(tree_signature(&src), tree_signature(&dest));
    assert!(linked_everywhere());
}

#[test]
fn what_is_missing_is_reported_the_same_way_every_time_in_path_order() {
    let w = World::new();
    setup_with(&w, many_files_with_far_hard_links);
    add_disk(&w, "a", Some(w.total_bytes() / 2));
    w.ok(["backup", "a", "-q"]);
    let report = |dest: &str| {
        let mut r = w.json(["restore", w.path(dest).to_str().unwrap(), "--json"]);
        assert!(r["missing_files"].as_u64().unwrap() > 0, "{r}");
        r["missing"][0]["examples"].take()
    };
    let examples = report("one");
    let mut sorted: Vec<&str> = examples
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    sorted.sort();
    assert_eq!(examples.as_array().unwrap().len(), 5);
    assert_eq!(
        examples,
        serde_json::json!(sorted),
        "the first missing files by path"
    );
    assert_eq!(report("two"), examples);
}

#[test]
fn what_an_interrupted_restore_left_behind_is_cleaned_up_by_the_next() {
    let w = World::new();
    setup(&w);
    add_disk(&w, "a", None);
    w.ok(["backup", "a", "-q"]);
    let dest = w.path("restored");
    // Temporary files of a restore whose process is gone, in DEST and in a folder, and
    // one of a restore still running (this test's own process), which must stay.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let stale = [
        dest.join(format!(".dsbfs-restore-{dead}-1")),
        dest.join(format!("docs/.dsbfs-restore-{dead}-7")),
    ];
    let running = dest.join(format!("docs/.dsbfs-restore-{}-3", std::process::id()));
    for p in stale.iter().chain([&running]) {
        write(p, b"half a file");
    }
    w.ok(["restore", dest.to_str().unwrap(), "-q"]);
    for p in &stale {
        assert!(!p.exists(), "{} is still there", p.display());
    }
    assert!(running.exists(), "another restore's file was removed");
    let mut restored = tree_signature(&dest);
    restored.retain(|line| !line.contains(".dsbfs-restore-"));
    assert_eq!(restored, tree_signature(&w.path("src")));
}

#[test]
fn a_restore_that_cannot_name_a_file_leaves_no_temporary_file() {
    let w = World::new();
    setup_with(&w, |src| {
        write(src.join("a.txt"), "alpha");
        write(src.join("docs/b.txt"), "beta");
        std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
    });
    add_disk(&w, "a", None);
    w.ok(["backup", "a", "-q"]);
    let dest = w.path("restored");
    // Folders (not empty, so nothing may replace them) stand where a file and a
    // symlink belong.
    for taken in ["a.txt", "link"] {
        write(dest.join(taken).join("mine"), "keep me");
    }
    // Without --overwrite they are conflicts: nothing is even tried.
    let r = w.json(["restore", dest.to_str().unwrap(), "--json"]);
    assert_eq!(r["conflicts"].as_array().unwrap().len(), 2, "{r}");
    // With it, the restore tries to name them and cannot.
    let out = w.run(["restore", dest.to_str().unwrap(), "--json", "--overwrite"]);
    assert_eq!(out.status.code(), Some(3));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = r["errors"].to_string();
    assert!(errors.contains("/a.txt") && errors.contains("/link"), "{r}");
    let leftovers: Vec<_> = walk_names(&dest)
        .into_iter()
        .filter(|p| p.contains(".dsbfs-restore-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    assert_eq!(std::fs::read(dest.join("docs/b.txt")).unwrap(), b"beta");
    assert_eq!(std::fs::read(dest.join("a.txt/mine")).unwrap(), b"keep me");
    assert_eq!(std::fs::read(dest.join("link/mine")).unwrap(), b"keep me");
}

/// Every path below `dir`, relative to it (symlinks not followed).
fn walk_names(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() {
            out.extend(
                walk_names(&e.path())
                    .into_iter()
                    .map(|p| format!("{name}/{p}")),
            );
        }
        out.push(name);
    }
    out
}
