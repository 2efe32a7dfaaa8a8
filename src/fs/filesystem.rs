//! The FUSE request handlers. The tree (lookup, getattr, readdir, readlink, statfs,
//! xattrs) is answered from the catalog alone; only `open` of a file with content looks
//! for a disk, and `read` reads the copy it found.

use super::ahead::{self, Ahead, Sibling};
use super::attr::{access_allowed, file_attr, file_type, valid_name};
use super::disks::{Copy, Disks};
use super::handles::{EMPTY_FH, Handles, OpenFile, Source, read_object};
use super::idle::{Closer, IDLE};
use super::view::View;
use super::work::DiskWork;
use crate::catalog::DiskRecord;
use crate::catalog::Kind;
use crate::catalog::view::{Node, ObjectRef};
use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, InitFlags, KernelConfig, LockOwner, OpenAccMode, OpenFlags, ReplyAttr, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyXattr,
    Request,
};
use lru::LruCache;
use std::cell::RefCell;
use std::ffi::OsStr;
use std::num::NonZeroUsize;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How long the kernel may keep entries and attributes, found or not. The mount shows
/// one finished scan that never changes while mounted, so this is as long as it gets.
const TTL: Duration = Duration::from_secs(365 * 24 * 3600);
/// Readdir cookies: 1 is ".", 2 is "..", a child's is its entry id plus this.
const COOKIE_BASE: u64 = 2;
/// How often the log repeats that one file is offline.
const OFFLINE_LOG_EVERY: Duration = Duration::from_secs(60);

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

/// What the request handlers share, with the threads that open and read files.
pub struct Core {
    view: Arc<View>,
    disks: Disks,
    handles: Handles,
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

thread_local! {
    /// Each request thread's read buffer (reads are up to 1 MiB or more).
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The FUSE server. One thread answers the requests that only need the catalog
/// (lookups, listings, attributes: fast, and fastest from one thread that the
/// kernel wakes again and again); opening files and plain reads wait for disks, so
/// they go to `DiskWork` threads, where one slow or dead disk stalls nothing else.
pub struct DsbFs {
    core: Arc<Core>,
}

impl DsbFs {
    pub fn new(view: View, disks: Disks, settings: Settings, disk_threads: usize) -> DsbFs {
        let view = Arc::new(view);
        view.start_read_ahead();
        let core = Core {
            view,
            disks,
            handles: Handles::default(),
            settings,
            passthrough: AtomicBool::new(false),
            passthrough_refused: AtomicBool::new(false),
            offline_logged: Mutex::new(LruCache::new(NonZeroUsize::new(1024).unwrap())),
            work: DiskWork::start(disk_threads),
            ahead: Ahead::default(),
            closer: Arc::default(),
        };
        let core = Arc::new(core);
        let weak = Arc::downgrade(&core);
        core.closer.start(move || {
            let core = weak.upgrade()?;
            let ahead_left = core.ahead.close_stale();
            Some(core.disks.close_idle(IDLE) | ahead_left)
        });
        DsbFs { core }
    }
}

impl Core {
    /// Logs a catalog failure and turns it into EIO.
    fn fail(&self, what: &str, e: anyhow::Error) -> Errno {
        tracing::error!("{}: {what}: {e:#}", self.settings.label);
        Errno::EIO
    }

    fn node(&self, ino: INodeNo) -> Result<Arc<Node>, Errno> {
        match self.view.node(ino.0) {
            Ok(Some(n)) => Ok(n),
            Ok(None) => Err(Errno::ENOENT),
            Err(e) => Err(self.fail("reading the catalog", e)),
        }
    }

    /// The object of a file with content, checked against the file's size; `Ok(None)`
    /// for an empty file.
    fn object_of(&self, node: &Node) -> Result<Option<ObjectRef>, Errno> {
        let Some(obj) = node.object.clone() else {
            if node.size == 0 {
                return Ok(None);
            }
            tracing::error!(
                "{}: {} has {} bytes but no content in the catalog",
                self.settings.label,
                self.view.path_of(node.entry),
                node.size
            );
            return Err(Errno::EIO);
        };
        if obj.size != node.size {
            tracing::error!(
                "{}: {}: the catalog records {} bytes but its object has {}",
                self.settings.label,
                self.view.path_of(node.entry),
                node.size,
                obj.size
            );
            return Err(Errno::EIO);
        }
        Ok(Some(obj))
    }

    /// Opens a connected copy of `obj` from the disks the catalog says hold it.
    fn find_copy(&self, obj: &ObjectRef) -> Result<(Option<Copy>, Vec<DiskRecord>), Errno> {
        let holders = self
            .view
            .conn()
            .and_then(|c| c.holders(obj.id))
            .map_err(|e| self.fail("reading the catalog", e))?;
        Ok((self.copy_from(&holders, obj, &[]), holders))
    }

    /// Opens a copy of `obj` on one of `holders` (see `Disks::open_copy`); what that
    /// opens on the disk is closed again once idle.
    fn copy_from(&self, holders: &[DiskRecord], obj: &ObjectRef, exclude: &[i64]) -> Option<Copy> {
        let copy = self.disks.open_copy(holders, obj, exclude);
        self.closer.held();
        copy
    }

    /// Finds a connected copy for `node`'s object and makes a handle for it.
    fn open_file(&self, node: &Node, reply: ReplyOpen) {
        let obj = match self.object_of(node) {
            Ok(Some(obj)) => obj,
            Ok(None) => return reply.opened(FileHandle(EMPTY_FH), FopenFlags::FOPEN_KEEP_CACHE),
            Err(e) => return reply.error(e),
        };
        match self.find_copy(&obj) {
            Ok((Some(copy), _)) => self.open_copy(node, obj, copy, reply),
            Ok((None, holders)) => {
                self.log_offline(
                    node,
                    &holders.iter().map(|d| d.name.clone()).collect::<Vec<_>>(),
                );
                reply.error(Errno::from_i32(libc::ENOMEDIUM))
            }
            Err(e) => reply.error(e),
        }
    }

    /// Makes a handle that reads `copy`, handing it to the kernel where it can read it.
    fn open_copy(&self, node: &Node, obj: ObjectRef, copy: Copy, reply: ReplyOpen) {
        let source: Source = Arc::new(copy);
        if self.passthrough.load(Ordering::Relaxed) {
            match self
                .handles
                .backing_for(node.ino, || reply.open_backing(&source.file))
            {
                Ok(backing) => {
                    tracing::debug!(
                        "open {}: disk {}, passthrough",
                        self.view.path_of(node.entry),
                        source.disk_name
                    );
                    let fh = self.handles.insert(OpenFile::new(
                        node.ino,
                        node.entry,
                        obj,
                        source,
                        Some(backing.clone()),
                    ));
                    return reply.opened_passthrough(FileHandle(fh), FopenFlags::empty(), &backing);
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
            self.view.path_of(node.entry),
            source.disk_name
        );
        let fh = self
            .handles
            .insert(OpenFile::new(node.ino, node.entry, obj, source, None));
        // Objects never change, so the page cache stays valid across opens.
        reply.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE);
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
            let core = self.clone();
            let queued = self.work.run_ahead(move || {
                let copy = match core.object_of(&sibling) {
                    Ok(Some(obj)) => core.find_copy(&obj).ok().and_then(|(c, _)| c),
                    _ => None,
                };
                core.ahead.done(ino, copy);
            });
            if !queued {
                self.ahead.done(ino, None);
            }
        }
    }

    /// One clear line naming the disks to plug in (not repeated for a minute per file).
    fn log_offline(&self, node: &Node, holders: &[String]) {
        {
            let mut logged = self.offline_logged.lock().unwrap();
            if logged
                .get(&node.ino)
                .is_some_and(|t| t.elapsed() < OFFLINE_LOG_EVERY)
            {
                return;
            }
            logged.put(node.ino, Instant::now());
        }
        let path = self.view.path_of(node.entry);
        if holders.is_empty() {
            tracing::warn!(
                "{}: {path} is not on any disk yet: back it up with `dsbfs backup DISK`",
                self.settings.label
            );
        } else {
            tracing::warn!(
                "{}: {path} is offline: plug in disk {}",
                self.settings.label,
                holders.join(" or ")
            );
        }
    }

    /// Reads from the handle's copy; when that copy fails, carries on from another
    /// connected copy at the same offset, or fails with EIO when there is none.
    fn read_with_failover(&self, of: &OpenFile, offset: u64, size: u32, reply: ReplyData) {
        READ_BUF.with_borrow_mut(|buf| {
            loop {
                let src = of.source();
                let err = match read_object(&src.file, of.object.size, offset, size, buf) {
                    Ok(n) => return reply.data(&buf[..n]),
                    Err(e) => e,
                };
                if err.kind() != std::io::ErrorKind::UnexpectedEof {
                    self.disks.mark_failed(&src, &err);
                }
                let exclude = of.note_failure(src.disk);
                let path = self.view.path_of(of.entry);
                let holders = match self.view.conn().and_then(|c| c.holders(of.object.id)) {
                    Ok(h) => h,
                    Err(e) => {
                        tracing::error!("{}: cannot read the catalog to fail over: {e:#}", self.settings.label);
                        Vec::new()
                    }
                };
                match self.copy_from(&holders, &of.object, &exclude) {
                    Some(c) => {
                        tracing::warn!(
                            "{}: reading {path} from disk {} failed ({err}); continuing from disk {}",
                            self.settings.label,
                            src.disk_name,
                            c.disk_name
                        );
                        of.switch_to(Arc::new(c));
                    }
                    None => {
                        tracing::error!(
                            "{}: reading {path} from disk {} failed ({err}) and no other connected disk holds it",
                            self.settings.label,
                            src.disk_name
                        );
                        return reply.error(Errno::EIO);
                    }
                }
            }
        })
    }

    fn xattr_value(&self, node: &Node, name: &[u8]) -> Result<Option<Vec<u8>>, Errno> {
        if node.kind != Kind::File || !name.starts_with(b"user.dsbfs.") {
            return Ok(None);
        }
        let holders = |obj: i64| {
            self.view
                .conn()
                .and_then(|c| c.holder_names(obj))
                .map_err(|e| self.fail("reading the catalog", e))
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
}

/// Answers an xattr request by the size protocol: the size when asked for it, ERANGE
/// when the caller's buffer is too small, the bytes otherwise.
fn reply_xattr(reply: ReplyXattr, size: u32, value: &[u8]) {
    if size == 0 {
        reply.size(value.len() as u32)
    } else if (size as usize) < value.len() {
        reply.error(Errno::ERANGE)
    } else {
        reply.data(value)
    }
}

/// The attributes of a name that does not exist: inode 0 tells the kernel to cache the
/// absence for the TTL, so probes for `.hidden`, `.git` and the like are asked once.
fn negative_attr() -> FileAttr {
    FileAttr {
        ino: INodeNo(0),
        size: 0,
        blocks: 0,
        atime: SystemTime::UNIX_EPOCH,
        mtime: SystemTime::UNIX_EPOCH,
        ctime: SystemTime::UNIX_EPOCH,
        crtime: SystemTime::UNIX_EPOCH,
        kind: FileType::RegularFile,
        perm: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: super::attr::BLKSIZE,
        flags: 0,
    }
}

/// One directory entry to add to a readdir reply.
struct DirItem<'a> {
    node: &'a Node,
    cookie: u64,
    name: &'a [u8],
}

impl Core {
    /// Walks a folder from `offset`, calling `add` for each entry until it says the reply
    /// is full: ".", "..", then the children in name order.
    fn walk_dir(
        &self,
        ino: INodeNo,
        offset: u64,
        mut add: impl FnMut(DirItem) -> bool,
    ) -> Result<(), Errno> {
        let dir = self.node(ino)?;
        if dir.kind != Kind::Dir {
            return Err(Errno::ENOTDIR);
        }
        if offset < 1
            && add(DirItem {
                node: &dir,
                cookie: 1,
                name: b".",
            })
        {
            return Ok(());
        }
        if offset < 2 {
            let parent = if dir.parent as u64 == ino.0 {
                dir.clone()
            } else {
                self.node(INodeNo(dir.parent as u64))?
            };
            if add(DirItem {
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
                .children_after(ino.0, after)
                .map_err(|e| self.fail("listing a folder", e))?;
            for (name, node) in &page.children[start..] {
                after = node.entry;
                if !valid_name(name) {
                    continue;
                }
                if add(DirItem {
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
}

impl Filesystem for DsbFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // READDIRPLUS lets `ls -l`, `du` and `rsync` get attributes with the listing. It
        // costs a first `find` the kernel making an inode per entry: measured cold on the
        // 100,000-file grid tree, plain READDIR made `find` 0.22-0.31 s instead of about
        // 0.4 s, but `ls -lR` 7.9-9.2 s and `du -sb` 7.4-9.1 s (a LOOKUP per file) instead
        // of about 1.1 and 0.6 s.
        let _ = config
            .add_capabilities(InitFlags::FUSE_DO_READDIRPLUS | InitFlags::FUSE_READDIRPLUS_AUTO);
        let _ = config.add_capabilities(InitFlags::FUSE_CACHE_SYMLINKS);
        let _ = config.add_capabilities(InitFlags::FUSE_PARALLEL_DIROPS);
        if self.core.settings.passthrough && nix::unistd::geteuid().is_root() {
            if config.add_capabilities(InitFlags::FUSE_PASSTHROUGH).is_ok()
                && config.set_max_stack_depth(1).is_ok()
            {
                self.core.passthrough.store(true, Ordering::Relaxed);
            } else {
                tracing::info!(
                    "{}: this kernel cannot pass reads through to the disks; dsbfs reads them",
                    self.core.settings.label
                );
            }
        }
        Ok(())
    }

    fn destroy(&mut self) {
        tracing::info!("{}: unmounted", self.core.settings.label);
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if !valid_name(name.as_bytes()) {
            return reply.error(Errno::ENOENT);
        }
        match self.core.view.lookup(parent.0, name.as_bytes()) {
            Ok(Some(n)) => reply.entry(&TTL, &file_attr(&n), Generation(0)),
            Ok(None) => reply.entry(&TTL, &negative_attr(), Generation(0)),
            Err(e) => reply.error(self.core.fail("looking up a name", e)),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.core.node(ino) {
            Ok(n) => reply.attr(&TTL, &file_attr(&n)),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.core.node(ino) {
            Ok(n) => match (&n.kind, &n.target) {
                (Kind::Symlink, Some(t)) => reply.data(t),
                (Kind::Symlink, None) => reply.data(b""),
                _ => reply.error(Errno::EINVAL),
            },
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY || flags.0 & libc::O_TRUNC != 0 {
            return reply.error(Errno::EROFS);
        }
        match self.core.node(ino) {
            Ok(n) if n.kind == Kind::File => {
                let served = self.core.ahead.take(n.ino);
                let served_ahead = served.is_some();
                let previous = self.core.ahead.opened(n.parent, n.entry);
                if served_ahead || previous.is_some() {
                    self.core.open_ahead(&n, previous, served_ahead);
                }
                // Opened ahead (after `object_of` checked the object): no disk to wait
                // for, so answered right here.
                if let Some(copy) = served
                    && let Some(obj) = n.object.clone()
                {
                    return self.core.open_copy(&n, obj, copy, reply);
                }
                let core = self.core.clone();
                self.core.work.run(move || core.open_file(&n, reply));
            }
            Ok(n) if n.kind == Kind::Dir => reply.error(Errno::EISDIR),
            Ok(_) => reply.error(Errno::EINVAL),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        if fh.0 == EMPTY_FH {
            return reply.data(&[]);
        }
        match self.core.handles.get(fh.0) {
            Some(of) => {
                let core = self.core.clone();
                self.core
                    .work
                    .run(move || core.read_with_failover(&of, offset, size, reply));
            }
            None => reply.error(Errno::EBADF),
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if fh.0 != EMPTY_FH {
            self.core.handles.remove(fh.0);
        }
        reply.ok();
    }

    fn opendir(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        // ENOSYS once and the kernel stops sending OPENDIR and RELEASEDIR: two round
        // trips fewer per folder listed. It then opens folders with FOPEN_CACHE_DIR and
        // FOPEN_KEEP_CACHE, so a listing, which never changes while mounted, is
        // asked for once and kept by the kernel.
        reply.error(Errno::ENOSYS);
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let r = self.core.walk_dir(ino, offset, |it| {
            reply.add(
                INodeNo(it.node.ino),
                it.cookie,
                file_type(it.node.kind),
                OsStr::from_bytes(it.name),
            )
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let r = self.core.walk_dir(ino, offset, |it| {
            reply.add(
                INodeNo(it.node.ino),
                it.cookie,
                OsStr::from_bytes(it.name),
                &TTL,
                &file_attr(it.node),
                Generation(0),
            )
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        const BS: u64 = 4096;
        match self.core.view.totals() {
            Ok(t) => reply.statfs(
                t.bytes.div_ceil(BS),
                0,
                0,
                t.entries,
                0,
                BS as u32,
                255,
                BS as u32,
            ),
            Err(e) => reply.error(self.core.fail("counting the tree", e)),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        if !self.core.settings.xattr {
            // ENOSYS once makes the kernel stop asking (no round trip per `ls -l` entry).
            return reply.error(Errno::ENOSYS);
        }
        let value = self
            .core
            .node(ino)
            .and_then(|n| self.core.xattr_value(&n, name.as_bytes()));
        match value {
            Ok(Some(v)) => reply_xattr(reply, size, &v),
            Ok(None) => reply.error(Errno::NO_XATTR),
            Err(e) => reply.error(e),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        if !self.core.settings.xattr {
            return reply.error(Errno::ENOSYS);
        }
        // The user.dsbfs.* attributes are served by name only: listed, `cp -a` would
        // copy them onto restored files. The catalog keeps no other attributes.
        match self.core.node(ino) {
            Ok(_) => reply_xattr(reply, size, b""),
            Err(e) => reply.error(e),
        }
    }

    fn access(&self, req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        match self.core.node(ino) {
            Ok(n) => match access_allowed(&n, req.uid(), &[req.gid()], mask.bits()) {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(Errno::from_i32(e)),
            },
            Err(e) => reply.error(e),
        }
    }
}
