//! Hashing workers: SHA-256 of files on all cores, refusing a hash when the file
//! changed while it was read.

use crate::catalog::{Kind, NodeAttr};
use crossbeam_channel::{Receiver, Sender};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// How often a file that keeps changing under the reader is tried.
const ATTEMPTS: usize = 3;
/// Files waiting for a hashing thread before `submit` waits.
const QUEUED_MAX: usize = 1024;

pub struct Job<T> {
    pub path: PathBuf,
    pub tag: T,
}

pub enum Outcome {
    /// The content's hash and the file's attributes while it was read.
    Hashed([u8; 32], NodeAttr),
    /// The file kept changing while it was read.
    Unstable,
    Failed(std::io::Error),
}

pub struct Done<T> {
    pub path: PathBuf,
    pub tag: T,
    pub outcome: Outcome,
}

/// A pool of hashing threads fed by a bounded queue.
pub struct Pool<T> {
    jobs: Option<Sender<Job<T>>>,
    pub done: Receiver<Done<T>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl<T: Send + 'static> Pool<T> {
    pub fn new(threads: usize, on_bytes: impl Fn(u64) + Send + Sync + Clone + 'static) -> Pool<T> {
        let (jobs, rx) = crossbeam_channel::bounded::<Job<T>>(QUEUED_MAX);
        let (tx, done) = crossbeam_channel::unbounded();
        let threads = (0..threads.max(1))
            .map(|_| {
                let rx = rx.clone();
                let tx = tx.clone();
                let on_bytes = on_bytes.clone();
                std::thread::spawn(move || {
                    // Small enough to stay in the core's L2 cache between the
                    // kernel's copy into it and the hashing: less system time than
                    // 1 MiB on the same files, for 8 times the read calls.
                    let mut buf = vec![0u8; 128 << 10];
                    for job in rx {
                        if crate::interrupt::requested() {
                            break;
                        }
                        let outcome = hash_file(&job.path, &mut buf, &on_bytes);
                        if tx
                            .send(Done {
                                path: job.path,
                                tag: job.tag,
                                outcome,
                            })
                            .is_err()
                        {
                            break;
                        }
                    }
                })
            })
            .collect();
        Pool {
            jobs: Some(jobs),
            done,
            threads,
        }
    }

    pub fn submit(&self, path: PathBuf, tag: T) {
        if let Some(j) = &self.jobs {
            let _ = j.send(Job { path, tag });
        }
    }

    /// Stops taking jobs; `done` ends once the queued ones are finished.
    pub fn close(&mut self) {
        self.jobs = None;
    }
}

impl<T> Drop for Pool<T> {
    fn drop(&mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn hash_file(path: &std::path::Path, buf: &mut [u8], on_bytes: &dyn Fn(u64)) -> Outcome {
    for _ in 0..ATTEMPTS {
        match hash_once(path, buf, on_bytes) {
            Ok(Some(r)) => return Outcome::Hashed(r.0, r.1),
            Ok(None) => continue,
            Err(e) => return Outcome::Failed(e),
        }
    }
    Outcome::Unstable
}

/// Hashes the file once; None when its size, mtime or ctime moved while it was read.
fn hash_once(
    path: &std::path::Path,
    buf: &mut [u8],
    on_bytes: &dyn Fn(u64),
) -> std::io::Result<Option<([u8; 32], NodeAttr)>> {
    let mut f = open_noatime(path)?;
    let before = f.metadata()?;
    if !before.is_file() {
        return Err(std::io::Error::other("no longer a regular file"));
    }
    let mut h = Sha256::new();
    let mut total = 0u64;
    // Stops at the size seen before reading, sparing small files the read that finds
    // the end: a file that grew meanwhile shows it in its size and times after.
    while total < before.len() {
        if crate::interrupt::requested() {
            return Err(std::io::Error::other(crate::interrupt::Interrupted));
        }
        let n = match f.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        total += n as u64;
        on_bytes(n as u64);
    }
    let after = f.metadata()?;
    let attr = super::detect::attr_of(&after, Kind::File, None);
    let steady = super::detect::attr_of(&before, Kind::File, None);
    if attr.size != steady.size
        || attr.mtime_ns != steady.mtime_ns
        || attr.ctime_ns != steady.ctime_ns
        || total != attr.size
    {
        return Ok(None);
    }
    Ok(Some((h.finalize().into(), attr)))
}

/// Opens without updating atime when allowed (only the owner or root may ask for that).
fn open_noatime(path: &std::path::Path) -> std::io::Result<File> {
    let open = |extra| {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | extra)
            .open(path)
    };
    match open(libc::O_NOATIME) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => open(0),
        r => r,
    }
}

/// SHA-256 of a byte slice (for tests and small data).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}
