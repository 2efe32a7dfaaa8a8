//! A request to stop, set once (by `watch` when SIGTERM or SIGINT arrives) and read by
//! long work: the scan stops at its next commit, a backup takes no new object and
//! abandons the ones it is reading, and whatever waits for the catalog's lock gives up.
//! Commands run by hand keep the default signal handling: they are killed, which every
//! writer survives by design.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks every long piece of work in this process to stop soon.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// The error work returns when it stopped because it was asked to.
#[derive(Debug, thiserror::Error)]
#[error("stopped: dsbfs was asked to stop")]
pub struct Interrupted;

/// Fails with `Interrupted` once a stop was requested (for `?` in loops).
pub fn check() -> anyhow::Result<()> {
    if requested() {
        Err(Interrupted.into())
    } else {
        Ok(())
    }
}

/// Whether `e` (or its cause) says the work was stopped on request.
pub fn is_interrupted(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.is::<Interrupted>()
            || c.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| inner.is::<Interrupted>())
    })
}

/// A reader that fails once a stop is requested, so that copying a large file is
/// abandoned within one read instead of running to its end.
pub struct Abandoning<R>(pub R);

impl<R: Read> Read for Abandoning<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if requested() {
            return Err(std::io::Error::other(Interrupted));
        }
        self.0.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_abandoned_read_is_recognised_as_a_stop() {
        let e = std::io::Error::other(Interrupted);
        let e = anyhow::Error::from(e).context("cannot read /src/a");
        assert!(is_interrupted(&e));
        assert!(!is_interrupted(&anyhow::anyhow!("disk full")));
        assert!(is_interrupted(&anyhow::Error::from(Interrupted)));
    }
}
