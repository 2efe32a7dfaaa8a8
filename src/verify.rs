//! `dsbfs verify NAME`: re-hash every object on a connected disk (bit rot, lost files).
//!
//! Objects are checked in hash order, in chunks hashed on all cores; after each chunk
//! the findings are applied and a cursor saved, so an interrupted verify resumes.
//! Bad objects go to the disk's quarantine folder and lose their catalog record, so
//! the planner makes the copy again elsewhere. Entries of the object store that are no
//! object (strays) are named by path, and moved to quarantine too; they never stop the
//! check of the rest of the disk. Objects whose block hashes the catalog lacks (backed
//! up before they were recorded) get them, computed in the same read; and once the
//! whole disk was checked, the damaged copies the mount or a restore listed for it
//! (`damaged`) are taken off that list.

use crate::catalog::Catalog;
use crate::disks::Connected;
use crate::store::{BLOCK, Hash, Store};
use crate::util::hex;
use anyhow::Result;
use indicatif::ProgressBar;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Objects hashed between two saved cursors.
const CHUNK: usize = 512;

#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub disk: String,
    pub resumed: bool,
    pub checked: (u64, u64),
    /// Recorded in the catalog but not on the disk.
    pub missing: crate::problems::Problems,
    /// Wrong size or wrong hash.
    pub damaged: crate::problems::Problems,
    /// Sound objects the catalog did not know were there (now recorded).
    pub adopted: u64,
    /// Objects the catalog does not know (by hash), and entries of the object store
    /// that are no object (`PATH: what it is`, and where it went with quarantine).
    pub unknown: crate::problems::Problems,
}

impl VerifyReport {
    pub fn needs_attention(&self) -> bool {
        !self.missing.is_empty() || !self.damaged.is_empty() || !self.unknown.is_empty()
    }
}

/// One thing to look at: a recorded copy, an object on disk, or both.
struct Item {
    name: String,
    hash: [u8; 32],
    recorded: Option<(i64, u64)>,
    on_disk: bool,
    /// Its block hashes are to be computed and recorded.
    wants_blocks: bool,
}

enum Finding {
    /// With the block hashes computed for it, if it wanted them.
    Sound(Option<Vec<Hash>>),
    Missing,
    Damaged(String),
}

/// Verifies `disk` (a recorded run).
pub fn verify(cat: &Catalog, disk: &Connected, fix: bool, progress: bool) -> Result<VerifyReport> {
    crate::runs::record(cat, crate::runs::Kind::Verify, Some(&disk.record), || {
        check(cat, disk, fix, progress)
    })
}

fn check(cat: &Catalog, disk: &Connected, fix: bool, progress: bool) -> Result<VerifyReport> {
    let store = &disk.store;
    let _lock = if fix { Some(store.lock()?) } else { None };
    let id = disk.record.id;
    let cursor = cat
        .verify_cursor(id)?
        .and_then(|c| String::from_utf8(c).ok());
    let mut report = VerifyReport {
        disk: disk.record.name.clone(),
        resumed: cursor.is_some(),
        ..Default::default()
    };
    let listing = store.list()?;
    strays(store, &listing.strays, fix, &mut report);
    let mut items = inventory(cat, &listing, id, cursor.as_deref())?;
    if fix {
        let listed = cat.objects_with_block_hashes()?;
        for i in &mut items {
            i.wants_blocks = i
                .recorded
                .is_some_and(|(oid, size)| size > BLOCK && !listed.contains(&oid));
        }
    }
    let pb = crate::util::progress_bar(
        items.iter().map(|i| i.recorded.map_or(0, |r| r.1)).sum(),
        "{spinner} verified {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
        progress,
    );
    for chunk in items.chunks(CHUNK) {
        let findings = check_chunk(store, chunk, &pb);
        cat.transaction(|_| {
            for (item, finding) in chunk.iter().zip(findings) {
                apply(cat, store, id, item, finding, fix, &mut report)?;
            }
            if fix {
                cat.set_verify_cursor(id, chunk.last().map(|i| i.name.as_bytes()))?;
            }
            Ok(())
        })?;
    }
    pb.finish_and_clear();
    if fix {
        if let Err(e) = crate::damaged::clear_disk(cat.path(), &disk.record.uuid) {
            tracing::warn!("{e:#}");
        }
        cat.set_verify_cursor(id, None)?;
        cat.update_disk(
            id,
            &crate::catalog::DiskUpdate {
                last_verify: Some(crate::util::now()),
                ..Default::default()
            },
        )?;
    }
    Ok(report)
}

/// Reports what does not belong in the object store, naming its path; with `fix`,
/// moves it into `quarantine/`. A stray never stops the rest of the disk's check.
fn strays(store: &Store, strays: &[crate::store::Stray], fix: bool, r: &mut VerifyReport) {
    for s in strays {
        let mut line = format!("{}: {}", store.root().join(&s.rel).display(), s.what);
        if fix {
            match store.quarantine_stray(s) {
                Ok(to) => line += &format!(" (moved to quarantine/{})", to.to_string_lossy()),
                Err(e) => line += &format!(" ({e:#})"),
            }
        }
        tracing::warn!("{line}");
        r.unknown.push(line);
    }
}

/// Everything recorded on the disk and every object in its store, merged by name, after
/// the cursor.
fn inventory(
    cat: &Catalog,
    listing: &crate::store::Listing,
    disk: i64,
    after: Option<&str>,
) -> Result<Vec<Item>> {
    let mut items: std::collections::BTreeMap<String, Item> = std::collections::BTreeMap::new();
    for (oid, hash, size) in cat.disk_objects(disk)? {
        let name = hex(&hash);
        items.insert(
            name.clone(),
            Item {
                name,
                hash,
                recorded: Some((oid, size)),
                on_disk: false,
                wants_blocks: false,
            },
        );
    }
    for hash in &listing.objects {
        let name = hex(hash);
        items
            .entry(name.clone())
            .or_insert(Item {
                name,
                hash: *hash,
                recorded: None,
                on_disk: false,
                wants_blocks: false,
            })
            .on_disk = true;
    }
    Ok(items
        .into_values()
        .filter(|i| after.is_none_or(|a| i.name.as_str() > a))
        .collect())
}

/// Hashes the chunk's present objects on all cores.
fn check_chunk(store: &Store, chunk: &[Item], pb: &ProgressBar) -> Vec<Finding> {
    let next = AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Finding>>> =
        chunk.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let threads = crate::util::cores();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = chunk.get(i) else { break };
                    let finding = if item.on_disk {
                        let size = item.recorded.map(|r| r.1);
                        store
                            .check(&item.hash, size, item.wants_blocks, &|n| pb.inc(n))
                            .map_or_else(Finding::Damaged, Finding::Sound)
                    } else {
                        Finding::Missing
                    };
                    *results[i].lock().expect("not poisoned") = Some(finding);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .expect("not poisoned")
                .expect("every item checked")
        })
        .collect()
}

fn apply(
    cat: &Catalog,
    store: &Store,
    disk: i64,
    item: &Item,
    finding: Finding,
    fix: bool,
    r: &mut VerifyReport,
) -> Result<()> {
    match finding {
        Finding::Sound(blocks) => {
            r.checked.0 += 1;
            match item.recorded {
                Some((oid, size)) => {
                    r.checked.1 += size;
                    if let (true, Some(blocks)) = (fix, blocks) {
                        cat.set_block_hashes(oid, &blocks)?;
                    }
                }
                None => match cat.object_by_hash(&item.hash)? {
                    Some((oid, size)) => {
                        r.checked.1 += size;
                        r.adopted += 1;
                        if fix {
                            cat.add_copy(oid, disk)?;
                        }
                    }
                    None => unknown(item, r),
                },
            }
        }
        Finding::Missing => {
            tracing::warn!(
                "object {} is recorded on disk {} but missing",
                item.name,
                r.disk
            );
            r.missing.push(item.name.clone());
            if let (true, Some((oid, _))) = (fix, item.recorded) {
                cat.remove_copy(oid, disk)?;
            }
        }
        Finding::Damaged(why)
            if item.recorded.is_some() || cat.object_by_hash(&item.hash)?.is_some() =>
        {
            tracing::error!("object {} on disk {} is damaged: {why}", item.name, r.disk);
            r.damaged.push(format!("{}: {why}", item.name));
            if fix {
                if let Some((oid, _)) = item.recorded {
                    cat.remove_copy(oid, disk)?;
                }
                // The copy is forgotten either way: if it stays in the store, the next
                // backup checks it again and quarantines or removes it.
                if let Err(e) = store.quarantine(&item.hash) {
                    tracing::warn!("{e:#}");
                }
            }
        }
        Finding::Damaged(_) => unknown(item, r),
    }
    Ok(())
}

/// An object the catalog does not know.
fn unknown(item: &Item, r: &mut VerifyReport) {
    tracing::warn!(
        "object {} on disk {} is not in the catalog",
        item.name,
        r.disk
    );
    r.unknown.push(item.name.clone());
}
