//! Letting go of disks. A disk with a folder or file open on it cannot be unmounted
//! ("target is busy"), and users unplug disks from the drawer while dsbfs stays
//! mounted, so the mount keeps what it opened on a disk (its store, files opened
//! ahead) only while it is in use, and closes it `IDLE` after. A file a reader holds
//! open keeps its disk busy, as on any filesystem.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long the mount keeps a disk open after it last used it.
pub const IDLE: Duration = Duration::from_secs(2);

/// Wakes a thread that closes idle things while any are held, and sleeps otherwise.
#[derive(Default)]
pub struct Closer {
    held: Mutex<bool>,
    wake: Condvar,
}

impl Closer {
    /// Something was opened on a disk: it will be closed once idle.
    pub fn held(&self) {
        let mut held = self.held.lock().unwrap();
        if !*held {
            *held = true;
            self.wake.notify_one();
        }
    }

    /// Calls `close` on a thread of its own, every half `IDLE` while it says something
    /// is still held. `close` answers None once its owner is gone, which ends the thread.
    pub fn start(self: &Arc<Self>, mut close: impl FnMut() -> Option<bool> + Send + 'static) {
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("dsbfs-close-idle".into())
            .spawn(move || {
                loop {
                    {
                        let mut held = me.held.lock().unwrap();
                        while !*held {
                            held = me.wake.wait(held).unwrap();
                        }
                        *held = false;
                    }
                    loop {
                        std::thread::sleep(IDLE / 2);
                        match close() {
                            None => return,
                            Some(true) => continue,
                            Some(false) => break,
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("no thread to close idle disks (they stay busy while mounted): {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn closes_while_held_and_sleeps_when_nothing_is() {
        let closer = Arc::new(Closer::default());
        let rounds = Arc::new(AtomicUsize::new(0));
        let r = rounds.clone();
        // Something stays held for two rounds, then nothing is.
        closer.start(move || Some(r.fetch_add(1, Ordering::SeqCst) < 1));
        std::thread::sleep(IDLE);
        assert_eq!(rounds.load(Ordering::SeqCst), 0, "ran with nothing held");
        closer.held();
        std::thread::sleep(IDLE * 2);
        assert_eq!(rounds.load(Ordering::SeqCst), 2);
        closer.held();
        std::thread::sleep(IDLE);
        assert_eq!(rounds.load(Ordering::SeqCst), 3);
    }
}
