//! SIGTERM and SIGINT for a daemon: the first asks every piece of work to stop
//! (`crate::interrupt`) and wakes the main loop, which ends and exits 0. Work that still
//! runs after `GRACE` (a hash or a copy that did not notice) is cut short by exiting
//! anyway: every writer survives being killed by design (what a backup staged is only a
//! temporary, what it named but did not record is checked by the next one), so this is
//! still a clean stop. A second signal exits at once.

use anyhow::Result;
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::pipe2;
use std::os::fd::OwnedFd;
use std::time::Duration;

/// How long work may take to stop before the process exits regardless.
const GRACE: Duration = Duration::from_millis(4000);

/// The read end is readable once a stop was asked for.
pub struct Stop {
    pub wake: OwnedFd,
}

/// Blocks SIGTERM and SIGINT in this thread (and so in every thread it starts later) and
/// takes them in a thread of their own. Call before starting any other thread.
pub fn install() -> Result<Stop> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.thread_block()?;
    let (wake, poke) = pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let Ok(sig) = set.wait() else { return };
            tracing::info!("{sig} received: stopping");
            crate::interrupt::request();
            let _ = nix::unistd::write(&poke, b"x");
            std::thread::spawn(|| {
                std::thread::sleep(GRACE);
                tracing::warn!(
                    "the current work did not stop within {} s: exiting now (the next run resumes it)",
                    GRACE.as_secs()
                );
                exit_now();
            });
            if let Ok(sig) = set.wait() {
                tracing::warn!("{sig} received again: exiting now");
                exit_now();
            }
        })?;
    Ok(Stop { wake })
}

/// Ends the process at once with status 0 (no destructors, no buffered output to lose:
/// the log is stderr).
#[allow(unsafe_code)]
fn exit_now() -> ! {
    // SAFETY: _exit ends the process; nothing after it runs.
    unsafe { libc::_exit(0) }
}
