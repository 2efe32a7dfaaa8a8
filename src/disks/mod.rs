//! The registry of disks and how connected ones are found: a disk is connected when its
//! identity file, with its UUID, is at its recorded path or at the same place relative
//! to any current mount point (drives get mounted at different places).

use crate::catalog::{Catalog, DiskRecord};
use crate::mounts::{MountEntry, mounts};
use crate::store::{Store, check_identity};
use crate::util::path_bytes;

pub mod admin;
pub mod search;
use anyhow::{Context, Result, bail};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The most bytes kept free on a disk's filesystem (see [`reserve`]).
const RESERVE_MAX: u64 = 64 << 20;
/// The longest disk name, in bytes.
const NAME_MAX: usize = 64;

/// Bytes kept free on a disk's filesystem: 1% of it, at most [`RESERVE_MAX`].
pub fn reserve(fs_size: u64) -> u64 {
    (fs_size / 100).min(RESERVE_MAX)
}

pub struct Connected {
    pub record: DiskRecord,
    pub store: Store,
}

/// Where a disk may be now: its recorded path first, then the same relative path under
/// every mount point, then any `extra` folders (such as the folder of a catalog copy).
pub fn candidates(d: &DiskRecord, mounts: &[MountEntry], extra: &[PathBuf]) -> Vec<PathBuf> {
    let rel = Path::new(std::ffi::OsStr::from_bytes(&d.mount_rel));
    let mut out = vec![d.path.clone()];
    for m in mounts
        .iter()
        .filter(|m| !m.fstype.starts_with("fuse.dsbfs"))
    {
        out.push(if rel.as_os_str().is_empty() {
            m.mount_point.clone()
        } else {
            m.mount_point.join(rel)
        });
    }
    out.extend(extra.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

/// Registers a disk in the catalog: called `name`, with `uuid`, in the folder `path`.
pub fn register(
    cat: &Catalog,
    name: &str,
    uuid: &str,
    path: &Path,
    cap: Option<u64>,
) -> Result<DiskRecord> {
    let mut record = DiskRecord {
        id: 0,
        name: name.to_owned(),
        uuid: uuid.to_owned(),
        mount_rel: mount_rel(path, &mounts()),
        path: path.to_owned(),
        cap,
        added: crate::util::now(),
        last_backup: None,
        last_verify: None,
        last_free: None,
    };
    record.id = cat.add_disk(&record)?;
    Ok(record)
}

/// Finds a disk by its identity among the candidates.
pub fn locate(d: &DiskRecord, mounts: &[MountEntry], extra: &[PathBuf]) -> Option<Store> {
    candidates(d, mounts, extra)
        .iter()
        .filter(|p| crate::store::read_identity(p).is_some_and(|id| id.uuid == d.uuid))
        .find_map(|p| check_identity(p, &d.uuid).ok())
}

/// Every registered disk that is connected now.
pub fn connected(cat: &Catalog) -> Result<Vec<Connected>> {
    let table = mounts();
    let extra = catalog_folder(cat);
    Ok(cat
        .disks()?
        .into_iter()
        .filter_map(|record| {
            locate(&record, &table, &extra).map(|store| Connected { record, store })
        })
        .collect())
}

/// A catalog copy sits in its disk's folder: wherever that disk is mounted now, the
/// catalog's own folder is a place to look for it.
fn catalog_folder(cat: &Catalog) -> Vec<PathBuf> {
    cat.path()
        .parent()
        .and_then(|p| std::fs::canonicalize(p).ok())
        .into_iter()
        .collect()
}

/// The disk the user called `name`: a usage error if there is none, the catalog's own
/// error (with its cause) if it cannot be read.
pub fn named(cat: &Catalog, name: &str) -> Result<DiskRecord> {
    cat.disk(name)
        .with_context(|| format!("cannot look up disk {name} in the catalog"))?
        .ok_or_else(|| crate::usage(format!("no disk is called {name:?}; see `dsbfs disk list`")))
}

/// The named disk, which must be connected; remembers where it was found.
pub fn require(cat: &Catalog, name: &str) -> Result<Connected> {
    let record = named(cat, name)?;
    let table = mounts();
    match locate(&record, &table, &catalog_folder(cat)) {
        Some(store) => {
            if store.root() != record.path {
                let rel = mount_rel(store.root(), &table);
                cat.update_disk(
                    record.id,
                    &crate::catalog::DiskUpdate {
                        path: Some((store.root().to_owned(), rel)),
                        ..Default::default()
                    },
                )?;
            }
            Ok(Connected { record, store })
        }
        None => bail!(
            "disk {name} is not connected: no identity with its UUID at {} or at {} under any of {} mount points; plug it in",
            record.path.display(),
            if record.mount_rel.is_empty() {
                "the root".to_string()
            } else {
                crate::util::display_bytes(&record.mount_rel)
            },
            table.len()
        ),
    }
}

/// `path` relative to the mount point that holds it (the longest matching one).
pub fn mount_rel(path: &Path, table: &[MountEntry]) -> Vec<u8> {
    table
        .iter()
        .filter(|m| path.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.as_os_str().len())
        .and_then(|m| path.strip_prefix(&m.mount_point).ok())
        .map(|rel| path_bytes(rel).to_vec())
        .unwrap_or_else(|| path_bytes(path).to_vec())
}

/// Bytes dsbfs may still add to a disk that holds `used` bytes: its cap less what it
/// holds, never more than its filesystem's free space less a reserve and room for the
/// catalog copy. `space` is the filesystem's (free, size) when the disk is connected;
/// offline, the room it had when last connected stands in, and a disk without a cap
/// whose room was never recorded has none.
pub fn room(d: &DiskRecord, used: u64, space: Option<(u64, u64)>, catalog_size: u64) -> u64 {
    let physical = match space {
        Some((free, fs_size)) => {
            free.saturating_sub(reserve(fs_size) + catalog_size + catalog_size / 4)
        }
        None => d
            .last_free
            .unwrap_or(if d.cap.is_some() { u64::MAX } else { 0 }),
    };
    match d.cap {
        Some(c) => c.saturating_sub(used).min(physical),
        None => physical,
    }
}

/// A disk name users can type, and that fits in comma-separated lists.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > NAME_MAX
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.+@".contains(c))
    {
        return Err(crate::usage(format!(
            "{name:?} is not a usable disk name: use up to {NAME_MAX} letters, digits, - _ . + @"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(path: &str, rel: &str) -> DiskRecord {
        DiskRecord {
            id: 1,
            name: "d".into(),
            uuid: "u".into(),
            path: PathBuf::from(path),
            mount_rel: rel.as_bytes().to_vec(),
            cap: None,
            added: 0,
            last_backup: None,
            last_verify: None,
            last_free: None,
        }
    }

    fn mount(p: &str, fstype: &str) -> MountEntry {
        MountEntry {
            mount_point: PathBuf::from(p),
            fstype: fstype.into(),
            source: "x".into(),
        }
    }

    #[test]
    fn a_drive_mounted_elsewhere_is_looked_for_at_the_same_relative_path() {
        let d = disk("/media/alice/OLD/backup", "backup");
        let c = candidates(
            &d,
            &[
                mount("/", "ext4"),
                mount("/mnt/usb", "ext4"),
                mount("/mnt/b", "fuse.dsbfs"),
            ],
            &[],
        );
        assert_eq!(c[0], PathBuf::from("/media/alice/OLD/backup"));
        assert!(c.contains(&PathBuf::from("/mnt/usb/backup")));
        assert!(
            !c.iter().any(|p| p.starts_with("/mnt/b")),
            "never our own mounts"
        );
    }

    #[test]
    fn mount_rel_uses_the_longest_mount_point() {
        let t = [mount("/", "ext4"), mount("/media/usb", "vfat")];
        assert_eq!(mount_rel(Path::new("/media/usb/dsbfs"), &t), b"dsbfs");
        assert_eq!(mount_rel(Path::new("/media/usb"), &t), b"");
        assert_eq!(mount_rel(Path::new("/srv/x"), &t), b"srv/x");
    }

    fn capped(cap: Option<u64>, last_free: Option<u64>) -> DiskRecord {
        DiskRecord {
            cap,
            last_free,
            ..disk("/d", "d")
        }
    }

    #[test]
    fn room_is_bounded_by_cap_and_free_space() {
        let big = Some((10 << 30, 100 << 30));
        let room = |cap, used, space, catalog| room(&capped(cap, None), used, space, catalog);
        assert_eq!(room(Some(1000 << 20), 400 << 20, big, 0), 600 << 20);
        assert_eq!(room(Some(1000 << 20), 1200 << 20, big, 0), 0);
        assert_eq!(room(None, 0, Some((100 << 20, 100 << 30)), 0), 36 << 20);
        assert_eq!(
            room(Some(10 << 30), 0, Some((100 << 20, 100 << 30)), 0),
            36 << 20
        );
        assert_eq!(
            room(None, 0, Some((100 << 20, 200 << 20)), 10 << 20),
            (100 << 20) - (2 << 20) - (25 << 19)
        );
    }

    #[test]
    fn an_offline_disk_has_its_cap_less_what_it_holds_within_its_last_known_room() {
        assert_eq!(room(&capped(Some(1000), None), 400, None, 0), 600);
        assert_eq!(room(&capped(Some(1000), Some(100)), 400, None, 0), 100);
        assert_eq!(room(&capped(None, Some(700)), 400, None, 0), 700);
        assert_eq!(
            room(&capped(None, None), 0, None, 0),
            0,
            "no cap and never measured: no room known"
        );
        assert_eq!(
            room(&capped(None, Some(5)), 0, Some((100 << 20, 100 << 30)), 0),
            36 << 20,
            "connected: the filesystem's free space, not the recorded room"
        );
    }

    #[test]
    fn disk_names_are_checked() {
        assert!(check_name("usb-2TB_a").is_ok());
        assert!(
            check_name("a,b").is_err() && check_name("").is_err() && check_name("a/b").is_err()
        );
    }
}
