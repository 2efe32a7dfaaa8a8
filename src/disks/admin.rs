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

/// A disk just added, and what the user should know about where it is.
#[derive(Debug)]
pub struct Added {
    pub record: DiskRecord,
    /// The folder is on the same filesystem as a source or as `/`: not the separate
    /// drive a backup needs (or the drive is not mounted).
    pub warning: Option<String>,
}

/// How `disk add` treats its folder.
#[derive(Clone, Copy, Debug, Default)]
pub struct AddOptions {
    /// Most bytes dsbfs may use there (None: follow the free space).
    pub cap: Option<u64>,
    /// Create the folder if it does not exist.
    pub create: bool,
    /// Accept a folder that holds other files.
    pub force: bool,
}

/// Makes the folder `path` a disk called `name`. The folder must exist unless
/// `create`, be empty unless `force`, hold no other disk of this catalog, and neither
/// hold nor lie within a source. A refused folder is left as it was: nothing is
/// created before every check has passed.
pub fn add(cat: &Catalog, name: &str, path: &Path, opts: AddOptions) -> Result<Added> {
    let AddOptions { cap, create, force } = opts;
    check_name(name)?;
    if cat.disk(name)?.is_some() {
        return Err(usage(format!("a disk called {name} exists already")));
    }
    let exists = std::fs::symlink_metadata(path).is_ok();
    if !exists && !create {
        return Err(usage(format!(
            "{} does not exist: mount the drive, or create the folder (or give --create)",
            path.display()
        )));
    }
    let (existing, rest) = existing_ancestor(path)?;
    let resolved = existing.join(&rest);
    if exists {
        if !resolved.is_dir() {
            return Err(usage(format!("{} is not a folder", path.display())));
        }
        if let Some(id) = read_identity(&resolved) {
            if let Some(known) = cat.disks()?.into_iter().find(|d| d.uuid == id.uuid) {
                return Err(usage(format!(
                    "{} already holds the dsbfs disk {} ({}); if that disk moved, use `dsbfs disk set {} --path`",
                    resolved.display(),
                    known.name,
                    id.uuid,
                    known.name
                )));
            }
            if !force {
                return Err(usage(format!(
                    "{} holds the dsbfs disk {} ({}), which this catalog does not know (a removed disk, or another catalog's); use --force to make it a new disk here (the next backup removes the objects this catalog does not know)",
                    resolved.display(),
                    id.name,
                    id.uuid
                )));
            }
        }
        if !force && std::fs::read_dir(&resolved)?.next().is_some() {
            return Err(usage(format!(
                "{} is not empty; use --force to make it a disk anyway (its files are left alone)",
                resolved.display()
            )));
        }
    }
    let sources = cat.sources()?;
    for s in &sources {
        if resolved.starts_with(&s.path) || s.path.starts_with(&resolved) {
            return Err(usage(format!(
                "{} overlaps the source {}; a disk cannot hold its own source",
                resolved.display(),
                s.path.display()
            )));
        }
    }
    let warning = same_filesystem(&existing, &sources).map(|what| {
        format!(
            "{} is on the same filesystem as {what}: is the backup drive mounted? A disk on it fails with it",
            resolved.display()
        )
    });
    if !exists {
        std::fs::create_dir_all(&resolved)
            .with_context(|| format!("cannot create {}", resolved.display()))?;
    }
    let path = std::fs::canonicalize(&resolved)?;
    let uuid = uuid::Uuid::new_v4().to_string();
    write_identity(
        &path,
        &Identity {
            format: FORMAT,
            name: name.to_owned(),
            uuid: uuid.clone(),
        },
    )?;
    Ok(Added {
        record: super::register(cat, name, &uuid, &path, cap)?,
        warning,
    })
}

/// The deepest existing folder on the way to `path` (canonical) and the part of `path`
/// below it, which does not exist yet.
fn existing_ancestor(path: &Path) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let absolute = std::path::absolute(path)?;
    let mut rest = Vec::new();
    let mut at = absolute.as_path();
    loop {
        match std::fs::canonicalize(at) {
            Ok(found) => return Ok((found, rest.iter().rev().collect())),
            Err(_) => {
                let (Some(parent), Some(name)) = (at.parent(), at.file_name()) else {
                    return Err(usage(format!("{} cannot be reached", path.display())));
                };
                if name == ".." {
                    return Err(usage(format!(
                        "{} does not exist and leads through ..; give the folder as it will be",
                        path.display()
                    )));
                }
                rest.push(name.to_owned());
                at = parent;
            }
        }
    }
}

/// What `folder` shares a filesystem with that a backup disk should not: a source
/// (named), or else the root filesystem.
fn same_filesystem(folder: &Path, sources: &[crate::catalog::Source]) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(folder).ok()?.dev();
    let on = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.dev() == dev);
    sources
        .iter()
        .find(|s| on(&s.path))
        .map(|s| format!("the source {}", s.path.display()))
        .or_else(|| on(Path::new("/")).then(|| "/ (the system disk)".to_string()))
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

/// What became of a removed disk's folder.
#[derive(Debug)]
pub enum Retired {
    /// Its identity file was renamed: the folder holds no disk any more.
    At(std::path::PathBuf),
    /// The disk is not connected: its folder still names it (`disk add --force` takes it).
    NotConnected,
}

/// Unregisters a disk that holds no objects, and retires the identity of its folder if
/// it is connected, so the folder can become a disk again.
pub fn remove(cat: &Catalog, name: &str) -> Result<Retired> {
    let rec = named(cat, name)?;
    let (objects, _) = cat.disk_usage(rec.id)?;
    if objects > 0 {
        return Err(usage(format!(
            "disk {name} holds {}; use `dsbfs disk drop {name}` if it is lost",
            crate::util::count(objects, "object")
        )));
    }
    let store = locate(&rec, &mounts(), &[]);
    if let Some(store) = &store {
        store.retire()?;
    }
    cat.delete_disk(rec.id)?;
    Ok(match store {
        Some(s) => Retired::At(s.root().to_owned()),
        None => Retired::NotConnected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_archive::Archive;
    use std::os::unix::fs::MetadataExt;

    fn is_usage(r: Result<impl std::fmt::Debug>) -> String {
        let e = r.unwrap_err();
        assert!(e.is::<crate::UsageError>(), "not a usage error: {e:#}");
        e.to_string()
    }

    #[test]
    fn add_registers_a_disk_and_writes_its_identity() {
        let a = Archive::new();
        let opts = AddOptions {
            cap: Some(1 << 30),
            create: true,
            force: false,
        };
        let d = add(&a.cat, "red", &a.path("red"), opts).unwrap().record;
        assert_eq!(d.path, std::fs::canonicalize(a.path("red")).unwrap());
        let id = read_identity(&d.path).unwrap();
        assert_eq!(
            (id.name.as_str(), id.uuid.as_str()),
            ("red", d.uuid.as_str())
        );
        let stored = a.cat.disk("red").unwrap().unwrap();
        assert_eq!((stored.id, stored.cap), (d.id, Some(1 << 30)));
    }

    /// Options of a plain `disk add`, with `--create` and with `--force`.
    const PLAIN: AddOptions = AddOptions {
        cap: None,
        create: false,
        force: false,
    };
    const CREATE: AddOptions = AddOptions {
        create: true,
        ..PLAIN
    };
    const FORCE: AddOptions = AddOptions {
        force: true,
        ..PLAIN
    };

    #[test]
    fn add_refuses_a_taken_name_another_disk_a_full_folder_and_a_source() {
        let a = Archive::scanned(&[("f", 10)]);
        a.disk("red", None);
        let red = a.path("red");
        assert_eq!(
            is_usage(add(&a.cat, "red", &a.path("x"), CREATE)),
            "a disk called red exists already"
        );
        assert!(
            is_usage(add(&a.cat, "blue", &red, PLAIN)).contains("already holds the dsbfs disk red")
        );
        std::fs::create_dir(a.path("full")).unwrap();
        std::fs::write(a.path("full/file"), "x").unwrap();
        assert!(is_usage(add(&a.cat, "blue", &a.path("full"), PLAIN)).contains("is not empty"));
        add(&a.cat, "blue", &a.path("full"), FORCE).unwrap();
        assert!(
            is_usage(add(&a.cat, "green", &a.path("src/in"), CREATE))
                .contains("overlaps the source")
        );
        assert!(
            is_usage(add(&a.cat, "a,b", &a.path("ab"), CREATE)).contains("not a usable disk name")
        );
        assert!(a.cat.disk("green").unwrap().is_none());
    }

    #[test]
    fn add_makes_a_missing_folder_only_when_asked_and_never_when_it_refuses() {
        let a = Archive::scanned(&[("f", 10)]);
        let unplugged = a.path("media/usb/backup");
        let err = is_usage(add(&a.cat, "usb", &unplugged, PLAIN));
        assert!(
            err.contains("does not exist: mount the drive, or create the folder"),
            "{err}"
        );
        assert!(!a.path("media").exists(), "a refused add made folders");
        // Refused for overlapping the source, with --create and --force: nothing made.
        let inside = a.path("src/sub/new/deeper");
        let both = AddOptions {
            create: true,
            force: true,
            cap: None,
        };
        assert!(is_usage(add(&a.cat, "x", &inside, both)).contains("overlaps the source"));
        assert!(!a.path("src/sub").exists(), "a refused add made folders");
        let added = add(&a.cat, "usb", &unplugged, CREATE).unwrap();
        assert_eq!(
            added.record.path,
            a.path("media/usb/backup").canonicalize().unwrap()
        );
        assert!(read_identity(&added.record.path).is_some());
    }

    #[test]
    fn add_warns_of_a_folder_on_the_filesystem_of_a_source_or_of_root() {
        let a = Archive::scanned(&[("f", 10)]);
        let source = a.cat.sources().unwrap()[0].path.clone();
        let added = add(&a.cat, "near", &a.path("near"), CREATE).unwrap();
        let same = std::fs::metadata(&source).unwrap().dev()
            == std::fs::metadata(a.path("near")).unwrap().dev();
        assert!(same, "the test's folders share one filesystem");
        let warning = added.warning.expect("a warning");
        assert!(
            warning.contains(&format!(
                "the same filesystem as the source {}",
                source.display()
            )),
            "{warning}"
        );
        // With no source on it, the root filesystem is named: /proc is never it.
        assert_eq!(
            same_filesystem(Path::new("/"), &[]).as_deref(),
            Some("/ (the system disk)")
        );
        assert_eq!(same_filesystem(Path::new("/proc"), &[]), None);
    }

    #[test]
    fn a_removed_disk_leaves_a_folder_that_can_be_a_disk_again() {
        let a = Archive::new();
        let x = a.disk("x", None);
        assert!(matches!(remove(&a.cat, "x").unwrap(), Retired::At(p) if p == x.path));
        assert_eq!(read_identity(&x.path), None);
        assert!(x.path.join(crate::store::RETIRED_IDENTITY).exists());
        // What the removed disk left makes the folder not empty: --force takes it.
        assert!(is_usage(add(&a.cat, "x", &x.path, PLAIN)).contains("is not empty"));
        let again = add(&a.cat, "x", &x.path, FORCE).unwrap().record;
        assert_ne!(again.uuid, x.uuid);
        assert_eq!(read_identity(&x.path).unwrap().uuid, again.uuid);
    }

    #[test]
    fn add_takes_the_folder_of_a_disk_this_catalog_does_not_know_only_with_force() {
        let a = Archive::new();
        let y = a.disk("y", None);
        // Removed while it was not connected: its folder still names it.
        a.unplug("y");
        assert!(matches!(
            remove(&a.cat, "y").unwrap(),
            Retired::NotConnected
        ));
        std::fs::rename(a.path("y.away"), &y.path).unwrap();
        let err = is_usage(add(&a.cat, "y", &y.path, PLAIN));
        assert!(
            err.contains("holds the dsbfs disk y")
                && err.contains("which this catalog does not know"),
            "{err}"
        );
        let adopted = add(&a.cat, "z", &y.path, FORCE).unwrap().record;
        let id = read_identity(&y.path).unwrap();
        assert_eq!(
            (id.name.as_str(), id.uuid.as_str()),
            ("z", adopted.uuid.as_str())
        );
        // A disk this catalog knows is never taken, even with --force.
        let err = is_usage(add(&a.cat, "w", &y.path, FORCE));
        assert!(err.contains("already holds the dsbfs disk z"), "{err}");
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
            "disk d holds 1 object; use `dsbfs disk drop d` if it is lost"
        );
        remove(&a.cat, "spare").unwrap();
        let f = forget(&a.cat, "d").unwrap();
        assert_eq!(
            (f.before.by_copies[0].files, f.after.by_copies[0].files),
            (1, 2)
        );
        assert!(list(&a.cat).unwrap().is_empty());
        assert!(is_usage(forget(&a.cat, "d")).contains("no disk is called"));
    }
}
