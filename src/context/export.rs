//! Writing a tree of the catalog as a restore context.

use super::line::{self, Entry, Header};
use crate::catalog::tree::At;
use crate::catalog::{Catalog, DiskRecord, Kind, VersionRow};
use crate::disks::Connected;
use anyhow::Result;
use serde::Serialize;
use std::collections::HashSet;
use std::io::Write;

/// What a context holds.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Written {
    pub paths: u64,
    pub files: u64,
    /// Files whose object is on the context's disk.
    pub on_disk: u64,
}

/// Writes the tree of snapshot `at` (a finished scan) to `out`. With `disk`, the object
/// column names the objects the catalog records on that disk.
pub fn write(
    cat: &Catalog,
    at: Option<i64>,
    disk: Option<&DiskRecord>,
    out: &mut dyn Write,
) -> Result<Written> {
    let snapshot = match at {
        Some(id) => cat.snapshots()?.into_iter().find(|s| s.id == id),
        None => None,
    };
    let header = Header {
        snapshot: snapshot.as_ref().map(|s| (s.id, s.time)),
        disk: disk.map(|d| (d.name.clone(), d.uuid.clone())),
    };
    out.write_all(line::format_header(&header).as_bytes())?;
    let held: HashSet<i64> = match disk {
        Some(d) => cat.disk_objects(d.id)?.into_iter().map(|o| o.0).collect(),
        None => HashSet::new(),
    };
    let mut written = Written::default();
    let Some(snapshot) = snapshot else {
        return Ok(written);
    };
    let empty = crate::scan::hash::sha256(b"");
    let mut text = String::new();
    cat.each_path(At::Scan(snapshot.id), |path, v| {
        let e = entry(path, &v, &held, &empty);
        written.paths += 1;
        written.files += u64::from(e.kind == Kind::File);
        written.on_disk += u64::from(e.on_disk);
        text.clear();
        line::format_into(&mut text, &e);
        text.push('\n');
        out.write_all(text.as_bytes())?;
        Ok(())
    })?;
    Ok(written)
}

fn entry(path: &[u8], v: &VersionRow, held: &HashSet<i64>, empty: &[u8; 32]) -> Entry {
    let file = v.attr.kind == Kind::File;
    Entry {
        path: path.to_vec(),
        kind: v.attr.kind,
        mode: v.attr.mode & 0o7777,
        uid: v.attr.uid,
        gid: v.attr.gid,
        mtime_ns: v.attr.mtime_ns,
        size: v.attr.size,
        hash: match v.hash {
            Some(h) if file => Some(h),
            None if file && v.attr.size == 0 => Some(*empty),
            _ => None,
        },
        link: (file && v.attr.nlink > 1).then_some((v.attr.dev, v.attr.ino)),
        on_disk: file && v.hash.is_some() && v.object.is_some_and(|o| held.contains(&o)),
        target: v
            .attr
            .target
            .clone()
            .filter(|_| v.attr.kind == Kind::Symlink),
    }
}

/// What a backup leaves in the disk's folder beside the catalog copy: the context of
/// the latest snapshot, naming the objects this disk holds.
pub fn leave_on_disk(cat: &Catalog, disk: &Connected) -> Result<Written> {
    let latest = cat.last_complete_scan()?;
    let mut written = Written::default();
    disk.store.replace_file(super::CONTEXT_FILE, |out| {
        written = write(cat, latest, Some(&disk.record), out)?;
        Ok(())
    })?;
    Ok(written)
}
