//! Folders that changed and wait for quiet: the debounce of live mirroring, as a pure
//! function of the events' times so it is tested without waiting.
//!
//! A folder is rescanned once nothing happened in it for the quiet time, and not while a
//! folder below it is still busy (its rescan would walk into a new folder whose files
//! are still being written). A folder that never goes quiet (a log written all day) is
//! rescanned anyway once it waited `max_wait`.

use crate::scan::Rescan;
use crate::util::vpath_within;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
struct Waiting {
    deep: bool,
    first: Instant,
    last: Instant,
}

#[derive(Debug)]
pub struct Pending {
    quiet: Duration,
    max_wait: Duration,
    folders: BTreeMap<Vec<u8>, Waiting>,
}

impl Pending {
    pub fn new(quiet: Duration) -> Pending {
        Pending {
            quiet,
            max_wait: (quiet * 15).max(Duration::from_secs(30)),
            folders: BTreeMap::new(),
        }
    }

    /// Something happened in the folder `vpath` at `now` (with `deep`, to everything
    /// below it too: a folder moved in).
    pub fn note(&mut self, vpath: Vec<u8>, deep: bool, now: Instant) {
        let w = self.folders.entry(vpath).or_insert(Waiting {
            deep,
            first: now,
            last: now,
        });
        w.deep |= deep;
        w.last = now;
    }

    /// Whether anything happened within the quiet time before `now`.
    pub fn busy(&self, now: Instant) -> bool {
        self.folders.values().any(|w| !self.is_quiet(w, now))
    }

    fn is_quiet(&self, w: &Waiting, now: Instant) -> bool {
        now.saturating_duration_since(w.last) >= self.quiet
    }

    /// Takes the folders due for a rescan at `now`.
    pub fn take_due(&mut self, now: Instant) -> Vec<Rescan> {
        let due: Vec<Vec<u8>> =
            self.folders
                .iter()
                .filter(|(v, w)| {
                    let overdue = now.saturating_duration_since(w.first) >= self.max_wait;
                    let settled = self.is_quiet(w, now)
                        && !self.folders.iter().any(|(o, ow)| {
                            o != *v && vpath_within(o, v) && !self.is_quiet(ow, now)
                        });
                    overdue || settled
                })
                .map(|(v, _)| v.clone())
                .collect();
        due.into_iter()
            .map(|vpath| {
                let w = self.folders.remove(&vpath).expect("listed");
                Rescan {
                    vpath,
                    deep: w.deep,
                }
            })
            .collect()
    }

    /// When the next folder may be due (None: nothing waits).
    pub fn next_due(&self) -> Option<Instant> {
        self.folders
            .iter()
            .map(|(v, w)| {
                // Quiet itself and every folder below it quiet too.
                let settled = self
                    .folders
                    .iter()
                    .filter(|(o, _)| vpath_within(o, v))
                    .map(|(_, o)| o.last + self.quiet)
                    .max()
                    .unwrap_or(w.last + self.quiet);
                settled.min(w.first + self.max_wait)
            })
            .min()
    }

    /// Nothing waits any more (there is nothing to scan).
    pub fn clear(&mut self) {
        self.folders.clear();
    }

    /// A full scan started at `t` covers what happened before it.
    pub fn clear_before(&mut self, t: Instant) {
        self.folders.retain(|_, w| w.last >= t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Duration = Duration::from_secs(2);

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    fn paths(r: &[Rescan]) -> Vec<(&str, bool)> {
        r.iter()
            .map(|r| (std::str::from_utf8(&r.vpath).unwrap(), r.deep))
            .collect()
    }

    #[test]
    fn a_folder_is_due_once_quiet_for_the_quiet_time() {
        let t0 = Instant::now();
        let mut p = Pending::new(Q);
        p.note(b"/a".to_vec(), false, t0);
        p.note(b"/a".to_vec(), false, at(t0, 1500));
        assert!(
            p.take_due(at(t0, 3000)).is_empty(),
            "its last event was 1.5 s ago"
        );
        assert_eq!(p.next_due(), Some(at(t0, 3500)));
        assert!(p.busy(at(t0, 3000)));
        assert_eq!(paths(&p.take_due(at(t0, 3500))), [("/a", false)]);
        assert!(p.next_due().is_none());
    }

    #[test]
    fn a_folder_waits_while_one_below_it_is_busy() {
        let t0 = Instant::now();
        let mut p = Pending::new(Q);
        p.note(b"/a".to_vec(), false, t0);
        p.note(b"/a/new".to_vec(), true, at(t0, 1000));
        p.note(b"/b".to_vec(), false, t0);
        p.note(b"/a/new".to_vec(), false, at(t0, 2500));
        assert_eq!(p.next_due(), Some(at(t0, 2000)), "/b");
        assert_eq!(
            paths(&p.take_due(at(t0, 3000))),
            [("/b", false)],
            "/a waits for /a/new, which is being written"
        );
        assert_eq!(
            p.next_due(),
            Some(at(t0, 4500)),
            "not before /a/new is quiet"
        );
        assert_eq!(
            paths(&p.take_due(at(t0, 4500))),
            [("/a", false), ("/a/new", true)],
            "a folder moved in stays deep"
        );
    }

    #[test]
    fn a_folder_that_never_goes_quiet_is_due_after_the_longest_wait() {
        let t0 = Instant::now();
        let mut p = Pending::new(Q);
        let mut t = 0;
        while t < 29_000 {
            p.note(b"/logs".to_vec(), false, at(t0, t));
            assert!(p.take_due(at(t0, t)).is_empty());
            t += 500;
        }
        p.note(b"/logs".to_vec(), false, at(t0, 30_000));
        assert_eq!(p.next_due(), Some(at(t0, 30_000)));
        assert_eq!(paths(&p.take_due(at(t0, 30_000))), [("/logs", false)]);
    }
}
