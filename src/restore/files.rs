//! The worker side of a restore: one regular file at a time, checked against what DEST
//! already has, else copied from the first connected disk whose copy hashes right, under
//! a temporary name. Workers touch only files (never the catalog) and close every file
//! before they report it, so nothing they queue holds a descriptor.
//!
//! Copies are read through `store::ObjectReader`, the checked reader the mount uses. A
//! restore checks each object whole, not block by block: what it writes stays under a
//! temporary name until the check passed, so nobody reads an unchecked byte, and one
//! hash per byte keeps it as fast as copying (block hashes would be a second).

use super::{Dirs, Shared, Temporary, split, timespec};
use crate::catalog::VersionRow;
use crate::store::{DiskError, Expected, Fault, ObjectReader, create_for_copy, hash_reader};
use crate::util::{display_bytes, open_beneath};
use anyhow::Result;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// One regular file to restore.
pub(super) struct FileJob<'a> {
    /// Its index among the selected entries: names its temporary file.
    pub n: usize,
    pub rel: Vec<u8>,
    pub vpath: &'a [u8],
    pub v: &'a VersionRow,
    /// For a later name of a hard-linked file: the job of its first name, which this
    /// name becomes a link to once that one has its final name.
    pub link_to: Option<usize>,
}

/// What became of one file.
pub(super) enum Outcome {
    /// Written and closed under its temporary name until its batch is flushed, then
    /// under its final name (a failed flush turns it into `Failed`); `replaced`: over a
    /// different file (`--overwrite`).
    Restored {
        replaced: bool,
    },
    AlreadyThere,
    Linked,
    /// DEST has something else under its name (a local edit): kept, not restored.
    Conflict,
    /// No connected disk had a sound copy; the names of the disks that hold one.
    Missing(Vec<String>),
    Failed(String),
}

/// Something a worker noticed on the way, for the report.
pub(super) enum Note {
    Corrupt(String),
    Error(String),
}

pub(super) struct Done {
    pub outcome: Outcome,
    pub notes: Vec<Note>,
}

impl Shared<'_> {
    /// Restores one file (runs on a worker thread, with that thread's folder cache).
    pub(super) fn restore_file(&self, dirs: &mut Dirs, job: &FileJob) -> Done {
        let mut notes = Vec::new();
        let outcome = self
            .try_restore_file(dirs, job, &mut notes)
            .unwrap_or_else(|e| Outcome::Failed(format!("{e:#}")));
        Done { outcome, notes }
    }

    fn try_restore_file(
        &self,
        dirs: &mut Dirs,
        job: &FileJob,
        notes: &mut Vec<Note>,
    ) -> Result<Outcome> {
        let (parent, name) = split(&job.rel);
        let dir = dirs.get(parent)?;
        let v = job.v;
        let replaced = match existing(dir, OsStr::from_bytes(name), v)? {
            Existing::Same(f) => {
                self.pb.inc(v.attr.size);
                self.file_attrs(&f, v)?;
                return Ok(Outcome::AlreadyThere);
            }
            Existing::Different if !self.overwrite => {
                self.pb.inc(v.attr.size);
                return Ok(Outcome::Conflict);
            }
            Existing::Different => true,
            Existing::Absent => false,
        };
        let tmp = Temporary::new(dir, job.n);
        let out = match (v.object, v.hash) {
            (Some(object), Some(hash)) => {
                match self.copy_object(dir, &tmp.name, job, object, &hash, notes)? {
                    Some(f) => f,
                    None => {
                        return Ok(Outcome::Missing(
                            self.holders.of(object).map(|d| d.name.clone()).collect(),
                        ));
                    }
                }
            }
            _ => File::from(open_beneath(
                dir,
                tmp.name.as_str(),
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
                0o600,
            )?),
        };
        self.file_attrs(&out, v)?;
        // The flusher gives it its name (or removes it) once its batch is durable.
        tmp.keep();
        Ok(Outcome::Restored { replaced })
    }

    /// Copies the object into `tmp` from the first connected disk whose copy is sound;
    /// a corrupt copy is removed and the next disk tried. None when no disk had it.
    fn copy_object(
        &self,
        dir: &OwnedFd,
        tmp: &str,
        job: &FileJob,
        object: i64,
        hash: &[u8; 32],
        notes: &mut Vec<Note>,
    ) -> Result<Option<File>> {
        let vpath = display_bytes(job.vpath);
        for d in self.holders.of(object) {
            let Some(conn) = self.stores.get(&d.id) else {
                continue;
            };
            let Ok(src) = conn.store.open_object(hash) else {
                notes.push(Note::Corrupt(format!(
                    "{vpath}: object missing on disk {}",
                    d.name
                )));
                continue;
            };
            let out = create_for_copy(
                dir,
                tmp,
                OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_TRUNC,
                0o600,
                job.v.attr.size,
            )?;
            let expected = Expected::new(*hash, job.v.attr.size, None);
            let mut reader = ObjectReader::new(&src, &expected, false);
            let copied = out.write_from(&mut |buf| {
                let n = reader.next(buf)?;
                self.pb.inc(n as u64);
                Ok(n)
            });
            match copied {
                Ok(_) => return Ok(Some(out.file)),
                // Writing below DEST failed: another disk would not help.
                Err(e) if e.downcast_ref::<DiskError>().is_some() => {
                    discard(dir, tmp);
                    return Err(e.context("cannot write the restored file"));
                }
                Err(e) => match e.downcast_ref::<Fault>() {
                    Some(fault) if fault.is_damage() => {
                        let msg = format!(
                            "{vpath}: the copy on disk {} is corrupt ({fault}; run `dsbfs verify {}`); trying another disk",
                            d.name, d.name
                        );
                        tracing::error!("{msg}");
                        notes.push(Note::Corrupt(msg));
                        let damaged = crate::damaged::Damaged {
                            disk: d.name.clone(),
                            disk_uuid: d.uuid.clone(),
                            object: crate::util::hex(hash),
                            path: vpath.to_string(),
                            found: crate::util::now(),
                            by: "restore".into(),
                            why: fault.to_string(),
                        };
                        if let Err(e) = crate::damaged::record(&self.catalog, &damaged) {
                            notes.push(Note::Error(format!("{e:#}")));
                        }
                    }
                    _ => {
                        let msg = format!("{vpath}: reading disk {} failed: {e:#}", d.name);
                        tracing::warn!("{msg}");
                        notes.push(Note::Error(msg));
                    }
                },
            }
            discard(dir, tmp);
        }
        Ok(None)
    }

    fn file_attrs(&self, f: &File, v: &VersionRow) -> Result<()> {
        if self.as_root {
            nix::unistd::fchown(f.as_fd(), Some(v.attr.uid.into()), Some(v.attr.gid.into()))?;
        }
        nix::sys::stat::fchmod(f.as_fd(), Mode::from_bits_truncate(v.attr.mode))?;
        let t = timespec(v.attr.mtime_ns);
        nix::sys::stat::futimens(f.as_fd(), &t, &t)?;
        Ok(())
    }
}

/// What DEST has under a name.
pub(super) enum Existing {
    Absent,
    /// This version's size and content (opened, for its attributes).
    Same(File),
    /// Anything else: a local edit, another kind of entry.
    Different,
}

/// What DEST's `name` in `dir` is to the file version `v`.
pub(super) fn existing(dir: &OwnedFd, name: &OsStr, v: &VersionRow) -> Result<Existing> {
    let Ok(st) = nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) else {
        return Ok(Existing::Absent);
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG || st.st_size as u64 != v.attr.size {
        return Ok(Existing::Different);
    }
    let mut f = File::from(open_beneath(dir, name, OFlag::O_RDONLY, 0)?);
    let same = match v.hash {
        None => true,
        Some(hash) => hash_reader(&mut f, false, &|_| {})?.hash == hash,
    };
    Ok(if same {
        Existing::Same(f)
    } else {
        Existing::Different
    })
}

/// Whether DEST's `name` in `dir` is a symlink to `target` (None: nothing is there).
pub(super) fn existing_symlink(dir: &OwnedFd, name: &OsStr, target: &[u8]) -> Option<bool> {
    let st = nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).ok()?;
    Some(
        st.st_mode & libc::S_IFMT == libc::S_IFLNK
            && nix::fcntl::readlinkat(dir, name).is_ok_and(|t| t.as_bytes() == target),
    )
}

fn discard(dir: &OwnedFd, tmp: &str) {
    let _ = nix::unistd::unlinkat(dir, tmp, nix::unistd::UnlinkatFlags::NoRemoveDir);
}
