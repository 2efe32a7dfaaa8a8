//! Checked reads of object copies: every byte dsbfs hands out of a disk, to a program
//! reading the mount or into a restored file, was checked against the catalog's hashes
//! first. The mount and `restore` read through here.
//!
//! Objects are checked in blocks of [`BLOCK`] bytes, each against its own hash, so a
//! read of any part of a file is checked without reading the rest. The catalog records
//! the block hashes of every object of more than one block (`backup` computes them from
//! the bytes it writes, whose whole SHA-256 it checks, so they vouch for nothing the
//! content's hash did not); an object of one block needs no list, its own SHA-256 is
//! its block's. An object whose block hashes are not recorded (backed up by a dsbfs
//! that did not record them) is checked whole.
//!
//! Block hashes are BLAKE3 (256 bits, as hard to forge as SHA-256): the mount checks
//! every byte it serves on a machine of few cores, where SHA-256 (about 1.4 GB/s a core
//! here, with SHA-NI) would take most of a core to keep up with a fast disk, and BLAKE3
//! takes a sixth of that (0.1-0.14 s per GiB against 0.5-0.86 s, on this project's
//! 2-core machine); a backup hashes its large objects twice, and the second hash
//! costs as little.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

pub type Hash = [u8; 32];

/// Bytes per checked block: the most the kernel asks a FUSE filesystem for in one
/// request (`max_pages` 256), so one read is at most two blocks, and the catalog holds
/// 32 bytes per MiB of content.
pub const BLOCK: u64 = 1 << 20;

/// How many blocks an object of `size` bytes has.
pub fn block_count(size: u64) -> u64 {
    size.div_ceil(BLOCK)
}

/// What each block of an object is checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockHashes {
    size: u64,
    hashes: Arc<[Hash]>,
}

impl BlockHashes {
    /// The hashes of an object of `size` bytes, if there is one for each of its blocks.
    pub fn new(size: u64, hashes: impl Into<Arc<[Hash]>>) -> Option<BlockHashes> {
        let hashes = hashes.into();
        (hashes.len() as u64 == block_count(size)).then_some(BlockHashes { size, hashes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn count(&self) -> u64 {
        self.hashes.len() as u64
    }

    /// Where block `i` starts, and its length (the last block may be shorter).
    pub fn span(&self, i: u64) -> (u64, usize) {
        let start = i * BLOCK;
        (start, self.size.saturating_sub(start).min(BLOCK) as usize)
    }

    /// Checks the bytes of block `i`: against the object's SHA-256 for an object of
    /// one block, else against the block's BLAKE3 hash.
    pub fn check(&self, i: u64, bytes: &[u8]) -> Result<(), Fault> {
        let got = if self.size <= BLOCK {
            sha256(bytes)
        } else {
            block_hash(bytes)
        };
        match self.hashes.get(i as usize) {
            Some(want) if got == *want => Ok(()),
            _ => Err(Fault::Mismatch { block: Some(i) }),
        }
    }
}

/// What the catalog vouches for about an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub hash: Hash,
    pub size: u64,
    /// None for an object of several blocks whose block hashes are not recorded.
    pub blocks: Option<BlockHashes>,
}

impl Expected {
    /// An object with its recorded block hashes, if any. An object of one block (or
    /// none) is its own list; a list of another length than the object's blocks (a
    /// damaged or crafted catalog) vouches for nothing and is ignored.
    pub fn new(hash: Hash, size: u64, recorded: Option<Vec<Hash>>) -> Expected {
        let blocks = if size <= BLOCK {
            BlockHashes::new(size, vec![hash])
        } else {
            recorded.and_then(|r| BlockHashes::new(size, r))
        };
        Expected { hash, size, blocks }
    }
}

/// Why a copy's bytes were not handed out.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    /// The disk failed the read.
    #[error("{0}")]
    Io(std::io::Error),
    /// The copy ends before the object does: cut short, or damaged.
    #[error("the copy ends at {at} bytes, {size} expected")]
    Short { at: u64, size: u64 },
    /// Bytes that do not hash to what the catalog records: a damaged copy.
    #[error("{}", match block {
        Some(b) => format!("its block {b}, at byte {}, does not match its hash", b * BLOCK),
        None => "its content does not match its hash".to_string(),
    })]
    Mismatch { block: Option<u64> },
}

impl Fault {
    /// Whether the copy itself is damaged (rather than the disk failing to answer): it
    /// should be checked by `dsbfs verify`.
    pub fn is_damage(&self) -> bool {
        !matches!(self, Fault::Io(_))
    }
}

pub fn sha256(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// The hash of one block of an object of several: BLAKE3.
pub fn block_hash(bytes: &[u8]) -> Hash {
    *blake3::hash(bytes).as_bytes()
}

/// Reads exactly `buf.len()` bytes at `offset` of a copy of an object of `size` bytes.
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64, size: u64) -> Result<(), Fault> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => {
                return Err(Fault::Short {
                    at: offset + n as u64,
                    size,
                });
            }
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Fault::Io(e)),
        }
    }
    Ok(())
}

/// Reads block `i` of a copy into `buf` and checks it: `buf` holds the block only if
/// this returns `Ok`.
pub fn read_block(
    file: &File,
    blocks: &BlockHashes,
    i: u64,
    buf: &mut Vec<u8>,
) -> Result<(), Fault> {
    let (start, len) = blocks.span(i);
    buf.clear();
    buf.resize(len, 0);
    let read = read_exact_at(file, buf, start, blocks.size).and_then(|()| blocks.check(i, buf));
    if read.is_err() {
        buf.clear();
    }
    read
}

/// The SHA-256 of a stream of bytes, and with `blocks`, the block hash of each of its
/// blocks.
pub struct Hasher {
    whole: Sha256,
    total: u64,
    blocks: Option<(Vec<Hash>, blake3::Hasher)>,
}

/// What a `Hasher` saw.
pub struct Hashed {
    pub hash: Hash,
    pub size: u64,
    /// Each block's hash, when asked for and there was more than one block.
    pub blocks: Option<Vec<Hash>>,
}

impl Hasher {
    pub fn new(blocks: bool) -> Hasher {
        Hasher {
            whole: Sha256::new(),
            total: 0,
            blocks: blocks.then(|| (Vec::new(), blake3::Hasher::new())),
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.whole.update(data);
        if let Some((done, block)) = &mut self.blocks {
            while !data.is_empty() {
                let room = (BLOCK - self.total % BLOCK) as usize;
                let (now, rest) = data.split_at(room.min(data.len()));
                block.update(now);
                self.total += now.len() as u64;
                if self.total.is_multiple_of(BLOCK) {
                    done.push(*block.finalize().as_bytes());
                    block.reset();
                }
                data = rest;
            }
        } else {
            self.total += data.len() as u64;
        }
    }

    pub fn finish(self) -> Hashed {
        let blocks = self.blocks.and_then(|(mut done, block)| {
            if !self.total.is_multiple_of(BLOCK) {
                done.push(*block.finalize().as_bytes());
            }
            (done.len() > 1).then_some(done)
        });
        Hashed {
            hash: self.whole.finalize().into(),
            size: self.total,
            blocks,
        }
    }
}

/// Reads a copy of an object from its start, a block at a time, checking as it goes:
/// each block against its hash when they are known, before it is handed out. Without
/// block hashes only the whole can be checked: blocks are handed out as read, and the
/// last `next` (the one that returns 0) gives the verdict, so whatever they were
/// written to must not be read by anyone before (a temporary file), or they are only
/// counted (a check).
pub struct ObjectReader<'a> {
    file: &'a File,
    expected: &'a Expected,
    at: u64,
    /// Without block hashes: the whole object's hash (and its blocks', when wanted).
    hasher: Option<Hasher>,
    computed: Option<Vec<Hash>>,
}

impl<'a> ObjectReader<'a> {
    /// `want_blocks`: compute the block hashes of an object whose hashes are not known,
    /// to be had from `block_hashes` once the whole was read and found right.
    pub fn new(file: &'a File, expected: &'a Expected, want_blocks: bool) -> ObjectReader<'a> {
        ObjectReader {
            file,
            expected,
            at: 0,
            hasher: expected.blocks.is_none().then(|| Hasher::new(want_blocks)),
            computed: None,
        }
    }

    /// Reads the next block into the start of `buf` (at least `BLOCK` bytes) and
    /// returns its length; 0 once the whole object was read and checked.
    pub fn next(&mut self, buf: &mut [u8]) -> Result<usize, Fault> {
        debug_assert!(buf.len() as u64 >= BLOCK);
        let size = self.expected.size;
        if self.at >= size {
            if let Some(hasher) = self.hasher.take() {
                let h = hasher.finish();
                if h.hash != self.expected.hash {
                    return Err(Fault::Mismatch { block: None });
                }
                self.computed = h.blocks;
            }
            return Ok(0);
        }
        let len = (size - self.at).min(BLOCK) as usize;
        let bytes = &mut buf[..len];
        read_exact_at(self.file, bytes, self.at, size)?;
        match (&self.expected.blocks, &mut self.hasher) {
            (Some(blocks), _) => blocks.check(self.at / BLOCK, bytes)?,
            (None, Some(hasher)) => hasher.update(bytes),
            (None, None) => unreachable!("an object without block hashes is hashed whole"),
        }
        self.at += len as u64;
        Ok(len)
    }

    /// The block hashes of the object, known or computed, once `next` returned 0.
    pub fn block_hashes(&self) -> Option<BlockHashes> {
        self.expected.blocks.clone().or_else(|| {
            let computed = self.computed.clone()?;
            BlockHashes::new(self.expected.size, computed)
        })
    }
}

/// Reads a whole copy and checks it, with `on_bytes` told of each block read; gives its
/// block hashes (computed when not known). The mount checks a copy of an object whose
/// block hashes are not recorded this way before serving any of it.
pub fn check_whole(
    file: &File,
    expected: &Expected,
    on_bytes: &dyn Fn(u64),
) -> Result<BlockHashes, Fault> {
    crate::util::with_copy_buffer(|buf| {
        let mut reader = ObjectReader::new(file, expected, true);
        loop {
            match reader.next(buf)? {
                0 => break,
                n => on_bytes(n as u64),
            }
        }
        Ok(reader
            .block_hashes()
            .expect("a whole object read and checked has its block hashes"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 4096) as u8).collect()
    }

    fn hashed(bytes: &[u8], blocks: bool) -> Hashed {
        let mut h = Hasher::new(blocks);
        // Pieces that straddle block boundaries.
        for piece in bytes.chunks(300_007) {
            h.update(piece);
        }
        h.finish()
    }

    #[test]
    fn block_hashes_are_the_blake3_of_each_mebibyte() {
        let bytes = data((2 << 20) + 5);
        let h = hashed(&bytes, true);
        assert_eq!(h.hash, sha256(&bytes));
        assert_eq!(h.size, bytes.len() as u64);
        let want: Vec<Hash> = bytes.chunks(BLOCK as usize).map(block_hash).collect();
        assert_eq!(h.blocks, Some(want));
        // Exactly two blocks: no empty third.
        let two = data(2 << 20);
        assert_eq!(hashed(&two, true).blocks.unwrap().len(), 2);
        // One block needs no list: its hash is the object's.
        assert_eq!(hashed(&data(BLOCK as usize), true).blocks, None);
        assert_eq!(hashed(&bytes, false).blocks, None);
    }

    #[test]
    fn an_object_of_one_block_is_its_own_list_and_a_list_of_the_wrong_length_is_ignored() {
        let small = data(5000);
        let e = Expected::new(sha256(&small), 5000, None);
        let blocks = e.blocks.as_ref().unwrap();
        assert_eq!(blocks.count(), 1);
        assert!(blocks.check(0, &small).is_ok());
        let big = data(3 << 20);
        let right: Vec<Hash> = big.chunks(BLOCK as usize).map(block_hash).collect();
        let e = Expected::new(sha256(&big), big.len() as u64, Some(right[..2].to_vec()));
        assert_eq!(e.blocks, None);
        let e = Expected::new(sha256(&big), big.len() as u64, Some(right));
        assert_eq!(e.blocks.unwrap().count(), 3);
    }

    #[test]
    fn a_block_is_handed_out_only_when_it_matches_its_hash() {
        let mut bytes = data((3 << 20) + 100);
        let list: Vec<Hash> = bytes.chunks(BLOCK as usize).map(block_hash).collect();
        let blocks = BlockHashes::new(bytes.len() as u64, list).unwrap();
        bytes[(1 << 20) + 77] ^= 1;
        let f = file(&bytes);
        let mut buf = Vec::new();
        read_block(&f, &blocks, 0, &mut buf).unwrap();
        assert_eq!(buf, bytes[..1 << 20]);
        let e = read_block(&f, &blocks, 1, &mut buf).unwrap_err();
        assert!(matches!(e, Fault::Mismatch { block: Some(1) }) && e.is_damage());
        assert!(
            buf.is_empty(),
            "bytes of a block that failed its check were kept"
        );
        read_block(&f, &blocks, 3, &mut buf).unwrap();
        assert_eq!(buf, bytes[3 << 20..]);
        // A copy cut short.
        f.set_len((2 << 20) + 10).unwrap();
        let e = read_block(&f, &blocks, 2, &mut buf).unwrap_err();
        assert!(
            matches!(e, Fault::Short { at, .. } if at == (2 << 20) + 10),
            "{e}"
        );
    }

    fn read_all(
        f: &File,
        e: &Expected,
        want_blocks: bool,
    ) -> (Result<Vec<u8>, Fault>, Option<BlockHashes>) {
        let mut r = ObjectReader::new(f, e, want_blocks);
        let mut buf = vec![0u8; BLOCK as usize];
        let mut out = Vec::new();
        loop {
            match r.next(&mut buf) {
                Ok(0) => return (Ok(out), r.block_hashes()),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return (Err(e), None),
            }
        }
    }

    #[test]
    fn a_whole_read_checks_each_block_or_the_whole_and_computes_the_missing_list() {
        let bytes = data((2 << 20) + 3);
        let list: Vec<Hash> = bytes.chunks(BLOCK as usize).map(block_hash).collect();
        let f = file(&bytes);
        let listed = Expected::new(sha256(&bytes), bytes.len() as u64, Some(list.clone()));
        let unlisted = Expected::new(sha256(&bytes), bytes.len() as u64, None);
        let (out, blocks) = read_all(&f, &listed, false);
        assert!(out.unwrap() == bytes);
        assert_eq!(blocks, listed.blocks);
        let (out, blocks) = read_all(&f, &unlisted, true);
        assert!(out.unwrap() == bytes);
        assert_eq!(blocks, BlockHashes::new(bytes.len() as u64, list));
        assert_eq!(
            check_whole(&f, &unlisted, &|_| {}).unwrap(),
            blocks.unwrap()
        );
        // Damage in the last block: the listed read stops there, the whole read at the end.
        let mut rotten = bytes.clone();
        rotten[(2 << 20) + 1] ^= 0x80;
        let f = file(&rotten);
        let (out, _) = read_all(&f, &listed, false);
        assert!(matches!(out, Err(Fault::Mismatch { block: Some(2) })));
        let (out, _) = read_all(&f, &unlisted, true);
        assert!(matches!(out, Err(Fault::Mismatch { block: None })));
        assert!(check_whole(&f, &unlisted, &|_| {}).is_err());
    }
}
