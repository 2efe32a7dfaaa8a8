//! Copies found damaged outside `verify`: by the mount, which never writes the catalog
//! (it may be read-only, and a read must not wait for a writer), and by `restore`. They
//! are listed in a small file beside the catalog, `CATALOG.damaged` (one JSON object a
//! line), which `status` reads to say which disk to verify, and which a `verify` of
//! that disk, which checks every copy on it and quarantines the bad ones, empties of
//! the disk's lines. A catalog copy on a disk travels without it: the damage is a fact
//! about the disks this catalog's user has seen, not about the catalog.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// One damaged copy seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Damaged {
    /// The disk's name when it was seen, and its UUID (names can change).
    pub disk: String,
    pub disk_uuid: String,
    /// The object's SHA-256, in hex.
    pub object: String,
    /// A file whose content it is, as the reader saw it.
    pub path: String,
    /// Unix seconds.
    pub found: i64,
    /// What found it ("mount", "restore") and why it is damaged.
    pub by: String,
    pub why: String,
}

/// Lines a list holds at most (a disk rotting everywhere should not fill the catalog's
/// folder): later finds of a disk already listed add nothing to what `status` says.
const MAX_LINES: usize = 1000;

pub fn list_path(catalog: &Path) -> PathBuf {
    let mut p = catalog.as_os_str().to_owned();
    p.push(".damaged");
    PathBuf::from(p)
}

/// The list, locked against other writers until dropped.
fn open_locked(catalog: &Path, create: bool) -> std::io::Result<nix::fcntl::Flock<File>> {
    let f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(create)
        .open(list_path(catalog))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| e.into())
}

fn parse(text: &str) -> Vec<Damaged> {
    // A line cut short by a crash, or not ours, is skipped.
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Adds `d` to the list beside `catalog` (appended, under a lock).
pub fn record(catalog: &Path, d: &Damaged) -> Result<()> {
    let path = list_path(catalog);
    let mut f =
        open_locked(catalog, true).with_context(|| format!("cannot open {}", path.display()))?;
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    if text.lines().count() >= MAX_LINES {
        return Ok(());
    }
    // After a line cut short by a crash, a line of its own.
    let mut line = if text.is_empty() || text.ends_with('\n') {
        String::new()
    } else {
        "\n".to_string()
    };
    line += &serde_json::to_string(d)?;
    line.push('\n');
    f.write_all(line.as_bytes())
        .and_then(|()| f.sync_data())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The damaged copies listed beside `catalog` (none when there is no list).
pub fn load(catalog: &Path) -> Vec<Damaged> {
    std::fs::read_to_string(list_path(catalog))
        .map(|t| parse(&t))
        .unwrap_or_default()
}

/// Removes the lines of the disk with `uuid` (once `verify` checked all of it); the
/// list goes when nothing is left.
pub fn clear_disk(catalog: &Path, uuid: &str) -> Result<()> {
    let path = list_path(catalog);
    let mut f = match open_locked(catalog, false) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    let kept: Vec<Damaged> = parse(&text)
        .into_iter()
        .filter(|d| d.disk_uuid != uuid)
        .collect();
    if kept.is_empty() {
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        return Ok(());
    }
    let mut out = String::new();
    for d in &kept {
        out += &serde_json::to_string(d)?;
        out.push('\n');
    }
    // In place, under the lock: appends wait for it. A crash midway leaves a shorter
    // list, whose cut line is skipped.
    f.set_len(0)?;
    f.rewind()?;
    f.write_all(out.as_bytes())?;
    f.sync_data()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(disk: &str, uuid: &str, path: &str) -> Damaged {
        Damaged {
            disk: disk.into(),
            disk_uuid: uuid.into(),
            object: "ab".repeat(32),
            path: path.into(),
            found: 1_800_000_000,
            by: "mount".into(),
            why: "its content does not match its hash".into(),
        }
    }

    #[test]
    fn damaged_copies_are_listed_until_their_disk_is_verified() {
        let dir = tempfile::tempdir().unwrap();
        let cat = dir.path().join("catalog.db");
        assert!(load(&cat).is_empty());
        clear_disk(&cat, "u1").unwrap();
        record(&cat, &seen("d1", "u1", "/a")).unwrap();
        record(&cat, &seen("d2", "u2", "/b")).unwrap();
        record(&cat, &seen("d1", "u1", "/c")).unwrap();
        // A line cut short by a crash is skipped.
        std::fs::OpenOptions::new()
            .append(true)
            .open(list_path(&cat))
            .unwrap()
            .write_all(b"{\"disk\":\"d")
            .unwrap();
        assert_eq!(load(&cat).len(), 3);
        record(&cat, &seen("d3", "u3", "/d")).unwrap();
        assert_eq!(load(&cat).len(), 4);
        clear_disk(&cat, "u3").unwrap();
        clear_disk(&cat, "u1").unwrap();
        assert_eq!(load(&cat), [seen("d2", "u2", "/b")]);
        clear_disk(&cat, "u2").unwrap();
        assert!(!list_path(&cat).exists());
    }
}
