//! Shared helpers for the integration and FUSE tests: a temporary world with its own
//! catalog, and a way to run the real `dsbfs` binary in it.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const DSBFS: &str = env!("CARGO_BIN_EXE_dsbfs");

pub struct World {
    pub dir: tempfile::TempDir,
    pub catalog: PathBuf,
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::Builder::new()
            .prefix("dsbfs-test-")
            .tempdir()
            .unwrap();
        let catalog = dir.path().join("catalog.db");
        World { dir, catalog }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(DSBFS);
        c.env("DSBFS_CATALOG", &self.catalog).env_remove("RUST_LOG");
        c
    }

    /// Runs dsbfs with these arguments and returns what it did.
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command().args(args).output().expect("dsbfs runs")
    }

    /// Runs dsbfs and insists on exit code `code`; returns stdout.
    pub fn expect<I, S>(&self, code: i32, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let out = self.run(&args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "dsbfs {args:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.expect(0, args)
    }

    /// Runs a command that prints JSON (exit 0 or 3) and parses it.
    pub fn json<I, S>(&self, args: I) -> serde_json::Value
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.run(args);
        assert!(
            matches!(out.status.code(), Some(0) | Some(3)),
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("valid JSON")
    }

    /// The bytes of every file with content, as `status` counts them.
    pub fn total_bytes(&self) -> u64 {
        self.json(["status", "--json"])["protection"]["by_copies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["bytes"].as_u64().unwrap())
            .sum()
    }

    /// The paths `dsbfs ls --print0` lists (raw bytes).
    pub fn ls_paths(&self) -> Vec<Vec<u8>> {
        let out = self.run(["ls", "--print0"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| p.to_vec())
            .collect()
    }
}

/// A plain SQLite connection to a catalog, for tests that look at what dsbfs recorded
/// (only the library speaks SQL; tests may check its work).
pub fn read_only(catalog: &Path) -> rusqlite::Result<rusqlite::Connection> {
    rusqlite::Connection::open_with_flags(catalog, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
}

pub fn write(path: impl AsRef<Path>, data: impl AsRef<[u8]>) {
    let path = path.as_ref();
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(path, data).unwrap();
}

pub fn bytes_path(dir: &Path, name: &[u8]) -> PathBuf {
    dir.join(OsStr::from_bytes(name))
}

/// A source tree with the names that break other tools.
pub fn odd_names() -> Vec<Vec<u8>> {
    vec![
        b"caf\xe9-latin1.txt".to_vec(),
        b"new\nline.txt".to_vec(),
        vec![b'n'; 255],
        b" leading space".to_vec(),
        "ünïcödé 写真.jpg".as_bytes().to_vec(),
    ]
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Everything a restore or a mount must reproduce about a tree: per path, its type,
/// mode, mtime (ns), owner, size and content hash or link target.
pub fn tree_signature(root: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let what = if m.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else if m.file_type().is_symlink() {
                format!("link->{}", std::fs::read_link(&p).unwrap().display())
            } else {
                format!(
                    "file {} {}",
                    m.len(),
                    dsbfs::util::hex(&dsbfs::scan::hash::sha256(&std::fs::read(&p).unwrap()))
                )
            };
            let rel = p.strip_prefix(root).unwrap();
            let mtime = if m.file_type().is_symlink() {
                0
            } else {
                m.mtime() * 1_000_000_000 + m.mtime_nsec()
            };
            out.push(format!(
                "{:?} {what} mode={:o} uid={} gid={} mtime={mtime}",
                rel.as_os_str(),
                m.mode() & 0o7777,
                m.uid(),
                m.gid()
            ));
        }
    }
    out.sort();
    out
}

/// A source tree with everything restore and mount must get right: odd names, symlinks,
/// empty folders, modes, old mtimes, a hard link, files of several sizes.
pub fn rich_tree(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for (i, name) in odd_names().iter().enumerate() {
        write(
            bytes_path(&root.join("odd"), name),
            vec![i as u8; 1000 + i * 300],
        );
    }
    for i in 0..30 {
        write(
            root.join(format!("photos/{}/img{i:03}.jpg", 2000 + i % 3)),
            vec![(i * 7) as u8; 5000 + i * 4000],
        );
    }
    write(root.join("docs/private.txt"), "only mine");
    std::fs::set_permissions(
        root.join("docs/private.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    write(root.join("bin/tool.sh"), "#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        root.join("bin/tool.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    write(root.join("empty-file"), "");
    std::fs::create_dir_all(root.join("empty/nested/deeper")).unwrap();
    std::os::unix::fs::symlink("../docs/private.txt", root.join("bin/link-to-doc")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/dangling", root.join("dangling")).unwrap();
    std::fs::hard_link(
        root.join("photos/2000/img000.jpg"),
        root.join("photos/hardlinked.jpg"),
    )
    .unwrap();
    write(
        root.join("big.bin"),
        (0..3_000_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<_>>(),
    );
    // Old, distinct mtimes everywhere (folders last, since writing into them moves theirs).
    let mut paths: Vec<_> = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                stack.push(p.clone());
            }
            paths.push(p);
        }
    }
    paths.push(root.to_path_buf());
    paths.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for (i, p) in paths.iter().enumerate() {
        let t = nix::sys::time::TimeSpec::new(1_500_000_000 + i as i64 * 3600, 123_456_789);
        nix::sys::stat::utimensat(
            std::os::fd::AsFd::as_fd(&std::fs::File::open("/").unwrap()),
            p.as_path(),
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }
}

/// Undoes a plain mount (tmpfs, bind mount) a test made, lazily, even when it fails.
pub struct Unmount(pub PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A loop device; detached on drop (after its filesystem is unmounted).
pub struct Loop(pub String);

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
    }
}

/// Runs a system tool and insists that it succeeds; returns its stdout.
pub fn tool_ok(prog: &str, args: &[&OsStr]) -> Vec<u8> {
    let out = Command::new(prog)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {prog}: {e}"));
    assert!(
        out.status.success(),
        "{prog} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// An ext4 filesystem on a loop device, mounted at `dir`, that a test can break like
/// a dying or unplugged drive. Needs root.
pub struct LoopDisk {
    pub dir: PathBuf,
    image: PathBuf,
    dev: String,
    // Field order: unmount before detaching.
    _mount: Unmount,
    _loop: Loop,
}

impl LoopDisk {
    pub fn new(w: &World, size: u64) -> LoopDisk {
        assert!(
            is_root(),
            "a loop device needs root (CI runs the tests as root)"
        );
        let image = w.path("disk.img");
        std::fs::File::create(&image)
            .unwrap()
            .set_len(size)
            .unwrap();
        let out = tool_ok(
            "losetup",
            &[OsStr::new("-f"), OsStr::new("--show"), image.as_os_str()],
        );
        let dev = String::from_utf8(out).unwrap().trim().to_string();
        let lp = Loop(dev.clone());
        tool_ok("mkfs.ext4", &[OsStr::new("-q"), OsStr::new(&dev)]);
        let dir = w.path("loopdisk");
        std::fs::create_dir(&dir).unwrap();
        tool_ok("mount", &[OsStr::new(&dev), dir.as_os_str()]);
        LoopDisk {
            dir: dir.clone(),
            image,
            dev,
            _mount: Unmount(dir),
            _loop: lp,
        }
    }

    /// Unmounts the filesystem as a user would before unplugging the drive (no lazy
    /// unmount): whether it worked, and umount's complaint if not.
    pub fn try_unmount(&self) -> Result<(), String> {
        let out = Command::new("umount").arg(&self.dir).output().unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// Mounts the filesystem again, as when the drive is plugged back in.
    pub fn remount(&self) {
        tool_ok("mount", &[OsStr::new(&self.dev), self.dir.as_os_str()]);
    }

    /// Drops the disk's cached pages and cuts the device short: reads and writes of
    /// most of it now fail with EIO, as on a drive that died or was pulled.
    pub fn fail(&self) {
        for p in files_below(&self.dir) {
            if let Ok(f) = std::fs::File::open(&p) {
                let _ = nix::fcntl::posix_fadvise(
                    &f,
                    0,
                    0,
                    nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
                );
            }
        }
        std::fs::OpenOptions::new()
            .write(true)
            .open(&self.image)
            .unwrap()
            .set_len(1 << 20)
            .unwrap();
        tool_ok("losetup", &[OsStr::new("-c"), OsStr::new(&self.dev)]);
    }
}

/// The processes with a file, working folder or root below `dir`, one per line (what
/// keeps a filesystem busy), for failure messages.
pub fn processes_using(dir: &Path) -> String {
    let mut out = String::new();
    for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
        let fds = std::fs::read_dir(p.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten();
        let links = fds
            .map(|fd| fd.path())
            .chain(["cwd", "root"].map(|l| p.path().join(l)));
        for link in links {
            if let Ok(t) = std::fs::read_link(&link)
                && t.starts_with(dir)
            {
                out += &format!("{} ({}): {}\n", link.display(), comm.trim(), t.display());
            }
        }
    }
    out
}

/// Every regular file below `dir`.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() {
            out.extend(files_below(&e.path()));
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    out
}
