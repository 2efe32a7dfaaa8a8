//! What this mount learned about the copies it read: block hashes it computed for
//! objects whose catalog records none, and copies it checked whole, which the kernel
//! may then read itself (passthrough).
//!
//! Passthrough serves bytes dsbfs never sees, so a file is passed through only when
//! every block of the very copy the kernel would read was checked in this mount, the
//! copy has not changed since (same file, same ctime) and all its pages are still in
//! the page cache: the kernel then serves the pages that were checked. What remains
//! unchecked is a page dropped from the cache while the file is open and read again
//! from a disk that changed it since it was checked.

use super::disks::Copy;
use super::handles::{FileId, file_id};
use crate::store::BlockHashes;
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::Mutex;

/// Block hashes kept for objects whose catalog has none, at most: 8 MiB, the hashes of
/// 256 GiB of content. Objects let go of are checked whole again when opened next.
const COMPUTED_HASHES: u64 = 256 << 10;
/// Objects whose checked copy is remembered for passthrough.
const CHECKED_WHOLE: usize = 16 << 10;

pub struct Checks {
    computed: Mutex<(LruCache<i64, BlockHashes>, u64)>,
    whole: Mutex<LruCache<i64, FileId>>,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            computed: Mutex::new((LruCache::unbounded(), 0)),
            whole: Mutex::new(LruCache::new(
                NonZeroUsize::new(CHECKED_WHOLE).expect("nonzero"),
            )),
        }
    }
}

impl Checks {
    /// Block hashes computed earlier in this mount for `object`.
    pub fn computed(&self, object: i64) -> Option<BlockHashes> {
        self.computed.lock().unwrap().0.get(&object).cloned()
    }

    /// Keeps the block hashes of `object`, computed from a copy whose whole hash was
    /// right, letting go of the least recently used beyond `COMPUTED_HASHES`.
    pub fn keep_computed(&self, object: i64, blocks: BlockHashes) {
        let mut c = self.computed.lock().unwrap();
        let (lists, total) = &mut *c;
        *total += blocks.count();
        if let Some(old) = lists.put(object, blocks) {
            *total -= old.count();
        }
        while *total > COMPUTED_HASHES {
            match lists.pop_lru() {
                Some((_, old)) => *total -= old.count(),
                None => break,
            }
        }
    }

    /// Every block of `copy` of `object` was checked.
    pub fn note_whole(&self, object: i64, copy: &Copy) {
        if let Some(id) = file_id(copy) {
            self.whole.lock().unwrap().put(object, id);
        }
    }

    /// Whether the kernel may read `copy` of `object` (`size` bytes) itself: it was
    /// checked whole in this mount, is unchanged, and all of it is in the page cache.
    pub fn passable(&self, object: i64, copy: &Copy, size: u64) -> bool {
        let checked = self.whole.lock().unwrap().get(&object).copied();
        checked.is_some()
            && checked == file_id(copy)
            && crate::util::in_page_cache(&copy.file, size)
    }
}
