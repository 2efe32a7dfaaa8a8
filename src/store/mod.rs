//! One backup disk's object store: an identity file, content objects named by their
//! SHA-256 (`objects/ab/abcd…`), and the catalog copy.
//!
//! Every path below the disk's root is resolved from directory descriptors with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, and object names come only from
//! 32-byte hashes, so a crafted disk or catalog cannot make dsbfs read or write outside
//! the store.

pub mod checked;
mod listing;

pub use checked::{BLOCK, BlockHashes, Expected, Fault, Hash, ObjectReader};
pub use listing::{Blocks, Listing, Stray};
mod replace;

use crate::util::open_beneath;
use anyhow::{Context, Result, bail};
use checked::{Hashed, Hasher};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub const IDENTITY_FILE: &str = "dsbfs-disk.json";
pub const CATALOG_COPY: &str = "dsbfs-catalog.db";
/// What the identity file becomes when its disk is removed from the catalog: the
/// folder then holds no disk, and `disk add` may make it one again.
pub const RETIRED_IDENTITY: &str = "dsbfs-disk.removed.json";
pub const OBJECTS_DIR: &str = "objects";
pub const QUARANTINE_DIR: &str = "quarantine";
pub const FORMAT: u32 = 1;
/// Prefix of objects being written; never a valid object name.
const TMP_PREFIX: &str = ".tmp-";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    pub format: u32,
    pub name: String,
    pub uuid: String,
}

/// The largest identity file read: a real one is about 150 bytes.
const IDENTITY_MAX: u64 = 64 << 10;

/// Reads the identity file in `root`, if there is a valid one (every mount point is
/// asked this).
pub fn read_identity(root: &Path) -> Option<Identity> {
    let dir = open_dir(root).ok()?;
    serde_json::from_slice(&identity_text(&dir).ok()?).ok()
}

/// The bytes of the identity file in `dir`. A crafted disk must not hang or exhaust
/// dsbfs: a symlink, FIFO or device there is no identity (see `open_file_in`), and at
/// most `IDENTITY_MAX` bytes are read.
fn identity_text(dir: &OwnedFd) -> std::io::Result<Vec<u8>> {
    let (f, _) = open_file_in(dir, IDENTITY_FILE)?;
    let mut text = Vec::new();
    f.take(IDENTITY_MAX).read_to_end(&mut text)?;
    Ok(text)
}

fn open_dir(path: &Path) -> nix::Result<OwnedFd> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

pub fn write_identity(root: &Path, id: &Identity) -> Result<()> {
    crate::util::write_atomic(&root.join(IDENTITY_FILE), &serde_json::to_vec_pretty(id)?)
}

pub fn object_name(hash: &[u8; 32]) -> (String, String) {
    let hex = crate::util::hex(hash);
    (hex[..2].to_string(), hex)
}

/// An opened store. Holding the root's descriptor means a disk swapped at the same path
/// mid-run is never written to: operations fail on the vanished one instead.
pub struct Store {
    root: PathBuf,
    root_fd: OwnedFd,
    /// Fan-out folders opened so far, by first hash byte. A backup writes thousands of
    /// objects into [`FANS`] folders: each is created and opened once, not once per object.
    fans: [OnceLock<OwnedFd>; FANS],
    /// Part of temporary names (asked once: `getpid` is a system call).
    pid: u32,
}

/// Fan-out folders of `objects/`: one per first byte of a hash.
const FANS: usize = 1 << u8::BITS;

/// Result of writing an object.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// Written and verified under a temporary name; `commit` makes it final.
    Staged(Staged),
    /// Already present with the right size.
    Present,
    /// The bytes read did not hash to what the catalog says: nothing was stored.
    Mismatch,
}

/// An object written and verified under its temporary name.
#[derive(Debug, PartialEq, Eq)]
pub struct Staged {
    hash: [u8; 32],
    tmp: String,
    /// The hash of each block of the bytes written, for an object of more than one.
    pub blocks: Option<Vec<Hash>>,
}

impl Store {
    pub fn open(root: &Path) -> Result<Store> {
        let root_fd = open_dir(root)
            .with_context(|| format!("cannot open disk folder {}", root.display()))?;
        Ok(Store {
            root: root.to_owned(),
            root_fd,
            fans: std::array::from_fn(|_| OnceLock::new()),
            pid: std::process::id(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The identity read through the held descriptor.
    pub fn identity(&self) -> Result<Identity> {
        let text = identity_text(&self.root_fd)
            .with_context(|| format!("no dsbfs identity in {}", self.root.display()))?;
        serde_json::from_slice(&text)
            .with_context(|| format!("damaged identity file in {}", self.root.display()))
    }

    /// Opens (with `create`, first makes) `objects/` and `objects/FAN/`.
    fn open_fan(&self, fan: &str, create: bool) -> nix::Result<OwnedFd> {
        let dir = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
        let mkdir = |at: &OwnedFd, name: &str| match nix::sys::stat::mkdirat(
            at,
            name,
            Mode::from_bits_truncate(0o755),
        ) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
            Err(e) => Err(e),
        };
        if create {
            mkdir(&self.root_fd, OBJECTS_DIR)?;
        }
        let objects = open_beneath(&self.root_fd, OBJECTS_DIR, dir, 0)?;
        if create {
            mkdir(&objects, fan)?;
        }
        open_beneath(&objects, fan, dir, 0)
    }

    /// The fan-out folder of `hash`, opened once and kept (with `create`, made first).
    fn fan(&self, hash: &[u8; 32], create: bool) -> nix::Result<&OwnedFd> {
        let cell = &self.fans[usize::from(hash[0])];
        if let Some(fd) = cell.get() {
            return Ok(fd);
        }
        let fd = self.open_fan(&object_name(hash).0, create)?;
        Ok(cell.get_or_init(|| fd))
    }

    /// Opens an object for reading; it must be a regular file inside the store.
    pub fn open_object(&self, hash: &[u8; 32]) -> std::io::Result<File> {
        self.open_object_sized(hash).map(|(f, _)| f)
    }

    /// Opens an object for reading, with its length (from the same `fstat` that
    /// checked it is a regular file: the mount does this for every file it opens).
    pub fn open_object_sized(&self, hash: &[u8; 32]) -> std::io::Result<(File, u64)> {
        let dir = self.fan(hash, false)?;
        open_file_in(dir, &object_name(hash).1)
    }

    /// The size of an object if it is present.
    pub fn object_size(&self, hash: &[u8; 32]) -> Option<u64> {
        self.open_object_sized(hash).map(|(_, len)| len).ok()
    }

    /// Copies `src` into the store under a temporary name, hashing as it writes (the
    /// whole, and each block of an object of more than one). The result is durable only
    /// after `sync`, and visible only after `commit`.
    pub fn stage(
        &self,
        src: &mut dyn Read,
        hash: &[u8; 32],
        size: u64,
        on_bytes: &dyn Fn(u64),
    ) -> Result<Written> {
        let dir = self.fan(hash, true).map_err(|e| write_error(e.into()))?;
        let name = object_name(hash).1;
        let present = open_file_in(dir, &name);
        if present.is_ok_and(|(_, len)| len == size) {
            return Ok(Written::Present);
        }
        let tmp = format!("{TMP_PREFIX}{name}-{}", self.pid);
        let out = create_for_copy(
            dir,
            &tmp,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC,
            0o644,
            size,
        )
        .map_err(|e| write_error(e.into()))?;
        let mut hasher = Hasher::new(size > BLOCK);
        let result = out.write_from(&mut |buf| {
            let n = read_full(src, buf)?;
            hasher.update(&buf[..n]);
            on_bytes(n as u64);
            Ok(n)
        });
        let discard = |dir: &OwnedFd| {
            let _ =
                nix::unistd::unlinkat(dir, tmp.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
        };
        let written = hasher.finish();
        match result {
            Ok(_) if written.hash == *hash && written.size == size => Ok(Written::Staged(Staged {
                hash: *hash,
                tmp,
                blocks: written.blocks,
            })),
            Ok(_) => {
                discard(dir);
                Ok(Written::Mismatch)
            }
            Err(e) => {
                discard(dir);
                Err(e)
            }
        }
    }

    /// Flushes everything written to this disk's filesystem (one call for a whole batch).
    pub fn sync(&self) -> Result<()> {
        nix::unistd::syncfs(&self.root_fd).map_err(|e| write_error(e.into()))
    }

    /// Gives staged objects their final names. Call `sync` before (data) and after (names).
    pub fn commit(&self, staged: &Staged) -> Result<()> {
        let dir = self
            .fan(&staged.hash, false)
            .map_err(|e| write_error(e.into()))?;
        let name = object_name(&staged.hash).1;
        nix::fcntl::renameat(dir, staged.tmp.as_str(), dir, name.as_str())
            .map_err(|e| write_error(e.into()))
    }

    /// Removes an object; a missing one is not an error.
    pub fn remove_object(&self, hash: &[u8; 32]) -> Result<()> {
        let Ok(dir) = self.fan(hash, false) else {
            return Ok(());
        };
        let name = object_name(hash).1;
        match nix::unistd::unlinkat(dir, name.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(nix::errno::Errno::ENOENT) => Ok(()),
            Err(e) => Err(e).with_context(|| {
                format!("cannot remove object {name} from {}", self.root.display())
            }),
        }
    }

    /// Takes an existing file on the same filesystem in as an object without copying
    /// its bytes: a hard link (the file stays where it is) or a rename. The caller has
    /// checked its hash. Returns false when the object was already there.
    pub fn adopt(&self, src: &Path, hash: &[u8; 32], rename: bool) -> Result<bool> {
        let name = object_name(hash).1;
        let dir = self.fan(hash, true)?;
        let cwd = nix::fcntl::AT_FDCWD;
        let done = if rename {
            nix::fcntl::renameat(cwd, src, dir, name.as_str())
        } else {
            nix::unistd::linkat(cwd, src, dir, name.as_str(), nix::fcntl::AtFlags::empty())
        };
        match done {
            Ok(()) => Ok(true),
            Err(nix::errno::Errno::EEXIST) => Ok(false),
            Err(e) => Err(e).with_context(|| {
                format!(
                    "cannot adopt {} into {}",
                    src.display(),
                    self.root.display()
                )
            }),
        }
    }

    /// Moves a damaged or unwanted object out of the store into `quarantine/`, where
    /// nothing reads it but a person can still inspect it.
    pub fn quarantine(&self, hash: &[u8; 32]) -> Result<()> {
        let name = object_name(hash).1;
        let dir = self.fan(hash, false)?;
        self.move_to_quarantine(dir, OsStr::new(&name), name.as_bytes())
            .with_context(|| {
                format!(
                    "cannot move object {name} to quarantine on {}",
                    self.root.display()
                )
            })?;
        Ok(())
    }

    /// The `quarantine/` folder, made if needed.
    fn quarantine_dir(&self) -> Result<OwnedFd> {
        match nix::sys::stat::mkdirat(
            &self.root_fd,
            QUARANTINE_DIR,
            Mode::from_bits_truncate(0o700),
        ) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(open_beneath(
            &self.root_fd,
            QUARANTINE_DIR,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            0,
        )?)
    }

    /// Why the object of `hash` is not a sound copy (unreadable, not `size` bytes long,
    /// bytes that do not hash to its name), or None when it is one.
    pub fn fault(
        &self,
        hash: &[u8; 32],
        size: Option<u64>,
        on_bytes: &dyn Fn(u64),
    ) -> Option<String> {
        self.check(hash, size, false, on_bytes).err()
    }

    /// Checks the object of `hash` as `fault` does; a sound one of more than one block
    /// gives its block hashes when `want_blocks` (computed in the same read).
    pub fn check(
        &self,
        hash: &[u8; 32],
        size: Option<u64>,
        want_blocks: bool,
        on_bytes: &dyn Fn(u64),
    ) -> Result<Option<Vec<Hash>>, String> {
        let mut f = self
            .open_object(hash)
            .map_err(|e| format!("cannot be read: {e}"))?;
        match hash_reader(&mut f, want_blocks, on_bytes) {
            Err(e) => Err(format!("read error: {}", e.root_cause())),
            Ok(h) if size.is_some_and(|s| s != h.size) => {
                Err(format!("size {} instead of {}", h.size, size.unwrap_or(0)))
            }
            Ok(h) if h.hash != *hash => Err("content does not match its hash".into()),
            Ok(h) => Ok(h.blocks),
        }
    }

    /// Takes the disk's lock so two dsbfs processes never write one disk at once.
    pub fn lock(&self) -> Result<nix::fcntl::Flock<File>> {
        let f = File::from(open_beneath(
            &self.root_fd,
            IDENTITY_FILE,
            OFlag::O_RDONLY,
            0,
        )?);
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|_| {
            anyhow::anyhow!(
                "another dsbfs process is writing to {}; wait for it to finish",
                self.root.display()
            )
        })
    }

    /// Free bytes and total size of the filesystem holding the store.
    pub fn space(&self) -> Result<(u64, u64)> {
        let s = nix::sys::statvfs::fstatvfs(&self.root_fd)?;
        let unit = s.fragment_size() as u64;
        Ok((s.blocks_available() as u64 * unit, s.blocks() as u64 * unit))
    }

    /// Whether the disk's path still leads to the folder this store holds open. False
    /// once the disk was unmounted (even lazily), unplugged, moved or replaced: what is
    /// written through the held descriptors then goes to the disk that left, never to
    /// whatever is at its path now, but the run should stop and say so.
    pub fn at_its_path(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (self.root_id(), std::fs::metadata(&self.root)) {
            (Ok(held), Ok(now)) => held == (now.dev(), now.ino()),
            _ => false,
        }
    }

    /// Writes `src` from its start as the file `name` in the disk's folder, through the
    /// folder held open since the identity check: a disk unmounted meanwhile gets it (or
    /// an error), never the folder left at its path. Atomic and durable: a temporary
    /// name, fsync, rename, fsync of the folder. Write errors are [`DiskError`]s.
    pub fn install(&self, name: &str, src: &mut File) -> Result<()> {
        // One writer per disk (the lock): a fixed name, which the next run overwrites
        // if this one is killed.
        let tmp = format!("{name}.tmp");
        let mut write = || -> std::io::Result<()> {
            let mut out = File::from(open_beneath(
                &self.root_fd,
                tmp.as_str(),
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC,
                0o644,
            )?);
            std::io::copy(src, &mut out)?;
            out.sync_all()?;
            nix::fcntl::renameat(&self.root_fd, tmp.as_str(), &self.root_fd, name)?;
            nix::unistd::fsync(&self.root_fd)?;
            Ok(())
        };
        write().map_err(|e| {
            let _ = nix::unistd::unlinkat(
                &self.root_fd,
                tmp.as_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
            write_error(e).context(format!("cannot write {name} on {}", self.root.display()))
        })
    }

    /// Device and inode of the folder this store holds open: when its path no longer
    /// leads to the same folder, the disk was unplugged, moved or replaced.
    pub fn root_id(&self) -> std::io::Result<(u64, u64)> {
        let st = nix::sys::stat::fstat(&self.root_fd)?;
        Ok((st.st_dev, st.st_ino))
    }

    pub fn read_only(&self) -> bool {
        nix::sys::statvfs::fstatvfs(&self.root_fd)
            .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
            .unwrap_or(false)
    }

    /// Renames the identity file to [`RETIRED_IDENTITY`] (under the disk's lock, durably):
    /// the folder no longer holds a disk.
    pub fn retire(&self) -> Result<()> {
        let _lock = self.lock()?;
        nix::fcntl::renameat(
            &self.root_fd,
            IDENTITY_FILE,
            &self.root_fd,
            RETIRED_IDENTITY,
        )
        .and_then(|()| nix::unistd::fsync(&self.root_fd))
        .with_context(|| format!("cannot retire the identity of {}", self.root.display()))
    }
}

/// Opens `name` in `dir` for reading, with its length; it must be a regular file.
/// `O_NONBLOCK` keeps a FIFO planted in a crafted store from blocking the open (it has
/// no effect on regular files).
fn open_file_in(dir: &OwnedFd, name: &str) -> std::io::Result<(File, u64)> {
    let f = File::from(open_beneath(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK,
        0,
    )?);
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok((f, meta.len()))
}

/// Hashes what `src` reads to its end (with `blocks`, each block too), telling
/// `on_bytes` as it goes.
pub(crate) fn hash_reader(
    src: &mut dyn Read,
    blocks: bool,
    on_bytes: &dyn Fn(u64),
) -> Result<Hashed> {
    crate::util::with_copy_buffer(|buf| {
        let mut h = Hasher::new(blocks);
        loop {
            let n = read_full(src, buf)?;
            if n == 0 {
                return Ok(h.finish());
            }
            h.update(&buf[..n]);
            on_bytes(n as u64);
        }
    })
}

/// Objects from this size on are written with `O_DIRECT`, straight to the disk: large
/// files go faster than through the page cache and a sync (README, "Performance"),
/// small ones are faster buffered (each direct write waits for the device). It also
/// keeps a backup from filling the page cache with copies nobody reads.
const DIRECT_FROM: u64 = 1 << 20;

/// A file created to receive a copy, written directly when it was opened so.
pub(crate) struct CopyOut {
    pub file: File,
    direct: bool,
}

/// Creates `name` in `dir` to copy `size` bytes into: with `O_DIRECT` when the copy is
/// large and the filesystem takes it (see `DIRECT_FROM`).
pub(crate) fn create_for_copy(
    dir: &OwnedFd,
    name: &str,
    flags: OFlag,
    mode: u32,
    size: u64,
) -> nix::Result<CopyOut> {
    if size >= DIRECT_FROM
        && let Ok(fd) = open_beneath(dir, name, flags | OFlag::O_DIRECT, mode)
    {
        return Ok(CopyOut {
            file: File::from(fd),
            direct: true,
        });
    }
    Ok(CopyOut {
        file: File::from(open_beneath(dir, name, flags, mode)?),
        direct: false,
    })
}

impl CopyOut {
    /// Writes into this file what `next` puts at the start of the copy buffer, call
    /// after call until it gives 0 (every call fills the buffer but the last two);
    /// returns the bytes written. An error of `next` is returned as it is, a write
    /// error as a [`DiskError`].
    pub(crate) fn write_from(
        &self,
        next: &mut dyn FnMut(&mut [u8]) -> Result<usize>,
    ) -> Result<u64> {
        crate::util::with_copy_buffer(|buf| {
            let mut total = 0u64;
            loop {
                let n = next(buf)?;
                if n == 0 {
                    break;
                }
                if self.direct {
                    write_direct(&self.file, buf, n, total)?;
                } else {
                    (&self.file).write_all(&buf[..n]).map_err(write_error)?;
                }
                total += n as u64;
            }
            if self.direct && !total.is_multiple_of(crate::util::DIRECT_ALIGN as u64) {
                self.file.set_len(total).map_err(write_error)?;
            }
            Ok(total)
        })
    }
}

/// Writes `buf[..n]` at `at` of a file opened with `O_DIRECT`: whole aligned blocks, the
/// last one padded with zeros (the caller cuts the file back to its length after). A
/// filesystem that refuses a direct write gets the rest through the page cache.
fn write_direct(out: &File, buf: &mut [u8], n: usize, at: u64) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let padded = n.next_multiple_of(crate::util::DIRECT_ALIGN);
    buf[n..padded].fill(0);
    if let Err(e) = out.write_all_at(&buf[..padded], at) {
        if e.raw_os_error() != Some(libc::EINVAL) {
            return Err(write_error(e));
        }
        let flags = OFlag::from_bits_truncate(nix::fcntl::fcntl(out, nix::fcntl::F_GETFL)?);
        nix::fcntl::fcntl(out, nix::fcntl::F_SETFL(flags - OFlag::O_DIRECT))?;
        out.write_all_at(&buf[..padded], at).map_err(write_error)?;
    }
    Ok(())
}

/// Reads until `buf` is full or the source ends; how much it read.
fn read_full(src: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(anyhow::Error::new(e).context("cannot read the source file")),
        }
    }
    Ok(n)
}

/// Tags write errors so callers can tell a full or vanished disk from a bad source.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("the disk is full")]
    Full,
    #[error("the disk stopped answering ({0})")]
    Gone(std::io::Error),
    /// Its path no longer leads to it (see [`Store::at_its_path`]).
    #[error("the disk was unmounted or replaced")]
    Left,
}

fn write_error(e: std::io::Error) -> anyhow::Error {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => DiskError::Full.into(),
        _ => DiskError::Gone(e).into(),
    }
}

/// Refuses to treat `root` as a disk unless its identity carries `uuid`.
pub fn check_identity(root: &Path, uuid: &str) -> Result<Store> {
    let store = Store::open(root)?;
    let id = store.identity()?;
    if id.uuid != uuid {
        bail!(
            "{} holds another dsbfs disk ({}, {}); refusing to use it",
            root.display(),
            id.name,
            id.uuid
        );
    }
    if id.format > FORMAT {
        bail!(
            "{} was written by a newer dsbfs (disk format {}); upgrade dsbfs",
            root.display(),
            id.format
        );
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        write_identity(
            d.path(),
            &Identity {
                format: FORMAT,
                name: "t".into(),
                uuid: "u".into(),
            },
        )
        .unwrap();
        let s = Store::open(d.path()).unwrap();
        (d, s)
    }

    fn put(s: &Store, data: &[u8], hash: &[u8; 32]) -> Written {
        let w = s
            .stage(&mut &data[..], hash, data.len() as u64, &|_| {})
            .unwrap();
        if let Written::Staged(st) = &w {
            s.sync().unwrap();
            s.commit(st).unwrap();
        }
        w
    }

    #[test]
    fn objects_are_stored_by_hash_and_read_back() {
        let (_d, s) = store();
        let data = b"family photo";
        let h = crate::scan::hash::sha256(data);
        assert!(matches!(put(&s, data, &h), Written::Staged(_)));
        let mut back = Vec::new();
        s.open_object(&h).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        assert_eq!(put(&s, data, &h), Written::Present);
    }

    #[test]
    fn large_objects_written_past_the_page_cache_read_back_exactly() {
        let (d, s) = store();
        // A direct write's last block is padded, then cut back: sizes around the blocks.
        for extra in [0u64, 1, 4095, 4097, (1 << 20) + 3] {
            let size = DIRECT_FROM + extra;
            let data: Vec<u8> = (0..size).map(|i| (i * 7 + extra) as u8).collect();
            let h = crate::scan::hash::sha256(&data);
            assert!(matches!(put(&s, &data, &h), Written::Staged(_)));
            let mut back = Vec::new();
            s.open_object(&h).unwrap().read_to_end(&mut back).unwrap();
            assert!(back == data, "{size}-byte object read back differently");
        }
        // The source changed: nothing stored, no temporary left.
        let data = vec![1u8; DIRECT_FROM as usize + 10];
        let h = crate::scan::hash::sha256(b"what the scan saw");
        let w = s
            .stage(&mut &data[..], &h, data.len() as u64, &|_| {})
            .unwrap();
        assert_eq!(w, Written::Mismatch);
        let fan = d.path().join(OBJECTS_DIR).join(object_name(&h).0);
        assert_eq!(std::fs::read_dir(fan).unwrap().count(), 0);
    }

    #[test]
    fn a_fan_out_folder_missing_at_first_is_found_once_written() {
        let (_d, s) = store();
        let h = crate::scan::hash::sha256(b"later");
        assert!(s.open_object(&h).is_err());
        assert!(matches!(put(&s, b"later", &h), Written::Staged(_)));
        assert_eq!(s.object_size(&h), Some(5));
        s.remove_object(&h).unwrap();
        assert!(s.open_object(&h).is_err());
        assert!(matches!(put(&s, b"later", &h), Written::Staged(_)));
    }

    #[test]
    fn bytes_that_do_not_match_the_hash_are_not_stored() {
        let (d, s) = store();
        let h = crate::scan::hash::sha256(b"what the scan saw");
        assert_eq!(put(&s, b"what the file became", &h), Written::Mismatch);
        assert!(s.open_object(&h).is_err());
        let (fan, _) = object_name(&h);
        assert_eq!(
            std::fs::read_dir(d.path().join(OBJECTS_DIR).join(fan))
                .unwrap()
                .count(),
            0
        );
    }

    /// Where the object of `h` lives in the store at `root`, its fan-out folder made:
    /// the place a crafted disk plants something else.
    fn object_path(root: &Path, h: &[u8; 32]) -> PathBuf {
        let (fan, name) = object_name(h);
        let dir = root.join(OBJECTS_DIR).join(fan);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn a_symlinked_object_on_a_crafted_disk_is_not_followed() {
        let (d, s) = store();
        let h = crate::scan::hash::sha256(b"x");
        std::os::unix::fs::symlink("/etc/passwd", object_path(d.path(), &h)).unwrap();
        assert!(s.open_object(&h).is_err());
        std::fs::remove_dir_all(d.path().join(OBJECTS_DIR)).unwrap();
        std::os::unix::fs::symlink("/etc", d.path().join(OBJECTS_DIR)).unwrap();
        assert!(s.open_object(&h).is_err());
    }

    #[test]
    fn a_fifo_planted_as_an_object_or_identity_does_not_block() {
        let (d, s) = store();
        let h = crate::scan::hash::sha256(b"x");
        let fifo = |p: &Path| nix::unistd::mkfifo(p, Mode::from_bits_truncate(0o600)).unwrap();
        fifo(&object_path(d.path(), &h));
        // Without a writer, a blocking open of a FIFO would never return.
        let err = s.open_object(&h).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        std::fs::remove_file(d.path().join(IDENTITY_FILE)).unwrap();
        fifo(&d.path().join(IDENTITY_FILE));
        assert_eq!(read_identity(d.path()), None);
        assert!(s.identity().is_err());
    }

    #[test]
    fn a_crafted_identity_file_is_not_followed_nor_read_whole() {
        let (d, _s) = store();
        let id = d.path().join(IDENTITY_FILE);
        let real = read_identity(d.path()).unwrap();
        // A symlink to a real identity elsewhere, or to an endless device.
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::copy(&id, elsewhere.path().join("id.json")).unwrap();
        std::fs::remove_file(&id).unwrap();
        std::os::unix::fs::symlink(elsewhere.path().join("id.json"), &id).unwrap();
        assert_eq!(read_identity(d.path()), None);
        std::fs::remove_file(&id).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &id).unwrap();
        assert_eq!(read_identity(d.path()), None);
        // Reading stops at the limit: what lies past it (here, what would make the
        // JSON invalid) is never read.
        std::fs::remove_file(&id).unwrap();
        let mut big = serde_json::to_vec(&real).unwrap();
        big.resize(IDENTITY_MAX as usize, b' ');
        big.extend_from_slice(b"not json");
        std::fs::write(&id, &big).unwrap();
        assert_eq!(read_identity(d.path()), Some(real));
    }

    #[test]
    fn leftover_temporaries_are_cleaned() {
        let (d, s) = store();
        let h = crate::scan::hash::sha256(b"abc");
        let w = s.stage(&mut &b"abc"[..], &h, 3, &|_| {}).unwrap();
        assert!(matches!(w, Written::Staged(_)));
        let listing = s.list().unwrap();
        assert!(listing.objects.is_empty() && listing.strays.is_empty());
        assert_eq!(s.remove_temporaries(&listing.temporaries), 1);
        assert!(s.open_object(&h).is_err());
        assert!(s.list().unwrap().temporaries.is_empty());
        drop(d);
    }

    #[test]
    fn the_wrong_disk_is_refused() {
        let (d, _s) = store();
        assert!(check_identity(d.path(), "u").is_ok());
        let err = check_identity(d.path(), "other").err().unwrap().to_string();
        assert!(err.contains("another dsbfs disk"), "{err}");
    }
}
