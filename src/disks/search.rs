//! Looking for dsbfs disks where no catalog says they are: in folders a user names, or
//! on every mounted filesystem (a new machine, a catalog lost), and taking one found
//! into a catalog.

use super::check_name;
use crate::catalog::{Catalog, DiskRecord};
use crate::mounts::MountEntry;
use crate::store::{Identity, read_identity};
use anyhow::Result;
use std::path::{Path, PathBuf};

/// How deep below each place to look: a disk is a filesystem's root or a folder on it,
/// such as `/media/usb/backup` or `/media/usb/dsbfs/red`.
pub const DEPTH: usize = 2;

/// A disk found: its identity and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub identity: Identity,
    pub path: PathBuf,
}

/// Filesystems that never hold a disk.
const PSEUDO: &[&str] = &[
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "cgroup",
    "cgroup2",
    "securityfs",
    "pstore",
    "bpf",
    "debugfs",
    "tracefs",
    "mqueue",
    "hugetlbfs",
    "configfs",
    "fusectl",
    "autofs",
    "binfmt_misc",
    "nsfs",
    "efivarfs",
    "rpc_pipefs",
    "selinuxfs",
    "tmpfs",
];

/// The mount points worth looking at: real filesystems, not our own mounts.
pub fn mounted_places(table: &[MountEntry]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = table
        .iter()
        .filter(|m| !PSEUDO.contains(&m.fstype.as_str()) && !m.fstype.starts_with("fuse.dsbfs"))
        .map(|m| m.mount_point.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The disks in `places` and up to [`DEPTH`] folders below each, one per UUID (the
/// first place wins), never following a symlink and never looking inside a disk.
pub fn search(places: &[PathBuf]) -> Vec<Found> {
    let mut found: Vec<Found> = Vec::new();
    for place in places {
        let start = std::fs::canonicalize(place).unwrap_or_else(|_| place.clone());
        look(&start, DEPTH, &mut found);
    }
    found
}

fn look(dir: &Path, depth: usize, found: &mut Vec<Found>) {
    if let Some(identity) = read_identity(dir) {
        if !found.iter().any(|f| f.identity.uuid == identity.uuid) {
            found.push(Found {
                identity,
                path: dir.to_owned(),
            });
        }
        return;
    }
    if depth == 0 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut subdirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    subdirs.sort();
    for sub in subdirs {
        look(&sub, depth - 1, found);
    }
}

/// Records a found disk in the catalog under its own name (another disk has it: with
/// the start of its UUID added), at the place it was found.
pub fn register_found(cat: &Catalog, found: &Found) -> Result<DiskRecord> {
    let id = &found.identity;
    let short: String = id
        .uuid
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect();
    let mut name = id.name.clone();
    if check_name(&name).is_err() || cat.disk(&name)?.is_some() {
        name = format!(
            "{}-{short}",
            id.name
                .chars()
                .filter(|c| c.is_alphanumeric())
                .take(40)
                .collect::<String>()
        );
    }
    super::register(cat, &name, &id.uuid, &found.path, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(root: &Path, rel: &str, name: &str, uuid: &str) {
        let dir = root.join(rel);
        std::fs::create_dir_all(&dir).unwrap();
        crate::store::write_identity(
            &dir,
            &Identity {
                format: crate::store::FORMAT,
                name: name.into(),
                uuid: uuid.into(),
            },
        )
        .unwrap();
    }

    #[test]
    fn disks_are_found_two_folders_deep_once_each_and_not_inside_one_another() {
        let t = tempfile::tempdir().unwrap();
        disk(t.path(), "", "top", "u0");
        let other = tempfile::tempdir().unwrap();
        disk(other.path(), "backup", "red", "u1");
        disk(other.path(), "dsbfs/blue", "blue", "u2");
        disk(other.path(), "a/b/too-deep", "deep", "u3");
        disk(other.path(), "backup/objects/inside", "inner", "u4");
        std::os::unix::fs::symlink(other.path().join("backup"), other.path().join("link")).unwrap();
        let places = [
            t.path().to_owned(),
            other.path().to_owned(),
            other.path().join("backup"),
        ];
        let names: Vec<String> = search(&places)
            .into_iter()
            .map(|f| f.identity.name)
            .collect();
        assert_eq!(names, ["top", "red", "blue"]);
    }

    #[test]
    fn only_real_filesystems_are_looked_at() {
        let m = |p: &str, t: &str| MountEntry {
            mount_point: PathBuf::from(p),
            fstype: t.into(),
            source: "x".into(),
        };
        let table = [
            m("/", "ext4"),
            m("/proc", "proc"),
            m("/mnt/b", "fuse.dsbfs"),
            m("/media/usb", "vfat"),
        ];
        assert_eq!(
            mounted_places(&table),
            [PathBuf::from("/"), PathBuf::from("/media/usb")]
        );
    }

    #[test]
    fn a_found_disk_keeps_its_name_unless_another_disk_has_it() {
        let t = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&t.path().join("c.db")).unwrap();
        let found = |uuid: &str| Found {
            identity: Identity {
                format: 1,
                name: "red".into(),
                uuid: uuid.into(),
            },
            path: t.path().join(uuid),
        };
        assert_eq!(
            register_found(&cat, &found("aaaa-1111-2222")).unwrap().name,
            "red"
        );
        assert_eq!(
            register_found(&cat, &found("bbbb-3333-4444")).unwrap().name,
            "red-bbbb3333"
        );
    }
}
