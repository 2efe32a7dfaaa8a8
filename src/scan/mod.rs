//! `dsbfs scan`: bring the catalog up to date with the sources.
//!
//! One thread walks the virtual tree (sources mapped onto virtual paths) and compares
//! each folder with what the catalog recorded; new or changed files go to hashing
//! threads. Results are committed about once a second, so an interrupted scan loses
//! little, and the next run resumes the same scan without re-hashing what it recorded.

pub mod detect;
pub mod hash;
mod partial;

pub use partial::{Rescan, run_paths};

use crate::catalog::tree::Child;
use crate::catalog::{Catalog, Kind, NodeAttr, VersionRow};
use crate::rules::Rules;
use crate::tally::Files;
use crate::util::{display_bytes, vpath_join, vpath_within};
use anyhow::Result;
use detect::{FileChange, attr_of, file_change, kind_of, visible_change};
use indicatif::ProgressBar;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long hashed results may wait before they are committed.
const COMMIT_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Default, Serialize)]
pub struct ScanSummary {
    pub scan: i64,
    pub resumed: bool,
    pub new: Files,
    pub changed: Files,
    pub deleted: Files,
    pub unchanged: Files,
    pub hashed: Files,
    pub folders: u64,
    pub symlinks: u64,
    /// Sockets, FIFOs and device files: not backed up.
    pub skipped_special: u64,
    pub unreadable: u64,
    pub changed_while_hashing: u64,
    pub errors: crate::problems::Problems,
    /// This scan changed or removed an unusual share of the files (see `history`).
    pub mass_change: Option<crate::history::MassChange>,
    /// The folders a partial scan (`run_paths`) walked; empty for a full scan.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub only: Vec<String>,
}

impl ScanSummary {
    /// True when something could not be scanned (exit code 3).
    pub fn needs_attention(&self) -> bool {
        self.unreadable > 0 || self.changed_while_hashing > 0
    }

    fn error(&mut self, msg: String) {
        tracing::warn!("{msg}");
        self.errors.push(msg);
    }
}

/// A file sent for hashing, and what to record once its hash is known.
struct Pending {
    entry: i64,
    old: Option<VersionRow>,
    attr: NodeAttr,
    rule: (u32, i32),
}

/// What the catalog knows of one folder, sorted by name like the folder's listing, so
/// the two are merged in one pass. Children found on disk are taken out; what is left
/// at the end has disappeared.
struct Known {
    names: Vec<Vec<u8>>,
    children: Vec<Option<Child>>,
    cursor: usize,
}

impl Known {
    fn new(mut children: Vec<Child>) -> Known {
        children.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let names = children
            .iter_mut()
            .map(|c| std::mem::take(&mut c.name))
            .collect();
        Known {
            names,
            children: children.into_iter().map(Some).collect(),
            cursor: 0,
        }
    }

    /// Takes the child called `name`; names must come in increasing order.
    fn take_next(&mut self, name: &[u8]) -> (usize, Option<Child>) {
        while self.cursor < self.names.len() && self.names[self.cursor].as_slice() < name {
            self.cursor += 1;
        }
        if self.names.get(self.cursor).is_some_and(|n| n == name) {
            (self.cursor, self.children[self.cursor].take())
        } else {
            (usize::MAX, None)
        }
    }

    /// Takes the child called `name`, in any order.
    fn take(&mut self, name: &[u8]) -> Option<Child> {
        let i = self
            .names
            .binary_search_by(|n| n.as_slice().cmp(name))
            .ok()?;
        self.children[i].take()
    }

    fn put_back(&mut self, slot: usize, child: Option<Child>) {
        if let (Some(s), Some(c)) = (self.children.get_mut(slot), child) {
            *s = Some(c);
        }
    }

    fn left(&self) -> impl Iterator<Item = &Child> {
        self.children.iter().flatten()
    }
}

/// The physical folder being listed, and where it sits in the virtual tree.
struct Folder<'a> {
    entry: i64,
    vpath: &'a [u8],
    dir: &'a Path,
    follow: bool,
}

/// What became of a child a folder listing named.
enum Visit {
    /// Excluded, or a kind that is not backed up: the catalog forgets it.
    Left,
    /// Recorded, queued for hashing, or unreadable (the catalog keeps what it knew).
    Kept,
    /// A folder to walk into, with its entry id.
    Folder(i64),
}

/// Hard links seen in this scan, by (device, inode): hashed once, known to be one content.
enum Link {
    Known(Option<i64>, NodeAttr),
    Hashing(Vec<Pending>),
}

pub struct Scanner<'a> {
    cat: &'a Catalog,
    scan: i64,
    rules: Rules,
    /// Virtual path → physical folder of each source.
    sources: Vec<(Vec<u8>, PathBuf, bool)>,
    /// Folders never walked into: our own mounts and backup disks.
    skip: HashSet<PathBuf>,
    pool: hash::Pool<Pending>,
    links: HashMap<(u64, u64), Link>,
    summary: ScanSummary,
    last_commit: Instant,
    progress: ProgressBar,
    queued_bytes: u64,
    /// Walk into a subfolder only when the catalog did not know it as a folder (partial
    /// scans: the folders that changed are walked, the rest carries on).
    shallow: bool,
}

/// A subfolder to walk after its parent's listing.
struct Subdir {
    entry: i64,
    name: Vec<u8>,
    physical: Option<PathBuf>,
    follow: bool,
    /// The catalog knew it as a folder already.
    known: bool,
}

/// Scans every source (a recorded run).
pub fn run(cat: &Catalog, show_progress: bool) -> Result<ScanSummary> {
    crate::runs::record(cat, crate::runs::Kind::Scan, None, || {
        scan(cat, show_progress, None)
    })
}

/// Folders never walked into: dsbfs mounts and backup disks.
pub fn skipped_folders(cat: &Catalog) -> Result<HashSet<PathBuf>> {
    let mut skip: HashSet<PathBuf> = crate::mounts::mounts()
        .into_iter()
        .filter(|m| m.fstype.starts_with("fuse.dsbfs"))
        .map(|m| m.mount_point)
        .collect();
    skip.extend(cat.disks()?.into_iter().map(|d| d.path));
    Ok(skip)
}

/// A full scan, or with `only` a partial one of those folders.
fn scan(cat: &Catalog, show_progress: bool, only: Option<&[Rescan]>) -> Result<ScanSummary> {
    let (scan, resumed) = cat.transaction(|_| cat.begin_or_resume_scan(crate::util::now()))?;
    let progress = crate::util::progress_bar(
        0,
        "{spinner} {msg} hashed {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
        show_progress,
    );
    if show_progress {
        progress.enable_steady_tick(Duration::from_millis(200));
    }
    let hashed_bytes = Arc::new(AtomicU64::new(0));
    let pool = {
        let pb = progress.clone();
        let counter = hashed_bytes.clone();
        hash::Pool::new(crate::util::cores(), move |n| {
            counter.fetch_add(n, Ordering::Relaxed);
            pb.inc(n);
        })
    };
    let skip = skipped_folders(cat)?;
    let mut s = Scanner {
        cat,
        scan,
        rules: Rules::new(cat.rules()?)?,
        sources: cat
            .sources()?
            .into_iter()
            .map(|s| (s.vpath, s.path, s.follow_symlinks))
            .collect(),
        skip,
        pool,
        links: HashMap::new(),
        summary: ScanSummary {
            scan,
            resumed,
            ..Default::default()
        },
        last_commit: Instant::now(),
        progress,
        queued_bytes: 0,
        shallow: false,
    };
    // What was hashed is kept even when the walk fails: the next scan resumes from it.
    cat.bulk(|| {
        match only {
            None => s.walk_root()?,
            Some(folders) => s.walk_folders(folders)?,
        }
        s.finish()?;
        cat.finish_scan(scan, crate::util::now())
    })?;
    s.summary.mass_change = crate::history::after_scan(cat, &s.summary)?;
    let _ = cat.checkpoint();
    s.progress.finish_and_clear();
    Ok(std::mem::take(&mut s.summary))
}

impl Scanner<'_> {
    fn walk_root(&mut self) -> Result<()> {
        let root_source = self.sources.iter().find(|(v, _, _)| v == b"/").cloned();
        let (phys, follow) = match &root_source {
            Some((_, p, f)) => (Some(p.clone()), *f),
            None => (None, false),
        };
        let root_attr = match &phys {
            Some(p) => match std::fs::metadata(p) {
                Ok(m) => attr_of(&m, Kind::Dir, None),
                Err(e) => {
                    self.summary.unreadable += 1;
                    self.summary
                        .error(format!("cannot read source {}: {e}", p.display()));
                    return Ok(());
                }
            },
            None => synthetic_dir(),
        };
        let old = self.cat.version(1, crate::catalog::tree::At::Current)?;
        self.record_folder(1, old.as_ref(), &root_attr)?;
        let mut ancestors = Vec::new();
        self.walk_dir(1, b"/", phys.as_deref(), follow, &mut ancestors)
    }

    /// Brings the children of one virtual folder up to date, then descends.
    fn walk_dir(
        &mut self,
        entry: i64,
        vpath: &[u8],
        phys: Option<&Path>,
        follow: bool,
        ancestors: &mut Vec<(u64, u64)>,
    ) -> Result<()> {
        self.maybe_commit()?;
        let mut known = Known::new(
            self.cat
                .children(entry, crate::catalog::tree::At::Current)?,
        );
        let mut subdirs: Vec<Subdir> = Vec::new();

        // Sources mapped directly below this folder, or deeper (then a folder leads to them).
        let mut virtual_children: HashMap<Vec<u8>, (Option<PathBuf>, bool)> = HashMap::new();
        for (sv, sp, sf) in &self.sources {
            if sv.as_slice() == vpath || !vpath_within(sv, vpath) {
                continue;
            }
            let rest = &sv[if vpath == b"/" { 1 } else { vpath.len() + 1 }..];
            let name = rest
                .split(|&b| b == b'/')
                .next()
                .unwrap_or_default()
                .to_vec();
            if rest.len() == name.len() {
                virtual_children.insert(name, (Some(sp.clone()), *sf));
            } else {
                virtual_children.entry(name).or_insert((None, follow));
            }
        }

        if let Some(dir) = phys {
            match read_dir_sorted(dir) {
                Ok(children) => {
                    for (name, meta) in children {
                        if virtual_children.contains_key(&name) {
                            continue;
                        }
                        let (slot, old) = known.take_next(&name);
                        let folder = Folder {
                            entry,
                            vpath,
                            dir,
                            follow,
                        };
                        match self.visit(&folder, &name, meta, old.as_ref())? {
                            Visit::Left => known.put_back(slot, old),
                            Visit::Kept => {}
                            Visit::Folder(child) => {
                                let path = dir.join(std::ffi::OsStr::from_bytes(&name));
                                subdirs.push(Subdir {
                                    entry: child,
                                    name,
                                    physical: Some(path),
                                    follow,
                                    known: was_folder(old.as_ref()),
                                })
                            }
                        }
                    }
                }
                Err(e) => {
                    self.summary.unreadable += 1;
                    self.summary
                        .error(format!("cannot read folder {}: {e}", dir.display()));
                    // Keep what the catalog knows rather than calling it deleted.
                    known = Known::new(Vec::new());
                }
            }
        }

        let mut vnames: Vec<_> = virtual_children.into_iter().collect();
        vnames.sort();
        for (name, (source_path, source_follow)) in vnames {
            let child_vpath = vpath_join(vpath, &name);
            let physical = match source_path {
                Some(p) => Some(p),
                None => phys
                    .map(|d| d.join(std::ffi::OsStr::from_bytes(&name)))
                    .filter(|p| p.is_dir()),
            };
            let is_source_root = self.sources.iter().any(|(v, _, _)| *v == child_vpath);
            let attr = match &physical {
                Some(p) => match std::fs::metadata(p) {
                    Ok(m) if m.is_dir() => attr_of(&m, Kind::Dir, None),
                    Ok(_) | Err(_) if is_source_root => {
                        self.summary.unreadable += 1;
                        self.summary.error(format!(
                            "cannot read source {} (is its drive mounted?)",
                            p.display()
                        ));
                        // Keep everything recorded under it: a missing drive is not a deletion.
                        known.take(&name);
                        continue;
                    }
                    _ => synthetic_dir(),
                },
                None => synthetic_dir(),
            };
            let child = self.cat.entry_id(entry, &name)?;
            let old = known.take(&name);
            self.record_folder(child, old.as_ref().and_then(|c| c.version.as_ref()), &attr)?;
            subdirs.push(Subdir {
                entry: child,
                name,
                physical,
                follow: source_follow,
                known: was_folder(old.as_ref()),
            });
        }

        for child in known.left() {
            if let Some(v) = &child.version {
                self.end(child.entry, v, None)?;
                if v.attr.kind == Kind::File {
                    self.summary.deleted.add(v.attr.size);
                }
            }
        }

        for Subdir {
            entry: child,
            name,
            physical,
            follow: child_follow,
            known,
        } in subdirs
        {
            if self.shallow && known {
                continue;
            }
            let child_vpath = vpath_join(vpath, &name);
            // Only followed symlinks can lead back to an ancestor.
            let key = physical
                .as_deref()
                .filter(|_| child_follow)
                .and_then(|p| std::fs::metadata(p).ok())
                .map(|m| {
                    use std::os::unix::fs::MetadataExt;
                    (m.dev(), m.ino())
                });
            if let Some(k) = key {
                if ancestors.contains(&k) {
                    self.summary.error(format!(
                        "symlink loop at {}: not followed",
                        display_bytes(&child_vpath)
                    ));
                    continue;
                }
                ancestors.push(k);
            }
            self.walk_dir(
                child,
                &child_vpath,
                physical.as_deref(),
                child_follow,
                ancestors,
            )?;
            if key.is_some() {
                ancestors.pop();
            }
        }
        Ok(())
    }

    /// Handles one physical child.
    fn visit(
        &mut self,
        parent: &Folder,
        name: &[u8],
        meta: std::io::Result<std::fs::Metadata>,
        known: Option<&Child>,
    ) -> Result<Visit> {
        let follow = parent.follow;
        // Built only when needed: most files are unchanged and need neither.
        let path = || parent.dir.join(std::ffi::OsStr::from_bytes(name));
        let vpath = if self.rules.is_empty() {
            Vec::new()
        } else {
            vpath_join(parent.vpath, name)
        };
        let mut meta = match meta {
            Ok(m) => m,
            Err(e) => {
                self.summary.unreadable += 1;
                self.summary
                    .error(format!("cannot read {}: {e}", path().display()));
                return Ok(Visit::Kept);
            }
        };
        if follow
            && meta.file_type().is_symlink()
            && let Ok(m) = std::fs::metadata(path())
        {
            meta = m;
        }
        let Some(kind) = kind_of(&meta) else {
            self.summary.skipped_special += 1;
            return Ok(Visit::Left);
        };
        if self.rules.excluded(&vpath, kind == Kind::Dir)
            || (kind == Kind::Dir && self.skip.contains(&path()))
        {
            return Ok(Visit::Left);
        }
        let target = if kind == Kind::Symlink {
            match std::fs::read_link(path()) {
                Ok(t) => Some(std::os::unix::ffi::OsStringExt::into_vec(
                    t.into_os_string(),
                )),
                Err(e) => {
                    self.summary.unreadable += 1;
                    self.summary
                        .error(format!("cannot read symlink {}: {e}", path().display()));
                    return Ok(Visit::Kept);
                }
            }
        } else {
            None
        };
        let attr = attr_of(&meta, kind, target);
        let entry = match known {
            Some(c) => c.entry,
            None => self.cat.new_entry(parent.entry, name)?,
        };
        let old = known.and_then(|c| c.version.as_ref());
        match kind {
            Kind::Dir => {
                self.record_folder(entry, old, &attr)?;
                return Ok(Visit::Folder(entry));
            }
            Kind::Symlink => {
                self.summary.symlinks += 1;
                if old.is_none_or(|o| visible_change(&o.attr, &attr)) {
                    self.replace(entry, old, &attr)?;
                } else {
                    self.refresh(old.expect("checked"), &attr)?;
                }
            }
            Kind::File => {
                let rule = self.rules.effective(&vpath);
                let old_attr = old.map(|o| &o.attr);
                if file_change(old_attr, &attr) == FileChange::Unchanged {
                    let o = old.expect("unchanged implies recorded");
                    self.summary.unchanged.add(attr.size);
                    if attr.nlink > 1 {
                        self.links
                            .insert((attr.dev, attr.ino), Link::Known(o.object, attr.clone()));
                    }
                    if (o.copies, o.priority) != rule {
                        self.cat.set_rule_fields(o, rule)?;
                    }
                } else {
                    let job = Pending {
                        entry,
                        old: old.cloned(),
                        attr,
                        rule,
                    };
                    self.hash_later(&path(), job)?;
                }
            }
        }
        Ok(Visit::Kept)
    }

    /// Records a folder's new version when what users see of it changed.
    fn record_folder(
        &mut self,
        entry: i64,
        old: Option<&VersionRow>,
        attr: &NodeAttr,
    ) -> Result<()> {
        self.summary.folders += 1;
        match old {
            Some(o) if o.attr.kind == Kind::Dir && !visible_change(&o.attr, attr) => {
                self.refresh(o, attr)
            }
            _ => self.replace(entry, old, attr),
        }
    }

    /// Ends `old` (and, if it was a folder, everything below it) and records the folder or
    /// symlink `attr` as current. Files go through `record_file`.
    fn replace(&mut self, entry: i64, old: Option<&VersionRow>, attr: &NodeAttr) -> Result<()> {
        if let Some(o) = old {
            self.end(entry, o, Some(attr.kind))?;
        }
        self.cat.add_version(entry, self.scan, attr, None, (0, 0))
    }

    /// Ends a version; when a folder disappears (or stops being one), everything below it too.
    fn end(&mut self, entry: i64, old: &VersionRow, becomes: Option<Kind>) -> Result<()> {
        if old.attr.kind == Kind::Dir && becomes != Some(Kind::Dir) {
            let (files, bytes) = self.cat.end_subtree(entry, self.scan)?;
            self.summary.deleted.files += files;
            self.summary.deleted.bytes += bytes;
        }
        self.cat.end_version(old, self.scan)
    }

    /// Keeps the current version but records the new ctime, inode and link count.
    fn refresh(&mut self, old: &VersionRow, attr: &NodeAttr) -> Result<()> {
        if old.attr != *attr {
            self.cat.refresh_stat(old, attr)?;
        }
        Ok(())
    }

    fn hash_later(&mut self, path: &Path, job: Pending) -> Result<()> {
        if job.attr.size == 0 {
            return self.record_file(job, None);
        }
        if job.attr.nlink > 1 {
            let key = (job.attr.dev, job.attr.ino);
            match self.links.get_mut(&key) {
                Some(Link::Known(object, a))
                    if a.ctime_ns == job.attr.ctime_ns && a.size == job.attr.size =>
                {
                    let object = *object;
                    return self.record_file(job, object);
                }
                Some(Link::Hashing(waiting)) => {
                    waiting.push(job);
                    return Ok(());
                }
                _ => {
                    self.links.insert(key, Link::Hashing(Vec::new()));
                }
            }
        }
        self.queued_bytes += job.attr.size;
        self.progress.set_length(self.queued_bytes);
        self.pool.submit(path.to_owned(), job);
        self.drain(false)
    }

    /// Records hashing results; with `wait`, until every queued file is done.
    fn drain(&mut self, wait: bool) -> Result<()> {
        loop {
            let done = if wait {
                match self.pool.done.recv() {
                    Ok(d) => d,
                    Err(_) => return Ok(()),
                }
            } else {
                match self.pool.done.try_recv() {
                    Ok(d) => d,
                    Err(_) => return Ok(()),
                }
            };
            let key = (done.tag.attr.dev, done.tag.attr.ino);
            let waiting = match self.links.get(&key) {
                Some(Link::Hashing(_)) if done.tag.attr.nlink > 1 => {
                    match self.links.remove(&key) {
                        Some(Link::Hashing(w)) => w,
                        _ => Vec::new(),
                    }
                }
                _ => Vec::new(),
            };
            match done.outcome {
                hash::Outcome::Hashed(hash, attr) => {
                    let object = self.cat.object_id(&hash, attr.size)?;
                    self.summary.hashed.add(attr.size);
                    if attr.nlink > 1 {
                        self.links
                            .insert(key, Link::Known(Some(object), attr.clone()));
                    }
                    for job in std::iter::once(done.tag).chain(waiting) {
                        let job = Pending {
                            attr: NodeAttr {
                                target: None,
                                ..attr.clone()
                            },
                            ..job
                        };
                        self.record_file(job, Some(object))?;
                    }
                }
                hash::Outcome::Unstable => {
                    self.summary.changed_while_hashing += 1;
                    self.summary.error(format!(
                        "{} kept changing while it was read; not recorded, scan again later",
                        done.path.display()
                    ));
                }
                hash::Outcome::Failed(e) => {
                    self.summary.unreadable += 1;
                    self.summary
                        .error(format!("cannot read {}: {e}", done.path.display()));
                }
            }
            self.maybe_commit()?;
        }
    }

    /// Records a hashed (or empty) file: a new version unless only its stat moved.
    fn record_file(&mut self, job: Pending, object: Option<i64>) -> Result<()> {
        match &job.old {
            Some(o)
                if o.attr.kind == Kind::File
                    && o.object == object
                    && !visible_change(&o.attr, &job.attr) =>
            {
                self.summary.unchanged.add(job.attr.size);
                self.cat.refresh_stat(o, &job.attr)?;
                if (o.copies, o.priority) != job.rule {
                    self.cat.set_rule_fields(o, job.rule)?;
                }
                Ok(())
            }
            old => {
                if let Some(o) = old {
                    self.end(job.entry, o, Some(Kind::File))?;
                }
                if old.as_ref().is_some_and(|o| o.attr.kind == Kind::File) {
                    self.summary.changed.add(job.attr.size);
                } else {
                    self.summary.new.add(job.attr.size);
                }
                self.cat
                    .add_version(job.entry, self.scan, &job.attr, object, job.rule)
            }
        }
    }

    fn maybe_commit(&mut self) -> Result<()> {
        crate::interrupt::check()?;
        if self.last_commit.elapsed() >= COMMIT_EVERY {
            self.cat.bulk_commit()?;
            self.last_commit = Instant::now();
            self.progress.set_message(format!(
                "{} files, {} new/changed",
                self.summary.unchanged.files + self.summary.new.files + self.summary.changed.files,
                self.summary.new.files + self.summary.changed.files
            ));
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.pool.close();
        self.drain(true)
    }
}

/// Whether the catalog knew this child as a folder.
fn was_folder(known: Option<&Child>) -> bool {
    known
        .and_then(|c| c.version.as_ref())
        .is_some_and(|v| v.attr.kind == Kind::Dir)
}

/// A folder that exists only to lead to a deeper source (or, in an imported restore
/// context, to the imported paths).
pub(crate) fn synthetic_dir() -> NodeAttr {
    NodeAttr {
        kind: Kind::Dir,
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime_ns: 0,
        size: 0,
        target: None,
        dev: 0,
        ino: 0,
        nlink: 2,
        ctime_ns: 0,
    }
}

/// A folder's children with their lstat, sorted by name. The stat goes through the
/// folder's descriptor (fstatat), as `find` does, not through the whole path again.
type Listing = Vec<(Vec<u8>, std::io::Result<std::fs::Metadata>)>;

fn read_dir_sorted(dir: &Path) -> std::io::Result<Listing> {
    let mut children = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| (e.file_name().into_encoded_bytes(), e.metadata())))
        .collect::<std::io::Result<Listing>>()?;
    children.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(children)
}
