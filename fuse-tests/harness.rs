//! What every mount test needs: a source tree with the hard cases, a backed-up world,
//! mounts that are always undone (even when an assertion fails), and the real tools.

use crate::common::*;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A mount made by a test. Dropping it unmounts (`fusermount3 -u`, then a lazy
/// `umount -l`) by path and stops only the daemon this test started.
pub struct Mounted {
    pub dir: PathBuf,
    pub pid: Option<i32>,
    pub log: PathBuf,
}

impl Mounted {
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the daemon is gone (after an unmount).
    pub fn wait_exit(&self) -> bool {
        let Some(pid) = self.pid else { return true };
        wait_until(Duration::from_secs(10), || !alive(pid))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        unmount(&self.dir);
        if let Some(pid) = self.pid
            && !wait_until(Duration::from_secs(5), || !alive(pid))
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Undoes any mount at `dir`: politely first, then lazily.
pub fn unmount(dir: &Path) {
    if is_mounted(dir) {
        let _ = Command::new("fusermount3")
            .arg("-u")
            .arg(dir)
            .stderr(Stdio::null())
            .status();
    }
    if is_mounted(dir) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(dir)
            .stderr(Stdio::null())
            .status();
    }
}

/// A plain (non-dsbfs) mount made by a test, such as a read-only bind mount or a loop
/// device's filesystem; undone lazily on drop.
pub struct OtherMount(pub PathBuf);

impl Drop for OtherMount {
    fn drop(&mut self) {
        unmount(&self.0);
    }
}

pub fn alive(pid: i32) -> bool {
    // A zombie has exited; only a live process has a non-Z state.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
                .unwrap_or(false)
        })
        .unwrap_or(false)
}

pub fn is_mounted(dir: &Path) -> bool {
    let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    dsbfs::mounts::mounts()
        .iter()
        .any(|m| m.mount_point == abs || m.mount_point == dir)
}

pub fn is_dsbfs_mount(dir: &Path) -> bool {
    dsbfs::mounts::mounts()
        .iter()
        .any(|m| m.mount_point == dir && m.fstype == "fuse.dsbfs")
}

pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// A process stopped (SIGSTOP) until dropped, when it resumes whatever happened.
pub struct Frozen(i32);

impl Frozen {
    pub fn new(pid: i32) -> Frozen {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGSTOP,
        )
        .unwrap();
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0),
            nix::sys::signal::Signal::SIGCONT,
        );
    }
}

/// Mounts `catalog` in the background with these options (plus a log in the world) and
/// insists that it worked: a machine that cannot mount fails the test.
pub fn mount(w: &World, catalog: &Path, name: &str, opts: &[&str]) -> Mounted {
    let dir = w.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    let dir = std::fs::canonicalize(&dir).unwrap();
    let log = w.path(&format!("{name}.log"));
    let mut o = vec![format!("log={}", log.display())];
    o.extend(opts.iter().map(|s| s.to_string()));
    let out = w
        .command()
        .arg("-v")
        .arg("mount")
        .arg(catalog)
        .arg(&dir)
        .arg("-o")
        .arg(o.join(","))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let pid = stderr
        .split("(pid ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok());
    let m = Mounted { dir, pid, log };
    assert!(
        out.status.success(),
        "dsbfs mount failed ({:?}): {stderr}\nlog: {}",
        out.status,
        m.log_text()
    );
    assert!(pid.is_some(), "no daemon pid in: {stderr}");
    assert!(
        is_dsbfs_mount(&m.dir),
        "mount returned before the mount was there"
    );
    m
}

/// Runs a tool and returns its output (not checked).
pub fn tool(prog: &str, args: &[&OsStr]) -> Output {
    Command::new(prog)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {prog}: {e} (scripts/test.sh installs it)"))
}

/// Runs a tool and insists on success; returns stdout.
pub fn run_ok(prog: &str, args: &[&OsStr]) -> Vec<u8> {
    let out = tool(prog, args);
    assert!(
        out.status.success(),
        "{prog} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out.stdout
}

pub fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Deterministic bytes (xorshift), so failures are reproducible.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn set_mtime(path: &Path, secs: i64, nsecs: i64) {
    let t = nix::sys::time::TimeSpec::new(secs, nsecs);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
}

/// A source tree with what breaks backup tools: odd names (non-UTF-8, newline, 255
/// bytes), symlinks (relative, absolute, dangling), empty folders and files, a hard
/// link, distinct modes (setuid, sticky, private), owners and nanosecond mtimes.
pub fn build_tree(src: &Path) {
    for (i, name) in odd_names().iter().enumerate() {
        write(bytes_path(src, name), bytes(i as u64, 100 + i * 37));
    }
    write(src.join("photos/2024/big.raw"), bytes(100, 3 << 20));
    write(src.join("photos/2024/medium.jpg"), bytes(101, 700_000));
    for i in 0..30 {
        write(
            src.join(format!("photos/2023/img{i:03}.jpg")),
            bytes(200 + i, 1000 + (i as usize) * 3001),
        );
    }
    write(src.join("docs/empty.txt"), b"");
    write(src.join("docs/notes.txt"), b"family notes\n");
    std::fs::hard_link(src.join("docs/notes.txt"), src.join("docs/notes-link.txt")).unwrap();
    std::fs::create_dir_all(src.join("empty/deeper")).unwrap();
    std::fs::create_dir_all(src.join("private")).unwrap();
    write(src.join("private/secret.txt"), b"only the owner");
    std::fs::create_dir_all(src.join("shared")).unwrap();
    write(src.join("bin/tool.sh"), b"#!/bin/sh\necho hi\n");
    write(src.join("bin/setuid"), b"not really");
    write(src.join("readonly.txt"), b"read only");
    std::os::unix::fs::symlink("photos/2024", src.join("link-to-dir")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", src.join("dangling")).unwrap();
    std::os::unix::fs::symlink(
        OsStr::from_bytes(b"caf\xe9-latin1.txt"),
        src.join("link-odd"),
    )
    .unwrap();

    let mode = |p: &str, m: u32| {
        std::fs::set_permissions(src.join(p), std::fs::Permissions::from_mode(m)).unwrap()
    };
    mode("bin/tool.sh", 0o755);
    mode("bin/setuid", 0o4755);
    mode("readonly.txt", 0o444);
    mode("private/secret.txt", 0o600);
    mode("private", 0o700);
    mode("shared", 0o1777);
    chown(&src.join("private"), 1000, 1000);
    chown(&src.join("private/secret.txt"), 1000, 1000);
    chown(&src.join("readonly.txt"), 12345, 54321);
    chown(&src.join("dangling"), 1000, 100);
    // Times last, bottom-up, since creating entries moves their folder's mtime.
    let mut all = Vec::new();
    walk(src, &mut all);
    all.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    for (i, p) in all.iter().enumerate() {
        set_mtime(
            p,
            1_600_000_000 + i as i64 * 86_400,
            (i as i64 * 7_919_111) % 1_000_000_000,
        );
    }
    set_mtime(src, 1_500_000_000, 123_456_789);
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            walk(&p, out);
        }
        out.push(p);
    }
}

/// Every regular file under `root` with its bytes, keyed by relative path.
pub fn files_under(root: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut all = Vec::new();
    walk(root, &mut all);
    all.into_iter()
        .filter(|p| p.symlink_metadata().unwrap().is_file())
        .map(|p| {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec();
            (rel, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// A world with the tree at `src`, scanned, and backed up: everything on d1, and on d2
/// (capped at `d2_cap`) what fits, the largest first.
pub fn backed_up(d2_cap: &str) -> World {
    let w = World::new();
    let src = w.path("src");
    std::fs::create_dir_all(&src).unwrap();
    build_tree(&src);
    w.ok([os("source"), os("add"), os("/"), src.as_os_str()]);
    w.ok(["scan"]);
    w.ok([
        os("disk"),
        os("add"),
        os("--create"),
        os("d1"),
        w.path("d1").as_os_str(),
    ]);
    w.ok([
        os("disk"),
        os("add"),
        os("--create"),
        os("d2"),
        w.path("d2").as_os_str(),
        os("--size"),
        os(d2_cap),
    ]);
    w.ok(["backup", "d1"]);
    w.ok(["backup", "d2"]);
    w
}

/// Which disks hold each current file (by virtual path without the leading '/').
pub fn holders(w: &World) -> BTreeMap<Vec<u8>, Vec<String>> {
    let cat = dsbfs::catalog::Catalog::open_readonly(&w.catalog).unwrap();
    cat.current_files()
        .unwrap()
        .into_iter()
        .filter_map(|(path, v)| {
            let obj = v.object?;
            let names = cat
                .holders(obj)
                .unwrap()
                .into_iter()
                .map(|d| d.name)
                .collect();
            Some((path[1..].to_vec(), names))
        })
        .collect()
}
