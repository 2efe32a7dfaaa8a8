//! Open files. Each handle keeps the descriptor of the object copy it reads (objects
//! are immutable, so one descriptor serves every read), the hashes each block of the
//! object is checked against, the blocks it checked last, and, with passthrough, the
//! kernel's backing file for its inode (`B`: whatever the adapter got from the kernel
//! for it; dropping the last one closes it).
//!
//! Reads are served from whole checked blocks (`store::checked`): the kernel asks for
//! 128 KiB to 1 MiB at a time, so a block is read and checked once for the reads that
//! fall in it, and a reader going through a file sequentially has the next blocks read
//! and checked ahead of it on other threads, a disk read overlapping each hash.

use super::disks::Copy;
use crate::catalog::view::ObjectRef;
use crate::store::checked::{BLOCK, BlockHashes, Fault, read_block};
use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// The handle of files without content: nothing to open, reads are empty.
pub const EMPTY_FH: u64 = 0;

/// Blocks read and checked ahead of a sequential reader: enough to keep a disk read
/// and a hash under way on each core while the reader is served.
pub const BLOCKS_AHEAD: u64 = 3;

/// Checked blocks a handle keeps: those read ahead, the one being read and the one
/// before (a read may straddle two).
const BLOCKS_KEPT: usize = BLOCKS_AHEAD as usize + 2;

/// Where an open file currently reads from.
pub type Source = Arc<Copy>;

/// The bytes of one block, checked against its hash.
pub type Block = Arc<BlockBuf>;

/// Buffers of blocks let go of, kept for the next blocks read (at most `FREE_MAX`).
/// Filling memory the process used a moment ago costs far less than fresh pages (this
/// machine's host hands those out slowly), and a few buffers taking turns keep the
/// daemon's memory small: reading 1 GiB peaked at 21 MB this way, 47 MB with a new
/// allocation per block spread over the threads' allocator arenas.
static FREE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
const FREE_MAX: usize = 16;

/// A block's bytes; its buffer goes back to `FREE` when the last reader is done.
#[derive(Debug)]
pub struct BlockBuf(Vec<u8>);

impl std::ops::Deref for BlockBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for BlockBuf {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        if buf.capacity() as u64 >= BLOCK {
            let mut free = FREE.lock().unwrap();
            if free.len() < FREE_MAX {
                free.push(buf);
            }
        }
    }
}

/// A block wanted by a read or read ahead: the first to ask reads and checks it, the
/// others wait for it. Empty when that failed.
struct Slot {
    index: u64,
    block: OnceLock<Option<Block>>,
}

/// What identifies the bytes of an object copy: its file (device and inode) as of its
/// last change (a copy written to since, by anyone, is another).
pub type FileId = (u64, u64, i64, i64);

pub fn file_id(copy: &Copy) -> Option<FileId> {
    let m = copy.file.metadata().ok()?;
    Some((m.dev(), m.ino(), m.ctime(), m.ctime_nsec()))
}

/// Which blocks of the current copy were checked, towards knowing that all were.
struct Coverage {
    source: Source,
    bits: Vec<u64>,
    left: u64,
}

impl Coverage {
    fn new(source: Source, blocks: u64) -> Coverage {
        Coverage {
            source,
            bits: vec![0; blocks.div_ceil(64) as usize],
            left: blocks,
        }
    }

    fn note(&mut self, source: &Source, i: u64) {
        if !Arc::ptr_eq(&self.source, source) {
            return;
        }
        let (word, bit) = ((i / 64) as usize, 1u64 << (i % 64));
        if let Some(w) = self.bits.get_mut(word)
            && *w & bit == 0
        {
            *w |= bit;
            self.left -= 1;
        }
    }
}

pub struct OpenFile<B> {
    pub ino: u64,
    pub entry: i64,
    pub object: ObjectRef,
    /// What each block is checked against.
    pub blocks: BlockHashes,
    source: Mutex<Source>,
    /// Disks that failed this handle: not tried again for it.
    failed: Mutex<Vec<i64>>,
    /// Blocks checked or being read, oldest first.
    kept: Mutex<VecDeque<Arc<Slot>>>,
    /// The block after the last one read: a read starting there is sequential.
    next: AtomicU64,
    coverage: Mutex<Coverage>,
    /// Whether it was told that every block of its copy was checked.
    whole_told: AtomicBool,
    /// Held until release: dropping it closes the kernel's backing file.
    backing: Option<Arc<B>>,
}

impl<B> OpenFile<B> {
    pub fn new(
        ino: u64,
        entry: i64,
        object: ObjectRef,
        blocks: BlockHashes,
        source: Source,
    ) -> OpenFile<B> {
        let coverage = Coverage::new(source.clone(), blocks.count());
        OpenFile {
            ino,
            entry,
            object,
            blocks,
            source: Mutex::new(source),
            failed: Mutex::new(Vec::new()),
            kept: Mutex::new(VecDeque::new()),
            next: AtomicU64::new(0),
            coverage: Mutex::new(coverage),
            whole_told: AtomicBool::new(false),
            backing: None,
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

    /// Reads from `s` from now on. Blocks checked before stay good (they hold the
    /// object's bytes whichever copy gave them), but say nothing about `s`.
    pub fn switch_to(&self, s: Source) {
        *self.coverage.lock().unwrap() = Coverage::new(s.clone(), self.blocks.count());
        *self.source.lock().unwrap() = s;
    }

    /// Block `i`, checked: kept from before, read by another thread meanwhile, or read
    /// here. A copy that fails gives the copy and why.
    pub fn block(&self, i: u64) -> Result<Block, (Source, Fault)> {
        let slot = self.slot(i);
        let source = self.source();
        let mut fault = None;
        let got = slot
            .block
            .get_or_init(|| self.read(&source, i).map_err(|f| fault = Some(f)).ok());
        if let Some(b) = got {
            return Ok(b.clone());
        }
        self.forget(&slot);
        match fault {
            Some(f) => Err((source, f)),
            // It failed on a thread reading ahead (perhaps from a copy since left):
            // once more here, where a failure is answered.
            None => {
                let source = self.source();
                self.read(&source, i).map_err(|f| (source, f))
            }
        }
    }

    /// For a read of blocks `first..=last`: the blocks after them to read ahead, if
    /// the read follows the one before (each is claimed, so it is read once).
    pub fn claim_ahead(&self, first: u64, last: u64) -> Vec<u64> {
        let before = self.next.swap(last + 1, Ordering::Relaxed);
        if first != before && first + 1 != before {
            return Vec::new();
        }
        let end = (last + BLOCKS_AHEAD).min(self.blocks.count().saturating_sub(1));
        let mut kept = self.kept.lock().unwrap();
        let mut claimed = Vec::new();
        for i in last + 1..=end {
            if !kept.iter().any(|s| s.index == i) {
                push_slot(&mut kept, i);
                claimed.push(i);
            }
        }
        claimed
    }

    /// Reads block `i` ahead of the reader, if it is still wanted and not read yet.
    /// A failure is left for the reader, who reads it again and answers it.
    pub fn read_ahead(&self, i: u64) {
        let slot = self
            .kept
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.index == i)
            .cloned();
        if let Some(slot) = slot {
            let source = self.source();
            slot.block.get_or_init(|| self.read(&source, i).ok());
        }
    }

    /// True once, when every block of the current copy has been checked: the copy's
    /// bytes are then known to be right (see `Filesystem::note_checked`).
    pub fn whole_checked(&self) -> Option<Source> {
        if self.whole_told.load(Ordering::Relaxed) {
            return None;
        }
        let c = self.coverage.lock().unwrap();
        (c.left == 0 && !self.whole_told.swap(true, Ordering::Relaxed)).then(|| c.source.clone())
    }

    fn read(&self, source: &Source, i: u64) -> Result<Block, Fault> {
        let mut buf = FREE.lock().unwrap().pop().unwrap_or_default();
        read_block(&source.file, &self.blocks, i, &mut buf)?;
        self.coverage.lock().unwrap().note(source, i);
        Ok(Arc::new(BlockBuf(buf)))
    }

    /// The slot of block `i`, made if needed.
    fn slot(&self, i: u64) -> Arc<Slot> {
        let mut kept = self.kept.lock().unwrap();
        match kept.iter().find(|s| s.index == i) {
            Some(s) => s.clone(),
            None => push_slot(&mut kept, i),
        }
    }

    fn forget(&self, slot: &Arc<Slot>) {
        self.kept.lock().unwrap().retain(|s| !Arc::ptr_eq(s, slot));
    }
}

/// The blocks a read of up to `size` bytes at `offset` of an object of `len` bytes
/// takes bytes from, each with the range it takes: nothing at or past the end.
pub fn pieces(len: u64, offset: u64, size: u32) -> impl Iterator<Item = (u64, Range<usize>)> {
    let end = len.min(offset.saturating_add(size as u64));
    let blocks = (offset < end).then(|| offset / BLOCK..=(end - 1) / BLOCK);
    blocks.into_iter().flatten().map(move |i| {
        let start = i * BLOCK;
        let from = offset.max(start) - start;
        let to = end.min(start + BLOCK) - start;
        (i, from as usize..to as usize)
    })
}

/// Adds an empty slot for block `i`, letting go of the oldest beyond `BLOCKS_KEPT`.
fn push_slot(kept: &mut VecDeque<Arc<Slot>>, i: u64) -> Arc<Slot> {
    let slot = Arc::new(Slot {
        index: i,
        block: OnceLock::new(),
    });
    kept.push_back(slot.clone());
    while kept.len() > BLOCKS_KEPT {
        kept.pop_front();
    }
    slot
}

/// How an open file was registered.
pub enum Registered<B> {
    /// Read through dsbfs.
    Plain(u64),
    /// Read by the kernel from this backing file.
    Backing(u64, Arc<B>),
}

struct Table<B> {
    open: HashMap<u64, Arc<OpenFile<B>>>,
    /// One backing id per inode while any handle holds it: the kernel refuses two
    /// different backing files for one inode. Only handles hold it (an open that is
    /// still replying may release last), so it closes with the last of them.
    backing: HashMap<u64, Weak<B>>,
}

/// The table of open handles.
pub struct Handles<B> {
    next: AtomicU64,
    table: Mutex<Table<B>>,
}

impl<B> Default for Handles<B> {
    fn default() -> Self {
        Handles {
            next: AtomicU64::new(EMPTY_FH + 1),
            table: Mutex::new(Table {
                open: HashMap::new(),
                backing: HashMap::new(),
            }),
        }
    }
}

impl<B> Handles<B> {
    /// Registers an open file read through dsbfs.
    pub fn insert(&self, f: OpenFile<B>) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed);
        self.table.lock().unwrap().open.insert(fh, Arc::new(f));
        fh
    }

    /// Registers an open file, passed through to the kernel's backing file of its
    /// inode (made by `make` if it has none) when the inode is passed through already,
    /// or when `may_pass` and no handle of the inode reads through dsbfs: the kernel
    /// refuses opens of both kinds on one inode at once (ETXTBSY). Otherwise, or when
    /// `make` fails (with its error), the file is read through dsbfs.
    pub fn register(
        &self,
        mut f: OpenFile<B>,
        may_pass: bool,
        make: impl FnOnce() -> std::io::Result<B>,
    ) -> (Registered<B>, Option<std::io::Error>) {
        let mut t = self.table.lock().unwrap();
        let ino = f.ino;
        let mut refused = None;
        let shared = t.backing.get(&ino).and_then(Weak::upgrade);
        let plain_open = || t.open.values().any(|o| o.ino == ino && o.backing.is_none());
        let backing = match shared {
            Some(b) => Some(b),
            None if may_pass && !plain_open() => match make() {
                Ok(b) => {
                    // Ids whose last handle released while its open was still replying.
                    t.backing.retain(|_, b| b.strong_count() > 0);
                    let b = Arc::new(b);
                    t.backing.insert(ino, Arc::downgrade(&b));
                    Some(b)
                }
                Err(e) => {
                    refused = Some(e);
                    None
                }
            },
            None => None,
        };
        f.backing = backing.clone();
        let fh = self.next.fetch_add(1, Ordering::Relaxed);
        t.open.insert(fh, Arc::new(f));
        let registered = match backing {
            Some(b) => Registered::Backing(fh, b),
            None => Registered::Plain(fh),
        };
        (registered, refused)
    }

    pub fn get(&self, fh: u64) -> Option<Arc<OpenFile<B>>> {
        self.table.lock().unwrap().open.get(&fh).cloned()
    }

    /// Forgets a handle; its inode's backing id closes when nothing holds it.
    pub fn remove(&self, fh: u64) {
        let mut t = self.table.lock().unwrap();
        if let Some(f) = t.open.remove(&fh) {
            let ino = f.ino;
            drop(f);
            if t.backing.get(&ino).is_some_and(|b| b.strong_count() == 0) {
                t.backing.remove(&ino);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.table.lock().unwrap().open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::checked::{Hash, block_hash, sha256};
    use std::io::Write;

    #[test]
    fn reads_stop_at_the_object_end_and_detect_truncated_copies() {
        let pieces = |len, offset, size| pieces(len, offset, size).collect::<Vec<_>>();
        assert_eq!(pieces(10, 2, 4), [(0, 2..6)]);
        assert_eq!(pieces(10, 8, 100), [(0, 8..10)]);
        assert!(pieces(10, 10, 100).is_empty());
        assert!(pieces(10, 50, 100).is_empty());
        // A read across a block boundary takes from both.
        let b = BLOCK as usize;
        assert_eq!(pieces(3 * BLOCK, BLOCK - 5, 10), [(0, b - 5..b), (1, 0..5)]);
        let bytes = vec![7u8; (BLOCK + 10) as usize];
        let f: OpenFile<()> = open_file(&bytes, 1);
        f.source().file.set_len(BLOCK + 5).unwrap();
        let (_, fault) = f.block(1).unwrap_err();
        assert!(
            matches!(fault, Fault::Short { at, size } if at == BLOCK + 5 && size == BLOCK + 10)
        );
    }

    fn open_file<B>(bytes: &[u8], ino: u64) -> OpenFile<B> {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        let size = bytes.len() as u64;
        let hashes: Vec<Hash> = if size <= BLOCK {
            vec![sha256(bytes)]
        } else {
            bytes.chunks(BLOCK as usize).map(block_hash).collect()
        };
        OpenFile::new(
            ino,
            ino as i64,
            ObjectRef {
                id: 1,
                hash: sha256(bytes),
                size,
            },
            BlockHashes::new(size, hashes).unwrap(),
            Arc::new(Copy {
                disk: 1,
                disk_name: "d".into(),
                dir: (1, 2),
                file,
            }),
        )
    }

    #[test]
    fn handles_are_unique_and_released() {
        let h = Handles::<()>::default();
        let a = h.insert(open_file(b"a", 5));
        let b = h.insert(open_file(b"a", 5));
        assert!(a != b && a != EMPTY_FH && b != EMPTY_FH);
        assert_eq!(h.len(), 2);
        h.remove(a);
        assert!(h.get(a).is_none() && h.get(b).is_some());
        h.remove(b);
        assert!(h.is_empty());
    }

    #[test]
    fn an_inode_is_either_passed_through_or_read_through_dsbfs() {
        let h = Handles::<u32>::default();
        let (plain, _) = h.register(open_file(b"x", 7), false, || Ok(1));
        let Registered::Plain(plain) = plain else {
            panic!("not checked yet: read through dsbfs")
        };
        // Checked since, but a handle of the inode reads through dsbfs: so does this one.
        let (r, _) = h.register(open_file(b"x", 7), true, || panic!("no backing file"));
        assert!(matches!(r, Registered::Plain(_)));
        h.remove(plain);
        if let Registered::Plain(fh) = r {
            h.remove(fh);
        }
        let (r, _) = h.register(open_file(b"x", 7), true, || Ok(2));
        let Registered::Backing(fh, b) = r else {
            panic!("checked, and no plain handle: passed through")
        };
        assert_eq!(*b, 2);
        // Passed through already: shared, even where it would not be passed anew.
        let (r2, _) = h.register(open_file(b"x", 7), false, || panic!("one per inode"));
        assert!(matches!(r2, Registered::Backing(_, ref b2) if Arc::ptr_eq(&b, b2)));
        // Refused by the kernel: read through dsbfs, and the error is told.
        let (r, e) = h.register(open_file(b"y", 8), true, || {
            Err(std::io::Error::from_raw_os_error(libc::EINVAL))
        });
        assert!(matches!(r, Registered::Plain(_)) && e.is_some());
        h.remove(fh);
    }

    #[test]
    fn blocks_are_read_once_and_read_ahead_only_for_sequential_readers() {
        let bytes: Vec<u8> = (0..(5 << 20) + 9).map(|i: usize| (i * 7) as u8).collect();
        let f: OpenFile<()> = open_file(&bytes, 3);
        assert_eq!(f.claim_ahead(0, 0), [1, 2, 3]);
        // Claimed already: not again.
        assert_eq!(f.claim_ahead(1, 1), [4]);
        f.read_ahead(2);
        assert_eq!(**f.block(2).unwrap(), bytes[2 << 20..3 << 20]);
        // A jump elsewhere is not a sequential read.
        assert!(f.claim_ahead(5, 5).is_empty());
        assert_eq!(**f.block(5).unwrap(), bytes[5 << 20..]);
        assert!(f.whole_checked().is_none());
        for i in 0..6 {
            f.block(i).unwrap();
        }
        assert!(f.whole_checked().is_some());
        assert!(f.whole_checked().is_none(), "told once");
    }

    #[test]
    fn a_rotten_block_is_never_served_and_names_its_copy() {
        let mut bytes: Vec<u8> = (0..(2 << 20) + 1).map(|i: usize| i as u8).collect();
        let f: OpenFile<()> = open_file(&bytes, 3);
        bytes[(1 << 20) + 3] ^= 4;
        f.source()
            .file
            .write_all_at(&bytes[(1 << 20)..], 1 << 20)
            .unwrap();
        assert!(f.block(0).is_ok());
        let (src, fault) = f.block(1).unwrap_err();
        assert!(matches!(fault, Fault::Mismatch { block: Some(1) }));
        assert_eq!(src.disk_name, "d");
        // Read ahead, the failure is left for the reader, who gets it too.
        f.claim_ahead(0, 0);
        f.read_ahead(1);
        assert!(f.block(1).is_err());
        assert!(f.block(2).is_ok());
    }

    use std::os::unix::fs::FileExt;
}
