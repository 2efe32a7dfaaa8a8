//! `dsbfs disk` and `dsbfs backup` on folder-disks.

mod common;

use common::*;
use std::path::Path;

/// A source tree of `n` files with distinct content, sizes from `min` to `max` bytes.
fn make_tree(w: &World, n: usize, min: usize, max: usize) {
    for i in 0..n {
        let size = min + (i * 7919) % (max - min + 1);
        let mut data = vec![0u8; size];
        let mut x = i as u64 * 2654435761 + 1;
        for b in data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        write(w.path(&format!("src/d{}/f{i:04}", i % 7)), data);
    }
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.expect(0, ["scan", "-q"]);
}

fn add_disk(w: &World, name: &str, size: Option<&str>) {
    let dir = w.path(name);
    let mut args = vec!["disk", "add", "--create", name, dir.to_str().unwrap()];
    if let Some(s) = size {
        args.extend(["--size", s]);
    }
    w.ok(args);
}

fn backup(w: &World, name: &str) -> serde_json::Value {
    w.json(["backup", name, "--json"])
}

/// The folder of disk `name`, as the catalog records it.
fn disk_root(w: &World, name: &str) -> std::path::PathBuf {
    dsbfs::catalog::Catalog::open_readonly(&w.catalog)
        .unwrap()
        .disk(name)
        .unwrap()
        .expect("a registered disk")
        .path
}

/// The hashes (hex) of the copies the catalog records on disk `name`.
fn recorded(w: &World, name: &str) -> Vec<String> {
    let cat = dsbfs::catalog::Catalog::open_readonly(&w.catalog).unwrap();
    let disk = cat.disk(name).unwrap().unwrap();
    let conn = read_only(&w.catalog).unwrap();
    let mut st = conn
        .prepare("SELECT o.hash FROM copies c JOIN objects o ON o.id = c.object WHERE c.disk = ?1")
        .unwrap();
    st.query_map([disk.id], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|r| dsbfs::util::hex(&r.unwrap()))
        .collect()
}

/// The names of the objects under their final names in the folder-disk at `root`
/// (temporaries left out), each checked to be whole.
fn objects_on_disk(root: &Path) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let objects = root.join("objects");
    if objects.is_dir() {
        for fan in std::fs::read_dir(&objects).unwrap() {
            for f in std::fs::read_dir(fan.unwrap().path()).unwrap() {
                let f = f.unwrap();
                let fname = f.file_name().into_string().unwrap();
                if fname.starts_with(".tmp-") {
                    continue;
                }
                let data = std::fs::read(f.path()).unwrap();
                assert_eq!(
                    dsbfs::util::hex(&dsbfs::scan::hash::sha256(&data)),
                    fname,
                    "partial object under a final name"
                );
                out.insert(fname);
            }
        }
    }
    out
}

/// Checks that every copy the catalog records on disk `name` is there with the right
/// bytes; returns how many there are.
fn recorded_sound(w: &World, name: &str) -> usize {
    let root = disk_root(w, name);
    let recorded = recorded(w, name);
    for hex in &recorded {
        let path = root.join("objects").join(&hex[..2]).join(hex);
        let data = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("recorded copy {hex} missing on {name}: {e}"));
        assert_eq!(
            &dsbfs::util::hex(&dsbfs::scan::hash::sha256(&data)),
            hex,
            "damaged object on {name}"
        );
    }
    recorded.len()
}

/// Checks a disk against the catalog: every recorded copy is there with the right bytes,
/// and every object under a final name is whole. Returns (recorded copies, objects on disk).
fn check_disk(w: &World, name: &str) -> (usize, usize) {
    let root = disk_root(w, name);
    (recorded_sound(w, name), objects_on_disk(&root).len())
}

fn copies_histogram(w: &World) -> [u64; 4] {
    let s = w.json(["status", "--json"]);
    let mut h = [0; 4];
    for (i, v) in s["protection"]["by_copies"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        h[i] = v["files"].as_u64().unwrap();
    }
    h
}

#[test]
fn three_small_disks_give_everything_one_copy_and_most_two() {
    let w = World::new();
    make_tree(&w, 60, 10_000, 200_000);
    let total: u64 = w.json(["status", "--json"])["protection"]["by_copies"][0]["bytes"]
        .as_u64()
        .unwrap();
    // Caps that together hold about 1.5 copies of everything.
    let cap = format!("{}", total / 2 + 64 * 4096);
    for d in ["a", "b", "c"] {
        add_disk(&w, d, Some(&cap));
    }
    for d in ["a", "b", "c"] {
        let r = backup(&w, d);
        assert!(r["stopped"].is_null(), "{r}");
        assert!(r["copied"]["bytes"].as_u64().unwrap() <= total / 2 + 64 * 4096);
    }
    let h = copies_histogram(&w);
    assert_eq!(h[0], 0, "every file on at least one disk: {h:?}");
    // 1.5 copies of room: at best half of the bytes get their second copy.
    let two: u64 = w.json(["status", "--json"])["protection"]["by_copies"][2]["bytes"]
        .as_u64()
        .unwrap();
    assert!(
        two * 100 >= total * 45,
        "only {two} of {total} bytes have two copies"
    );
    for d in ["a", "b", "c"] {
        let (recorded, on_disk) = check_disk(&w, d);
        assert_eq!(recorded, on_disk);
    }
    // A second round only improves things, and never loses the last copy of anything.
    for d in ["a", "b", "c"] {
        backup(&w, d);
        let h2 = copies_histogram(&w);
        assert_eq!(h2[0], 0);
    }
    let catalog_copy = w.path("a/dsbfs-catalog.db");
    let copy = dsbfs::catalog::Catalog::open_readonly(&catalog_copy)
        .expect("each disk carries a catalog copy");
    assert!(copy.disks().unwrap().len() == 3);
}

#[test]
fn a_backup_killed_at_any_point_loses_nothing_and_resumes() {
    let w = World::new();
    make_tree(&w, 150, 500_000, 3_000_000);
    add_disk(&w, "k", None);
    for delay_ms in [30u64, 120, 300, 700] {
        let mut child = w.command().args(["backup", "k", "-q"]).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        let (recorded, on_disk) = check_disk(&w, "k");
        assert!(recorded <= on_disk, "a recorded copy is missing");
    }
    let r = backup(&w, "k");
    assert!(r["stopped"].is_null(), "{r}");
    let (recorded, on_disk) = check_disk(&w, "k");
    assert_eq!(recorded, 150);
    assert_eq!(on_disk, 150);
    let leftovers: Vec<_> = walk(&w.path("k/objects"))
        .into_iter()
        .filter(|p| p.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(copies_histogram(&w)[1], 150);
}

#[test]
fn a_full_disk_stops_cleanly_with_a_clear_message() {
    if !is_root() {
        panic!(
            "this test mounts a tmpfs and must run as root (scripts/test.sh runs as root in CI)"
        );
    }
    let w = World::new();
    make_tree(&w, 80, 1000, 5000);
    let mnt = w.path("tiny");
    std::fs::create_dir_all(&mnt).unwrap();
    let st = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=64m,nr_inodes=40",
            "dsbfs-test",
            mnt.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success(), "cannot mount a tmpfs");
    let _unmount = Unmount(mnt.clone());
    w.ok([
        "disk",
        "add",
        "--create",
        "tiny",
        mnt.join("disk").to_str().unwrap(),
    ]);
    let out = w.run(["backup", "tiny", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("disk tiny is full"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let (recorded, on_disk) = check_disk(&w, "tiny");
    assert!(
        recorded > 0 && recorded == on_disk,
        "{recorded} recorded, {on_disk} on disk"
    );
}

#[test]
fn the_wrong_disk_at_a_path_is_never_written() {
    let w = World::new();
    make_tree(&w, 5, 100, 1000);
    add_disk(&w, "one", None);
    add_disk(&w, "two", None);
    backup(&w, "two");
    // Disk "one" is taken away and disk "two" is mounted where "one" used to be.
    std::fs::rename(w.path("one"), w.path("one-in-drawer")).unwrap();
    std::fs::rename(w.path("two"), w.path("one")).unwrap();
    let before = walk(&w.path("one"));
    let out = w.run(["backup", "one"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("disk one is not connected"), "{err}");
    assert_eq!(
        walk(&w.path("one")),
        before,
        "nothing was written to the other disk"
    );
    // Adding a disk where another disk's identity lives is refused too.
    let out = w.run(["disk", "add", "three", w.path("one").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds the dsbfs disk two"));
}

#[test]
fn a_source_file_changed_after_the_scan_is_not_stored_under_the_old_hash() {
    let w = World::new();
    write(w.path("src/a.txt"), "version one");
    write(w.path("src/b.txt"), "stable");
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok(["scan", "-q"]);
    add_disk(&w, "d", None);
    write(w.path("src/a.txt"), "version two");
    let out = w.run(["backup", "d", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["source_changed"], 1, "{r}");
    assert_eq!(r["copied"]["objects"], 1);
    let (recorded, on_disk) = check_disk(&w, "d");
    assert_eq!((recorded, on_disk), (1, 1));
    let s = w.json(["scan", "--json"]);
    assert_eq!(
        s["changed"]["files"], 1,
        "the next scan re-hashes the flagged file: {s}"
    );
    backup(&w, "d");
    assert_eq!(check_disk(&w, "d"), (2, 2));
}

#[test]
fn dry_run_changes_nothing_and_orphans_are_removed() {
    let w = World::new();
    make_tree(&w, 10, 1000, 2000);
    add_disk(&w, "d", None);
    let plan = w.json(["backup", "d", "--dry-run", "--json"]);
    assert_eq!(plan["planned_copy"]["objects"], 10);
    assert_eq!(check_disk(&w, "d"), (0, 0));
    backup(&w, "d");
    assert_eq!(check_disk(&w, "d"), (10, 10));
    std::fs::remove_file(w.path("src/d0/f0000")).unwrap();
    w.ok(["scan", "-q"]);
    // The deleted file is history: its object stays until `forget` releases it.
    let r = backup(&w, "d");
    assert_eq!(r["deleted"]["objects"], 0, "{r}");
    assert_eq!(check_disk(&w, "d"), (10, 10));
    w.ok(["forget", "--keep-last", "1", "-q"]);
    let r = backup(&w, "d");
    assert_eq!(r["deleted"]["objects"], 1, "{r}");
    assert_eq!(check_disk(&w, "d"), (9, 9));
}

#[test]
fn disk_add_refuses_a_folder_that_is_not_there_and_a_refused_add_makes_nothing() {
    let w = World::new();
    make_tree(&w, 3, 100, 200);
    // The drive is not mounted: its mount point's folder is missing.
    let unplugged = w.path("media/usb/backup");
    let out = w.run(["disk", "add", "w", unplugged.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("does not exist: mount the drive, or create the folder"),
        "{err}"
    );
    assert!(!w.path("media").exists(), "nothing was created");
    // Refused for lying in the source, even with --force and --create: nothing made.
    let inside = w.path("src/sub/new/deeper");
    let out = w.run([
        "disk",
        "add",
        "x",
        inside.to_str().unwrap(),
        "--force",
        "--create",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("overlaps the source"));
    assert!(
        !w.path("src/sub").exists(),
        "nothing was created in the source"
    );
    // Asked to create it: made, with a warning that it shares a filesystem with the source.
    let out = w.run(["disk", "add", "w", unplugged.to_str().unwrap(), "--create"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(unplugged.join("dsbfs-disk.json").exists());
    assert!(
        err.contains("warning") && err.contains("is on the same filesystem as the source"),
        "{err}"
    );
}

#[test]
fn a_removed_disk_s_folder_can_be_added_again() {
    let w = World::new();
    make_tree(&w, 3, 100, 200);
    let folder = w.path("x");
    w.ok(["disk", "add", "x", folder.to_str().unwrap(), "--create"]);
    let said = w.ok(["disk", "remove", "x"]);
    assert!(said.contains("holds no disk any more"), "{said}");
    let out = w.run(["disk", "add", "x", folder.to_str().unwrap(), "--force"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    backup(&w, "x");
    assert_eq!(check_disk(&w, "x"), (3, 3));
}

#[test]
fn a_backup_before_any_scan_says_so_and_records_nothing() {
    let w = World::new();
    write(w.path("src/a.txt"), "a");
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    add_disk(&w, "d", None);
    let out = w.run(["backup", "d"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("nothing scanned yet: run `dsbfs scan`"),
        "{err}"
    );
    let list = w.json(["disk", "list", "--json"]);
    assert!(list[0]["last_backup"].is_null(), "{list}");
    // --scan scans first.
    let r = w.json(["backup", "d", "--scan", "--json"]);
    assert!(r["stopped"].is_null(), "{r}");
    assert_eq!(check_disk(&w, "d"), (1, 1));
}

/// A pipe whose buffer is full: whoever writes to it blocks until `reader` is read.
fn full_pipe() -> (std::fs::File, std::os::fd::OwnedFd) {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let (reader, writer) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).unwrap();
    let chunk = [b'.'; 4096];
    while nix::unistd::write(&writer, &chunk).is_ok() {}
    while nix::unistd::write(&writer, &chunk[..1]).is_ok() {}
    fcntl(&writer, FcntlArg::F_SETFL(OFlag::empty())).unwrap();
    fcntl(&reader, FcntlArg::F_SETFL(OFlag::empty())).unwrap();
    (std::fs::File::from(reader), writer)
}

#[test]
fn the_plan_is_printed_before_anything_is_copied_in_the_bytes_it_copies() {
    let w = World::new();
    make_tree(&w, 20, 100, 3000);
    add_disk(&w, "d", None);
    // Stdout is a pipe nobody reads yet, and full: the first line printed blocks the
    // backup. The plan must be that line, printed before anything is copied.
    let (mut reader, writer) = full_pipe();
    struct Reaped(std::process::Child);
    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Reaped(
        w.command()
            .args(["backup", "d"])
            .stdout(writer)
            .spawn()
            .unwrap(),
    );
    let wchan = format!("/proc/{}/wchan", child.0.id());
    let blocked = (0..1000).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        // `pipe_write`, or `anon_pipe_write` on newer kernels.
        std::fs::read_to_string(&wchan).is_ok_and(|c| c.ends_with("pipe_write"))
    });
    assert!(blocked, "the backup never wrote to its output");
    assert!(
        objects_on_disk(&disk_root(&w, "d")).is_empty(),
        "objects were copied before the plan was printed"
    );
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut out).unwrap();
    assert!(child.0.wait().unwrap().success());
    let text = String::from_utf8_lossy(&out);
    let lines: Vec<&str> = text.trim_start_matches('.').lines().collect();
    assert!(
        lines[0].starts_with("backup to d: copy 20 objects ("),
        "{text}"
    );
    assert!(
        lines.last().unwrap().starts_with("copied 20 objects ("),
        "{text}"
    );
    // The plan and the copy count the same bytes.
    let planned = lines[0].split(['(', ')']).nth(1).unwrap();
    let copied = lines.last().unwrap().split(['(', ')']).nth(1).unwrap();
    assert_eq!(planned, copied, "{text}");
}

#[test]
fn a_verbose_dry_run_names_every_file_it_would_copy_and_delete() {
    let w = World::new();
    make_tree(&w, 12, 100, 3000);
    add_disk(&w, "d", None);
    let out = w.ok(["backup", "d", "--dry-run", "-v"]);
    for path in w.ls_paths() {
        let path = String::from_utf8(path).unwrap();
        assert!(
            out.lines()
                .any(|l| l.starts_with("copy (") && l.ends_with(&format!(") {path}"))),
            "{path} is not named: {out}"
        );
    }
    backup(&w, "d");
    std::fs::remove_file(w.path("src/d0/f0000")).unwrap();
    w.ok(["scan", "-q"]);
    w.ok(["forget", "--keep-last", "1", "-q"]);
    let out = w.ok(["backup", "d", "--dry-run", "-v"]);
    let deletes: Vec<&str> = out.lines().filter(|l| l.starts_with("delete ")).collect();
    assert_eq!(deletes.len(), 1, "{out}");
    assert!(deletes[0].contains("only in past snapshots"), "{out}");
}

#[test]
fn disk_commands_manage_the_registry() {
    let w = World::new();
    make_tree(&w, 3, 100, 200);
    add_disk(&w, "old", Some("1G"));
    let out = w.run(["disk", "add", "bad,name", w.path("x").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::create_dir_all(w.path("full")).unwrap();
    write(w.path("full/somefile"), "x");
    let out = w.run(["disk", "add", "f", w.path("full").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    w.ok(["disk", "rename", "old", "new"]);
    w.ok(["disk", "set", "new", "--size", "2G"]);
    let list = w.json(["disk", "list", "--json"]);
    assert_eq!(list[0]["name"], "new");
    assert_eq!(list[0]["cap"], 2u64 << 30);
    assert_eq!(list[0]["connected"], true);
    backup(&w, "new");
    let out = w.run(["disk", "remove", "new"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a disk with objects is not removed"
    );
    w.ok(["disk", "drop", "new"]);
    assert_eq!(copies_histogram(&w)[0], 3);
    assert!(
        w.json(["disk", "list", "--json"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    let out = w.run(["backup", "nosuch"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Sorted relative paths and sizes of everything below `dir`.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            let len = e.metadata().unwrap().len();
            out.push(format!("{} {len}", p.strip_prefix(dir).unwrap().display()));
        }
    }
    out.sort();
    out
}

/// Runs `dsbfs backup NAME -q`, does `strike` once `objects` holds `n` files, and
/// returns how the backup ended and what it said on stderr. The backup is killed
/// whatever happens, so a hang fails the test instead of blocking it.
fn backup_struck_midway(
    w: &World,
    name: &str,
    objects: &Path,
    n: usize,
    strike: impl FnOnce(),
) -> (std::process::ExitStatus, String) {
    let mut child = w
        .command()
        .args(["backup", name, "-q"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    struct Reap(u32);
    impl Drop for Reap {
        fn drop(&mut self) {
            let pid = nix::unistd::Pid::from_raw(self.0 as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
    let _reap = Reap(child.id());
    let started = std::time::Instant::now();
    while files_below(objects).len() < n {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended before the disk was struck"
        );
        assert!(started.elapsed().as_secs() < 60, "the backup wrote nothing");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    strike();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed().as_secs() < 120, "the backup hangs");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status, err)
}

#[test]
fn a_disk_that_dies_mid_backup_stops_it_cleanly_and_another_disk_completes_it() {
    let w = World::new();
    make_tree(&w, 1200, 100_000, 160_000);
    let ld = LoopDisk::new(&w, 1 << 30);
    let disk = ld.dir.join("disk");
    w.ok(["disk", "add", "--create", "d1", disk.to_str().unwrap()]);
    let (status, err) = backup_struck_midway(&w, "d1", &disk.join("objects"), 100, || ld.fail());
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains("disk d1"), "{err}");
    // The catalog is whole, and another disk takes everything the dead one did not.
    add_disk(&w, "d2", None);
    let report = backup(&w, "d2");
    assert!(report["stopped"].is_null(), "{report}");
    assert_eq!(copies_histogram(&w)[0], 0, "files left with no copy");
    let (recorded, on_disk) = check_disk(&w, "d2");
    assert_eq!(recorded, on_disk);
    assert_eq!(recorded, 1200);
}

#[test]
fn a_size_no_disk_can_have_is_refused_in_one_line() {
    let w = World::new();
    make_tree(&w, 2, 100, 200);
    let dir = w.path("big");
    for size in ["99999999999999999999T", "8E", "9223372036854775808"] {
        let out = w.run(["disk", "add", "big", dir.to_str().unwrap(), "--size", size]);
        assert_eq!(out.status.code(), Some(2), "--size {size}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(size) && err.contains("8 EiB"), "{err}");
    }
    assert!(
        w.json(["disk", "list", "--json"])
            .as_array()
            .unwrap()
            .is_empty(),
        "no disk was added"
    );
    add_disk(&w, "big", Some("7E"));
    let out = w.run(["disk", "set", "big", "--size", "16777216T"]);
    assert_eq!(out.status.code(), Some(2));
    let list = w.json(["disk", "list", "--json"]);
    assert_eq!(
        list[0]["cap"],
        7u64 << 60,
        "the cap is stored as given, not negative"
    );
}

/// The hashes (hex) of every object the catalog knows, sorted.
fn object_hashes(w: &World) -> Vec<String> {
    let conn = read_only(&w.catalog).unwrap();
    let mut st = conn
        .prepare("SELECT hash FROM objects ORDER BY hash")
        .unwrap();
    st.query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|r| dsbfs::util::hex(&r.unwrap()))
        .collect()
}

/// Something that does not belong, planted in a disk's `objects/` folder: its path, and
/// how many of the archive's objects (`hashes`) it stands in the way of.
type Plant = fn(w: &World, objects: &Path, hashes: &[String]) -> (std::path::PathBuf, usize);

fn in_fan_of(hashes: &[String], fan: &str) -> usize {
    hashes.iter().filter(|h| h.starts_with(fan)).count()
}

/// One stray entry in a disk's object store never stops `backup`, `verify --check` or
/// `verify` for the whole disk: each names it in one line and carries on with the rest,
/// `verify` moves it (never what a symlink points to) into `quarantine/`, and the next
/// backup copies what it was in the way of.
fn a_stray_is_skipped_named_and_quarantined(plant: Plant) -> World {
    let w = World::new();
    make_tree(&w, 30, 1000, 5000);
    add_disk(&w, "d", None);
    let hashes = object_hashes(&w);
    assert_eq!(hashes.len(), 30);
    let objects = w.path("d/objects");
    std::fs::create_dir_all(&objects).unwrap();
    let (stray, blocked) = plant(&w, &objects, &hashes);
    let shown = stray.display().to_string();

    let out = w.run(["backup", "d", "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(if blocked > 0 { 3 } else { 0 }),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one warning line: {err}");
    assert!(
        err.contains(&shown) && err.contains("dsbfs verify d"),
        "{err}"
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["blocked"], blocked, "{r}");
    assert_eq!(r["copied"]["objects"], 30 - blocked, "{r}");
    assert_eq!(recorded_sound(&w, "d"), 30 - blocked);

    let out = w.run(["verify", "d", "--check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains(&format!("verified {} objects", 30 - blocked)),
        "{text}"
    );
    assert!(text.contains(&format!("unknown: {shown}: ")), "{text}");
    assert!(stray.symlink_metadata().is_ok(), "--check moves nothing");
    assert!(!w.path("d/quarantine").exists());

    let out = w.run(["verify", "d"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains(&format!("verified {} objects", 30 - blocked)),
        "{text}"
    );
    assert!(text.contains("0 damaged, 0 missing"), "{text}");
    assert!(text.contains("moved to quarantine/objects-"), "{text}");
    assert!(stray.symlink_metadata().is_err(), "{shown} is still there");
    let quarantined: Vec<_> = std::fs::read_dir(w.path("d/quarantine"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    assert!(quarantined[0].starts_with("objects-"), "{quarantined:?}");

    let r = backup(&w, "d");
    assert_eq!(r["copied"]["objects"], blocked, "{r}");
    assert!(r["errors"].as_array().unwrap().is_empty(), "{r}");
    assert_eq!(check_disk(&w, "d"), (30, 30));
    w.ok(["verify", "d"]);
    w
}

#[test]
fn a_file_where_a_folder_of_objects_belongs_stops_nothing() {
    a_stray_is_skipped_named_and_quarantined(|_, objects, hashes| {
        let fan = &hashes[0][..2];
        write(objects.join(fan), "junk\n");
        (objects.join(fan), in_fan_of(hashes, fan))
    });
}

#[test]
fn a_symlinked_folder_of_objects_is_never_followed() {
    let w = a_stray_is_skipped_named_and_quarantined(|w, objects, hashes| {
        // It points at a folder outside the disk that looks like a fan-out folder.
        let outside = w.path("outside");
        write(outside.join(&hashes[0]), "not the object");
        let fan = &hashes[0][..2];
        std::os::unix::fs::symlink(&outside, objects.join(fan)).unwrap();
        (objects.join(fan), in_fan_of(hashes, fan))
    });
    let outside: Vec<_> = std::fs::read_dir(w.path("outside"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(outside.len(), 1, "written outside the disk: {outside:?}");
    assert_eq!(std::fs::read(&outside[0]).unwrap(), b"not the object");
}

#[test]
fn a_file_not_named_by_a_hash_stops_nothing() {
    a_stray_is_skipped_named_and_quarantined(|_, objects, hashes| {
        let path = objects
            .join(&hashes[0][..2])
            .join("Notes about this disk.txt");
        write(&path, "mine");
        (path, 0)
    });
}

#[test]
fn a_folder_where_an_object_belongs_stops_nothing() {
    a_stray_is_skipped_named_and_quarantined(|_, objects, hashes| {
        let path = objects.join(&hashes[0][..2]).join(&hashes[0]);
        write(path.join("inside"), "a folder in the object's place");
        (path, 1)
    });
}

/// Where the object of content `data` lives in the folder-disk at `root`: its fan-out
/// folder is made.
fn object_path_of(root: &Path, data: &[u8]) -> std::path::PathBuf {
    let hex = dsbfs::util::hex(&dsbfs::scan::hash::sha256(data));
    let dir = root.join("objects").join(&hex[..2]);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(hex)
}

#[test]
fn objects_found_unrecorded_are_checked_and_adopted_or_removed() {
    let w = World::new();
    make_tree(&w, 10, 1000, 2000);
    add_disk(&w, "d", None);
    backup(&w, "d");
    let disk = w.path("d");
    // Three objects a killed backup might have left under final names: one the catalog
    // knows, whole; one it knows, with a byte flipped; one it does not know.
    let (sound, rotted) = (
        b"content of a new file".to_vec(),
        b"another new file".to_vec(),
    );
    write(w.path("src/new/sound"), &sound);
    write(w.path("src/new/rotted"), &rotted);
    w.ok(["scan", "-q"]);
    write(object_path_of(&disk, &sound), &sound);
    let mut flipped = rotted.clone();
    flipped[3] ^= 1;
    write(object_path_of(&disk, &rotted), &flipped);
    let garbage = object_path_of(&disk, b"content of a version long forgotten");
    write(&garbage, b"content of a version long forgotten");

    let r = backup(&w, "d");
    assert_eq!(check_disk(&w, "d"), (12, 12), "{r}");
    assert!(
        !garbage.exists(),
        "an object the catalog does not know is removed"
    );
    assert_eq!(r["orphans_adopted"], 1, "{r}");
    assert_eq!(r["orphans_removed"], 1, "{r}");
    assert_eq!(
        r["copied"]["objects"], 1,
        "the rotted one is copied again: {r}"
    );
    let errors = r["errors"].to_string();
    assert!(errors.contains("was not recorded and is damaged"), "{r}");
    let quarantined: Vec<_> = std::fs::read_dir(disk.join("quarantine"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(quarantined, [flipped]);
}

#[test]
fn a_backup_after_a_killed_one_leaves_no_unrecorded_object() {
    let w = World::new();
    make_tree(&w, 150, 500_000, 3_000_000);
    add_disk(&w, "k", None);
    let disk = w.path("k");
    let unrecorded = |w: &World| -> Vec<String> {
        let recorded: std::collections::BTreeSet<String> = recorded(w, "k").into_iter().collect();
        objects_on_disk(&disk)
            .into_iter()
            .filter(|h| !recorded.contains(h))
            .collect()
    };
    // A killed backup has named objects it did not record yet (they wait for one more
    // flush): kill later and later until one did.
    let mut left = Vec::new();
    for delay_ms in [20u64, 40, 60, 80, 100, 130, 160, 200, 250, 300, 400] {
        let mut child = w.command().args(["backup", "k", "-q"]).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        child.wait().unwrap();
        left = unrecorded(&w);
        if !left.is_empty() {
            break;
        }
    }
    assert!(!left.is_empty(), "no kill left an unrecorded object");
    // Every file changes: what the killed backup left is content of old versions now,
    // which the first snapshot still holds (history): adopted, and kept.
    for f in files_below(&w.path("src")) {
        let mut data = std::fs::read(&f).unwrap();
        data.push(b'+');
        std::fs::write(&f, data).unwrap();
    }
    w.ok(["scan", "-q"]);
    let r = backup(&w, "k");
    assert!(r["stopped"].is_null(), "{r}");
    assert_eq!(unrecorded(&w), Vec::<String>::new(), "{r}");
    assert_eq!(check_disk(&w, "k"), (150 + left.len(), 150 + left.len()));
    assert_eq!(r["orphans_adopted"], left.len(), "{r}");
}

#[test]
fn a_disk_unmounted_mid_backup_gets_everything_and_its_mount_point_nothing() {
    let w = World::new();
    make_tree(&w, 3000, 20_000, 60_000);
    let ld = LoopDisk::new(&w, 1 << 30);
    // The disk is the filesystem's root, as when a whole drive is a dsbfs disk: once
    // it is unmounted, its path is an empty folder of the parent filesystem.
    std::fs::remove_dir(ld.dir.join("lost+found")).unwrap();
    w.ok(["disk", "add", "--create", "d1", ld.dir.to_str().unwrap()]);
    let (status, err) = backup_struck_midway(&w, "d1", &ld.dir.join("objects"), 50, || {
        tool_ok("umount", &["-l".as_ref(), ld.dir.as_os_str()]);
    });
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("disk d1 was unmounted or replaced during the backup"),
        "{err}"
    );
    let beside: Vec<_> = std::fs::read_dir(&ld.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        beside.is_empty(),
        "written into the mount point on the parent filesystem: {beside:?}"
    );
    // Plugged in again: what the catalog records is there, and the catalog copy went
    // to the disk.
    ld.remount();
    let (recorded, _) = check_disk(&w, "d1");
    assert!(
        recorded < 3000,
        "{recorded} recorded: the backup did not stop"
    );
    assert!(ld.dir.join("dsbfs-catalog.db").is_file());
    let r = backup(&w, "d1");
    assert!(r["stopped"].is_null(), "{r}");
    assert_eq!(check_disk(&w, "d1"), (3000, 3000));
}
