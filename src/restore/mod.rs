//! `dsbfs restore`: copy files out of the connected disks into a folder.
//!
//! Every object is hashed as it is copied and written under a temporary name first,
//! so a corrupt copy never lands under the final name (another connected disk is tried
//! instead). Files already in DEST with the right size and hash are skipped, so a
//! restore continues where it stopped when the next disk is plugged in. Everything is
//! created through descriptors opened with `openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)`
//! below DEST, so a crafted catalog cannot make it write elsewhere.
//!
//! This thread creates the folders and symlinks first; then workers (one per core,
//! `files`) check, copy and hash the regular files while this thread makes finished
//! batches durable (`syncfs`) and renames them, so copying never waits for the disk.
//! Later names of hard-linked files are linked last, once every first name is in
//! place. The report is built in path order, whatever order the workers finished in.

mod files;
pub mod plan;
mod preview;

pub use preview::{Preview, preview};

use crate::catalog::tree::At;
use crate::catalog::{Catalog, DiskRecord, Kind, VersionRow};
use crate::disks::Connected;
use crate::select::PathMatcher;
use crate::util::{display_bytes, open_beneath};
use anyhow::{Context, Result, bail};
use files::{Done, Existing, FileJob, Note, Outcome};
use indicatif::ProgressBar;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;
use nix::sys::time::TimeSpec;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct RestoreOptions {
    /// The tree to restore: the current one or a snapshot's.
    pub at: At,
    pub patterns: Vec<PathMatcher>,
    pub from: Option<String>,
    /// Replace what DEST has that differs from the backup (else it is kept: a conflict).
    pub overwrite: bool,
    pub progress: bool,
}

/// Files no connected disk could give, grouped by the disks that hold them.
#[derive(Debug, Serialize)]
pub struct Missing {
    pub disks: Vec<String>,
    pub files: u64,
    pub bytes: u64,
    pub examples: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct RestoreReport {
    pub restored: crate::tally::Files,
    pub already_there: u64,
    pub folders: u64,
    pub symlinks: u64,
    pub hard_links: u64,
    /// Paths DEST had something else at (a local edit): kept, unless `overwrite`.
    pub conflicts: crate::problems::Problems,
    /// Paths whose different content was replaced (`overwrite`).
    pub replaced: u64,
    pub corrupt: crate::problems::Problems,
    pub missing_files: u64,
    pub missing: Vec<Missing>,
    pub errors: crate::problems::Problems,
}

impl RestoreReport {
    pub fn needs_attention(&self) -> bool {
        self.missing_files > 0
            || !self.errors.is_empty()
            || !self.corrupt.is_empty()
            || !self.conflicts.is_empty()
    }
}

/// The selected entries of the tree at `at`, parents before children, each with its
/// virtual path.
pub fn select(
    cat: &Catalog,
    at: At,
    patterns: &[PathMatcher],
) -> Result<Vec<(Vec<u8>, VersionRow)>> {
    let all = cat.files(at)?;
    if patterns.is_empty() {
        return Ok(all);
    }
    let mut wanted: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
    let mut matched = vec![false; patterns.len()];
    for (path, _) in &all {
        let mut any = false;
        for (m, hit) in patterns.iter().zip(matched.iter_mut()) {
            if m.matches(path) {
                (*hit, any) = (true, true);
            }
        }
        if !any {
            continue;
        }
        let mut p = path.as_slice();
        wanted.insert(p.to_vec());
        while let Some(i) = p.iter().rposition(|&b| b == b'/') {
            p = &p[..i];
            if !wanted.insert(if p.is_empty() {
                b"/".to_vec()
            } else {
                p.to_vec()
            }) {
                break;
            }
        }
    }
    let unmatched: Vec<String> = patterns
        .iter()
        .zip(&matched)
        .filter(|(_, hit)| !**hit)
        .map(|(m, _)| m.describe())
        .collect();
    if !unmatched.is_empty() {
        return Err(crate::usage(format!(
            "{} matches nothing in {}: see `dsbfs ls`",
            unmatched.join(", "),
            match at {
                At::Current => "the catalog".to_string(),
                At::Scan(id) => format!("snapshot {id}"),
            }
        )));
    }
    Ok(all
        .into_iter()
        .filter(|(p, _)| wanted.contains(p))
        .collect())
}

/// The path below DEST for a virtual path, refusing names no real tree can hold.
fn relative(vpath: &[u8]) -> Result<Vec<u8>> {
    let rel = vpath.strip_prefix(b"/").unwrap_or(vpath);
    for c in rel.split(|&b| b == b'/') {
        if rel.is_empty() {
            break;
        }
        if c.is_empty() || c == b"." || c == b".." || c.contains(&0) {
            bail!(
                "refusing the unsafe path {:?} from the catalog",
                display_bytes(vpath)
            );
        }
    }
    Ok(rel.to_vec())
}

fn split(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (b"", rel),
    }
}

/// What every thread of a restore reads, and nothing writes.
struct Shared<'a> {
    dest: OwnedFd,
    /// Damaged copies met are listed beside it (`damaged`), for `status`.
    catalog: std::path::PathBuf,
    holders: Holders,
    /// The connected disks the restore may read, by id.
    stores: HashMap<i64, &'a Connected>,
    as_root: bool,
    overwrite: bool,
    pb: ProgressBar,
}

/// Folder descriptors each thread keeps open.
const DIRS_OPEN: std::num::NonZeroUsize = std::num::NonZeroUsize::new(64).unwrap();

/// Descriptors of folders below DEST, each opened beneath it; one cache per thread.
struct Dirs<'a> {
    dest: &'a OwnedFd,
    cache: lru::LruCache<Vec<u8>, OwnedFd>,
}

impl<'a> Dirs<'a> {
    fn new(dest: &'a OwnedFd) -> Self {
        Dirs {
            dest,
            cache: lru::LruCache::new(DIRS_OPEN),
        }
    }

    /// A descriptor for the folder `rel` below DEST (which must be a real folder).
    fn get(&mut self, rel: &[u8]) -> Result<&OwnedFd> {
        if !self.cache.contains(rel) {
            let path: &OsStr = if rel.is_empty() {
                OsStr::new(".")
            } else {
                OsStr::from_bytes(rel)
            };
            let fd = open_beneath(self.dest, path, OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0)
                .with_context(|| format!("cannot open the folder {}", display_bytes(rel)))?;
            self.cache.put(rel.to_vec(), fd);
        }
        Ok(self.cache.get(rel).expect("just inserted"))
    }
}

/// The restore's own thread: folders, symlinks, flushes, hard links and the report.
struct Restorer<'a> {
    shared: &'a Shared<'a>,
    dirs: Dirs<'a>,
    report: RestoreReport,
    missing: BTreeMap<Vec<String>, Missing>,
}

/// Restored files waiting under temporary names for one flush.
struct Batch {
    jobs: Vec<usize>,
    bytes: u64,
    started: std::time::Instant,
}

impl Batch {
    fn new() -> Self {
        Batch {
            jobs: Vec::new(),
            bytes: 0,
            started: std::time::Instant::now(),
        }
    }

    fn due(&self) -> bool {
        self.bytes >= crate::util::SYNC_BATCH_BYTES
            || self.started.elapsed() >= crate::util::SYNC_BATCH_TIME
    }
}

/// Restores into `dest` (a recorded run, when the catalog may be written).
pub fn restore(cat: &Catalog, dest: &Path, opts: &RestoreOptions) -> Result<RestoreReport> {
    let from = opts
        .from
        .as_deref()
        .map(|name| crate::disks::named(cat, name))
        .transpose()?;
    crate::runs::record(cat, crate::runs::Kind::Restore, from.as_ref(), || {
        restore_into(cat, dest, opts)
    })
}

fn restore_into(cat: &Catalog, dest: &Path, opts: &RestoreOptions) -> Result<RestoreReport> {
    let items = select(cat, opts.at, &opts.patterns)?;
    std::fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let dest_fd = nix::fcntl::open(
        dest,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open {}", dest.display()))?;
    let connected = crate::disks::connected(cat)?;
    if let Some(name) = &opts.from {
        crate::disks::named(cat, name)?;
        if !connected.iter().any(|c| &c.record.name == name) {
            bail!("disk {name} is not connected; plug it in or leave out --from");
        }
    }
    let total: u64 = items
        .iter()
        .filter(|(_, v)| v.attr.kind == Kind::File)
        .map(|(_, v)| v.attr.size)
        .sum();
    let shared = Shared {
        dest: dest_fd,
        catalog: cat.path().to_owned(),
        holders: Holders::load(cat)?,
        stores: connected
            .iter()
            .filter(|c| opts.from.as_ref().is_none_or(|n| &c.record.name == n))
            .map(|c| (c.record.id, c))
            .collect(),
        as_root: nix::unistd::geteuid().is_root(),
        overwrite: opts.overwrite,
        pb: crate::util::progress_bar(
            total,
            "{spinner} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
            opts.progress,
        ),
    };
    let mut r = Restorer {
        shared: &shared,
        dirs: Dirs::new(&shared.dest),
        report: RestoreReport::default(),
        missing: BTreeMap::new(),
    };
    let jobs = r.folders_and_symlinks(&items);
    let mut done = r.copy_files(&jobs);
    r.link_files(&jobs, &mut done);
    r.record(&jobs, done);
    // Folder attributes last, deepest first, so creating their contents does not undo them.
    for (path, v) in items.iter().rev().filter(|(_, v)| v.attr.kind == Kind::Dir) {
        if let Err(e) = relative(path).and_then(|rel| r.folder_attrs(&rel, v)) {
            r.error(format!("{}: {e:#}", display_bytes(path)));
        }
    }
    shared.pb.finish_and_clear();
    let mut report = r.report;
    report.missing = r.missing.into_values().collect();
    report.missing_files = report.missing.iter().map(|m| m.files).sum();
    Ok(report)
}

/// Which disks hold each object: loaded with one query for all, not one per file.
struct Holders {
    /// Every disk in the catalog, by name.
    disks: Vec<DiskRecord>,
    /// Object → the disks holding it, as indexes into `disks` (so also by name).
    by_object: HashMap<i64, Vec<usize>>,
}

impl Holders {
    fn load(cat: &Catalog) -> Result<Holders> {
        let disks = cat.disks()?;
        let index: HashMap<i64, usize> = disks.iter().enumerate().map(|(i, d)| (d.id, i)).collect();
        let by_object = cat
            .holder_sets()?
            .into_iter()
            .map(|(object, ids)| {
                let mut held: Vec<usize> =
                    ids.iter().filter_map(|d| index.get(d).copied()).collect();
                held.sort_unstable();
                (object, held)
            })
            .collect();
        Ok(Holders { disks, by_object })
    }

    /// The disks that hold an object, by name: the order their copies are tried in.
    fn of(&self, object: i64) -> impl Iterator<Item = &DiskRecord> {
        let held = self.by_object.get(&object).map_or(&[][..], Vec::as_slice);
        held.iter().map(|&i| &self.disks[i])
    }
}

/// The temporary name of the `n`th selected entry while it is written.
const TMP_PREFIX: &str = ".dsbfs-restore-";

fn tmp_name(n: usize) -> String {
    format!("{TMP_PREFIX}{}-{n}", std::process::id())
}

/// A temporary name in a folder of DEST, removed when dropped unless it was given its
/// final name or handed on: no error path leaves a temporary file behind.
struct Temporary<'a> {
    dir: &'a OwnedFd,
    name: String,
    armed: bool,
}

impl<'a> Temporary<'a> {
    fn new(dir: &'a OwnedFd, n: usize) -> Self {
        Temporary {
            dir,
            name: tmp_name(n),
            armed: true,
        }
    }

    /// Gives the temporary file its final name.
    fn rename_to(mut self, name: &OsStr) -> nix::Result<()> {
        nix::fcntl::renameat(self.dir, self.name.as_str(), self.dir, name)?;
        self.armed = false;
        Ok(())
    }

    /// Leaves the file for a later step (a batch's flush) that renames or removes it.
    fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for Temporary<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = nix::unistd::unlinkat(
                self.dir,
                self.name.as_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
        }
    }
}

/// Removes what an interrupted restore left in a folder of DEST: files under its
/// temporary names, whose process is gone (a restore running beside this one keeps
/// its own).
fn remove_stale_temporaries(dir: &OwnedFd) -> Result<()> {
    let mut listing = nix::dir::Dir::openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let gone = |pid: &[u8]| {
        let pid = std::str::from_utf8(pid).ok().and_then(|p| p.parse().ok());
        pid.is_some_and(|pid| {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                == Err(nix::errno::Errno::ESRCH)
        })
    };
    let stale: Vec<std::ffi::CString> = listing
        .iter()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_bytes();
            name.strip_prefix(TMP_PREFIX.as_bytes())
                .and_then(|rest| rest.split(|&b| b == b'-').next())
                .is_some_and(gone)
        })
        .map(|e| e.file_name().to_owned())
        .collect();
    for name in stale {
        nix::unistd::unlinkat(
            dir,
            name.as_c_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        )?;
    }
    Ok(())
}

impl Restorer<'_> {
    fn error(&mut self, msg: String) {
        tracing::warn!("{msg}");
        self.report.errors.push(msg);
    }

    /// Creates the folders (parents first) and symlinks, and returns the regular files
    /// to restore, in path order. A later name of a hard-linked file is a job that
    /// points at the job of its first name.
    fn folders_and_symlinks<'v>(&mut self, items: &'v [(Vec<u8>, VersionRow)]) -> Vec<FileJob<'v>> {
        let mut jobs = Vec::new();
        let mut first_names: HashMap<(u64, u64), usize> = HashMap::new();
        for (n, (path, v)) in items.iter().enumerate() {
            let rel = match relative(path) {
                Ok(rel) => rel,
                Err(e) => {
                    self.error(format!("{}: {e:#}", display_bytes(path)));
                    continue;
                }
            };
            let result = match v.attr.kind {
                Kind::Dir => self.folder(&rel),
                Kind::Symlink => self.symlink(n, path, &rel, v),
                Kind::File => {
                    let link_to = (v.attr.nlink > 1)
                        .then(|| {
                            *first_names
                                .entry((v.attr.dev, v.attr.ino))
                                .or_insert(jobs.len())
                        })
                        .filter(|&first| first != jobs.len());
                    jobs.push(FileJob {
                        n,
                        rel,
                        vpath: path,
                        v,
                        link_to,
                    });
                    Ok(())
                }
            };
            if let Err(e) = result {
                self.error(format!("{}: {e:#}", display_bytes(path)));
            }
        }
        jobs
    }

    fn folder(&mut self, rel: &[u8]) -> Result<()> {
        if rel.is_empty() {
            return remove_stale_temporaries(self.dirs.get(rel)?);
        }
        let (parent, name) = split(rel);
        let dir = self.dirs.get(parent)?;
        match nix::sys::stat::mkdirat(
            dir,
            OsStr::from_bytes(name),
            Mode::from_bits_truncate(0o700),
        ) {
            Ok(()) => {}
            Err(nix::errno::Errno::EEXIST) => {
                let st = nix::sys::stat::fstatat(
                    dir,
                    OsStr::from_bytes(name),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )?;
                if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
                    bail!("something that is not a folder is in the way");
                }
                remove_stale_temporaries(self.dirs.get(rel)?)?;
            }
            Err(e) => return Err(e.into()),
        }
        self.report.folders += 1;
        Ok(())
    }

    fn folder_attrs(&mut self, rel: &[u8], v: &VersionRow) -> Result<()> {
        let as_root = self.shared.as_root;
        let fd = self.dirs.get(rel)?;
        if as_root {
            nix::unistd::fchown(fd, Some(v.attr.uid.into()), Some(v.attr.gid.into()))?;
        }
        nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(v.attr.mode))?;
        let t = timespec(v.attr.mtime_ns);
        nix::sys::stat::futimens(fd, &t, &t)?;
        Ok(())
    }

    fn symlink(&mut self, n: usize, vpath: &[u8], rel: &[u8], v: &VersionRow) -> Result<()> {
        let (parent, name) = split(rel);
        let (as_root, overwrite) = (self.shared.as_root, self.shared.overwrite);
        let dir = self.dirs.get(parent)?;
        let target = v.attr.target.clone().unwrap_or_default();
        let replaced =
            files::existing_symlink(dir, OsStr::from_bytes(name), &target) == Some(false);
        if replaced && !overwrite {
            self.report.conflicts.push(display_bytes(vpath));
            return Ok(());
        }
        let tmp = Temporary::new(dir, n);
        nix::unistd::symlinkat(OsStr::from_bytes(&target), dir, tmp.name.as_str())?;
        if as_root {
            nix::unistd::fchownat(
                dir,
                tmp.name.as_str(),
                Some(v.attr.uid.into()),
                Some(v.attr.gid.into()),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )?;
        }
        let t = timespec(v.attr.mtime_ns);
        nix::sys::stat::utimensat(
            dir,
            tmp.name.as_str(),
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )?;
        tmp.rename_to(OsStr::from_bytes(name))?;
        self.report.symlinks += 1;
        self.report.replaced += u64::from(replaced);
        Ok(())
    }

    /// Restores the files that are not later names of a hard link. Workers (one per
    /// core) check, copy and hash them; this thread flushes and renames them batch by
    /// batch meanwhile. The channel is unbounded so that workers go on copying while
    /// this thread waits in `syncfs`: what they send holds no open file.
    fn copy_files(&mut self, jobs: &[FileJob]) -> Vec<Option<Done>> {
        let mut done: Vec<Option<Done>> = jobs.iter().map(|_| None).collect();
        let copies: Vec<usize> = (0..jobs.len())
            .filter(|&j| jobs[j].link_to.is_none())
            .collect();
        let next = AtomicUsize::new(0);
        let workers = crate::util::cores();
        let shared = self.shared;
        std::thread::scope(|s| {
            let (tx, rx) = crossbeam_channel::unbounded();
            for _ in 0..workers {
                let (tx, copies, next) = (tx.clone(), &copies, &next);
                s.spawn(move || {
                    let mut dirs = Dirs::new(&shared.dest);
                    while let Some(&j) = copies.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let result = shared.restore_file(&mut dirs, &jobs[j]);
                        if tx.send((j, result)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let mut batch = Batch::new();
            for (j, d) in rx {
                if matches!(d.outcome, Outcome::Restored { .. }) {
                    batch.jobs.push(j);
                    batch.bytes += jobs[j].v.attr.size;
                }
                done[j] = Some(d);
                if batch.due() {
                    self.flush(std::mem::replace(&mut batch, Batch::new()), jobs, &mut done);
                }
            }
            self.flush(batch, jobs, &mut done);
        });
        done
    }

    /// Makes the batch's files durable, then gives them their final names: one
    /// `syncfs` per batch instead of one `fsync` per file, and never a file with
    /// missing bytes under its final name, even after a power cut. A file that cannot
    /// have its name (a folder is in the way, the flush failed) is removed.
    fn flush(&mut self, batch: Batch, jobs: &[FileJob], done: &mut [Option<Done>]) {
        if batch.jobs.is_empty() {
            return;
        }
        let synced = nix::unistd::syncfs(&self.shared.dest)
            .map_err(|e| anyhow::anyhow!("cannot flush the restored file: {e}"));
        for j in batch.jobs {
            let renamed = self.rename(&jobs[j], &synced);
            if let (Err(e), Some(d)) = (renamed, done[j].as_mut()) {
                d.outcome = Outcome::Failed(format!("{e:#}"));
            }
        }
    }

    /// Gives a flushed file its final name, or removes it if `synced` failed.
    fn rename(&mut self, job: &FileJob, synced: &Result<()>) -> Result<()> {
        let (parent, name) = split(&job.rel);
        let tmp = Temporary::new(self.dirs.get(parent)?, job.n);
        if let Err(e) = synced {
            bail!("{e}");
        }
        tmp.rename_to(OsStr::from_bytes(name))
            .context("cannot give the restored file its name")
    }

    /// Gives the later names of hard-linked files their links, now that every first
    /// name has its final name. A name whose first name could not be restored shares
    /// its fate.
    fn link_files(&mut self, jobs: &[FileJob], done: &mut [Option<Done>]) {
        for (j, job) in jobs.iter().enumerate() {
            let Some(first) = job.link_to else { continue };
            let outcome = match done[first].as_ref().map(|d| &d.outcome) {
                Some(Outcome::Restored { .. } | Outcome::AlreadyThere) => self
                    .link(&jobs[first], job)
                    .unwrap_or_else(|e| Outcome::Failed(format!("{e:#}"))),
                Some(Outcome::Missing(disks)) => Outcome::Missing(disks.clone()),
                _ => Outcome::Failed(format!(
                    "not restored: it is a hard link of {}, which was not",
                    display_bytes(jobs[first].vpath)
                )),
            };
            done[j] = Some(Done {
                outcome,
                notes: Vec::new(),
            });
        }
    }

    /// Makes `job`'s name a hard link to `first`'s (already so when it is one).
    fn link(&mut self, first: &FileJob, job: &FileJob) -> Result<Outcome> {
        let (fp, fname) = split(&first.rel);
        let (parent, name) = split(&job.rel);
        let (fname, name) = (OsStr::from_bytes(fname), OsStr::from_bytes(name));
        let src_dir = self.dirs.get(fp)?.try_clone()?;
        let dir = self.dirs.get(parent)?;
        self.shared.pb.inc(job.v.attr.size);
        let inode = |d: &OwnedFd, n: &OsStr| {
            nix::sys::stat::fstatat(d, n, AtFlags::AT_SYMLINK_NOFOLLOW)
                .ok()
                .map(|st| (st.st_dev, st.st_ino))
        };
        if inode(dir, name).is_some() && inode(dir, name) == inode(&src_dir, fname) {
            return Ok(Outcome::AlreadyThere);
        }
        // The same content is replaced by the link; anything else is a conflict.
        if let Existing::Different = files::existing(dir, name, job.v)?
            && !self.shared.overwrite
        {
            return Ok(Outcome::Conflict);
        }
        let _ = nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        nix::unistd::linkat(&src_dir, fname, dir, name, AtFlags::empty())?;
        Ok(Outcome::Linked)
    }

    /// Adds each file's outcome to the report in path order, so the report does not
    /// depend on which worker finished first.
    fn record(&mut self, jobs: &[FileJob], done: Vec<Option<Done>>) {
        for (job, d) in jobs.iter().zip(done) {
            let Some(d) = d else { continue };
            for note in d.notes {
                match note {
                    Note::Corrupt(msg) => self.report.corrupt.push(msg),
                    Note::Error(msg) => self.error(msg),
                }
            }
            let size = job.v.attr.size;
            match d.outcome {
                Outcome::Restored { replaced } => {
                    self.report.restored.add(size);
                    self.report.replaced += u64::from(replaced);
                }
                Outcome::Conflict => self.report.conflicts.push(display_bytes(job.vpath)),
                Outcome::AlreadyThere => self.report.already_there += 1,
                Outcome::Linked => self.report.hard_links += 1,
                Outcome::Missing(disks) => self.add_missing(disks, job.vpath, size),
                Outcome::Failed(e) => self.error(format!("{}: {e}", display_bytes(job.vpath))),
            }
        }
    }

    /// Counts a file no connected disk could give, with the others held by the same disks.
    fn add_missing(&mut self, disks: Vec<String>, vpath: &[u8], size: u64) {
        let m = self.missing.entry(disks.clone()).or_insert(Missing {
            disks,
            files: 0,
            bytes: 0,
            examples: Vec::new(),
        });
        m.files += 1;
        m.bytes += size;
        if m.examples.len() < 5 {
            m.examples.push(display_bytes(vpath));
        }
    }
}

fn timespec(ns: i64) -> TimeSpec {
    TimeSpec::new(ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000))
}

/// For `--plan`: what the selection needs of each disk.
pub fn disk_plan(
    cat: &Catalog,
    at: At,
    patterns: &[PathMatcher],
) -> Result<(plan::DiskPlan, Vec<crate::catalog::DiskRecord>)> {
    let disks = cat.disks()?;
    let index: HashMap<i64, usize> = disks.iter().enumerate().map(|(i, d)| (d.id, i)).collect();
    let holders = cat.holder_sets()?;
    let mut per_object: HashMap<i64, plan::Need> = HashMap::new();
    for (_, v) in select(cat, at, patterns)? {
        let Some(o) = v.object else { continue };
        let n = per_object.entry(o).or_insert_with(|| plan::Need {
            files: 0,
            bytes: v.attr.size,
            holders: holders.get(&o).map_or(Vec::new(), |h| {
                h.iter().filter_map(|d| index.get(d).copied()).collect()
            }),
        });
        n.files += 1;
    }
    let needs: Vec<plan::Need> = per_object.into_values().collect();
    Ok((plan::plan_disks(&needs, disks.len()), disks))
}
