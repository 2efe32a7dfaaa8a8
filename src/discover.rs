//! `dsbfs disk discover NAME PATH`: adopt files from an older backup (an rsync copy, a
//! copy by hand) already on a dsbfs disk into its object store, without copying bytes.

use crate::catalog::Catalog;
use crate::disks::Connected;
use anyhow::{Result, bail};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Files sent to hashing ahead of the results: a short queue, so results are handled
/// as they come.
const HASHING_AHEAD: usize = 256;

#[derive(Debug, Default, Serialize)]
pub struct DiscoverReport {
    pub files_seen: u64,
    pub hashed: u64,
    /// Files whose content the catalog needs and that are now objects on the disk.
    pub adopted: crate::tally::Objects,
    /// Matching files whose object the disk held already.
    pub already_there: u64,
    pub errors: crate::problems::Problems,
}

impl DiscoverReport {
    fn error(&mut self, msg: String) {
        tracing::warn!("{msg}");
        self.errors.push(msg);
    }
}

pub fn discover(
    cat: &Catalog,
    disk: &Connected,
    folder: &Path,
    rename: bool,
) -> Result<DiscoverReport> {
    let store = &disk.store;
    let _lock = store.lock()?;
    let folder = std::fs::canonicalize(folder)
        .map_err(|e| crate::usage(format!("{}: {e}", folder.display())))?;
    let root_dev = std::fs::metadata(store.root())?.dev();
    if std::fs::metadata(&folder)?.dev() != root_dev {
        bail!(
            "{} is on another filesystem than disk {}; discover adopts files without copying, so they must share one",
            folder.display(),
            disk.record.name
        );
    }
    let on_disk: HashSet<[u8; 32]> = cat
        .disk_objects(disk.record.id)?
        .into_iter()
        .map(|(_, h, _)| h)
        .collect();
    // Only content the catalog knows and this disk lacks is worth hashing: filter by size first.
    let mut by_size: HashMap<u64, u64> = HashMap::new();
    for o in cat
        .placement_snapshot(disk.record.id)?
        .objects
        .iter()
        .filter(|o| o.needed)
    {
        *by_size.entry(o.size).or_default() += 1;
    }
    let skip: Vec<PathBuf> = [crate::store::OBJECTS_DIR, crate::store::QUARANTINE_DIR]
        .iter()
        .map(|d| store.root().join(d))
        .collect();
    let mut report = DiscoverReport::default();
    let mut candidates = Vec::new();
    let mut stack = vec![folder.clone()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                report.error(format!("cannot read {}: {e}", dir.display()));
                continue;
            }
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if m.is_dir() && !skip.contains(&p) {
                stack.push(p);
            } else if m.is_file() {
                report.files_seen += 1;
                if by_size.contains_key(&m.len()) {
                    candidates.push(p);
                }
            }
        }
    }
    let mut pool: crate::scan::hash::Pool<()> =
        crate::scan::hash::Pool::new(crate::util::cores(), |_| {});
    let n = candidates.len();
    let mut pending = candidates.into_iter();
    let mut adopted = Vec::new();
    let (mut submitted, mut received) = (0, 0);
    while received < n {
        while submitted - received < HASHING_AHEAD
            && let Some(p) = pending.next()
        {
            pool.submit(p, ());
            submitted += 1;
        }
        let Ok(done) = pool.done.recv() else { break };
        received += 1;
        let crate::scan::hash::Outcome::Hashed(hash, attr) = done.outcome else {
            continue;
        };
        report.hashed += 1;
        let Some((oid, size)) = cat.object_by_hash(&hash)? else {
            continue;
        };
        if size != attr.size {
            continue;
        }
        if on_disk.contains(&hash) || adopted.iter().any(|(o, _)| *o == oid) {
            report.already_there += 1;
            continue;
        }
        match store.adopt(&done.path, &hash, rename) {
            Ok(_) => {
                adopted.push((oid, size));
            }
            Err(e) => report.error(format!("{e:#}")),
        }
    }
    pool.close();
    store.sync()?;
    cat.transaction(|_| {
        for (oid, _) in &adopted {
            cat.add_copy(*oid, disk.record.id)?;
        }
        Ok(())
    })?;
    for (_, size) in &adopted {
        report.adopted.add(*size);
    }
    Ok(report)
}
