//! `dsbfs mount` as a command: foreground mode and its signals, and errors that are
//! one clear line with the contract's exit codes.

use crate::common::*;
use crate::harness::*;
use std::process::Stdio;
use std::time::Duration;

#[test]
fn foreground_mode_logs_to_stderr_and_unmounts_on_sigterm_and_sigint() {
    let w = backed_up("100M");
    let mnt = w.path("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mnt = std::fs::canonicalize(&mnt).unwrap();
    for signal in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGINT,
    ] {
        let child = w
            .command()
            .arg("mount")
            .arg(&mnt)
            .arg("-f")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let guard = Mounted {
            dir: mnt.clone(),
            pid: Some(child.id() as i32),
            log: w.path("none"),
        };
        assert!(
            wait_until(Duration::from_secs(20), || is_dsbfs_mount(&mnt)),
            "the foreground mount did not appear"
        );
        assert_eq!(
            std::fs::read(mnt.join("docs/notes.txt")).unwrap(),
            b"family notes\n"
        );
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{signal}: {stderr}");
        assert!(!is_mounted(&mnt), "still mounted after {signal}");
        assert!(stderr.contains("mounted"), "{stderr}");
        assert!(stderr.contains("unmounted"), "{stderr}");
        drop(guard);
    }
}

/// Runs `dsbfs ARGS` and checks the exit code and that stderr is one line containing `what`.
fn fails(w: &World, code: i32, args: &[&std::ffi::OsStr], what: &str) {
    let out = w.command().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
    assert!(stderr.starts_with("dsbfs: "), "{stderr}");
    assert!(
        stderr.contains(what),
        "{args:?}: expected {what:?} in {stderr}"
    );
}

#[test]
fn mount_errors_are_one_line_with_exit_codes() {
    let w = backed_up("100M");
    let mnt = w.path("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let cat = w.catalog.as_os_str();
    let m = os("mount");
    fails(
        &w,
        1,
        &[m, cat, w.path("nowhere").as_os_str()],
        "does not exist",
    );
    let text = w.path("notes.txt");
    write(
        &text,
        "not a database, just text that is long enough to be read as a file header",
    );
    fails(
        &w,
        1,
        &[m, text.as_os_str(), mnt.as_os_str()],
        "not a dsbfs catalog",
    );
    fails(
        &w,
        1,
        &[m, w.path("missing.db").as_os_str(), mnt.as_os_str()],
        "no catalog",
    );
    fails(&w, 1, &[m, cat, text.as_os_str()], "not a folder");
    fails(
        &w,
        2,
        &[m, cat, mnt.as_os_str(), os("-o"), os("rw")],
        "read-only",
    );
    fails(
        &w,
        2,
        &[m, cat, mnt.as_os_str(), os("-o"), os("ro,bogus_opt")],
        "bogus_opt",
    );
    // A catalog that was never scanned has nothing to show.
    let empty = World::new();
    empty.ok(["source", "list"]);
    fails(
        &w,
        1,
        &[m, empty.catalog.as_os_str(), mnt.as_os_str()],
        "no finished scan",
    );
    assert!(!is_mounted(&mnt));
    // A machine without FUSE: a private mount namespace whose /dev lacks /dev/fuse.
    let out = std::process::Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs none /dev && exec \"$0\" \"$@\"",
        ])
        .arg(DSBFS)
        .args([m, cat, mnt.as_os_str()])
        .env("DSBFS_CATALOG", &w.catalog)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot mount FUSE filesystems"), "{stderr}");

    // Busy: something is mounted there already.
    let first = mount(&w, &w.catalog, "mnt", &[]);
    fails(&w, 1, &[m, cat, first.dir.as_os_str()], "busy");
    // A mount whose process died leaves a dead mount: named, not mounted over.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first.pid.unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(first.wait_exit());
    fails(&w, 1, &[m, cat, first.dir.as_os_str()], "dead mount");
    // The global catalog is the default, and so is a log under $XDG_STATE_HOME.
    drop(first);
    let out = w
        .command()
        .env("XDG_STATE_HOME", w.path("state"))
        .arg("mount")
        .arg(&mnt)
        .output()
        .unwrap();
    let _guard = Mounted {
        dir: std::fs::canonicalize(&mnt).unwrap(),
        pid: None,
        log: w.path("none"),
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty(), "a mount says nothing when it works");
    assert!(mnt.join("docs/notes.txt").exists());
    let log = std::fs::read_to_string(w.path("state/dsbfs/mount.log")).unwrap();
    assert!(log.contains("mounted"), "{log}");
}

#[test]
fn a_background_mount_keeps_nothing_it_inherited() {
    let w = World::new();
    write(w.path("src/a.txt"), "a");
    w.ok([os("source"), os("add"), os("/"), w.path("src").as_os_str()]);
    w.ok(["scan", "-q"]);
    let mnt = w.path("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mnt = std::fs::canonicalize(&mnt).unwrap();
    let lock = w.path("LOCK");
    let log = w.path("mnt.log");
    // flock holds LOCK open while dsbfs mount runs, and dsbfs inherits that descriptor.
    let out = std::process::Command::new("flock")
        .arg(&lock)
        .arg(DSBFS)
        .args([os("-v"), os("mount")])
        .arg(&w.catalog)
        .arg(&mnt)
        .arg("-o")
        .arg(format!("log={}", log.display()))
        .env("DSBFS_CATALOG", &w.catalog)
        .output()
        .expect("flock runs (util-linux)");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let pid: Option<i32> = stderr
        .split("(pid ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok());
    let mounted = Mounted {
        dir: mnt.clone(),
        pid,
        log,
    };
    assert!(
        out.status.success(),
        "{stderr}\nlog: {}",
        mounted.log_text()
    );
    assert!(is_dsbfs_mount(&mnt), "not mounted: {stderr}");
    let pid = pid.expect("the daemon's pid in -v's line");
    assert!(alive(pid));
    let lock_free = std::process::Command::new("flock")
        .args([os("-n"), lock.as_os_str(), os("true")])
        .status()
        .unwrap();
    assert!(lock_free.success(), "the mount daemon still holds LOCK");
    let held: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
        .collect();
    assert!(!held.contains(&lock), "{held:?}");
    let names: Vec<_> = std::fs::read_dir(&mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["a.txt"], "the mount serves");
    drop(mounted);
    assert!(!is_mounted(&mnt));
}
