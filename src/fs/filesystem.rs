//! The filesystem the mount shows, as values and errors. The tree (lookup, getattr,
//! readdir, readlink, statfs, xattrs) is answered from the catalog alone; only `open`
//! of a file with content looks for a disk, and `read` reads the copy it found, going
//! on from another connected copy when that one fails. Nothing here knows the kernel:
//! the adapter (`fuse`) answers requests with what these return, decides which thread
//! runs them, and logs the errors.

use super::access::{access_allowed, valid_name};
use super::ahead::{self, Ahead, Sibling};
use super::disks::{Copy, Disks};
use super::error::FsError;
use super::handles::{EMPTY_FH, Handles, OpenFile, Source, read_object};
use super::idle::{Closer, IDLE};
use super::view::View;
use super::work::DiskWork;
use crate::catalog::view::{Node, ObjectRef};
use crate::catalog::{DiskRecord, Kind};
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
    /// Whether finishing it may wait for disks (then it belongs on a disk thread).
    pub fn waits_for_disk(&self) -> bool {
        matches!(self.content, Content::Find(_))
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

    /// The rest of an open: finds a connected copy (unless one was opened ahead) and
    /// makes a handle for it. ENOMEDIUM when no connected disk holds one.
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
        Ok(self.handle_for(&node, obj, copy, register))
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
    /// `buf`. When the handle's copy fails, the read goes on from another connected
    /// copy at the same offset; EIO when there is none. This is the one place file
    /// content leaves the filesystem: a check of each block against a recorded hash
    /// belongs between reading a copy and returning its bytes.
    pub fn read<'b>(
        &self,
        reader: &Reader<B>,
        offset: u64,
        size: u32,
        buf: &'b mut Vec<u8>,
    ) -> Result<&'b [u8], FsError> {
        let Reader::Open(of) = reader else {
            buf.clear();
            return Ok(buf);
        };
        loop {
            let src = of.source();
            match read_object(&src.file, of.object.size, offset, size, buf) {
                Ok(n) => return Ok(&buf[..n]),
                Err(e) => self.fail_over(of, &src, e)?,
            }
        }
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

    /// Makes a handle that reads `copy`, handing the copy to the kernel where it can
    /// read it itself.
    fn handle_for(
        &self,
        node: &Node,
        obj: ObjectRef,
        copy: Copy,
        register: impl FnOnce(&File) -> std::io::Result<B>,
    ) -> Opened<B> {
        let source: Source = Arc::new(copy);
        if self.passthrough.load(Ordering::Relaxed) {
            match self
                .handles
                .backing_for(node.ino, || register(&source.file))
            {
                Ok(backing) => {
                    tracing::debug!(
                        "open {}: disk {}, passthrough",
                        self.view.path_of(node.ino, node.entry),
                        source.disk_name
                    );
                    let fh = self.handles.insert(OpenFile::new(
                        node.ino,
                        node.entry,
                        obj,
                        source,
                        Some(backing.clone()),
                    ));
                    return Opened::Backing(fh, backing);
                }
                Err(e) => {
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
            }
        }
        tracing::debug!(
            "open {}: disk {}",
            self.view.path_of(node.ino, node.entry),
            source.disk_name
        );
        Opened::Plain(
            self.handles
                .insert(OpenFile::new(node.ino, node.entry, obj, source, None)),
        )
    }

    /// After `src` failed a read of `of` with `err`: switches `of` to another
    /// connected copy, or fails with EIO naming the disk and the file.
    fn fail_over(
        &self,
        of: &OpenFile<B>,
        src: &Source,
        err: std::io::Error,
    ) -> Result<(), FsError> {
        // A copy that ends early was changed under us; the disk itself answered.
        if err.kind() != std::io::ErrorKind::UnexpectedEof {
            self.disks.mark_failed(src, &err);
        }
        let exclude = of.note_failure(src.disk);
        let path = self.view.path_of(of.ino, of.entry);
        let failed = format!("reading {path} from disk {} failed ({err})", src.disk_name);
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
