//! The adapter between the kernel and the filesystem: fuser calls it, it calls
//! `Filesystem` and turns what comes back into replies, logging each error once.
//!
//! One thread answers the requests that only need the catalog (lookups, listings,
//! attributes: fast, and fastest from one thread that the kernel wakes again and
//! again); opening files and reads that wait for disks go to `DiskWork` threads, where
//! one slow or dead disk stalls nothing else.

use super::attr::{file_attr, file_type, negative_attr};
use super::error::{FsError, Level};
use super::filesystem::{Filesystem, Opened, Xattr};
use fuser::{
    AccessFlags, BackingId, Errno, FileHandle, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyDirectoryPlus,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyXattr, Request,
};
use std::cell::RefCell;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::Duration;

/// How long the kernel may keep entries and attributes, found or not. The mount shows
/// one finished scan that never changes while mounted, so this is as long as it gets.
pub const TTL: Duration = Duration::from_secs(365 * 24 * 3600);

thread_local! {
    /// Each thread's read buffer (reads are up to 1 MiB or more).
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The FUSE server.
pub struct DsbFs {
    fs: Arc<Filesystem<BackingId>>,
}

impl DsbFs {
    pub fn new(fs: Arc<Filesystem<BackingId>>) -> DsbFs {
        DsbFs { fs }
    }

    fn errno(&self, e: FsError) -> Errno {
        logged(&self.fs, e)
    }

    /// Runs `job` on a disk thread when it may wait for disks, here otherwise.
    fn on_disk_if(&self, waits_for_disk: bool, job: impl FnOnce() + Send + 'static) {
        if waits_for_disk {
            self.fs.work().run(job);
        } else {
            job();
        }
    }
}

/// The one place errors are logged: as their level says, with the mount's label.
/// Gives the errno to reply with.
fn logged(fs: &Filesystem<BackingId>, e: FsError) -> Errno {
    let label = fs.label();
    match e.level {
        Level::Quiet => tracing::trace!("{label}: {}", e.message),
        Level::Warn => tracing::warn!("{label}: {}", e.message),
        Level::Error => tracing::error!("{label}: {}", e.message),
    }
    Errno::from_i32(e.errno)
}

/// How an open is answered. Objects never change, so the page cache stays valid
/// across opens (KEEP_CACHE); with passthrough the kernel reads the backing file.
fn reply_opened(reply: ReplyOpen, opened: Opened<BackingId>) {
    match opened {
        Opened::Backing(fh, backing) => {
            reply.opened_passthrough(FileHandle(fh), FopenFlags::empty(), &backing)
        }
        plain => reply.opened(FileHandle(plain.fh()), FopenFlags::FOPEN_KEEP_CACHE),
    }
}

fn reply_xattr(reply: ReplyXattr, x: Xattr) {
    match x {
        Xattr::Size(n) => reply.size(n),
        Xattr::Data(v) => reply.data(&v),
    }
}

impl fuser::Filesystem for DsbFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // READDIRPLUS lets `ls -l`, `du` and `rsync` get attributes with the listing
        // instead of a LOOKUP per file, at the cost of an inode per entry for a plain
        // `find`.
        let _ = config
            .add_capabilities(InitFlags::FUSE_DO_READDIRPLUS | InitFlags::FUSE_READDIRPLUS_AUTO);
        let _ = config.add_capabilities(InitFlags::FUSE_CACHE_SYMLINKS);
        let _ = config.add_capabilities(InitFlags::FUSE_PARALLEL_DIROPS);
        if self.fs.wants_passthrough() {
            let granted = config.add_capabilities(InitFlags::FUSE_PASSTHROUGH).is_ok()
                && config.set_max_stack_depth(1).is_ok();
            self.fs.enable_passthrough(granted);
        }
        Ok(())
    }

    fn destroy(&mut self) {
        tracing::info!("{}: unmounted", self.fs.label());
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.fs.lookup(parent.0, name.as_bytes()) {
            Ok(Some(n)) => reply.entry(&TTL, &file_attr(&n), Generation(0)),
            // Inode 0: the kernel remembers the absence for the TTL.
            Ok(None) => reply.entry(&TTL, &negative_attr(), Generation(0)),
            Err(e) => reply.error(self.errno(e)),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.fs.getattr(ino.0) {
            Ok(n) => reply.attr(&TTL, &file_attr(&n)),
            Err(e) => reply.error(self.errno(e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.fs.readlink(ino.0) {
            Ok(target) => reply.data(&target),
            Err(e) => reply.error(self.errno(e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let opening = match self.fs.start_open(ino.0, flags.0) {
            Ok(o) => o,
            Err(e) => return reply.error(self.errno(e)),
        };
        let fs = self.fs.clone();
        self.on_disk_if(opening.waits_for_disk(), move || {
            match fs.finish_open(opening, |file| reply.open_backing(file)) {
                Ok(opened) => reply_opened(reply, opened),
                Err(e) => reply.error(logged(&fs, e)),
            }
        });
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
        let reader = match self.fs.reader(fh.0) {
            Ok(r) => r,
            Err(e) => return reply.error(self.errno(e)),
        };
        let fs = self.fs.clone();
        self.on_disk_if(reader.waits_for_disk(), move || {
            READ_BUF.with_borrow_mut(|buf| match fs.read(&reader, offset, size, buf) {
                Ok(bytes) => reply.data(bytes),
                Err(e) => reply.error(logged(&fs, e)),
            })
        });
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
        self.fs.release(fh.0);
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
        let walked = self.fs.readdir(ino.0, offset, |it| {
            reply.add(
                INodeNo(it.node.ino),
                it.cookie,
                file_type(it.node.kind),
                OsStr::from_bytes(it.name),
            )
        });
        match walked {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.errno(e)),
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
        let walked = self.fs.readdir(ino.0, offset, |it| {
            reply.add(
                INodeNo(it.node.ino),
                it.cookie,
                OsStr::from_bytes(it.name),
                &TTL,
                &file_attr(it.node),
                Generation(0),
            )
        });
        match walked {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.errno(e)),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.fs.statfs() {
            Ok(s) => reply.statfs(
                s.blocks,
                0,
                0,
                s.files,
                0,
                s.block_size,
                s.name_max,
                s.block_size,
            ),
            Err(e) => reply.error(self.errno(e)),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        match self.fs.getxattr(ino.0, name.as_bytes(), size) {
            Ok(x) => reply_xattr(reply, x),
            Err(e) => reply.error(self.errno(e)),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        match self.fs.listxattr(ino.0, size) {
            Ok(x) => reply_xattr(reply, x),
            Err(e) => reply.error(self.errno(e)),
        }
    }

    fn access(&self, req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        match self.fs.access(ino.0, req.uid(), req.gid(), mask.bits()) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.errno(e)),
        }
    }
}
