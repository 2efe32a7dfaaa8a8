//! The catalog's work lock: scans, backups, verifies and forgets take it, so two never
//! run at once, whether `watch` or a person started them; whoever comes second waits.
//!
//! It is an `flock` on `CATALOG.lock` beside the catalog, never on the catalog itself:
//! SQLite holds POSIX locks on that file, which closing any other descriptor of it would
//! drop. The holder writes who it is into the file for whoever waits.

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a waiting run looks again (and checks for a request to stop).
const RETRY: Duration = Duration::from_millis(100);

/// Held until dropped.
pub struct WorkLock {
    _file: Flock<File>,
}

pub fn lock_path(catalog: &Path) -> PathBuf {
    let mut p = catalog.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

impl WorkLock {
    /// Takes the lock of `catalog`, waiting while another process holds it (saying once
    /// what it waits for). `what` tells a later waiter what this process does. Gives up
    /// with `Interrupted` when this process is asked to stop.
    pub fn acquire(catalog: &Path, what: &str) -> Result<WorkLock> {
        let path = lock_path(catalog);
        let open = |write: bool| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(write)
                .create(write)
                .truncate(false)
                .mode(0o644)
                .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
                .open(&path)
        };
        // Another user's lock file can be locked through a descriptor that only reads.
        let mut file = open(true)
            .or_else(|_| open(false))
            .with_context(|| format!("cannot open the catalog's lock {}", path.display()))?;
        let mut said = false;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(mut held) => {
                    let _ = tell(&mut held, what);
                    return Ok(WorkLock { _file: held });
                }
                Err((f, nix::errno::Errno::EWOULDBLOCK)) => file = f,
                Err((_, e)) => {
                    return Err(e).with_context(|| format!("cannot lock {}", path.display()));
                }
            }
            if !said {
                tracing::warn!(
                    "waiting for another dsbfs to finish with the catalog {}: {}",
                    catalog.display(),
                    holder(&mut file)
                );
                said = true;
            }
            crate::interrupt::check()?;
            std::thread::sleep(RETRY);
        }
    }
}

/// Writes who holds the lock.
fn tell(file: &mut File, what: &str) -> std::io::Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "pid {}: {what}", std::process::id())
}

/// Who holds the lock, as they wrote it.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind();
    let _ = file.take(512).read_to_string(&mut text);
    let text = text.trim();
    if text.is_empty() {
        "a process that did not say what it does".into()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    #[test]
    fn a_second_taker_waits_until_the_first_lets_go_and_learns_who_held_it() {
        let dir = tempfile::tempdir().unwrap();
        let cat = dir.path().join("catalog.db");
        let first = WorkLock::acquire(&cat, "backup of disk red (dsbfs watch)").unwrap();
        let text = std::fs::read_to_string(lock_path(&cat)).unwrap();
        assert_eq!(
            text,
            format!(
                "pid {}: backup of disk red (dsbfs watch)\n",
                std::process::id()
            )
        );
        let (tx, rx) = mpsc::channel();
        let path = cat.clone();
        let waiter = std::thread::spawn(move || {
            let lock = WorkLock::acquire(&path, "scan (by hand)").unwrap();
            tx.send(Instant::now()).unwrap();
            drop(lock);
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(400)).is_err(),
            "the second taker waits"
        );
        let released = Instant::now();
        drop(first);
        let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(got >= released);
        waiter.join().unwrap();
    }
}
