//! Which connected disk serves an object. Disks come and go while the mount lives:
//! located stores are cached, but a use first checks that the disk's path still leads
//! to the folder we hold open (a renamed, unplugged or replaced disk does not),
//! and a miss looks for the disk again, so a disk plugged in after mounting is used
//! by the next `open()`; stores unused for a moment are closed, so that the disk can be
//! unmounted. A disk that failed a read is tried last until it is found
//! anew (remounted, so with another device or inode), and a copy found damaged is
//! tried after every other copy of its object for the rest of the mount.

use crate::catalog::DiskRecord;
use crate::catalog::view::ObjectRef;
use crate::disks::locate;
use crate::mounts::mounts;
use crate::store::Store;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Device and inode of a disk's folder.
pub type DirId = (u64, u64);

/// How long a check that a disk's path still leads to its folder holds: a copy of
/// thousands of small files then costs a `stat` of the disk's folder every quarter
/// second instead of one per file, and no disk is swapped faster than that.
const RECHECK: Duration = Duration::from_millis(250);

struct Located {
    store: Store,
    id: DirId,
    /// When an object was last opened through it (see `close_idle`), and when its
    /// path was last seen to lead to it.
    used: Mutex<Instant>,
    checked: Mutex<Instant>,
}

impl Located {
    fn new(store: Store, id: DirId) -> Located {
        Located {
            store,
            id,
            used: Mutex::new(Instant::now()),
            checked: Mutex::new(Instant::now()),
        }
    }
}

/// An opened copy of an object.
#[derive(Debug)]
pub struct Copy {
    pub disk: i64,
    pub disk_name: String,
    /// The disk's folder, as found when the copy was opened.
    pub dir: DirId,
    pub file: File,
}

pub struct Disks {
    /// Folders to look in besides the recorded paths and mount points: the folder of a
    /// catalog copy, so the disk it sits on serves its objects wherever it is mounted.
    extra_roots: Vec<PathBuf>,
    stores: Mutex<HashMap<i64, Arc<Located>>>,
    failed: Mutex<HashMap<i64, DirId>>,
    /// Copies found damaged, as (disk, object).
    damaged: Mutex<HashSet<(i64, i64)>>,
}

impl Disks {
    pub fn new(extra_roots: Vec<PathBuf>) -> Disks {
        Disks {
            extra_roots,
            stores: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
            damaged: Mutex::new(HashSet::new()),
        }
    }

    /// Opens a copy of `obj` from one of `holders` (minus `exclude`), or None when no
    /// connected disk has a good one. Copies found damaged come last: their other
    /// blocks are still better than nothing.
    pub fn open_copy(
        &self,
        holders: &[DiskRecord],
        obj: &ObjectRef,
        exclude: &[i64],
    ) -> Option<Copy> {
        let (damaged, sound): (Vec<&DiskRecord>, Vec<&DiskRecord>) = {
            let known = self.damaged.lock().unwrap();
            holders
                .iter()
                .filter(|d| !exclude.contains(&d.id))
                .partition(|d| known.contains(&(d.id, obj.id)))
        };
        self.open_among(&sound, obj)
            .or_else(|| self.open_among(&damaged, obj))
    }

    /// Records that the copy of `object` on `disk` is damaged; whether that is news.
    pub fn mark_damaged(&self, disk: i64, object: i64) -> bool {
        self.damaged.lock().unwrap().insert((disk, object))
    }

    fn open_among(&self, wanted: &[&DiskRecord], obj: &ObjectRef) -> Option<Copy> {
        let mut suspects = Vec::new();
        let mut unknown = Vec::new();
        // Disks located before and still where they were: no mount table needed.
        for d in wanted {
            match self.cached(d.id) {
                Some(loc) if self.is_failed(d.id, loc.id) => suspects.push((*d, loc)),
                Some(loc) => {
                    if let Some(c) = self.try_open(d, &loc, obj) {
                        return Some(c);
                    }
                }
                None => unknown.push(*d),
            }
        }
        // Look again for the others: plugged in, moved or remounted since.
        if !unknown.is_empty() {
            let table = mounts();
            for d in unknown {
                let Some(store) = locate(d, &table, &self.extra_roots) else {
                    continue;
                };
                let Ok(id) = store.root_id() else { continue };
                let loc = Arc::new(Located::new(store, id));
                self.stores.lock().unwrap().insert(d.id, loc.clone());
                if self.is_failed(d.id, id) {
                    suspects.push((d, loc));
                } else {
                    tracing::info!("disk {} found at {}", d.name, loc.store.root().display());
                    if let Some(c) = self.try_open(d, &loc, obj) {
                        return Some(c);
                    }
                }
            }
        }
        // Last, disks that failed before: better than nothing, and they may be fine.
        for (d, loc) in suspects {
            if let Some(c) = self.try_open(d, &loc, obj) {
                self.failed.lock().unwrap().remove(&d.id);
                return Some(c);
            }
        }
        None
    }

    /// Records that the disk of `copy` failed a read: it is used again only when
    /// nothing else holds an object, or once it is found at a new place. This holds
    /// also when its store was closed as idle meanwhile (reads do not keep it open).
    pub fn mark_failed(&self, copy: &Copy, why: &std::io::Error) {
        if self.suspect(copy.disk, copy.dir) {
            tracing::warn!(
                "disk {} failed ({why}); using other copies while it stays like this",
                copy.disk_name
            );
        }
    }

    /// The cached store of `disk` if its path still leads to the folder we hold
    /// (checked again after `RECHECK`).
    fn cached(&self, disk: i64) -> Option<Arc<Located>> {
        let loc = self.stores.lock().unwrap().get(&disk).cloned()?;
        let now = Instant::now();
        let mut checked = loc.checked.lock().unwrap();
        if now.duration_since(*checked) >= RECHECK {
            let same = std::fs::metadata(loc.store.root())
                .map(|m| {
                    use std::os::unix::fs::MetadataExt;
                    (m.dev(), m.ino()) == loc.id
                })
                .unwrap_or(false);
            if !same {
                drop(checked);
                self.stores.lock().unwrap().remove(&disk);
                return None;
            }
            *checked = now;
        }
        drop(checked);
        *loc.used.lock().unwrap() = now;
        Some(loc)
    }

    /// Closes the stores no object was opened through for `idle`, so that their disks
    /// can be unmounted (they are found again on the next open); whether any is left.
    pub fn close_idle(&self, idle: Duration) -> bool {
        let mut stores = self.stores.lock().unwrap();
        stores.retain(|_, loc| loc.used.lock().unwrap().elapsed() < idle);
        !stores.is_empty()
    }

    fn is_failed(&self, disk: i64, id: DirId) -> bool {
        self.failed.lock().unwrap().get(&disk) == Some(&id)
    }

    /// Opens the object on one disk and checks it: a regular file inside the store
    /// (`Store::open_object` is confined to it), of the recorded size, whose first byte
    /// can be read (a dead disk often still answers `stat` from its caches).
    fn try_open(&self, d: &DiskRecord, loc: &Located, obj: &ObjectRef) -> Option<Copy> {
        let hex = crate::util::hex(&obj.hash);
        let (file, len) = match loc.store.open_object_sized(&obj.hash) {
            Ok(opened) => opened,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(
                    "disk {} is connected but lacks object {hex}; run `dsbfs verify {}`",
                    d.name,
                    d.name
                );
                return None;
            }
            Err(e) => {
                self.failed_open(d, loc, &e);
                return None;
            }
        };
        if len != obj.size {
            tracing::warn!(
                "object {hex} on disk {} has {len} bytes instead of {}; not using it (run `dsbfs verify {}`)",
                d.name,
                obj.size,
                d.name
            );
            return None;
        }
        if obj.size > 0 {
            let mut b = [0u8; 1];
            if let Err(e) = file.read_exact_at(&mut b, 0) {
                self.failed_open(d, loc, &e);
                return None;
            }
        }
        Some(Copy {
            disk: d.id,
            disk_name: d.name.clone(),
            dir: loc.id,
            file,
        })
    }

    fn failed_open(&self, d: &DiskRecord, loc: &Located, e: &std::io::Error) {
        tracing::warn!(
            "disk {} at {} cannot be read ({e})",
            d.name,
            loc.store.root().display()
        );
        self.suspect(d.id, loc.id);
    }

    /// Takes `disk` out of use while it is at `dir`: its store is dropped (if that is
    /// the one cached) and it is tried last until found anew. Whether it is newly so.
    fn suspect(&self, disk: i64, dir: DirId) -> bool {
        {
            let mut stores = self.stores.lock().unwrap();
            if stores.get(&disk).is_some_and(|loc| loc.id == dir) {
                stores.remove(&disk);
            }
        }
        self.failed.lock().unwrap().insert(disk, dir) != Some(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_read_is_remembered_also_once_the_store_was_closed_as_idle() {
        let disks = Disks::new(Vec::new());
        let copy = Copy {
            disk: 3,
            disk_name: "usb".into(),
            dir: (8, 42),
            file: tempfile::tempfile().unwrap(),
        };
        // Nothing located or cached: the store was closed 2 s after the last open.
        disks.mark_failed(&copy, &std::io::Error::from_raw_os_error(libc::EIO));
        assert!(disks.is_failed(3, (8, 42)));
        // The same disk found anew elsewhere (remounted) is no longer suspect.
        assert!(!disks.is_failed(3, (9, 42)));
    }
}
