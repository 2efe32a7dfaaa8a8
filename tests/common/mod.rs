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
