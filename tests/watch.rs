//! `dsbfs watch` as a daemon: started in the background on temporary sources and
//! folder-disks, always stopped by its PID when the test ends, however it ends.
// Test diagnostics (latencies) go to the test's stderr, where cargo shows them on failure.
#![allow(clippy::disallowed_macros)]

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A `dsbfs watch` we started; killed (by its PID) and reaped when dropped.
struct Watch {
    child: Child,
    log: PathBuf,
}

impl Watch {
    fn start(w: &World, args: &[&str]) -> Watch {
        let log = w.path("watch.log");
        let child = w
            .command()
            .arg("watch")
            .args(args)
            .stderr(std::fs::File::create(&log).unwrap())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Watch { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn child_alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Sends SIGTERM and waits up to `limit` for the exit; None if it did not exit.
    fn terminate(&mut self, limit: Duration) -> Option<(ExitStatus, Duration)> {
        let sent = Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        while sent.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some((status, sent.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to `limit` for `done`; returns how long it took, or fails with `what` and
/// the watch's log.
fn within(limit: Duration, watch: &Watch, what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if done() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{what} did not happen within {limit:?}; watch log:\n{}",
            watch.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where the object holding `data` lives on a folder-disk.
fn object_path(disk: &Path, data: &[u8]) -> PathBuf {
    let hex = dsbfs::util::hex(&dsbfs::scan::hash::sha256(data));
    disk.join("objects").join(&hex[..2]).join(hex)
}

/// A world with a source at `/` and a connected folder-disk `usb`.
fn world_with_disk(files: &[(&str, &str)]) -> World {
    let w = World::new();
    for (rel, data) in files {
        write(w.path(&format!("src/{rel}")), data);
    }
    std::fs::create_dir_all(w.path("src")).unwrap();
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok([
        "disk",
        "add",
        "--create",
        "usb",
        w.path("usb").to_str().unwrap(),
    ]);
    w
}

#[test]
fn a_disk_plugged_in_while_watching_gets_backed_up() {
    let w = World::new();
    write(w.path("src/a.txt"), "family photo 1");
    write(w.path("src/b.txt"), "family photo 2");
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok([
        "disk",
        "add",
        "--create",
        "usb",
        w.path("usb").to_str().unwrap(),
    ]);
    std::fs::rename(w.path("usb"), w.path("drawer")).unwrap();
    let watch = Watch::start(&w, &["--poll", "200ms"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        w.json(["ls", "--json", "--on", "usb"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    std::fs::rename(w.path("drawer"), w.path("usb")).unwrap();
    within(
        Duration::from_secs(30),
        &watch,
        "the backup of the disk",
        || {
            let on = w
                .json(["ls", "--json", "--on", "usb"])
                .as_array()
                .unwrap()
                .len();
            on == 2 && w.path("usb/dsbfs-catalog.db").is_file()
        },
    );
    let copy = dsbfs::catalog::Catalog::open_readonly(&w.path("usb/dsbfs-catalog.db")).unwrap();
    assert_eq!(copy.disks().unwrap()[0].name, "usb");
    within(Duration::from_secs(5), &watch, "the log lines", || {
        let log = watch.log();
        log.contains("INFO disk usb connected at")
            && log.contains("backup to usb ended: copied 2 objects")
    });
}

/// Live mirroring with the default debounce: a new file and a modified file are on the
/// connected disk within 10 seconds of the change, and `log --json` lists what watch ran.
#[test]
fn a_new_and_a_modified_file_reach_a_connected_disk_within_10_seconds() {
    let w = world_with_disk(&[("photos/old.jpg", "an old photo"), ("notes.txt", "v1")]);
    let watch = Watch::start(&w, &["--poll", "1s"]);
    let usb = w.path("usb");
    within(Duration::from_secs(30), &watch, "the first backup", || {
        object_path(&usb, b"v1").is_file() && object_path(&usb, b"an old photo").is_file()
    });
    // Changes made once the watch is idle: it must have seen them through inotify.
    std::thread::sleep(Duration::from_millis(500));

    write(
        w.path("src/photos/2026/new.jpg"),
        "a new photo in a new folder",
    );
    let took = within(
        Duration::from_secs(10),
        &watch,
        "the new file's copy",
        || object_path(&usb, b"a new photo in a new folder").is_file(),
    );
    eprintln!("new file on the disk after {took:?}");
    write(w.path("src/notes.txt"), "v2, edited");
    let took = within(
        Duration::from_secs(10),
        &watch,
        "the modified file's copy",
        || object_path(&usb, b"v2, edited").is_file(),
    );
    eprintln!("modified file on the disk after {took:?}");
    assert_eq!(
        std::fs::read(object_path(&usb, b"v2, edited")).unwrap(),
        b"v2, edited"
    );
    within(
        Duration::from_secs(5),
        &watch,
        "the catalog records the copy",
        || w.ok(["where", "/notes.txt"]).contains("usb"),
    );

    let ok = |runs: &serde_json::Value, kind: &str| {
        runs.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["kind"] == kind && r["origin"] == "watch" && r["result"] == "ok")
            .count()
    };
    within(
        Duration::from_secs(5),
        &watch,
        "the last backup's end",
        || ok(&w.json(["log", "--json"]), "backup") >= 3,
    );
    let runs = w.json(["log", "--json"]);
    assert!(
        ok(&runs, "scan") >= 3,
        "a full scan and two of changed folders: {runs:#?}"
    );
    let runs = runs.as_array().unwrap();
    let partial = runs
        .iter()
        .find(|r| r["summary"].as_str().unwrap().contains("rescanned"))
        .expect("a partial scan");
    // RFC 3339 in UTC, one width: comparing the text compares the times.
    assert!(partial["finished"].as_str().unwrap() >= partial["started"].as_str().unwrap());
    let backup = runs.iter().rev().find(|r| r["kind"] == "backup").unwrap();
    assert_eq!(backup["disk"], "usb");
    assert_eq!(backup["host"], dsbfs::runs::host());
    assert!(backup["files"].as_u64().unwrap() >= 1, "{backup:#}");
}

/// A file being written is not copied before it has been quiet for the debounce time.
#[test]
fn a_file_still_being_written_waits_for_quiet() {
    let w = world_with_disk(&[("a", "a")]);
    let watch = Watch::start(&w, &["--poll", "1s", "--debounce", "1500ms"]);
    let usb = w.path("usb");
    within(Duration::from_secs(30), &watch, "the first backup", || {
        object_path(&usb, b"a").is_file()
    });
    let path = w.path("src/growing.log");
    let mut content = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        content.extend_from_slice(b"another line\n");
        std::fs::write(&path, &content).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let objects = walk_objects(&usb);
        assert_eq!(
            objects, 1,
            "something was copied while the file was written"
        );
    }
    within(
        Duration::from_secs(10),
        &watch,
        "the copy once quiet",
        || object_path(&usb, &content).is_file(),
    );
}

fn walk_objects(disk: &Path) -> usize {
    final_objects(disk).len()
}

/// Every file under a final object name on the disk.
fn final_objects(disk: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(fans) = std::fs::read_dir(disk.join("objects")) else {
        return out;
    };
    for fan in fans {
        for e in std::fs::read_dir(fan.unwrap().path()).unwrap() {
            let p = e.unwrap().path();
            if !p
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(".tmp-")
            {
                out.push(p);
            }
        }
    }
    out
}

fn temporaries(disk: &Path) -> usize {
    let Ok(fans) = std::fs::read_dir(disk.join("objects")) else {
        return 0;
    };
    fans.flat_map(|f| std::fs::read_dir(f.unwrap().path()).unwrap())
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .starts_with(".tmp-")
        })
        .count()
}

/// SIGTERM while a large object is being copied: exit 0 within 5 seconds, the catalog
/// sound, every recorded copy on the disk, nothing under a final name but whole objects.
#[test]
fn sigterm_mid_backup_exits_0_within_5_seconds_leaving_a_consistent_catalog() {
    let w = world_with_disk(&[]);
    for i in 0..50 {
        write(w.path(&format!("src/small/{i}")), format!("small file {i}"));
    }
    // A large file (sparse: cheap to make and to hash) whose copy takes seconds.
    let big = std::fs::File::create(w.path("src/big.img")).unwrap();
    big.set_len(1 << 30).unwrap();
    std::fs::write(w.path("src/big-tail"), "x").unwrap();
    let mut watch = Watch::start(&w, &["--poll", "1s"]);
    let usb = w.path("usb");
    within(Duration::from_secs(60), &watch, "a copy under way", || {
        temporaries(&usb) > 0
    });
    let (status, took) = watch
        .terminate(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("watch did not exit within 5 s; log:\n{}", watch.log()));
    assert!(status.success(), "{status}; log:\n{}", watch.log());
    eprintln!("exited {took:?} after SIGTERM");
    assert!(watch.log().contains("SIGTERM received: stopping"));

    let db = read_only(&w.catalog).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let fk: i64 = db
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0);
    // Whatever has a final name is whole: its bytes hash to its name.
    for p in final_objects(&usb) {
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        let data = std::fs::read(&p).unwrap();
        assert_eq!(
            dsbfs::util::hex(&dsbfs::scan::hash::sha256(&data)),
            name,
            "a partial object under a final name"
        );
    }
    // Every copy the catalog records is there and sound.
    let out = w.run(["verify", "usb", "--check", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["missing"].as_array().unwrap().len(), 0, "{v:#}");
    assert_eq!(v["damaged"].as_array().unwrap().len(), 0, "{v:#}");
    let big_hash = {
        let f = w.json(["where", "/big.img", "--json"]);
        f[0]["sha256"].as_str().unwrap().to_string()
    };
    assert!(
        !usb.join("objects")
            .join(&big_hash[..2])
            .join(&big_hash)
            .exists(),
        "the large object was abandoned, not finished"
    );
    let runs = w.json(["log", "--json"]);
    let last_backup = runs
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|r| r["kind"] == "backup")
        .unwrap()
        .clone();
    assert_eq!(last_backup["result"], "interrupted", "{last_backup:#}");
    // The next backup carries on.
    w.ok(["backup", "usb", "-q"]);
    assert!(
        usb.join("objects")
            .join(&big_hash[..2])
            .join(&big_hash)
            .is_file()
    );
}

/// A script that records what it was given.
fn recorder(w: &World) -> String {
    let script = w.path("notify.sh");
    let out = w.path("told");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nn=$(date +%s%N)\ncat > {o}/$n.stdin\nprintf '%s' \"$DSBFS_REPORT_JSON\" > {o}/$n.json\nprintf '%s' \"$DSBFS_SUBJECT\" > {o}/$n.subject\n",
            o = out.display()
        ),
    )
    .unwrap();
    format!("sh {}", script.display())
}

/// What the recorder got: (subject, stdin, JSON), in order.
fn told(w: &World) -> Vec<(String, String, serde_json::Value)> {
    let dir = w.path("told");
    let mut subjects: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "subject"))
        .collect();
    subjects.sort();
    subjects
        .iter()
        .map(|s| {
            let read = |ext: &str| std::fs::read_to_string(s.with_extension(ext)).unwrap();
            (
                read("subject"),
                read("stdin"),
                serde_json::from_str(&read("json")).unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_notify_script_receives_a_report_after_a_failed_backup() {
    let w = world_with_disk(&[("a.txt", "precious")]);
    // A folder where the backup writes its catalog copy: the backup fails at its end.
    std::fs::create_dir_all(w.path("usb/dsbfs-catalog.db/in-the-way")).unwrap();
    let cmd = recorder(&w);
    let watch = Watch::start(&w, &["--poll", "1s", "--notify", &cmd]);
    within(Duration::from_secs(30), &watch, "the notification", || {
        told(&w)
            .iter()
            .any(|(s, _, _)| s.contains("backup to usb failed"))
    });
    let (subject, text, json) = told(&w)
        .into_iter()
        .find(|(s, _, _)| s.contains("backup to usb failed"))
        .unwrap();
    assert!(
        subject.starts_with(&format!("dsbfs on {}: ", dsbfs::runs::host())),
        "{subject}"
    );
    assert!(text.starts_with("dsbfs report for "), "{text}");
    assert!(text.contains("catalog copy could not be written"), "{text}");
    assert!(text.contains("problems, newest first"), "{text}");
    assert!(
        json["reason"]
            .as_str()
            .unwrap()
            .contains("backup to usb failed"),
        "{json:#}"
    );
    let problem = &json["problems"][0];
    assert_eq!(
        (&problem["kind"], &problem["result"]),
        (&"backup".into(), &"failed".into())
    );
    assert!(
        watch.log().contains("ERROR backup to usb failed"),
        "{}",
        watch.log()
    );
}

#[test]
fn the_report_goes_to_the_notify_script_every_report_period() {
    let w = world_with_disk(&[("a.txt", "precious")]);
    let cmd = recorder(&w);
    let watch = Watch::start(
        &w,
        &["--poll", "1s", "--notify", &cmd, "--report-every", "3s"],
    );
    within(Duration::from_secs(20), &watch, "a report", || {
        told(&w).iter().any(|(s, _, _)| s.ends_with(": report"))
    });
    let (_, text, json) = told(&w)
        .into_iter()
        .find(|(s, _, _)| s.ends_with(": report"))
        .unwrap();
    assert!(text.contains("files by copies"), "{text}");
    assert_eq!(json["disks"][0]["name"], "usb");
    assert!(
        !told(&w).iter().any(|(s, _, _)| s.contains("failed")),
        "nothing failed, nothing else was told"
    );
}

/// While a `dsbfs backup` started by hand holds the catalog, watch waits for it.
#[test]
fn watch_waits_while_another_dsbfs_holds_the_catalog() {
    let w = world_with_disk(&[("a", "first")]);
    let watch = Watch::start(&w, &["--poll", "1s", "--debounce", "200ms"]);
    let usb = w.path("usb");
    within(Duration::from_secs(30), &watch, "the first backup", || {
        object_path(&usb, b"first").is_file()
    });
    std::thread::sleep(Duration::from_millis(300));
    let held =
        dsbfs::runs::lock::WorkLock::acquire(&w.catalog, "backup of disk usb (by hand)").unwrap();
    write(w.path("src/b"), "second");
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !object_path(&usb, b"second").exists(),
        "the watch scanned or backed up while the catalog was held"
    );
    assert!(
        watch
            .log()
            .contains("waiting for another dsbfs to finish with the catalog")
            && watch.log().contains("backup of disk usb (by hand)"),
        "{}",
        watch.log()
    );
    drop(held);
    within(
        Duration::from_secs(10),
        &watch,
        "the copy once released",
        || object_path(&usb, b"second").is_file(),
    );
}

/// A backup that leaves files on no disk (the disk is too small) is told, once.
#[test]
fn files_left_on_no_disk_by_a_backup_are_told() {
    let w = World::new();
    write(w.path("src/small.txt"), "fits");
    write(w.path("src/big.bin"), vec![7u8; 200_000]);
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok([
        "disk",
        "add",
        "--create",
        "usb",
        w.path("usb").to_str().unwrap(),
        "--size",
        "64K",
    ]);
    let cmd = recorder(&w);
    let watch = Watch::start(&w, &["--poll", "1s", "--notify", &cmd]);
    within(Duration::from_secs(30), &watch, "the notification", || {
        told(&w).iter().any(|(s, _, _)| s.contains("on no disk"))
    });
    let (subject, text, _) = told(&w)
        .into_iter()
        .find(|(s, _, _)| s.contains("on no disk"))
        .unwrap();
    assert!(
        subject.ends_with(": 1 file (195 KiB) is on no disk after the backup"),
        "{subject}"
    );
    assert!(text.contains("AT RISK: 2 files"), "{text}");
    // A later change backs up again, leaving the same file on no disk: not told again.
    write(w.path("src/another.txt"), "also fits");
    within(Duration::from_secs(15), &watch, "the next backup", || {
        watch.log().matches("backup to usb ended").count() >= 2
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        told(&w)
            .iter()
            .filter(|(s, _, _)| s.contains("on no disk"))
            .count(),
        1,
        "{}",
        watch.log()
    );
}

/// A disk that leaves mid-backup: the failure is logged, and watch goes on with the next
/// event (a change, the disk coming back).
#[test]
fn a_disk_vanishing_mid_backup_is_logged_and_the_next_event_goes_on() {
    let w = world_with_disk(&[("a.txt", "first")]);
    let big = std::fs::File::create(w.path("src/big.img")).unwrap();
    big.set_len(400 << 20).unwrap();
    let mut watch = Watch::start(&w, &["--poll", "200ms"]);
    let usb = w.path("usb");
    within(Duration::from_secs(60), &watch, "a copy under way", || {
        temporaries(&usb) > 0
    });
    std::fs::rename(&usb, w.path("usb.away")).unwrap();
    within(
        Duration::from_secs(60),
        &watch,
        "the failure and the disconnection",
        || {
            let log = watch.log();
            log.contains("ERROR backup to usb failed") && log.contains("disk usb disconnected")
        },
    );
    write(
        w.path("src/while-away.txt"),
        "written while the disk was away",
    );
    within(
        Duration::from_secs(10),
        &watch,
        "the scan of the change",
        || watch.log().contains("rescanned") || watch.log().contains("of changed folders"),
    );
    std::fs::rename(w.path("usb.away"), &usb).unwrap();
    within(
        Duration::from_secs(60),
        &watch,
        "the backup once it is back",
        || {
            object_path(&usb, b"written while the disk was away").is_file()
                && watch.log().matches("INFO disk usb connected").count() == 2
        },
    );
    assert!(watch.child_alive(), "{}", watch.log());
}
