//! `restore --dry-run`: what a restore would write into DEST, and what it would keep or
//! miss, without writing anything (DEST is not even created). Files already in DEST
//! are hashed, as the restore itself would, to tell the same content from a local edit.

use super::files::{Existing, existing, existing_symlink};
use super::{Holders, RestoreOptions, relative, select, split};
use crate::catalog::{Catalog, Kind, VersionRow};
use crate::util::{display_bytes, open_beneath};
use anyhow::Result;
use nix::fcntl::OFlag;
use serde::Serialize;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What a restore would do, path by path (files and symlinks; folders are made as needed).
#[derive(Debug, Default, Serialize)]
pub struct Preview {
    /// New in DEST.
    pub write: Vec<String>,
    /// In DEST with other content, replaced (`--overwrite`).
    pub replace: Vec<String>,
    /// In DEST with other content, kept (without `--overwrite`).
    pub conflicts: Vec<String>,
    /// On no connected disk (or not on the `--from` disk).
    pub missing: Vec<String>,
    /// In DEST already as the backup has them.
    pub already_there: u64,
    /// What would be copied: the files written or replaced, and their bytes.
    pub copy: crate::tally::Files,
}

impl Preview {
    pub fn needs_attention(&self) -> bool {
        !self.conflicts.is_empty() || !self.missing.is_empty()
    }
}

/// What restoring `opts`'s selection into `dest` would do.
pub fn preview(cat: &Catalog, dest: &Path, opts: &RestoreOptions) -> Result<Preview> {
    let items = select(cat, opts.at, &opts.patterns)?;
    let connected: HashSet<i64> = crate::disks::connected(cat)?
        .iter()
        .filter(|c| opts.from.as_ref().is_none_or(|n| &c.record.name == n))
        .map(|c| c.record.id)
        .collect();
    if let Some(name) = &opts.from {
        crate::disks::named(cat, name)?;
    }
    let holders = Holders::load(cat)?;
    let dest_fd = nix::fcntl::open(
        dest,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ok();
    let mut p = Preview::default();
    for (path, v) in &items {
        if v.attr.kind == Kind::Dir {
            continue;
        }
        let rel = relative(path)?;
        let (parent, name) = split(&rel);
        let dir = dest_fd.as_ref().and_then(|d| folder(d, parent));
        let shown = display_bytes(path);
        let state = match &dir {
            None => None,
            Some(dir) => state(dir, OsStr::from_bytes(name), v)?,
        };
        match state {
            Some(true) => {
                p.already_there += 1;
                continue;
            }
            Some(false) if !opts.overwrite => {
                p.conflicts.push(shown);
                continue;
            }
            _ => {}
        }
        let held = v
            .object
            .is_none_or(|o| holders.of(o).any(|d| connected.contains(&d.id)));
        if !held {
            p.missing.push(shown);
            continue;
        }
        if v.attr.kind == Kind::File {
            p.copy.add(v.attr.size);
        }
        if state.is_some() {
            p.replace.push(shown);
        } else {
            p.write.push(shown);
        }
    }
    Ok(p)
}

/// The folder `rel` below DEST, if it is there.
fn folder(dest: &OwnedFd, rel: &[u8]) -> Option<OwnedFd> {
    let path: &OsStr = if rel.is_empty() {
        OsStr::new(".")
    } else {
        OsStr::from_bytes(rel)
    };
    open_beneath(dest, path, OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0).ok()
}

/// None when `name` is free, else whether it already is what the backup holds.
fn state(dir: &OwnedFd, name: &OsStr, v: &VersionRow) -> Result<Option<bool>> {
    Ok(match v.attr.kind {
        Kind::Symlink => existing_symlink(dir, name, v.attr.target.as_deref().unwrap_or_default()),
        _ => match existing(dir, name, v)? {
            Existing::Absent => None,
            Existing::Same(_) => Some(true),
            Existing::Different => Some(false),
        },
    })
}
