//! `dsbfs restore`: copy files out of the connected disks into a folder.
//!
//! Every object is hashed as it is copied and written under a temporary name first,
//! so a corrupt copy never lands under the final name (another connected disk is tried
//! instead). Files already in DEST with the right size and hash are skipped, so a
//! restore continues where it stopped when the next disk is plugged in. Everything is
//! created through descriptors opened with `openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)`
//! below DEST, so a crafted catalog cannot make it write elsewhere.

pub mod plan;

use crate::catalog::{Catalog, Kind, VersionRow};
use crate::disks::Connected;
use crate::select::PathMatcher;
use crate::util::{display_bytes, open_beneath};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;
use nix::sys::time::TimeSpec;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub struct RestoreOptions {
    pub patterns: Vec<PathMatcher>,
    pub from: Option<String>,
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
    pub restored: (u64, u64),
    pub already_there: u64,
    pub folders: u64,
    pub symlinks: u64,
    pub hard_links: u64,
    pub corrupt: Vec<String>,
    pub missing_files: u64,
    pub missing: Vec<Missing>,
    pub errors: Vec<String>,
}

impl RestoreReport {
    pub fn needs_attention(&self) -> bool {
        self.missing_files > 0 || !self.errors.is_empty() || !self.corrupt.is_empty()
    }
}

/// The selected current entries, parents before children, each with the path relative to DEST.
pub fn select(cat: &Catalog, patterns: &[PathMatcher]) -> Result<Vec<(Vec<u8>, VersionRow)>> {
    let all = cat.current_files()?;
    if patterns.is_empty() {
        return Ok(all);
    }
    let mut wanted: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
    for (path, _) in all
        .iter()
        .filter(|(p, _)| patterns.iter().any(|m| m.matches(p)))
    {
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

struct Restorer<'a> {
    cat: &'a Catalog,
    dest: OwnedFd,
    stores: HashMap<i64, &'a Connected>,
    dirs: lru::LruCache<Vec<u8>, OwnedFd>,
    as_root: bool,
    /// (device, inode) of a hard-linked source file → where it was restored.
    links: HashMap<(u64, u64), Vec<u8>>,
    report: RestoreReport,
    missing: BTreeMap<Vec<String>, Missing>,
    tmp_counter: u64,
    pb: ProgressBar,
    /// Files written under temporary names, renamed once the batch is flushed.
    pending: Vec<Rename>,
    pending_bytes: u64,
    pending_since: std::time::Instant,
}

struct Rename {
    parent: Vec<u8>,
    tmp: String,
    name: Vec<u8>,
}

/// A batch of restored files is flushed and renamed after this long or this many bytes.
const BATCH_TIME: std::time::Duration = std::time::Duration::from_secs(1);
const BATCH_BYTES: u64 = 256 << 20;

pub fn restore(cat: &Catalog, dest: &Path, opts: &RestoreOptions) -> Result<RestoreReport> {
    let items = select(cat, &opts.patterns)?;
    std::fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let dest_fd = nix::fcntl::open(
        dest,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open {}", dest.display()))?;
    let connected = crate::disks::connected(cat)?;
    if let Some(name) = &opts.from {
        cat.disk(name).map_err(|e| crate::usage(e.to_string()))?;
        if !connected.iter().any(|c| &c.record.name == name) {
            bail!("disk {name} is not connected; plug it in or leave out --from");
        }
    }
    let stores = connected
        .iter()
        .filter(|c| opts.from.as_ref().is_none_or(|n| &c.record.name == n))
        .map(|c| (c.record.id, c))
        .collect();
    let total: u64 = items
        .iter()
        .filter(|(_, v)| v.attr.kind == Kind::File)
        .map(|(_, v)| v.attr.size)
        .sum();
    let pb = if opts.progress {
        let pb = ProgressBar::new(total);
        pb.set_style(
            ProgressStyle::with_template(
                "{spinner} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .expect("valid template"),
        );
        pb
    } else {
        ProgressBar::hidden()
    };
    let mut r = Restorer {
        cat,
        dest: dest_fd,
        stores,
        dirs: lru::LruCache::new(std::num::NonZeroUsize::new(64).expect("nonzero")),
        as_root: nix::unistd::geteuid().is_root(),
        links: HashMap::new(),
        report: RestoreReport::default(),
        missing: BTreeMap::new(),
        tmp_counter: 0,
        pb,
        pending: Vec::new(),
        pending_bytes: 0,
        pending_since: std::time::Instant::now(),
    };
    for (path, v) in &items {
        let result = relative(path).and_then(|rel| match v.attr.kind {
            Kind::Dir => r.folder(&rel),
            Kind::Symlink => r.symlink(&rel, v),
            Kind::File => r.file(&rel, path, v),
        });
        if let Err(e) = result {
            r.error(format!("{}: {e:#}", display_bytes(path)));
        }
    }
    if let Err(e) = r.finish_batch() {
        r.error(format!("{e:#}"));
    }
    // Folder attributes last, deepest first, so creating their contents does not undo them.
    for (path, v) in items.iter().rev().filter(|(_, v)| v.attr.kind == Kind::Dir) {
        if let Err(e) = relative(path).and_then(|rel| r.folder_attrs(&rel, v)) {
            r.error(format!("{}: {e:#}", display_bytes(path)));
        }
    }
    r.pb.finish_and_clear();
    let mut report = r.report;
    report.missing = r.missing.into_values().collect();
    report.missing_files = report.missing.iter().map(|m| m.files).sum();
    Ok(report)
}

impl Restorer<'_> {
    fn error(&mut self, msg: String) {
        tracing::warn!("{msg}");
        if self.report.errors.len() < 100 {
            self.report.errors.push(msg);
        }
    }

    /// A descriptor for the folder `rel` below DEST (which must be a real folder).
    fn dir(&mut self, rel: &[u8]) -> Result<&OwnedFd> {
        if !self.dirs.contains(rel) {
            let path: &OsStr = if rel.is_empty() {
                OsStr::new(".")
            } else {
                OsStr::from_bytes(rel)
            };
            let fd = open_beneath(&self.dest, path, OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0)
                .with_context(|| format!("cannot open the folder {}", display_bytes(rel)))?;
            self.dirs.put(rel.to_vec(), fd);
        }
        Ok(self.dirs.get(rel).expect("just inserted"))
    }

    fn folder(&mut self, rel: &[u8]) -> Result<()> {
        if rel.is_empty() {
            return Ok(());
        }
        let (parent, name) = split(rel);
        let dir = self.dir(parent)?;
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
            }
            Err(e) => return Err(e.into()),
        }
        self.report.folders += 1;
        Ok(())
    }

    fn folder_attrs(&mut self, rel: &[u8], v: &VersionRow) -> Result<()> {
        let as_root = self.as_root;
        let fd = self.dir(rel)?;
        if as_root {
            nix::unistd::fchown(fd, Some(v.attr.uid.into()), Some(v.attr.gid.into()))?;
        }
        nix::sys::stat::fchmod(fd, Mode::from_bits_truncate(v.attr.mode))?;
        let t = timespec(v.attr.mtime_ns);
        nix::sys::stat::futimens(fd, &t, &t)?;
        Ok(())
    }

    fn symlink(&mut self, rel: &[u8], v: &VersionRow) -> Result<()> {
        let (parent, name) = split(rel);
        let tmp = self.tmp_name();
        let as_root = self.as_root;
        let dir = self.dir(parent)?;
        let target = v.attr.target.clone().unwrap_or_default();
        nix::unistd::symlinkat(OsStr::from_bytes(&target), dir, tmp.as_str())?;
        if as_root {
            nix::unistd::fchownat(
                dir,
                tmp.as_str(),
                Some(v.attr.uid.into()),
                Some(v.attr.gid.into()),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )?;
        }
        let t = timespec(v.attr.mtime_ns);
        nix::sys::stat::utimensat(
            dir,
            tmp.as_str(),
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )?;
        nix::fcntl::renameat(dir, tmp.as_str(), dir, OsStr::from_bytes(name))?;
        self.report.symlinks += 1;
        Ok(())
    }

    fn tmp_name(&mut self) -> String {
        self.tmp_counter += 1;
        format!(".dsbfs-restore-{}-{}", std::process::id(), self.tmp_counter)
    }

    fn file(&mut self, rel: &[u8], vpath: &[u8], v: &VersionRow) -> Result<()> {
        let (parent, name) = split(rel);
        let name = OsStr::from_bytes(name);
        if self.already_there(parent, name, v)? {
            self.report.already_there += 1;
            self.pb.inc(v.attr.size);
            let fd = File::from(open_beneath(self.dir(parent)?, name, OFlag::O_RDONLY, 0)?);
            return self.file_attrs(&fd, v);
        }
        if v.attr.nlink > 1
            && let Some(first) = self.links.get(&(v.attr.dev, v.attr.ino)).cloned()
        {
            let (fp, fname) = split(&first);
            let src_dir = self.dir(fp)?.try_clone()?;
            let dir = self.dir(parent)?;
            let _ = nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
            nix::unistd::linkat(
                &src_dir,
                OsStr::from_bytes(fname),
                dir,
                name,
                AtFlags::empty(),
            )?;
            self.report.hard_links += 1;
            return Ok(());
        }
        let tmp = self.tmp_name();
        let restored = match (v.object, v.hash) {
            (None, _) | (_, None) => {
                let dir = self.dir(parent)?;
                let f = File::from(open_beneath(
                    dir,
                    tmp.as_str(),
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
                    0o600,
                )?);
                Some(f)
            }
            (Some(object), Some(hash)) => {
                self.copy_object(parent, &tmp, object, &hash, v.attr.size, vpath)?
            }
        };
        let Some(f) = restored else { return Ok(()) };
        self.file_attrs(&f, v)?;
        drop(f);
        self.pending.push(Rename {
            parent: parent.to_vec(),
            tmp,
            name: name.as_bytes().to_vec(),
        });
        self.pending_bytes += v.attr.size;
        self.report.restored.0 += 1;
        self.report.restored.1 += v.attr.size;
        if v.attr.nlink > 1 {
            self.links.insert((v.attr.dev, v.attr.ino), rel.to_vec());
            // Its other names are hard links to this one, which must exist by then.
            self.finish_batch()?;
        } else if self.pending_bytes >= BATCH_BYTES || self.pending_since.elapsed() >= BATCH_TIME {
            self.finish_batch()?;
        }
        Ok(())
    }

    /// Makes the restored files of this batch durable, then gives them their names: one
    /// `syncfs` per batch instead of one `fsync` per file, and never a file with missing
    /// bytes under its final name, even after a power cut.
    fn finish_batch(&mut self) -> Result<()> {
        if !self.pending.is_empty() {
            nix::unistd::syncfs(&self.dest).context("cannot flush the restored files")?;
            for r in std::mem::take(&mut self.pending) {
                let dir = self.dir(&r.parent)?;
                nix::fcntl::renameat(dir, r.tmp.as_str(), dir, OsStr::from_bytes(&r.name))?;
            }
        }
        self.pending_bytes = 0;
        self.pending_since = std::time::Instant::now();
        Ok(())
    }

    /// True when DEST already has this file with the same size and hash.
    fn already_there(&mut self, parent: &[u8], name: &OsStr, v: &VersionRow) -> Result<bool> {
        let dir = self.dir(parent)?;
        let Ok(st) = nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) else {
            return Ok(false);
        };
        if st.st_mode & libc::S_IFMT != libc::S_IFREG || st.st_size as u64 != v.attr.size {
            return Ok(false);
        }
        let Some(hash) = v.hash else { return Ok(true) };
        let mut f = File::from(open_beneath(dir, name, OFlag::O_RDONLY, 0)?);
        let digest = crate::util::with_copy_buffer(|buf| {
            let mut h = Sha256::new();
            loop {
                let n = f.read(buf)?;
                if n == 0 {
                    return Ok::<_, std::io::Error>(<[u8; 32]>::from(h.finalize()));
                }
                h.update(&buf[..n]);
            }
        })?;
        Ok(digest == hash)
    }

    /// Copies the object from the first connected disk whose copy is sound. None when
    /// no connected disk has it (recorded as missing).
    fn copy_object(
        &mut self,
        parent: &[u8],
        tmp: &str,
        object: i64,
        hash: &[u8; 32],
        size: u64,
        vpath: &[u8],
    ) -> Result<Option<File>> {
        let holders = self.cat.holders(object)?;
        for d in &holders {
            let Some(conn) = self.stores.get(&d.id).copied() else {
                continue;
            };
            let Ok(mut src) = conn.store.open_object(hash) else {
                self.report.corrupt.push(format!(
                    "{}: object missing on disk {}",
                    display_bytes(vpath),
                    d.name
                ));
                continue;
            };
            let dir = self.dir(parent)?;
            let mut out = File::from(open_beneath(
                dir,
                tmp,
                OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_TRUNC,
                0o600,
            )?);
            let pb = self.pb.clone();
            match copy_verified(&mut src, &mut out, &pb) {
                Ok((digest, n)) if digest == *hash && n == size => return Ok(Some(out)),
                Ok(_) => {
                    let msg = format!(
                        "{}: the copy on disk {} is corrupt (run `dsbfs verify {}`); trying another disk",
                        display_bytes(vpath),
                        d.name,
                        d.name
                    );
                    tracing::error!("{msg}");
                    self.report.corrupt.push(msg);
                }
                Err(e) => {
                    self.error(format!(
                        "{}: reading disk {} failed: {e}",
                        display_bytes(vpath),
                        d.name
                    ));
                }
            }
            let dir = self.dir(parent)?;
            let _ = nix::unistd::unlinkat(dir, tmp, nix::unistd::UnlinkatFlags::NoRemoveDir);
        }
        let mut names: Vec<String> = holders.into_iter().map(|d| d.name).collect();
        names.sort();
        let m = self.missing.entry(names.clone()).or_insert(Missing {
            disks: names,
            files: 0,
            bytes: 0,
            examples: Vec::new(),
        });
        m.files += 1;
        m.bytes += size;
        if m.examples.len() < 5 {
            m.examples.push(display_bytes(vpath));
        }
        Ok(None)
    }

    fn file_attrs(&self, f: &File, v: &VersionRow) -> Result<()> {
        if self.as_root {
            nix::unistd::fchown(f.as_fd(), Some(v.attr.uid.into()), Some(v.attr.gid.into()))?;
        }
        nix::sys::stat::fchmod(f.as_fd(), Mode::from_bits_truncate(v.attr.mode))?;
        let t = timespec(v.attr.mtime_ns);
        nix::sys::stat::futimens(f.as_fd(), &t, &t)?;
        Ok(())
    }
}

fn copy_verified(
    src: &mut File,
    out: &mut File,
    pb: &ProgressBar,
) -> std::io::Result<([u8; 32], u64)> {
    crate::util::with_copy_buffer(|buf| copy_verified_with(src, out, pb, buf))
}

fn copy_verified_with(
    src: &mut File,
    out: &mut File,
    pb: &ProgressBar,
    buf: &mut [u8],
) -> std::io::Result<([u8; 32], u64)> {
    let mut h = Sha256::new();
    let mut total = 0;
    loop {
        let n = match src.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        total += n as u64;
        pb.inc(n as u64);
    }
    Ok((h.finalize().into(), total))
}

fn timespec(ns: i64) -> TimeSpec {
    TimeSpec::new(ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000))
}

/// For `--plan`: what the selection needs of each disk.
pub fn disk_plan(
    cat: &Catalog,
    patterns: &[PathMatcher],
) -> Result<(plan::DiskPlan, Vec<crate::catalog::DiskRecord>)> {
    let disks = cat.disks()?;
    let index: HashMap<i64, usize> = disks.iter().enumerate().map(|(i, d)| (d.id, i)).collect();
    let holders = cat.holder_sets()?;
    let mut per_object: HashMap<i64, plan::Need> = HashMap::new();
    for (_, v) in select(cat, patterns)? {
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
