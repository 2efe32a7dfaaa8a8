//! Before a backup plans: what the disk holds that the catalog does not record. The disk
//! is locked, so nothing else writes it, and each entry of its object store is a
//! recorded copy, a temporary of an interrupted write (removed), an object a killed run
//! named but did not record, or a stray.
//!
//! An unrecorded object whose hash the catalog knows is re-hashed before it is adopted:
//! a killed backup never leaves a partial object under a final name (it names objects
//! only after a flush), but nothing vouches for bytes the catalog does not record. They
//! may have rotted, or been put there by a person or a crafted disk, and recording them
//! unchecked would count a bad copy towards protection, so the planner could evict good
//! copies elsewhere for it. Such objects are few (what one flush round had renamed when
//! the run was killed), so checking them costs little next to copying them again. One
//! that fails the check goes to `quarantine/`. An object the catalog does not know at
//! all is garbage (content of versions since forgotten) and is removed.
//!
//! A stray is reported by its path and left alone (`verify` moves it to quarantine); only
//! the objects whose place it takes are not copied.

use super::BackupReport;
use crate::catalog::Catalog;
use crate::store::{Blocks, Store};
use crate::util::hex;
use anyhow::Result;
use std::collections::HashSet;

/// Tidies the store of disk `disk` (called `name`) and returns what its strays block.
pub(super) fn tidy(
    cat: &Catalog,
    store: &Store,
    (disk, name): (i64, &str),
    report: &mut BackupReport,
) -> Result<Vec<Blocks>> {
    let listing = store.list()?;
    store.remove_temporaries(&listing.temporaries);
    for s in &listing.strays {
        report.note(format!(
            "{}: {}; skipped (`dsbfs verify {name}` moves it to quarantine)",
            store.root().join(&s.rel).display(),
            s.what
        ));
    }
    let recorded: HashSet<[u8; 32]> = cat
        .disk_objects(disk)?
        .into_iter()
        .map(|(_, h, _)| h)
        .collect();
    let mut adopted = Vec::new();
    let mut changed = false;
    for hash in listing.objects.iter().filter(|h| !recorded.contains(*h)) {
        match cat.object_by_hash(hash)? {
            None => {
                store.remove_object(hash)?;
                report.orphans_removed += 1;
                changed = true;
            }
            Some((oid, size)) => match store.fault(hash, Some(size), &|_| {}) {
                None => adopted.push(oid),
                Some(why) => {
                    report.note(format!(
                        "object {} on disk {name} was not recorded and is damaged ({why}): moved to quarantine",
                        hex(hash)
                    ));
                    if store.quarantine(hash).is_err() {
                        store.remove_object(hash)?;
                    }
                    changed = true;
                }
            },
        }
    }
    if changed || !adopted.is_empty() {
        // Removals are durable before the plan counts on the room they made, and the
        // adopted objects' names before they are recorded.
        store.sync()?;
    }
    cat.transaction(|_| {
        for &oid in &adopted {
            cat.add_copy(oid, disk)?;
        }
        Ok(())
    })?;
    report.orphans_adopted = adopted.len() as u64;
    if report.orphans_adopted + report.orphans_removed > 0 {
        tracing::info!(
            "disk {name}: {} checked and recorded, {} unknown ones removed",
            crate::util::count(report.orphans_adopted, "unrecorded object"),
            report.orphans_removed
        );
    }
    Ok(listing
        .strays
        .iter()
        .map(|s| s.blocks())
        .filter(|b| *b != Blocks::Nothing)
        .collect())
}
