//! Files opened ahead of a reader that walks a folder (`cp -r`, `rsync`, `diff -r`).
//! Once a second file of a folder is opened shortly after the one before it in name
//! order, the next few files of that folder are opened on the disk threads, several at
//! once, before they are asked for. Opening a copy (with its first-byte probe) reads
//! the object's folder entry, inode and first pages, so a cold disk serves several
//! files in parallel instead of one after another, and the reader's own `open` is
//! answered at once from here. Listing folders never starts this: browsing does not
//! touch a disk. What its reader does not take within `IDLE` is closed.

use super::disks::Copy;
use super::idle::IDLE;
use lru::LruCache;
use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::Instant;

/// Files opened ahead of the reader in its folder.
pub const AHEAD: usize = 16;
/// Files being opened ahead at most, over all folders.
const PENDING_MAX: usize = 2 * AHEAD;
/// Opened files kept for their reader at most.
const READY_MAX: usize = 4 * AHEAD;
/// Folders whose last opened file is remembered.
const FOLDERS: usize = 64;

struct Ready {
    copy: Copy,
    at: Instant,
}

struct State {
    ready: LruCache<u64, Ready>,
    pending: HashSet<u64>,
    /// The entry opened last in each recently read folder.
    last_opened: LruCache<i64, i64>,
}

pub struct Ahead {
    state: Mutex<State>,
}

impl Default for Ahead {
    fn default() -> Ahead {
        Ahead {
            state: Mutex::new(State {
                ready: LruCache::new(NonZeroUsize::new(READY_MAX).unwrap()),
                pending: HashSet::new(),
                last_opened: LruCache::new(NonZeroUsize::new(FOLDERS).unwrap()),
            }),
        }
    }
}

impl Ahead {
    /// Closes what waited longer than `IDLE` for its reader; whether any is left.
    pub fn close_stale(&self) -> bool {
        let mut s = self.state.lock().unwrap();
        let stale: Vec<u64> = s
            .ready
            .iter()
            .filter(|(_, r)| r.at.elapsed() >= IDLE)
            .map(|(ino, _)| *ino)
            .collect();
        for ino in stale {
            s.ready.pop(&ino);
        }
        !s.ready.is_empty()
    }

    /// The copy of `ino` opened ahead, if it is ready.
    pub fn take(&self, ino: u64) -> Option<Copy> {
        let r = self.state.lock().unwrap().ready.pop(&ino)?;
        (r.at.elapsed() < IDLE).then_some(r.copy)
    }

    /// Notes that `entry` of `folder` is being opened; the entry opened there before.
    pub fn opened(&self, folder: i64, entry: i64) -> Option<i64> {
        let mut s = self.state.lock().unwrap();
        s.last_opened.put(folder, entry).filter(|&e| e != entry)
    }

    /// Of `inos`, those to open now: not opened or being opened already, within the
    /// limit of files being opened. They count as being opened until `done`.
    pub fn claim(&self, inos: impl IntoIterator<Item = u64>) -> Vec<u64> {
        let mut s = self.state.lock().unwrap();
        let mut claimed = Vec::new();
        for ino in inos {
            if s.pending.len() >= PENDING_MAX {
                break;
            }
            if !s.ready.contains(&ino) && s.pending.insert(ino) {
                claimed.push(ino);
            }
        }
        claimed
    }

    /// Ends a claim, keeping the copy when one was opened.
    pub fn done(&self, ino: u64, copy: Option<Copy>) {
        let mut s = self.state.lock().unwrap();
        s.pending.remove(&ino);
        if let Some(copy) = copy {
            s.ready.put(
                ino,
                Ready {
                    copy,
                    at: Instant::now(),
                },
            );
        }
    }
}

/// A sibling of the opened file, in the folder's name order.
pub struct Sibling {
    pub entry: i64,
    pub ino: u64,
    /// Whether opening it needs a disk (a regular file with content).
    pub on_disk: bool,
}

/// The files to open ahead after a reader opened `entry`, given the siblings that
/// follow `previous` (the file it opened before in this folder, if any) and those that
/// follow `entry`. A reader that just opened a file it was served ahead of time is
/// walking the folder; so is one that opened a file among the few after the previous
/// one. Anything else (one file opened, a jump back) opens nothing ahead.
pub fn files_ahead<'a>(
    entry: i64,
    served_ahead: bool,
    after_previous: Option<&[Sibling]>,
    after_entry: &'a [Sibling],
) -> impl Iterator<Item = u64> + 'a {
    let walking = served_ahead
        || after_previous.is_some_and(|s| s.iter().take(AHEAD).any(|x| x.entry == entry));
    after_entry
        .iter()
        .filter(|s| s.on_disk)
        .take(if walking { AHEAD } else { 0 })
        .map(|s| s.ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(entries: std::ops::Range<i64>) -> Vec<Sibling> {
        entries
            .map(|e| Sibling {
                entry: e,
                ino: e as u64,
                // Every fifth is a folder, symlink or empty file.
                on_disk: e % 5 != 0,
            })
            .collect()
    }

    fn after(all: &[Sibling], entry: i64) -> &[Sibling] {
        let i = all.iter().position(|s| s.entry == entry).unwrap();
        &all[i + 1..]
    }

    #[test]
    fn a_walk_opens_the_next_files_with_content() {
        let all = folder(1..100);
        let ahead: Vec<u64> = files_ahead(3, false, Some(after(&all, 2)), after(&all, 3)).collect();
        let want: Vec<u64> = (4..100).filter(|e| e % 5 != 0).take(AHEAD).collect();
        assert_eq!(ahead, want);
        // Served ahead: still walking, whatever came before.
        assert_eq!(files_ahead(3, true, None, after(&all, 3)).count(), AHEAD);
        // Near the end of the folder: what is left.
        assert_eq!(
            files_ahead(97, true, None, after(&all, 97)).collect::<Vec<_>>(),
            [98, 99]
        );
    }

    #[test]
    fn single_opens_and_jumps_open_nothing_ahead() {
        let all = folder(1..100);
        assert_eq!(files_ahead(3, false, None, after(&all, 3)).count(), 0);
        // Back to an earlier file, or far past the previous one.
        assert_eq!(
            files_ahead(3, false, Some(after(&all, 50)), after(&all, 3)).count(),
            0
        );
        assert_eq!(
            files_ahead(60, false, Some(after(&all, 2)), after(&all, 60)).count(),
            0
        );
    }

    #[test]
    fn claims_are_not_repeated_and_are_capped() {
        let ahead = Ahead::default();
        assert_eq!(ahead.claim([1, 2, 3]), [1, 2, 3]);
        assert_eq!(ahead.claim([2, 3, 4]), [4]);
        ahead.done(2, None);
        assert_eq!(ahead.claim([2]), [2]);
        let many = ahead.claim(100..200);
        assert_eq!(many.len(), PENDING_MAX - 4);
        assert!(ahead.take(1).is_none());
    }

    #[test]
    fn an_opened_copy_is_taken_once() {
        let ahead = Ahead::default();
        let copy = Copy {
            disk: 1,
            disk_name: "usb".into(),
            dir: (1, 2),
            file: tempfile::tempfile().unwrap(),
        };
        assert_eq!(ahead.claim([5]), [5]);
        ahead.done(5, Some(copy));
        // Ready, so not claimed again; kept until taken or stale.
        assert!(ahead.claim([5]).is_empty());
        assert!(ahead.close_stale());
        assert_eq!(ahead.take(5).map(|c| c.disk), Some(1));
        assert!(ahead.take(5).is_none());
        assert!(!ahead.close_stale());
    }

    #[test]
    fn the_last_opened_file_of_each_folder_is_remembered() {
        let ahead = Ahead::default();
        assert_eq!(ahead.opened(7, 10), None);
        assert_eq!(ahead.opened(8, 20), None);
        assert_eq!(ahead.opened(7, 11), Some(10));
        // The same file again is no step forward.
        assert_eq!(ahead.opened(7, 11), None);
    }
}
