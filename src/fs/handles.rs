//! Open files: each handle keeps the descriptor of the object copy it reads (objects
//! are immutable, so one descriptor serves every read), and, with passthrough, the
//! kernel's backing file for its inode (`B`: whatever the adapter got from the kernel
//! for it; dropping the last one closes it).

use super::disks::Copy;
use crate::catalog::view::ObjectRef;
use std::collections::HashMap;
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The handle of files without content: nothing to open, reads are empty.
pub const EMPTY_FH: u64 = 0;

/// Where an open file currently reads from.
pub type Source = Arc<Copy>;

pub struct OpenFile<B> {
    pub ino: u64,
    pub entry: i64,
    pub object: ObjectRef,
    source: Mutex<Source>,
    /// Disks that failed this handle: not tried again for it.
    failed: Mutex<Vec<i64>>,
    /// Held until release: dropping it closes the kernel's backing file.
    _backing: Option<Arc<B>>,
}

impl<B> OpenFile<B> {
    pub fn new(
        ino: u64,
        entry: i64,
        object: ObjectRef,
        source: Source,
        backing: Option<Arc<B>>,
    ) -> OpenFile<B> {
        OpenFile {
            ino,
            entry,
            object,
            source: Mutex::new(source),
            failed: Mutex::new(Vec::new()),
            _backing: backing,
        }
    }

    pub fn source(&self) -> Source {
        self.source.lock().unwrap().clone()
    }

    /// Switches to another copy after `failed_disk` failed; the disks to avoid are returned.
    pub fn note_failure(&self, failed_disk: i64) -> Vec<i64> {
        let mut f = self.failed.lock().unwrap();
        if !f.contains(&failed_disk) {
            f.push(failed_disk);
        }
        f.clone()
    }

    pub fn switch_to(&self, s: Source) {
        *self.source.lock().unwrap() = s;
    }
}

/// Reads `size` bytes at `offset` of an object of `object_size` bytes into `buf`.
/// A copy that ends early was truncated or damaged under us: that is an error
/// (`UnexpectedEof`), not the end of the file.
pub fn read_object(
    file: &File,
    object_size: u64,
    offset: u64,
    size: u32,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let want = object_size.saturating_sub(offset).min(size as u64) as usize;
    buf.clear();
    buf.resize(want, 0);
    let mut n = 0;
    while n < want {
        match file.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => {
                return Err(std::io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "the copy ends at {} bytes, {object_size} expected",
                        offset + n as u64
                    ),
                ));
            }
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The table of open handles.
pub struct Handles<B> {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<OpenFile<B>>>>,
    /// One backing id per inode while any handle holds it: the kernel refuses two
    /// different backing files for one inode. Only handles hold it (an open that is
    /// still replying may release last), so it closes with the last of them.
    backing: Mutex<HashMap<u64, Weak<B>>>,
}

impl<B> Default for Handles<B> {
    fn default() -> Self {
        Handles {
            next: AtomicU64::new(EMPTY_FH + 1),
            open: Mutex::new(HashMap::new()),
            backing: Mutex::new(HashMap::new()),
        }
    }
}

impl<B> Handles<B> {
    pub fn insert(&self, f: OpenFile<B>) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed);
        self.open.lock().unwrap().insert(fh, Arc::new(f));
        fh
    }

    pub fn get(&self, fh: u64) -> Option<Arc<OpenFile<B>>> {
        self.open.lock().unwrap().get(&fh).cloned()
    }

    /// Forgets a handle; its inode's backing id closes when nothing holds it.
    pub fn remove(&self, fh: u64) {
        let f = self.open.lock().unwrap().remove(&fh);
        if let Some(f) = f {
            let ino = f.ino;
            drop(f);
            let mut backing = self.backing.lock().unwrap();
            if backing.get(&ino).is_some_and(|b| b.strong_count() == 0) {
                backing.remove(&ino);
            }
        }
    }

    /// The backing id of `ino`, made by `make` if no open handle has one.
    pub fn backing_for(
        &self,
        ino: u64,
        make: impl FnOnce() -> std::io::Result<B>,
    ) -> std::io::Result<Arc<B>> {
        let mut backing = self.backing.lock().unwrap();
        if let Some(b) = backing.get(&ino).and_then(Weak::upgrade) {
            return Ok(b);
        }
        // Ids whose last handle released while its open was still replying.
        backing.retain(|_, b| b.strong_count() > 0);
        let b = Arc::new(make()?);
        backing.insert(ino, Arc::downgrade(&b));
        Ok(b)
    }

    pub fn len(&self) -> usize {
        self.open.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_stop_at_the_object_end_and_detect_truncated_copies() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"0123456789").unwrap();
        let mut buf = Vec::new();
        assert_eq!(read_object(&f, 10, 2, 4, &mut buf).unwrap(), 4);
        assert_eq!(buf, b"2345");
        assert_eq!(read_object(&f, 10, 8, 100, &mut buf).unwrap(), 2);
        assert_eq!(buf, b"89");
        assert_eq!(read_object(&f, 10, 10, 100, &mut buf).unwrap(), 0);
        assert_eq!(read_object(&f, 10, 50, 100, &mut buf).unwrap(), 0);
        let err = read_object(&f, 20, 5, 100, &mut buf).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    }

    #[test]
    fn handles_are_unique_and_released() {
        let h = Handles::<()>::default();
        let f = || {
            OpenFile::new(
                5,
                5,
                ObjectRef {
                    id: 1,
                    hash: [0; 32],
                    size: 0,
                },
                Arc::new(Copy {
                    disk: 1,
                    disk_name: "d".into(),
                    dir: (1, 2),
                    file: tempfile::tempfile().unwrap(),
                }),
                None,
            )
        };
        let a = h.insert(f());
        let b = h.insert(f());
        assert!(a != b && a != EMPTY_FH && b != EMPTY_FH);
        assert_eq!(h.len(), 2);
        h.remove(a);
        assert!(h.get(a).is_none() && h.get(b).is_some());
        h.remove(b);
        assert!(h.is_empty());
    }
}
