//! Reading a restore context into a catalog, as a new snapshot: its paths (prefixes
//! rewritten) become current, each replacing what the catalog had at that path; the
//! rest of the catalog's tree stays. When the context comes from a disk and that disk
//! is there, the copies it holds are recorded, so `dsbfs restore` reads them.

use super::line::{self, Entry, Header};
use crate::catalog::tree::At;
use crate::catalog::{Catalog, DiskRecord, Kind, NodeAttr};
use crate::disks::search::{Found, register_found};
use crate::store::{Store, check_identity, read_identity};
use crate::util::{display_bytes, normalize_vpath, vpath_within};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;

pub struct ImportOptions {
    /// (OLD, NEW) virtual path prefixes: a path at or below OLD moves to NEW.
    pub rewrites: Vec<(Vec<u8>, Vec<u8>)>,
    /// Where the context's disk may be (the folder the context was read from, `--disk`).
    pub disk_folders: Vec<PathBuf>,
}

#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    pub snapshot: i64,
    pub paths: u64,
    pub files: u64,
    pub bytes: u64,
    /// Paths whose current version the import replaced.
    pub replaced: u64,
    /// Paths the catalog already had exactly so.
    pub unchanged: u64,
    /// Folders made to lead to the imported paths.
    pub folders_made: u64,
    pub disk: Option<DiskCopies>,
}

/// The copies of the context's disk that were recorded.
#[derive(Debug, Default, Serialize)]
pub struct DiskCopies {
    pub name: String,
    pub uuid: String,
    pub found_at: Option<PathBuf>,
    /// The disk was not in the catalog before.
    pub registered: bool,
    pub recorded: u64,
    /// Objects the context puts on the disk that are not there (or not whole).
    pub missing: u64,
}

/// A line number and the entry it gave.
type Numbered = (usize, Entry);

/// Reads a context: its header and its entries with their line numbers.
pub fn read(input: impl BufRead) -> Result<(Header, Vec<Numbered>)> {
    let mut header = Header::default();
    let mut entries = Vec::new();
    for (i, raw) in input.split(b'\n').enumerate() {
        let n = i + 1;
        let raw = raw.context("cannot read the context")?;
        let text = std::str::from_utf8(&raw).map_err(|_| {
            crate::usage(format!(
                "line {n}: not UTF-8 text (names are escaped, see DISK-FORMAT.md)"
            ))
        })?;
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.is_empty() {
            continue;
        }
        let parsed = if text.starts_with('#') {
            line::parse_header_line(text, &mut header).map(|()| None)
        } else {
            line::parse(text).map(Some)
        };
        if let Some(e) = parsed.map_err(|e| crate::usage(format!("line {n}: {e:#}")))? {
            entries.push((n, e));
        }
    }
    Ok((header, entries))
}

/// `path` with the longest matching OLD prefix replaced by its NEW.
pub fn rewrite(path: &[u8], rewrites: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let Some((old, new)) = rewrites
        .iter()
        .filter(|(old, _)| vpath_within(path, old))
        .max_by_key(|(old, _)| old.len())
    else {
        return path.to_vec();
    };
    let rest = match old.as_slice() {
        b"/" if path == b"/" => &[][..],
        b"/" => path,
        _ => &path[old.len()..],
    };
    let mut out = new.clone();
    if out.as_slice() == b"/" {
        out.clear();
    }
    out.extend_from_slice(rest);
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// Imports the context read from `input` into `cat` as a new snapshot.
pub fn import(cat: &Catalog, input: impl BufRead, opts: &ImportOptions) -> Result<ImportReport> {
    let (header, numbered) = read(input)?;
    let entries = prepare(numbered, &opts.rewrites)?;
    if cat.scan_interrupted()? {
        return Err(crate::usage(
            "a scan was interrupted in this catalog: finish it with `dsbfs scan` before importing",
        ));
    }
    let disk = header
        .disk
        .as_ref()
        .map(|(name, uuid)| find_disk(cat, name, uuid, &opts.disk_folders))
        .transpose()?;
    let mut report = cat.transaction(|_| {
        let mut w = Writer::new(cat, &entries)?;
        for e in &entries {
            w.put(e)?;
        }
        if let Some((copies, connected)) = disk {
            w.report.disk = Some(w.record_copies(copies, connected.as_ref(), &entries)?);
        }
        cat.finish_scan(w.scan, crate::util::now())?;
        Ok(w.report)
    })?;
    report.paths = entries.len() as u64;
    cat.snapshots_counted()?;
    crate::history::check_snapshot(cat, report.snapshot)?;
    let _ = cat.checkpoint();
    Ok(report)
}

/// Rewrites and checks the paths, and sorts them (parents before children).
fn prepare(numbered: Vec<Numbered>, rewrites: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<Entry>> {
    let mut entries: Vec<Numbered> = Vec::with_capacity(numbered.len());
    for (n, mut e) in numbered {
        e.path = rewrite(&e.path, rewrites);
        let clean = normalize_vpath(&e.path).ok();
        if clean.as_deref() != Some(e.path.as_slice()) || e.path.contains(&0) {
            return Err(crate::usage(format!(
                "line {n}: {:?} is not a clean virtual path",
                display_bytes(&e.path)
            )));
        }
        if e.path.as_slice() == b"/" && e.kind != Kind::Dir {
            return Err(crate::usage(format!(
                "line {n}: the root / must be a folder"
            )));
        }
        if e.kind == Kind::File && e.size > 0 && e.hash.is_none() {
            return Err(crate::usage(format!(
                "line {n}: a file of {} bytes needs its sha256",
                e.size
            )));
        }
        entries.push((n, e));
    }
    entries.sort_by(|a, b| a.1.path.cmp(&b.1.path));
    for pair in entries.windows(2) {
        if pair[0].1.path == pair[1].1.path {
            return Err(crate::usage(format!(
                "lines {} and {} both give {:?}",
                pair[0].0,
                pair[1].0,
                display_bytes(&pair[0].1.path)
            )));
        }
    }
    Ok(entries.into_iter().map(|(_, e)| e).collect())
}

/// Where the context's disk is: its record if the catalog has one, and its store if it
/// is connected (at its recorded place, under a mount point, or in one of `folders`).
fn find_disk(
    cat: &Catalog,
    name: &str,
    uuid: &str,
    folders: &[PathBuf],
) -> Result<(DiskCopies, Option<Connected>)> {
    let mut copies = DiskCopies {
        name: name.to_owned(),
        uuid: uuid.to_owned(),
        ..Default::default()
    };
    let known = cat.disks()?.into_iter().find(|d| d.uuid == uuid);
    let store = match &known {
        Some(d) => crate::disks::locate(d, &crate::mounts::mounts(), folders),
        None => folders
            .iter()
            .filter(|f| read_identity(f).is_some_and(|id| id.uuid == uuid))
            .find_map(|f| check_identity(f, uuid).ok()),
    };
    let Some(store) = store else {
        return Ok((copies, None));
    };
    copies.found_at = Some(store.root().to_owned());
    let found = Found {
        identity: store.identity()?,
        path: store.root().to_owned(),
    };
    Ok((
        copies,
        Some(Connected {
            known,
            found,
            store,
        }),
    ))
}

/// The context's disk, connected: its record if the catalog has one, and its store.
struct Connected {
    known: Option<DiskRecord>,
    found: Found,
    store: Store,
}

/// Writes the entries into the catalog as one new snapshot.
struct Writer<'a> {
    cat: &'a Catalog,
    scan: i64,
    rules: crate::rules::Rules,
    /// Folders of the new snapshot by path, with their entry ids.
    folders: HashMap<Vec<u8>, i64>,
    /// Names of each hard-linked file, by (device, inode).
    links: HashMap<(u64, u64), u32>,
    /// Object ids by hash.
    objects: HashMap<[u8; 32], i64>,
    report: ImportReport,
}

impl<'a> Writer<'a> {
    fn new(cat: &'a Catalog, entries: &[Entry]) -> Result<Writer<'a>> {
        let (scan, _) = cat.begin_or_resume_scan(crate::util::now())?;
        let mut links: HashMap<(u64, u64), u32> = HashMap::new();
        for l in entries.iter().filter_map(|e| e.link) {
            *links.entry(l).or_default() += 1;
        }
        Ok(Writer {
            cat,
            scan,
            rules: crate::rules::Rules::new(cat.rules()?)?,
            folders: HashMap::new(),
            links,
            objects: HashMap::new(),
            report: ImportReport {
                snapshot: scan,
                ..Default::default()
            },
        })
    }

    fn put(&mut self, e: &Entry) -> Result<()> {
        let entry = match split(&e.path) {
            None => 1,
            Some((parent, name)) => {
                let parent = self.folder(parent)?;
                self.cat.entry_id(parent, name)?
            }
        };
        let object = match e.hash {
            Some(h) if e.kind == Kind::File && e.size > 0 => Some(self.object(&h, e.size)?),
            _ => None,
        };
        if e.kind == Kind::File {
            self.report.files += 1;
            self.report.bytes += e.size;
        }
        let attr = NodeAttr {
            kind: e.kind,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            mtime_ns: e.mtime_ns,
            size: if e.kind == Kind::Dir { 0 } else { e.size },
            target: e.target.clone().filter(|_| e.kind == Kind::Symlink),
            dev: e.link.map_or(0, |l| l.0),
            ino: e.link.map_or(0, |l| l.1),
            nlink: 1,
            ctime_ns: 0,
        };
        self.set(entry, &e.path, attr, object)?;
        if e.kind == Kind::Dir {
            self.folders.insert(e.path.clone(), entry);
        }
        Ok(())
    }

    /// Makes `attr` the current version of `entry` unless it is already.
    fn set(
        &mut self,
        entry: i64,
        path: &[u8],
        mut attr: NodeAttr,
        object: Option<i64>,
    ) -> Result<bool> {
        if attr.kind == Kind::File {
            attr.nlink = self.links.get(&(attr.dev, attr.ino)).copied().unwrap_or(1);
        }
        if let Some(old) = self.cat.version(entry, At::Current)? {
            if old.object == object && !crate::scan::detect::visible_change(&old.attr, &attr) {
                self.report.unchanged += 1;
                return Ok(false);
            }
            if old.attr.kind == Kind::Dir && attr.kind != Kind::Dir {
                self.cat.end_subtree(entry, self.scan)?;
            }
            self.cat.end_version(&old, self.scan)?;
            self.report.replaced += 1;
        }
        let rule = self.rules.effective(path);
        self.cat
            .add_version(entry, self.scan, &attr, object, rule)?;
        Ok(true)
    }

    /// The entry of the folder at `path`, which the new snapshot must have: a folder
    /// the context did not list (above a rewritten prefix) is made, or kept if the
    /// catalog has it as a folder already.
    fn folder(&mut self, path: &[u8]) -> Result<i64> {
        if let Some(&id) = self.folders.get(path) {
            return Ok(id);
        }
        let id = match split(path) {
            None => 1,
            Some((parent, name)) => {
                let parent = self.folder(parent)?;
                self.cat.entry_id(parent, name)?
            }
        };
        let is_folder = self
            .cat
            .version(id, At::Current)?
            .is_some_and(|v| v.attr.kind == Kind::Dir);
        if !is_folder && self.set(id, path, crate::scan::synthetic_dir(), None)? {
            self.report.folders_made += 1;
        }
        self.folders.insert(path.to_vec(), id);
        Ok(id)
    }

    fn object(&mut self, hash: &[u8; 32], size: u64) -> Result<i64> {
        if let Some(&id) = self.objects.get(hash) {
            return Ok(id);
        }
        let id = self.cat.object_id(hash, size)?;
        self.objects.insert(*hash, id);
        Ok(id)
    }

    /// Records the copies the context puts on its disk that the disk really holds
    /// (present, with the right size: the restore checks each hash as it copies).
    fn record_copies(
        &self,
        mut copies: DiskCopies,
        found: Option<&Connected>,
        entries: &[Entry],
    ) -> Result<DiskCopies> {
        let mut seen = std::collections::HashSet::new();
        let on_disk = entries
            .iter()
            .filter(|e| e.on_disk)
            .filter_map(|e| Some((e.hash?, e.size)))
            .filter(|(h, _)| seen.insert(*h));
        let Some(Connected {
            known,
            found,
            store,
        }) = found
        else {
            copies.missing = on_disk.count() as u64;
            return Ok(copies);
        };
        let record = match known {
            Some(r) => r.clone(),
            None => {
                copies.registered = true;
                register_found(self.cat, found)?
            }
        };
        copies.name = record.name.clone();
        for (h, size) in on_disk {
            let Some(&id) = self.objects.get(&h) else {
                continue;
            };
            if store.object_size(&h) == Some(size) {
                self.cat.add_copy(id, record.id)?;
                copies.recorded += 1;
            } else {
                copies.missing += 1;
            }
        }
        Ok(copies)
    }
}

/// A path's folder and name; None for the root.
fn split(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = path.iter().rposition(|&b| b == b'/')?;
    if path.len() == 1 {
        return None;
    }
    Some((if i == 0 { b"/" } else { &path[..i] }, &path[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(a, b)| (a.as_bytes().to_vec(), b.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn the_longest_matching_prefix_is_rewritten_on_whole_names_only() {
        let r = rw(&[
            ("/", "/old"),
            ("/photos", "/pictures"),
            ("/photos/2019", "/"),
        ]);
        let p = |s: &str| String::from_utf8(rewrite(s.as_bytes(), &r)).unwrap();
        assert_eq!(p("/"), "/old");
        assert_eq!(p("/docs/a"), "/old/docs/a");
        assert_eq!(p("/photos"), "/pictures");
        assert_eq!(p("/photos/a.jpg"), "/pictures/a.jpg");
        assert_eq!(p("/photosynthesis"), "/old/photosynthesis");
        assert_eq!(p("/photos/2019/x.jpg"), "/x.jpg");
        assert_eq!(p("/photos/2019"), "/");
        assert_eq!(rewrite(b"/a", &[]), b"/a");
    }

    #[test]
    fn split_gives_folder_and_name() {
        assert_eq!(split(b"/"), None);
        assert_eq!(split(b"/a"), Some((&b"/"[..], &b"a"[..])));
        assert_eq!(split(b"/a/b"), Some((&b"/a"[..], &b"b"[..])));
    }
}
