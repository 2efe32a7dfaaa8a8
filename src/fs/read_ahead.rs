//! Which folders to list ahead of the kernel, and when to stop. Walkers (`find`, `du`,
//! `ls -R`, `rsync`) go depth first, so the plan puts the subfolders of the folder
//! listed last first; the read-ahead thread (see `View::start_read_ahead`) follows it
//! while at most a set number of folders it listed wait for the kernel, so that nothing
//! listed ahead is dropped from the page cache before it is asked for.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

/// Folders waiting in the plan at most; the farthest are dropped.
const QUEUE_MAX: usize = 256;

#[derive(Default)]
struct Plan {
    /// The folders a walk will most likely ask for next, nearest first.
    queue: VecDeque<u64>,
    /// Folders listed ahead whose first page is cached and was not asked for yet.
    unasked: usize,
    /// The folder the read-ahead thread is listing now.
    listing: Option<u64>,
    stopped: bool,
}

/// The plan, shared by the read-ahead thread and the request thread.
pub struct ReadAhead {
    unasked_max: usize,
    plan: Mutex<Plan>,
    changed: Condvar,
}

impl ReadAhead {
    /// A plan that lets at most `unasked_max` folders listed ahead wait for the kernel.
    pub fn new(unasked_max: usize) -> ReadAhead {
        ReadAhead {
            unasked_max,
            plan: Mutex::default(),
            changed: Condvar::new(),
        }
    }

    /// Puts `folders` first in the plan, in their order.
    pub fn plan_first(&self, folders: impl DoubleEndedIterator<Item = u64>) {
        let mut plan = self.plan.lock().unwrap();
        for f in folders.rev() {
            plan.queue.push_front(f);
        }
        plan.queue.truncate(QUEUE_MAX);
        drop(plan);
        self.changed.notify_all();
    }

    /// The next folder to list, once fewer than `unasked_max` listed ahead wait for
    /// the kernel; None once stopped.
    pub fn next(&self) -> Option<u64> {
        let mut plan = self.plan.lock().unwrap();
        loop {
            if plan.stopped {
                return None;
            }
            if plan.unasked < self.unasked_max
                && let Some(f) = plan.queue.pop_front()
            {
                plan.listing = Some(f);
                return Some(f);
            }
            plan = self.changed.wait(plan).unwrap();
        }
    }

    /// The folder from `next` was listed: `counted` if its page was kept unasked.
    pub fn listed(&self, counted: bool) {
        let mut plan = self.plan.lock().unwrap();
        plan.listing = None;
        plan.unasked += usize::from(counted);
        drop(plan);
        self.changed.notify_all();
    }

    /// A page listed ahead was asked for or dropped from the cache.
    pub fn settled(&self) {
        let mut plan = self.plan.lock().unwrap();
        plan.unasked = plan.unasked.saturating_sub(1);
        drop(plan);
        self.changed.notify_all();
    }

    /// The kernel asked for a folder that was not listed ahead: the walk went where
    /// the plan did not lead, so what was listed ahead no longer holds the thread back
    /// (it leaves the cache as it ages).
    pub fn missed(&self) {
        self.plan.lock().unwrap().unasked = 0;
        self.changed.notify_all();
    }

    /// Waits while the read-ahead thread lists `folder` (listing it again here would
    /// only double the work).
    pub fn wait_for(&self, folder: u64) {
        let mut plan = self.plan.lock().unwrap();
        while plan.listing == Some(folder) {
            plan = self.changed.wait(plan).unwrap();
        }
    }

    /// Ends `next` for good (the mount is going away).
    pub fn stop(&self) {
        self.plan.lock().unwrap().stopped = true;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::mpsc::channel;
    use std::time::Duration;

    /// Takes what `next` gives now (it is never empty-handed in these tests).
    fn take(plan: &ReadAhead, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| {
                let f = plan.next().unwrap();
                plan.listed(false);
                f
            })
            .collect()
    }

    #[test]
    fn the_subfolders_of_the_folder_listed_last_come_first_in_order() {
        let plan = ReadAhead::new(8);
        plan.plan_first([1, 2, 3].into_iter());
        assert_eq!(take(&plan, 1), [1]);
        // Folder 1 listed: its subfolders go before 2 and 3, depth first.
        plan.plan_first([10, 11].into_iter());
        assert_eq!(take(&plan, 4), [10, 11, 2, 3]);
    }

    #[test]
    fn the_farthest_folders_are_dropped_from_a_full_plan() {
        let plan = ReadAhead::new(8);
        plan.plan_first(1000..1000 + QUEUE_MAX as u64);
        plan.plan_first([1, 2].into_iter());
        let all = take(&plan, QUEUE_MAX);
        assert_eq!(all[..3], [1, 2, 1000]);
        assert_eq!(all.last(), Some(&(1000 + QUEUE_MAX as u64 - 3)));
    }

    #[test]
    fn listing_waits_while_enough_listed_ahead_were_not_asked_for() {
        let plan = Arc::new(ReadAhead::new(2));
        plan.plan_first([1, 2, 3, 4].into_iter());
        for _ in 0..2 {
            plan.next().unwrap();
            plan.listed(true);
        }
        let (tx, rx) = channel();
        let waiter = {
            let plan = plan.clone();
            std::thread::spawn(move || {
                while let Some(f) = plan.next() {
                    plan.listed(true);
                    tx.send(f).unwrap();
                }
            })
        };
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        // The kernel asks for one of them: one more may be listed.
        plan.settled();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(3));
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        // The walk went elsewhere: what was listed ahead holds nothing back.
        plan.missed();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(4));
        plan.stop();
        waiter.join().unwrap();
    }

    #[test]
    fn a_folder_being_listed_ahead_is_waited_for() {
        let plan = Arc::new(ReadAhead::new(8));
        plan.plan_first([7].into_iter());
        assert_eq!(plan.next(), Some(7));
        let (tx, rx) = channel();
        let waiter = {
            let plan = plan.clone();
            std::thread::spawn(move || {
                plan.wait_for(7);
                tx.send(()).unwrap();
            })
        };
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        plan.listed(true);
        assert!(rx.recv_timeout(Duration::from_secs(10)).is_ok());
        waiter.join().unwrap();
        // Other folders never wait.
        plan.wait_for(8);
    }
}
