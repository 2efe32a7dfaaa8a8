//! `dsbfs recover`: a catalog again from the disks alone. Looks for dsbfs disks in the
//! given folders (or on every mounted filesystem), takes the newest catalog copy among
//! them, brings each found disk's records in line with what it really holds (a listing,
//! or with `verify` a re-hash), and installs the result as the catalog.

pub mod reconcile;

use crate::catalog::recover::CopyAge;
use crate::catalog::{Catalog, DiskUpdate};
use crate::disks::Connected;
use crate::disks::search::{Found, mounted_places, register_found, search};
use crate::store::{CATALOG_COPY, Store};
use anyhow::{Context, Result, bail};
use reconcile::Tally;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub struct RecoverOptions {
    /// Where to look; empty: every mounted filesystem.
    pub places: Vec<PathBuf>,
    /// Re-hash every object instead of trusting the listing.
    pub verify: bool,
    /// Replace an existing catalog (it is kept under another name).
    pub force: bool,
    pub progress: bool,
}

/// A disk found and what became of it.
#[derive(Debug, Serialize)]
pub struct DiskReport {
    pub name: String,
    pub uuid: String,
    pub path: PathBuf,
    /// How new its catalog copy is, if it has a readable one.
    pub catalog_copy: Option<CopyAge>,
    /// Why its catalog copy could not be used, if it has one.
    pub copy_error: Option<String>,
    /// The catalog copy taken did not know this disk.
    pub registered: bool,
    pub listing: Tally,
    /// With `verify`: objects found damaged (moved to quarantine when the disk is
    /// writable) and sound ones recorded.
    pub damaged: Option<u64>,
    /// Why the disk could not be used after it was found (unplugged meanwhile).
    pub lost: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RecoverReport {
    pub catalog: PathBuf,
    /// The disk whose catalog copy was taken.
    pub taken_from: String,
    pub disks: Vec<DiskReport>,
    /// Disks the catalog knows that were not found: their records stay as the copy had them.
    pub not_found: Vec<String>,
    /// Where the catalog that was replaced (`force`) was put.
    pub replaced: Option<PathBuf>,
    /// Sources whose folder does not exist on this machine.
    pub missing_sources: Vec<PathBuf>,
}

/// Recovers the catalog at `target` from the disks.
pub fn recover(target: &Path, opts: &RecoverOptions) -> Result<RecoverReport> {
    for p in &opts.places {
        if !p.is_dir() {
            return Err(crate::usage(format!("{} is not a folder", p.display())));
        }
    }
    let places = if opts.places.is_empty() {
        mounted_places(&crate::mounts::mounts())
    } else {
        opts.places.clone()
    };
    let found = search(&places);
    if found.is_empty() {
        bail!(
            "no dsbfs disk (a folder with {}) in or two folders below {}; name the disks' folders: `dsbfs recover /media/usb/backup …`",
            crate::store::IDENTITY_FILE,
            places
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut disks: Vec<DiskReport> = found.iter().map(describe).collect();
    let newest = (0..found.len())
        .filter(|&i| disks[i].catalog_copy.is_some())
        .max_by_key(|&i| disks[i].catalog_copy.map(|a| a.key()));
    let Some(newest) = newest else {
        bail!(
            "none of the disks found ({}) holds a readable catalog copy{}",
            names(&disks),
            disks
                .iter()
                .find_map(|d| d.copy_error.as_ref())
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    };
    if target.exists() && !opts.force {
        return Err(crate::usage(format!(
            "found {} disks ({}), the newest catalog copy on {}; but a catalog exists at {} already: use --force to replace it (it is kept beside under another name)",
            disks.len(),
            names(&disks),
            disks[newest].name,
            target.display()
        )));
    }
    let staged = sibling(target, "recovering");
    remove_database(&staged);
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the catalog folder {}", dir.display()))?;
    }
    std::fs::copy(found[newest].path.join(CATALOG_COPY), &staged)
        .with_context(|| format!("cannot copy the catalog copy of {}", disks[newest].name))?;
    let result = reconcile_all(&staged, &found, &mut disks, opts);
    let (not_found, missing_sources) = match result {
        Ok(v) => v,
        Err(e) => {
            remove_database(&staged);
            return Err(e);
        }
    };
    crate::util::fsync_path(&staged)?;
    let replaced = if target.exists() {
        let aside = sibling(target, &format!("replaced-{}", crate::util::now()));
        move_database(target, &aside)?;
        Some(aside)
    } else {
        None
    };
    move_database(&staged, target)?;
    crate::util::fsync_parent(target)?;
    Ok(RecoverReport {
        catalog: target.to_owned(),
        taken_from: disks[newest].name.clone(),
        disks,
        not_found,
        replaced,
        missing_sources,
    })
}

/// A found disk, with the age of its catalog copy.
fn describe(f: &Found) -> DiskReport {
    let copy = f.path.join(CATALOG_COPY);
    let (catalog_copy, copy_error) = if copy.exists() {
        match Catalog::copy_age(&copy) {
            Ok(age) => (Some(age), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        }
    } else {
        (None, None)
    };
    DiskReport {
        name: f.identity.name.clone(),
        uuid: f.identity.uuid.clone(),
        path: f.path.clone(),
        catalog_copy,
        copy_error,
        registered: false,
        listing: Tally::default(),
        damaged: None,
        lost: None,
    }
}

fn names(disks: &[DiskReport]) -> String {
    disks
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Brings the staged catalog in line with every found disk; returns the disks it knows
/// that were not found, and the sources missing on this machine.
fn reconcile_all(
    staged: &Path,
    found: &[Found],
    reports: &mut [DiskReport],
    opts: &RecoverOptions,
) -> Result<(Vec<String>, Vec<PathBuf>)> {
    let cat = Catalog::open(staged)?;
    for (f, report) in found.iter().zip(reports.iter_mut()) {
        let store = match crate::store::check_identity(&f.path, &f.identity.uuid) {
            Ok(store) => store,
            Err(e) => {
                report.lost = Some(format!("{e:#}"));
                continue;
            }
        };
        let disk = take_in(&cat, f, store, report)?;
        report.listing = reconcile(&cat, &disk)?;
        if opts.verify {
            let fix = !disk.store.read_only();
            let v = crate::verify::verify(&cat, &disk, fix, opts.progress)?;
            report.damaged = Some(v.damaged.len() as u64);
        }
    }
    let not_found = cat
        .disks()?
        .into_iter()
        .filter(|d| {
            !found
                .iter()
                .zip(reports.iter())
                .any(|(f, r)| f.identity.uuid == d.uuid && r.lost.is_none())
        })
        .map(|d| d.name)
        .collect();
    let missing_sources = cat
        .sources()?
        .into_iter()
        .map(|s| s.path)
        .filter(|p| !p.exists())
        .collect();
    cat.checkpoint()?;
    Ok((not_found, missing_sources))
}

/// The found disk as the catalog knows it (registered if it did not), at the place it
/// was found.
fn take_in(cat: &Catalog, f: &Found, store: Store, report: &mut DiskReport) -> Result<Connected> {
    let record = match cat.disks()?.into_iter().find(|d| d.uuid == f.identity.uuid) {
        Some(d) => {
            let rel = crate::disks::mount_rel(&f.path, &crate::mounts::mounts());
            cat.update_disk(
                d.id,
                &DiskUpdate {
                    path: Some((f.path.clone(), rel)),
                    ..Default::default()
                },
            )?;
            d
        }
        None => {
            report.registered = true;
            register_found(cat, f)?
        }
    };
    report.name = record.name.clone();
    Ok(Connected { record, store })
}

/// Records on the disk exactly the objects its listing shows whole.
fn reconcile(cat: &Catalog, disk: &Connected) -> Result<Tally> {
    let present = listing(&disk.store)?;
    let recorded = cat.disk_objects(disk.record.id)?;
    let mut known: HashMap<[u8; 32], Option<(i64, u64)>> = HashMap::new();
    for h in present.keys() {
        known.insert(*h, cat.object_by_hash(h)?);
    }
    let c = reconcile::changes(&recorded, &present, |h| known.get(h).copied().flatten());
    cat.transaction(|_| {
        for &id in &c.remove {
            cat.remove_copy(id, disk.record.id)?;
        }
        for &id in &c.add {
            cat.add_copy(id, disk.record.id)?;
        }
        Ok(())
    })?;
    Ok(c.tally)
}

/// Every object file in the store, by hash, with its size (strays and temporaries are
/// left out: `verify` deals with them).
fn listing(store: &Store) -> Result<HashMap<[u8; 32], u64>> {
    let mut out = HashMap::new();
    for h in store.list()?.objects {
        if let Some(size) = store.object_size(&h) {
            out.insert(h, size);
        }
    }
    Ok(out)
}

/// `path` with `.suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    path.with_file_name(name)
}

/// The SQLite file and its journal files.
fn database_files(path: &Path) -> [PathBuf; 3] {
    [
        path.to_owned(),
        sibling_raw(path, "-wal"),
        sibling_raw(path, "-shm"),
    ]
}

fn sibling_raw(path: &Path, tail: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(tail);
    path.with_file_name(name)
}

fn remove_database(path: &Path) {
    for f in database_files(path) {
        let _ = std::fs::remove_file(f);
    }
}

/// Renames a catalog with its journal files, so no stale log is ever read with
/// another catalog.
fn move_database(from: &Path, to: &Path) -> Result<()> {
    for (a, b) in database_files(from).iter().zip(database_files(to)) {
        match std::fs::rename(a, &b) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && a != from => {
                let _ = std::fs::remove_file(&b);
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot move {} to {}", a.display(), b.display()));
            }
        }
    }
    Ok(())
}
