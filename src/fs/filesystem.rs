//! The filesystem the mount shows, as values and errors. The tree (lookup, getattr,
//! readdir, readlink, statfs, xattrs) is answered from the catalog alone; only `open`
//! of a file with content looks for a disk, and `read` reads the copy it found, going
//! on from another connected copy when that one fails. Every byte `read` returns was
//! checked against the catalog's hashes (`store::checked`); a damaged copy is a failing
//! one, and is listed beside the catalog for `status`. Nothing here knows the kernel:
//! the adapter (`fuse`) answers requests with what these return, decides which thread
//! runs them, and logs the errors.

use super::access::{access_allowed, valid_name};
use super::ahead::{self, Ahead, Sibling};
use super::checks::Checks;
use super::disks::{Copy, Disks};
use super::error::FsError;
use super::handles::{EMPTY_FH, Handles, OpenFile, Registered, Source, pieces};
use super::idle::{Closer, IDLE};
use super::view::View;
use super::work::DiskWork;
use crate::catalog::view::{Node, ObjectRef};
use crate::catalog::{DiskRecord, Kind};
use crate::store::checked::{BLOCK, BlockHashes, Expected, Fault, check_whole};
use lru::LruCache;
use std::fs::File;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The block size `stat` and `statfs` report.
pub const BLOCK_SIZE: u32 = crate::placement::BLOCK as u32;
/// Readdir cookies: 1 is ".", 2 is "..", a child's is its entry id plus this.
const COOKIE_BASE: u64 = 2;
/// How often the log repeats that one file is offline.
const OFFLINE_LOG_EVERY: Duration = Duration::from_secs(60);
/// Files whose last "offline" line is remembered.
const OFFLINE_REMEMBERED: usize = 1024;

const XATTR_SHA256: &[u8] = b"user.dsbfs.sha256";
const XATTR_DISKS: &[u8] = b"user.dsbfs.disks";
const XATTR_COPIES: &[u8] = b"user.dsbfs.copies";
/// SHA-256 of no bytes: the hash of every empty file.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub struct Settings {
    pub xattr: bool,
    pub passthrough: bool,
    /// Names the mount in log lines.
    pub label: String,
}

/// The filesystem. `B` is what the kernel returns for a file it reads itself
/// (passthrough): the core decides when to ask for one, the adapter asks the kernel.
pub struct Filesystem<B> {
    view: Arc<View>,
    disks: Disks,
    handles: Handles<B>,
    settings: Settings,
    /// Passthrough asked for, granted by the kernel, and not refused by it since.
    passthrough: AtomicBool,
    /// Whether a refused passthrough was logged (once is enough).
    passthrough_refused: AtomicBool,
    offline_logged: Mutex<LruCache<u64, Instant>>,
    work: DiskWork,
    ahead: Ahead,
    closer: Arc<Closer>,
    checks: Checks,
    /// Whether a failure to list a damaged copy beside the catalog was logged.
    damage_unlisted: AtomicBool,
}

/// What an open gives the kernel.
#[derive(Debug)]
pub enum Opened<B> {
    /// A file without content: reads are empty and need no disk.
    Empty,
    /// A handle whose reads come to `read`.
    Plain(u64),
    /// A handle whose reads the kernel does itself, from this backing file.
    Backing(u64, Arc<B>),
}

impl<B> Opened<B> {
    pub fn fh(&self) -> u64 {
        match self {
            Opened::Empty => EMPTY_FH,
            Opened::Plain(fh) | Opened::Backing(fh, _) => *fh,
        }
    }
}

/// An open half done: what `start_open` found without touching a disk.
pub struct Opening {
    node: Arc<Node>,
    content: Content,
}

enum Content {
    Empty,
    /// A copy opened ahead of the reader (see `ahead`).
    Ready(ObjectRef, Copy),
    /// A copy to look for on the disks.
    Find(ObjectRef),
}

impl Opening {
    /// Whether finishing it may wait for disks (then it belongs on a disk thread): a
    /// copy to find, or one of several blocks that may have to be checked whole.
    pub fn waits_for_disk(&self) -> bool {
        match &self.content {
            Content::Empty => false,
            Content::Ready(obj, _) => obj.size > BLOCK,
            Content::Find(_) => true,
        }
    }
}

/// What a read reads.
pub enum Reader<B> {
    Empty,
    Open(Arc<OpenFile<B>>),
}

impl<B> Reader<B> {
    /// Whether reading it may wait for disks (then it belongs on a disk thread).
    pub fn waits_for_disk(&self) -> bool {
        matches!(self, Reader::Open(_))
    }
}

/// One entry of a folder listing, with the cookie that resumes the listing after it.
pub struct DirEntry<'a> {
    pub node: &'a Node,
    pub cookie: u64,
    pub name: &'a [u8],
}

/// An extended attribute answer, by the size protocol: its size when asked for it,
/// else its bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Xattr {
    Size(u32),
    Data(Vec<u8>),
}

#[derive(Debug, PartialEq, Eq)]
pub struct Statfs {
    pub blocks: u64,
    pub files: u64,
    pub block_size: u32,
    pub name_max: u32,
}

impl<B: Send + Sync + 'static> Filesystem<B> {
    /// The filesystem over `view`, with `disk_threads` threads to open and read files.
    pub fn new(view: View, disks: Disks, settings: Settings, disk_threads: usize) -> Arc<Self> {
        let view = Arc::new(view);
        view.start_read_ahead();
        let fs = Arc::new(Filesystem {
            view,
            disks,
            handles: Handles::default(),
            settings,
            passthrough: AtomicBool::new(false),
            passthrough_refused: AtomicBool::new(false),
            offline_logged: Mutex::new(LruCache::new(
                NonZeroUsize::new(OFFLINE_REMEMBERED).unwrap(),
            )),
            work: DiskWork::start(disk_threads),
            ahead: Ahead::default(),
            closer: Arc::default(),
            checks: Checks::default(),
            damage_unlisted: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&fs);
        fs.closer.start(move || {
            let fs = weak.upgrade()?;
            let ahead_left = fs.ahead.close_stale();
            Some(fs.disks.close_idle(IDLE) | ahead_left)
        });
        fs
    }

    pub fn label(&self) -> &str {
        &self.settings.label
    }

    /// The threads for work that waits for disks.
    pub fn work(&self) -> &DiskWork {
        &self.work
    }

    /// Whether to ask the kernel for passthrough: asked for, and only root may have it.
    pub fn wants_passthrough(&self) -> bool {
        self.settings.passthrough && nix::unistd::geteuid().is_root()
    }

    /// The kernel's answer to `wants_passthrough`.
    pub fn enable_passthrough(&self, granted: bool) {
        self.passthrough.store(granted, Ordering::Relaxed);
        if !granted {
            tracing::info!(
                "{}: this kernel cannot pass reads through to the disks; dsbfs reads them",
                self.settings.label
            );
        }
    }

    /// The node with inode number `ino`.
    pub fn getattr(&self, ino: u64) -> Result<Arc<Node>, FsError> {
        match self.view.node(ino) {
            Ok(Some(n)) => Ok(n),
            Ok(None) => Err(FsError::not_found()),
            Err(e) => Err(FsError::catalog("reading the catalog", e)),
        }
    }

    /// The child `name` of folder `parent`; `None` when there is none, which the
    /// kernel may remember (the tree does not change while mounted).
    pub fn lookup(&self, parent: u64, name: &[u8]) -> Result<Option<Arc<Node>>, FsError> {
        if !valid_name(name) {
            return Err(FsError::not_found());
        }
        self.view
            .lookup(parent, name)
            .map_err(|e| FsError::catalog("looking up a name", e))
    }

    pub fn readlink(&self, ino: u64) -> Result<Vec<u8>, FsError> {
        let n = self.getattr(ino)?;
        match (&n.kind, &n.target) {
            (Kind::Symlink, Some(t)) => Ok(t.clone()),
            (Kind::Symlink, None) => Ok(Vec::new()),
            _ => Err(FsError::quiet(libc::EINVAL, "not a symlink")),
        }
    }

    /// Walks folder `ino` from the entry after cookie `offset`, calling `add` for each
    /// entry until it says it has no room: ".", "..", then the children in name order.
    pub fn readdir(
        &self,
        ino: u64,
        offset: u64,
        mut add: impl FnMut(DirEntry) -> bool,
    ) -> Result<(), FsError> {
        let dir = self.getattr(ino)?;
        if dir.kind != Kind::Dir {
            return Err(FsError::quiet(libc::ENOTDIR, "not a folder"));
        }
        if offset < 1
            && add(DirEntry {
                node: &dir,
                cookie: 1,
                name: b".",
            })
        {
            return Ok(());
        }
        if offset < 2 {
            let parent = if dir.parent as u64 == ino {
                dir.clone()
            } else {
                self.getattr(dir.parent as u64)?
            };
            if add(DirEntry {
                node: &parent,
                cookie: 2,
                name: b"..",
            }) {
                return Ok(());
            }
        }
        let mut after = offset.saturating_sub(COOKIE_BASE) as i64;
        loop {
            let (page, start) = self
                .view
                .children_after(ino, after)
                .map_err(|e| FsError::catalog("listing a folder", e))?;
            for (name, node) in &page.children[start..] {
                after = node.entry;
                if !valid_name(name) {
                    continue;
                }
                if add(DirEntry {
                    node,
                    cookie: node.entry as u64 + COOKIE_BASE,
                    name,
                }) {
                    return Ok(());
                }
            }
            if page.last {
                return Ok(());
            }
        }
    }

    /// `access(2)` for a user in group `gid` (`mask`: R_OK, W_OK, X_OK, F_OK).
    pub fn access(&self, ino: u64, uid: u32, gid: u32, mask: i32) -> Result<(), FsError> {
        let n = self.getattr(ino)?;
        access_allowed(&n, uid, &[gid], mask).map_err(|errno| {
            if errno == libc::EROFS {
                FsError::read_only()
            } else {
                FsError::quiet(errno, "not permitted by the mode bits")
            }
        })
    }

    /// Sizes for `df`: the bytes and entries of the tree shown, nothing free.
    pub fn statfs(&self) -> Result<Statfs, FsError> {
        let t = self
            .view
            .totals()
            .map_err(|e| FsError::catalog("counting the tree", e))?;
        Ok(Statfs {
            blocks: t.bytes.div_ceil(BLOCK_SIZE as u64),
            files: t.entries,
            block_size: BLOCK_SIZE,
            name_max: libc::NAME_MAX as u32,
        })
    }

    /// The `user.dsbfs.*` attributes of files (with `-o xattr`): the content's
    /// SHA-256, and the disks holding it. `size` is the caller's buffer (0: asks the size).
    pub fn getxattr(&self, ino: u64, name: &[u8], size: u32) -> Result<Xattr, FsError> {
        self.xattrs_on()?;
        let n = self.getattr(ino)?;
        match self.xattr_value(&n, name)? {
            Some(v) => sized(size, v),
            None => Err(FsError::quiet(libc::ENODATA, "no such attribute")),
        }
    }

    /// The attributes to list: none. The user.dsbfs.* ones are served by name only:
    /// listed, `cp -a` would copy them onto restored files. The catalog keeps no others.
    pub fn listxattr(&self, ino: u64, size: u32) -> Result<Xattr, FsError> {
        self.xattrs_on()?;
        self.getattr(ino)?;
        sized(size, Vec::new())
    }

    /// Without `-o xattr`, ENOSYS: the kernel then stops asking (no round trip per
    /// `ls -l` entry).
    fn xattrs_on(&self) -> Result<(), FsError> {
        if self.settings.xattr {
            Ok(())
        } else {
            Err(FsError::quiet(libc::ENOSYS, "extended attributes are off"))
        }
    }

    fn xattr_value(&self, node: &Node, name: &[u8]) -> Result<Option<Vec<u8>>, FsError> {
        if node.kind != Kind::File || !name.starts_with(b"user.dsbfs.") {
            return Ok(None);
        }
        let holders = |obj: i64| {
            self.view
                .conn()
                .and_then(|c| c.holder_names(obj))
                .map_err(|e| FsError::catalog("reading the catalog", e))
        };
        Ok(match (name, &node.object) {
            (XATTR_SHA256, Some(o)) => Some(crate::util::hex(&o.hash).into_bytes()),
            (XATTR_SHA256, None) => Some(EMPTY_SHA256.as_bytes().to_vec()),
            (XATTR_DISKS, Some(o)) => Some(holders(o.id)?.join(",").into_bytes()),
            (XATTR_COPIES, Some(o)) => Some(holders(o.id)?.len().to_string().into_bytes()),
            (XATTR_DISKS, None) => Some(Vec::new()),
            (XATTR_COPIES, None) => Some(b"0".to_vec()),
            _ => None,
        })
    }

    /// Opens `ino` (`flags` as open(2) got them) in one go; `register` makes the
    /// kernel's backing file for passthrough. See `start_open` and `finish_open`,
    /// which the adapter calls on different threads.
    pub fn open(
        self: &Arc<Self>,
        ino: u64,
        flags: i32,
        register: impl FnOnce(&File) -> std::io::Result<B>,
    ) -> Result<Opened<B>, FsError> {
        let opening = self.start_open(ino, flags)?;
        self.finish_open(opening, register)
    }

    /// The part of an open that needs no disk: checks, and the copy opened ahead of a
    /// reader walking the folder, if there is one (the next files are then opened
    /// ahead too).
    pub fn start_open(self: &Arc<Self>, ino: u64, flags: i32) -> Result<Opening, FsError> {
        if flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0 {
            return Err(FsError::read_only());
        }
        let node = self.getattr(ino)?;
        match node.kind {
            Kind::File => {}
            Kind::Dir => return Err(FsError::quiet(libc::EISDIR, "a folder")),
            Kind::Symlink => return Err(FsError::quiet(libc::EINVAL, "a symlink")),
        }
        let served = self.ahead.take(node.ino);
        let served_ahead = served.is_some();
        let previous = self.ahead.opened(node.parent, node.entry);
        if served_ahead || previous.is_some() {
            self.open_ahead(&node, previous, served_ahead);
        }
        let content = match (self.object_of(&node)?, served) {
            (None, _) => Content::Empty,
            (Some(obj), Some(copy)) => Content::Ready(obj, copy),
            (Some(obj), None) => Content::Find(obj),
        };
        Ok(Opening { node, content })
    }

    /// The rest of an open: finds a connected copy (unless one was opened ahead), gets
    /// what its blocks are checked against, and makes a handle for it. ENOMEDIUM when
    /// no connected disk holds one, EIO when none holds a good one.
    pub fn finish_open(
        &self,
        opening: Opening,
        register: impl FnOnce(&File) -> std::io::Result<B>,
    ) -> Result<Opened<B>, FsError> {
        let Opening { node, content } = opening;
        let (obj, copy) = match content {
            Content::Empty => return Ok(Opened::Empty),
            Content::Ready(obj, copy) => (obj, copy),
            Content::Find(obj) => {
                let holders = self.holders(&obj)?;
                match self.copy_from(&holders, &obj, &[]) {
                    Some(copy) => (obj, copy),
                    None => return Err(self.offline(&node, &holders)),
                }
            }
        };
        let (blocks, copy) = self.block_hashes(&node, &obj, copy)?;
        Ok(self.handle_for(&node, obj, blocks, copy, register))
    }

    /// What a read of handle `fh` reads; EBADF for a handle not open.
    pub fn reader(&self, fh: u64) -> Result<Reader<B>, FsError> {
        if fh == EMPTY_FH {
            return Ok(Reader::Empty);
        }
        self.handles
            .get(fh)
            .map(Reader::Open)
            .ok_or_else(|| FsError::quiet(libc::EBADF, "no such open file"))
    }

    /// Up to `size` bytes of the file at `offset` (fewer only at its end), read into
    /// `buf`. This is the one place file content leaves the filesystem: it is served
    /// from whole blocks checked against their hashes (read once for the reads that
    /// fall in them, and ahead of a reader going through the file). When the handle's
    /// copy fails or a block of it does not match, the read goes on from another
    /// connected copy at the same offset; EIO when there is none.
    pub fn read<'b>(
        &self,
        reader: &Reader<B>,
        offset: u64,
        size: u32,
        buf: &'b mut Vec<u8>,
    ) -> Result<&'b [u8], FsError> {
        buf.clear();
        let Reader::Open(of) = reader else {
            return Ok(buf);
        };
        let wanted: Vec<_> = pieces(of.object.size, offset, size).collect();
        if let (Some((first, _)), Some((last, _))) = (wanted.first(), wanted.last()) {
            for i in of.claim_ahead(*first, *last) {
                let of = of.clone();
                self.work.run_ahead(move || of.read_ahead(i));
            }
        }
        for (i, range) in wanted {
            let block = loop {
                match of.block(i) {
                    Ok(b) => break b,
                    Err((src, fault)) => self.fail_over(of, &src, fault)?,
                }
            };
            buf.extend_from_slice(&block[range]);
        }
        if let Some(src) = of.whole_checked() {
            self.checks.note_whole(of.object.id, &src);
        }
        Ok(buf)
    }

    /// Forgets handle `fh` (with passthrough, the inode's backing file closes with
    /// its last handle).
    pub fn release(&self, fh: u64) {
        if fh != EMPTY_FH {
            self.handles.remove(fh);
        }
    }

    /// The object of a file with content, checked against the file's size; `Ok(None)`
    /// for an empty file.
    fn object_of(&self, node: &Node) -> Result<Option<ObjectRef>, FsError> {
        let Some(obj) = node.object.clone() else {
            if node.size == 0 {
                return Ok(None);
            }
            return Err(FsError::io(format!(
                "{} has {} bytes but no content in the catalog",
                self.view.path_of(node.ino, node.entry),
                node.size
            )));
        };
        if obj.size != node.size {
            return Err(FsError::io(format!(
                "{}: the catalog records {} bytes but its object has {}",
                self.view.path_of(node.ino, node.entry),
                node.size,
                obj.size
            )));
        }
        Ok(Some(obj))
    }

    /// What each block of `obj` is checked against: the hashes the catalog records
    /// (for one block, the object's own), those computed for it earlier in this mount,
    /// or those of `copy` checked whole now (a copy of an object backed up before block
    /// hashes were recorded). A copy that fails that check is replaced by another,
    /// which is returned.
    fn block_hashes(
        &self,
        node: &Node,
        obj: &ObjectRef,
        copy: Copy,
    ) -> Result<(BlockHashes, Copy), FsError> {
        let recorded = if obj.size > BLOCK {
            self.view
                .conn()
                .and_then(|c| c.block_hashes(obj.id))
                .map_err(|e| FsError::catalog("reading the catalog", e))?
        } else {
            None
        };
        let expected = Expected::new(obj.hash, obj.size, recorded);
        if let Some(b) = expected
            .blocks
            .clone()
            .or_else(|| self.checks.computed(obj.id))
        {
            return Ok((b, copy));
        }
        let mut copy = copy;
        let mut failed = Vec::new();
        loop {
            let fault = match check_whole(&copy.file, &expected, &|_| {}) {
                Ok(b) => {
                    self.checks.keep_computed(obj.id, b.clone());
                    self.checks.note_whole(obj.id, &copy);
                    return Ok((b, copy));
                }
                Err(fault) => fault,
            };
            let why = self.copy_failed((node.ino, node.entry), obj, &copy, &fault);
            failed.push(copy.disk);
            let holders = self.holders(obj)?;
            match self.copy_from(&holders, obj, &failed) {
                Some(c) => {
                    tracing::warn!(
                        "{}: {why}; continuing from disk {}",
                        self.settings.label,
                        c.disk_name
                    );
                    copy = c;
                }
                None => {
                    return Err(FsError::io(format!(
                        "{why} and no other connected disk holds it"
                    )));
                }
            }
        }
    }

    /// Takes note that `copy` of `obj` (the content of `entry`) failed with `fault`: a
    /// disk that failed is tried last, a damaged copy is tried after every other one
    /// and listed for `status`. Returns what failed, for the log.
    fn copy_failed(
        &self,
        (ino, entry): (u64, i64),
        obj: &ObjectRef,
        copy: &Copy,
        fault: &Fault,
    ) -> String {
        let path = self.view.path_of(ino, entry);
        let advice = match fault {
            Fault::Io(e) => {
                self.disks.mark_failed(copy, e);
                String::new()
            }
            _ => {
                if self.disks.mark_damaged(copy.disk, obj.id) {
                    self.list_damaged(&path, obj, copy, fault);
                }
                format!(
                    ": the copy is damaged, `dsbfs verify {}` checks the disk",
                    copy.disk_name
                )
            }
        };
        format!(
            "reading {path} from disk {} failed ({fault}{advice})",
            copy.disk_name
        )
    }

    /// Lists a damaged copy beside the catalog, where `status` finds it (the mount
    /// never writes the catalog itself).
    fn list_damaged(&self, path: &str, obj: &ObjectRef, copy: &Copy, fault: &Fault) {
        let uuid = self
            .holders(obj)
            .ok()
            .and_then(|h| h.into_iter().find(|d| d.id == copy.disk))
            .map(|d| d.uuid)
            .unwrap_or_default();
        let damaged = crate::damaged::Damaged {
            disk: copy.disk_name.clone(),
            disk_uuid: uuid,
            object: crate::util::hex(&obj.hash),
            path: path.to_string(),
            found: crate::util::now(),
            by: "mount".into(),
            why: fault.to_string(),
        };
        if let Err(e) = crate::damaged::record(self.view.path(), &damaged)
            && !self.damage_unlisted.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                "{}: {e:#}: `dsbfs status` will not know of damaged copies the mount finds; the log names them",
                self.settings.label
            );
        }
    }

    /// The disks the catalog says hold `obj`.
    fn holders(&self, obj: &ObjectRef) -> Result<Vec<DiskRecord>, FsError> {
        self.view
            .conn()
            .and_then(|c| c.holders(obj.id))
            .map_err(|e| FsError::catalog("reading the catalog", e))
    }

    /// Opens a copy of `obj` on one of `holders` (see `Disks::open_copy`); what that
    /// opens on the disk is closed again once idle.
    fn copy_from(&self, holders: &[DiskRecord], obj: &ObjectRef, exclude: &[i64]) -> Option<Copy> {
        let copy = self.disks.open_copy(holders, obj, exclude);
        self.closer.held();
        copy
    }

    /// ENOMEDIUM for `node`, naming the disks to plug in; its log line is not
    /// repeated for a minute per file.
    fn offline(&self, node: &Node, holders: &[DiskRecord]) -> FsError {
        let due = {
            let mut logged = self.offline_logged.lock().unwrap();
            let due = logged
                .get(&node.ino)
                .is_none_or(|t| t.elapsed() >= OFFLINE_LOG_EVERY);
            if due {
                logged.put(node.ino, Instant::now());
            }
            due
        };
        let names: Vec<String> = holders.iter().map(|d| d.name.clone()).collect();
        let path = self.view.path_of(node.ino, node.entry);
        // Content on no disk: a current file waits for a backup; an old version can
        // never get one (its source changed before a backup copied it).
        let never = names.is_empty()
            && node
                .object
                .as_ref()
                .is_some_and(|o| self.view.is_current(o.id).is_ok_and(|current| !current));
        if never {
            return FsError::never_backed_up(&path, due);
        }
        FsError::offline(&path, &names, due)
    }

    /// Makes a handle that reads `copy`, checking its `blocks`. The kernel reads the
    /// copy itself (passthrough) only where it may (see `checks`).
    fn handle_for(
        &self,
        node: &Node,
        obj: ObjectRef,
        blocks: BlockHashes,
        copy: Copy,
        register: impl FnOnce(&File) -> std::io::Result<B>,
    ) -> Opened<B> {
        let source: Source = Arc::new(copy);
        let passthrough = self.passthrough.load(Ordering::Relaxed);
        let may_pass = passthrough && self.checks.passable(obj.id, &source, obj.size);
        let file = OpenFile::new(node.ino, node.entry, obj, blocks, source.clone());
        let (registered, refused) = self
            .handles
            .register(file, may_pass, || register(&source.file));
        if let Some(e) = refused {
            // Not permitted (not root) or not possible for this disk's filesystem.
            if e.raw_os_error() == Some(libc::EPERM) {
                self.passthrough.store(false, Ordering::Relaxed);
            }
            if !self.passthrough_refused.swap(true, Ordering::Relaxed) {
                tracing::info!(
                    "{}: the kernel refused to read disk {} directly ({e}); dsbfs reads it",
                    self.settings.label,
                    source.disk_name
                );
            }
        }
        let path = || self.view.path_of(node.ino, node.entry);
        match registered {
            Registered::Backing(fh, backing) => {
                tracing::debug!("open {}: disk {}, passthrough", path(), source.disk_name);
                Opened::Backing(fh, backing)
            }
            Registered::Plain(fh) => {
                tracing::debug!("open {}: disk {}", path(), source.disk_name);
                Opened::Plain(fh)
            }
        }
    }

    /// After `src` failed a read of `of` with `fault`: switches `of` to another
    /// connected copy, or fails with EIO naming the disk and the file.
    fn fail_over(&self, of: &OpenFile<B>, src: &Source, fault: Fault) -> Result<(), FsError> {
        let failed = self.copy_failed((of.ino, of.entry), &of.object, src, &fault);
        let exclude = of.note_failure(src.disk);
        let holders = self.holders(&of.object).map_err(|e| {
            FsError::io(format!(
                "{failed}, and no other disk can be looked for: {}",
                e.message
            ))
        })?;
        match self.copy_from(&holders, &of.object, &exclude) {
            Some(c) => {
                tracing::warn!(
                    "{}: {failed}; continuing from disk {}",
                    self.settings.label,
                    c.disk_name
                );
                of.switch_to(Arc::new(c));
                Ok(())
            }
            None => Err(FsError::io(format!(
                "{failed} and no other connected disk holds it"
            ))),
        }
    }

    /// Opens the next files of `node`'s folder ahead of a reader that walks it (see
    /// `ahead`). `previous` is the file opened before in that folder.
    fn open_ahead(self: &Arc<Self>, node: &Node, previous: Option<i64>, served_ahead: bool) {
        let folder = node.parent as u64;
        let siblings = |children: &[(Vec<u8>, Arc<Node>)]| -> Vec<Sibling> {
            children
                .iter()
                .map(|(_, n)| Sibling {
                    entry: n.entry,
                    ino: n.ino,
                    on_disk: n.kind == Kind::File && n.size > 0,
                })
                .collect()
        };
        let after_previous = match previous {
            Some(p) if !served_ahead => self
                .view
                .children_after(folder, p)
                .ok()
                .map(|(page, start)| siblings(&page.children[start..])),
            _ => None,
        };
        let Ok((page, start)) = self.view.children_after(folder, node.entry) else {
            return;
        };
        let next = &page.children[start..];
        let next_siblings = siblings(next);
        let wanted = ahead::files_ahead(
            node.entry,
            served_ahead,
            after_previous.as_deref(),
            &next_siblings,
        );
        for ino in self.ahead.claim(wanted) {
            let Some(sibling) = next
                .iter()
                .find(|(_, n)| n.ino == ino)
                .map(|(_, n)| n.clone())
            else {
                self.ahead.done(ino, None);
                continue;
            };
            let fs = self.clone();
            let queued = self.work.run_ahead(move || {
                let copy = match fs.object_of(&sibling) {
                    Ok(Some(obj)) => fs
                        .holders(&obj)
                        .ok()
                        .and_then(|holders| fs.copy_from(&holders, &obj, &[])),
                    _ => None,
                };
                fs.ahead.done(ino, copy);
            });
            if !queued {
                self.ahead.done(ino, None);
            }
        }
    }
}

/// An attribute value by the size protocol: its size when `size` is 0, ERANGE when
/// the caller's buffer is too small, the bytes otherwise.
fn sized(size: u32, value: Vec<u8>) -> Result<Xattr, FsError> {
    if size == 0 {
        Ok(Xattr::Size(value.len() as u32))
    } else if (size as usize) < value.len() {
        Err(FsError::quiet(libc::ERANGE, "the buffer is too small"))
    } else {
        Ok(Xattr::Data(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xattr_values_follow_the_size_protocol() {
        assert_eq!(sized(0, b"abc".to_vec()), Ok(Xattr::Size(3)));
        assert_eq!(sized(3, b"abc".to_vec()), Ok(Xattr::Data(b"abc".to_vec())));
        assert_eq!(sized(2, b"abc".to_vec()).unwrap_err().errno, libc::ERANGE);
    }
}
