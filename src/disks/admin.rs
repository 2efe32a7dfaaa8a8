//! Registering, changing and forgetting disks: what `dsbfs disk …` does, without printing.
//! What the user got wrong (a name taken, a folder that holds a source) is a usage error.

use super::{check_name, locate, mount_rel, named};
use crate::catalog::tree::Protection;
use crate::catalog::{Catalog, DiskRecord, DiskUpdate};
use crate::mounts::mounts;
use crate::store::{FORMAT, Identity, read_identity, write_identity};
use crate::usage;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::Path;

/// A disk as `disk list` shows it: its record, whether and where it is connected, and
/// what it holds.
#[derive(Debug, Serialize)]
pub struct DiskRow {
    #[serde(flatten)]
    pub record: DiskRecord,
    pub connected: bool,
    pub found_at: Option<String>,
    pub objects: u64,
    pub used: u64,
}

/// Makes the folder `path` (created if need be) a disk called `name`, with at most
/// `cap` bytes for dsbfs. The folder must be empty unless `force`, hold no other disk,
/// and neither hold nor lie within a source.
pub fn add(
    cat: &Catalog,
    name: &str,
    path: &Path,
    cap: Option<u64>,
    force: bool,
) -> Result<DiskRecord> {
    check_name(name)?;
    if cat.disk(name)?.is_some() {
        return Err(usage(format!("a disk called {name} exists already")));
    }
    std::fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    let path = std::fs::canonicalize(path)?;
    if let Some(id) = read_identity(&path) {
        return Err(usage(format!(
            "{} already holds the dsbfs disk {} ({}); if that disk moved, use `dsbfs disk set {} --path`",
            path.display(),
            id.name,
            id.uuid,
            id.name
        )));
    }
    if !force && std::fs::read_dir(&path)?.next().is_some() {
        return Err(usage(format!(
            "{} is not empty; use --force to make it a disk anyway (its files are left alone)",
            path.display()
        )));
    }
    for s in cat.sources()? {
        if path.starts_with(&s.path) || s.path.starts_with(&path) {
            return Err(usage(format!(
                "{} overlaps the source {}; a disk cannot hold its own source",
                path.display(),
                s.path.display()
            )));
        }
    }
    let uuid = uuid::Uuid::new_v4().to_string();
    write_identity(
        &path,
        &Identity {
            format: FORMAT,
            name: name.to_owned(),
            uuid: uuid.clone(),
        },
    )?;
    super::register(cat, name, &uuid, &path, cap)
}

/// Every disk, by name.
pub fn list(cat: &Catalog) -> Result<Vec<DiskRow>> {
    let table = mounts();
    let mut rows = Vec::new();
    for record in cat.disks()? {
        let found = locate(&record, &table, &[]);
        let (objects, used) = cat.disk_usage(record.id)?;
        rows.push(DiskRow {
            connected: found.is_some(),
            found_at: found.map(|s| s.root().display().to_string()),
            objects,
            used,
            record,
        });
    }
    Ok(rows)
}

/// Changes a disk's cap (`Some(None)`: follow the free space) or where it is now: the
/// folder `path` must hold the disk's identity.
pub fn set(
    cat: &Catalog,
    disk: &DiskRecord,
    cap: Option<Option<u64>>,
    path: Option<&Path>,
) -> Result<()> {
    let mut u = DiskUpdate {
        cap,
        ..Default::default()
    };
    if let Some(p) = path {
        let p = std::fs::canonicalize(p).map_err(|e| usage(format!("{}: {e}", p.display())))?;
        crate::store::check_identity(&p, &disk.uuid)?;
        u.path = Some((p.clone(), mount_rel(&p, &mounts())));
    }
    cat.update_disk(disk.id, &u)
}

/// Renames a disk, in the catalog and, if it is connected, in its identity file.
pub fn rename(cat: &Catalog, old: &str, new: &str) -> Result<()> {
    check_name(new)?;
    let rec = named(cat, old)?;
    if cat.disk(new)?.is_some() {
        return Err(usage(format!("a disk called {new} exists already")));
    }
    cat.update_disk(
        rec.id,
        &DiskUpdate {
            name: Some(new.to_owned()),
            ..Default::default()
        },
    )?;
    if let Some(store) = locate(&rec, &mounts(), &[]) {
        write_identity(
            store.root(),
            &Identity {
                format: FORMAT,
                name: new.to_owned(),
                uuid: rec.uuid,
            },
        )?;
    }
    Ok(())
}

/// The protection of the files before and after a disk was forgotten.
#[derive(Debug)]
pub struct Forgotten {
    pub before: Protection,
    pub after: Protection,
}

/// Forgets a lost disk and every copy it held.
pub fn forget(cat: &Catalog, name: &str) -> Result<Forgotten> {
    let rec = named(cat, name)?;
    let before = cat.protection()?;
    cat.delete_disk(rec.id)?;
    Ok(Forgotten {
        before,
        after: cat.protection()?,
    })
}

/// Unregisters a disk that holds no objects.
pub fn remove(cat: &Catalog, name: &str) -> Result<()> {
    let rec = named(cat, name)?;
    let (objects, _) = cat.disk_usage(rec.id)?;
    if objects > 0 {
        return Err(usage(format!(
            "disk {name} holds {objects} objects; use `dsbfs disk drop {name}` if it is lost"
        )));
    }
    cat.delete_disk(rec.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_archive::Archive;

    fn is_usage(r: Result<impl std::fmt::Debug>) -> String {
        let e = r.unwrap_err();
        assert!(e.is::<crate::UsageError>(), "not a usage error: {e:#}");
        e.to_string()
    }

    #[test]
    fn add_registers_a_disk_and_writes_its_identity() {
        let a = Archive::new();
        let d = add(&a.cat, "red", &a.path("red"), Some(1 << 30), false).unwrap();
        assert_eq!(d.path, std::fs::canonicalize(a.path("red")).unwrap());
        let id = read_identity(&d.path).unwrap();
        assert_eq!(
            (id.name.as_str(), id.uuid.as_str()),
            ("red", d.uuid.as_str())
        );
        let stored = a.cat.disk("red").unwrap().unwrap();
        assert_eq!((stored.id, stored.cap), (d.id, Some(1 << 30)));
    }

    #[test]
    fn add_refuses_a_taken_name_another_disk_a_full_folder_and_a_source() {
        let a = Archive::scanned(&[("f", 10)]);
        a.disk("red", None);
        let red = a.path("red");
        assert_eq!(
            is_usage(add(&a.cat, "red", &a.path("x"), None, false)),
            "a disk called red exists already"
        );
        assert!(
            is_usage(add(&a.cat, "blue", &red, None, false))
                .contains("already holds the dsbfs disk red")
        );
        std::fs::create_dir(a.path("full")).unwrap();
        std::fs::write(a.path("full/file"), "x").unwrap();
        assert!(
            is_usage(add(&a.cat, "blue", &a.path("full"), None, false)).contains("is not empty")
        );
        add(&a.cat, "blue", &a.path("full"), None, true).unwrap();
        assert!(
            is_usage(add(&a.cat, "green", &a.path("src/in"), None, false))
                .contains("overlaps the source")
        );
        assert!(
            is_usage(add(&a.cat, "a,b", &a.path("ab"), None, false))
                .contains("not a usable disk name")
        );
        assert!(a.cat.disk("green").unwrap().is_none());
    }

    #[test]
    fn list_tells_connected_disks_from_offline_ones() {
        let a = Archive::scanned(&[("f", 10)]);
        let on = a.disk("on", None);
        let off = a.disk("off", Some(1 << 20));
        a.copy("f", &on);
        a.unplug("off");
        let rows = list(&a.cat).unwrap();
        let names: Vec<_> = rows.iter().map(|r| r.record.name.as_str()).collect();
        assert_eq!(names, ["off", "on"]);
        assert_eq!(
            (rows[0].connected, rows[0].found_at.as_deref()),
            (false, None)
        );
        assert_eq!((rows[0].objects, rows[0].record.cap), (0, off.cap));
        assert_eq!(rows[1].found_at, Some(on.path.display().to_string()));
        assert_eq!(
            (rows[1].connected, rows[1].objects, rows[1].used),
            (true, 1, 10)
        );
    }

    #[test]
    fn set_changes_the_cap_and_finds_a_moved_disk_only_by_its_identity() {
        let a = Archive::new();
        let red = a.disk("red", Some(1 << 20));
        let blue = a.disk("blue", None);
        set(&a.cat, &red, Some(None), None).unwrap();
        assert_eq!(a.cat.disk("red").unwrap().unwrap().cap, None);
        a.unplug("red");
        let err = set(&a.cat, &red, None, Some(&blue.path)).unwrap_err();
        assert!(
            !err.is::<crate::UsageError>() && format!("{err:#}").contains("another dsbfs disk")
        );
        assert!(is_usage(set(&a.cat, &red, None, Some(&a.path("nowhere")))).contains("nowhere"));
        set(&a.cat, &red, None, Some(&a.path("red.away"))).unwrap();
        let moved = a.cat.disk("red").unwrap().unwrap();
        assert_eq!(
            moved.path,
            std::fs::canonicalize(a.path("red.away")).unwrap()
        );
        assert!(list(&a.cat).unwrap().iter().all(|r| r.connected));
    }

    #[test]
    fn rename_changes_the_catalog_and_the_identity_of_a_connected_disk() {
        let a = Archive::new();
        let red = a.disk("red", None);
        a.disk("blue", None);
        assert_eq!(
            is_usage(rename(&a.cat, "red", "blue")),
            "a disk called blue exists already"
        );
        assert!(is_usage(rename(&a.cat, "nosuch", "green")).contains("no disk is called"));
        rename(&a.cat, "red", "green").unwrap();
        assert!(a.cat.disk("red").unwrap().is_none());
        assert_eq!(a.cat.disk("green").unwrap().unwrap().uuid, red.uuid);
        assert_eq!(read_identity(&red.path).unwrap().name, "green");
    }

    #[test]
    fn remove_refuses_a_disk_with_objects_and_forget_says_what_its_loss_costs() {
        let a = Archive::scanned(&[("f", 10), ("g", 20)]);
        let d = a.disk("d", None);
        a.disk("spare", None);
        a.copy("f", &d);
        assert_eq!(
            is_usage(remove(&a.cat, "d")),
            "disk d holds 1 objects; use `dsbfs disk drop d` if it is lost"
        );
        remove(&a.cat, "spare").unwrap();
        let f = forget(&a.cat, "d").unwrap();
        assert_eq!((f.before.by_copies[0].0, f.after.by_copies[0].0), (1, 2));
        assert!(list(&a.cat).unwrap().is_empty());
        assert!(is_usage(forget(&a.cat, "d")).contains("no disk is called"));
    }
}
