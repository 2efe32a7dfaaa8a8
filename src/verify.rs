//! `dsbfs verify NAME`: re-hash every object on a connected disk (bit rot, lost files).
//!
//! Objects are checked in hash order, in chunks hashed on all cores; after each chunk
//! the findings are applied and a cursor saved, so an interrupted verify resumes.
//! Bad objects go to the disk's quarantine folder and lose their catalog record, so
//! the planner makes the copy again elsewhere.

use crate::catalog::Catalog;
use crate::disks::Connected;
use crate::store::Store;
use crate::util::{hex, parse_hash};
use anyhow::Result;
use indicatif::ProgressBar;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Objects hashed between two saved cursors.
const CHUNK: usize = 512;

#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub disk: String,
    pub resumed: bool,
    pub checked: (u64, u64),
    /// Recorded in the catalog but not on the disk.
    pub missing: Vec<String>,
    /// Wrong size or wrong hash.
    pub damaged: Vec<String>,
    /// Sound objects the catalog did not know were there (now recorded).
    pub adopted: u64,
    /// Files in the object store that are no object the catalog knows.
    pub unknown: Vec<String>,
}

impl VerifyReport {
    pub fn needs_attention(&self) -> bool {
        !self.missing.is_empty() || !self.damaged.is_empty() || !self.unknown.is_empty()
    }
}

/// One thing to look at: a recorded copy, a file on disk, or both.
struct Item {
    name: String,
    hash: Option<[u8; 32]>,
    recorded: Option<(i64, u64)>,
    on_disk: bool,
}

enum Finding {
    Sound,
    Missing,
    Damaged(String),
}

pub fn verify(cat: &Catalog, disk: &Connected, fix: bool, progress: bool) -> Result<VerifyReport> {
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
    let items = inventory(cat, store, id, cursor.as_deref())?;
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

/// Everything recorded on the disk and everything in its store, merged by name, after the cursor.
fn inventory(cat: &Catalog, store: &Store, disk: i64, after: Option<&str>) -> Result<Vec<Item>> {
    let mut items: std::collections::BTreeMap<String, Item> = std::collections::BTreeMap::new();
    for (oid, hash, size) in cat.disk_objects(disk)? {
        let name = hex(&hash);
        items.insert(
            name.clone(),
            Item {
                name,
                hash: Some(hash),
                recorded: Some((oid, size)),
                on_disk: false,
            },
        );
    }
    for (fan, names) in store.list_fans()? {
        for name in names.into_iter().filter(|n| !n.starts_with(".tmp-")) {
            let key = if name.starts_with(&fan) {
                name.clone()
            } else {
                format!("{fan}/{name}")
            };
            let hash =
                parse_hash(&name).filter(|_| name.starts_with(&fan) && name == name.to_lowercase());
            items
                .entry(key.clone())
                .or_insert(Item {
                    name: key,
                    hash,
                    recorded: None,
                    on_disk: false,
                })
                .on_disk = true;
        }
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
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = chunk.get(i) else { break };
                    let finding = match (item.on_disk, item.hash) {
                        (false, _) => Finding::Missing,
                        (true, None) => Finding::Damaged("not an object name".into()),
                        (true, Some(h)) => {
                            check_object(store, &h, item.recorded.map(|r| r.1), &mut buf, pb)
                        }
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

fn check_object(
    store: &Store,
    hash: &[u8; 32],
    size: Option<u64>,
    buf: &mut [u8],
    pb: &ProgressBar,
) -> Finding {
    let mut f = match store.open_object(hash) {
        Ok(f) => f,
        Err(e) => return Finding::Damaged(format!("cannot be read: {e}")),
    };
    let mut h = Sha256::new();
    let mut total = 0u64;
    loop {
        match f.read(buf) {
            Ok(0) => break,
            Ok(n) => {
                h.update(&buf[..n]);
                total += n as u64;
                pb.inc(n as u64);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Finding::Damaged(format!("read error: {e}")),
        }
    }
    if size.is_some_and(|s| s != total) {
        return Finding::Damaged(format!("size {total} instead of {}", size.unwrap_or(0)));
    }
    if <[u8; 32]>::from(h.finalize()) != *hash {
        return Finding::Damaged("content does not match its hash".into());
    }
    Finding::Sound
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
        Finding::Sound => {
            r.checked.0 += 1;
            match (item.recorded, item.hash) {
                (Some((_, size)), _) => r.checked.1 += size,
                (None, Some(h)) => match cat.object_by_hash(&h)? {
                    Some((oid, size)) => {
                        r.checked.1 += size;
                        r.adopted += 1;
                        if fix {
                            cat.add_copy(oid, disk)?;
                        }
                    }
                    None => r.unknown.push(item.name.clone()),
                },
                (None, None) => {}
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
        Finding::Damaged(why) => match item.hash {
            Some(h) if item.recorded.is_some() || cat.object_by_hash(&h)?.is_some() => {
                tracing::error!("object {} on disk {} is damaged: {why}", item.name, r.disk);
                r.damaged.push(format!("{}: {why}", item.name));
                if fix {
                    if let Some((oid, _)) = item.recorded {
                        cat.remove_copy(oid, disk)?;
                    }
                    store.quarantine(&h)?;
                }
            }
            _ => r.unknown.push(item.name.clone()),
        },
    }
    Ok(())
}
