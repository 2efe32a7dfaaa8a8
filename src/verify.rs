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

/// Paths named for one object in a report; the others are counted.
const NAMES_PER_OBJECT: usize = 3;

#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub disk: String,
    pub resumed: bool,
    /// Sound objects, and their bytes.
    pub checked: crate::tally::Objects,
    /// Recorded in the catalog but not on the disk, named by the files that use them.
    pub missing: crate::problems::Problems,
    /// Wrong size or wrong hash, named by the files that use them.
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

/// Objects found missing or damaged: the first ones to be named by the files that use
/// them once the check is done (one pass over the catalog for all), the rest counted.
/// A problem is said once: in the report, or (past what the report names) in the log.
#[derive(Default)]
struct Found {
    named: Vec<(Option<i64>, [u8; 32], String)>,
    more: usize,
}

impl Found {
    fn add(&mut self, object: Option<i64>, hash: [u8; 32], why: String, disk: &str) {
        if self.named.len() < crate::problems::LISTED {
            self.named.push((object, hash, why));
        } else {
            self.more += 1;
            tracing::warn!("object {} on disk {disk}: {why}", hex(&hash));
        }
    }
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
    let (mut missing, mut damaged) = (Found::default(), Found::default());
    let pb = crate::util::progress_bar(
        items.iter().map(|i| i.recorded.map_or(0, |r| r.1)).sum(),
        "{spinner} verified {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
        progress,
    );
    for chunk in items.chunks(CHUNK) {
        let findings = check_chunk(store, chunk, &pb);
        cat.transaction(|_| {
            for (item, finding) in chunk.iter().zip(findings) {
                match apply(cat, store, id, item, finding, fix, &mut report)? {
                    Some(Bad::Missing(object)) => missing.add(
                        object,
                        item.hash,
                        "recorded but not on the disk".into(),
                        &report.disk,
                    ),
                    Some(Bad::Damaged(object, why)) => {
                        damaged.add(object, item.hash, why, &report.disk)
                    }
                    None => {}
                }
            }
            if fix {
                cat.set_verify_cursor(id, chunk.last().map(|i| i.name.as_bytes()))?;
            }
            Ok(())
        })?;
    }
    pb.finish_and_clear();
    name(cat, missing, &mut report.missing)?;
    name(cat, damaged, &mut report.damaged)?;
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
        say_once(&mut r.unknown, line);
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

/// A recorded (or known) object found missing or damaged: the object, if the catalog
/// knows it, and why.
enum Bad {
    Missing(Option<i64>),
    Damaged(Option<i64>, String),
}

/// Acts on a finding (with `fix`: corrects the catalog, quarantines), and returns what
/// was bad about a known object, for the report to name.
fn apply(
    cat: &Catalog,
    store: &Store,
    disk: i64,
    item: &Item,
    finding: Finding,
    fix: bool,
    r: &mut VerifyReport,
) -> Result<Option<Bad>> {
    match finding {
        Finding::Sound(blocks) => match item.recorded {
            Some((oid, size)) => {
                r.checked.add(size);
                if let (true, Some(blocks)) = (fix, blocks) {
                    cat.set_block_hashes(oid, &blocks)?;
                }
            }
            None => match cat.object_by_hash(&item.hash)? {
                Some((oid, size)) => {
                    r.checked.add(size);
                    r.adopted += 1;
                    if fix {
                        cat.add_copy(oid, disk)?;
                    }
                }
                None => unknown(item, r),
            },
        },
        Finding::Missing => {
            if let (true, Some((oid, _))) = (fix, item.recorded) {
                cat.remove_copy(oid, disk)?;
            }
            return Ok(Some(Bad::Missing(item.recorded.map(|(oid, _)| oid))));
        }
        Finding::Damaged(why)
            if item.recorded.is_some() || cat.object_by_hash(&item.hash)?.is_some() =>
        {
            let object = match item.recorded {
                Some((oid, _)) => Some(oid),
                None => cat.object_by_hash(&item.hash)?.map(|(oid, _)| oid),
            };
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
            return Ok(Some(Bad::Damaged(object, why)));
        }
        Finding::Damaged(_) => unknown(item, r),
    }
    Ok(None)
}

/// An object the catalog does not know.
fn unknown(item: &Item, r: &mut VerifyReport) {
    say_once(
        &mut r.unknown,
        format!("object {}: not in the catalog", item.name),
    );
}

/// Adds a problem to the report, or logs it when the report names no more.
fn say_once(list: &mut crate::problems::Problems, problem: String) {
    if !list.names_more() {
        tracing::warn!("{problem}");
    }
    list.push(problem);
}

/// Puts the problems `found` into `list`, each named by the files that use its object:
/// `/a.jpg and 2 other files (object HASH): why`.
fn name(cat: &Catalog, found: Found, list: &mut crate::problems::Problems) -> Result<()> {
    let ids: Vec<i64> = found.named.iter().filter_map(|(o, _, _)| *o).collect();
    let names = cat.object_names(&ids, NAMES_PER_OBJECT)?;
    for (object, hash, why) in found.named {
        let files = match object.and_then(|o| names.get(&o)) {
            None => "no file".to_string(),
            Some(names) => {
                let mut shown: Vec<String> = names
                    .paths
                    .iter()
                    .map(|(p, current)| {
                        let p = crate::util::display_bytes(p);
                        if *current {
                            p
                        } else {
                            format!("{p} (a past version)")
                        }
                    })
                    .collect();
                let others = names.all - shown.len() as u64;
                if others > 0 {
                    shown.push(crate::util::count(others, "other file"));
                }
                shown.join(", ")
            }
        };
        list.push(format!("{files} (object {}): {why}", hex(&hash)));
    }
    list.count_unnamed(found.more);
    Ok(())
}
