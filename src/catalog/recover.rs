//! What `recover` asks of a catalog copy found on a disk before taking one: how new it
//! is, read without changing it (it may be in an older format, or on read-only media).

use super::{Catalog, connect_readonly, schema};
use anyhow::{Result, bail};
use rusqlite::OptionalExtension;
use serde::Serialize;
use std::path::Path;

/// How new a catalog copy is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CopyAge {
    /// The last backup it records to any disk: a backup leaves its copy right after
    /// recording its own time, so this is when the copy was written.
    #[serde(serialize_with = "crate::util::ser_opt_time")]
    pub written: Option<i64>,
    /// Its newest snapshot.
    pub snapshot: Option<i64>,
    /// Its catalog format.
    pub format: i64,
}

impl CopyAge {
    /// The order copies are compared in: the newest is the greatest.
    pub fn key(&self) -> (Option<i64>, Option<i64>) {
        (self.written, self.snapshot)
    }
}

impl Catalog {
    /// How new the catalog copy at `path` is; an error when it is no dsbfs catalog, is
    /// damaged, or comes from a newer dsbfs.
    pub fn copy_age(path: &Path) -> Result<CopyAge> {
        let conn = connect_readonly(path)?;
        let format: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if !(1..=schema::VERSION).contains(&format) {
            bail!("{} is in catalog format {format}", path.display());
        }
        let ok: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if ok != "ok" {
            bail!("{} is damaged ({ok})", path.display());
        }
        let written = conn
            .query_row("SELECT max(last_backup) FROM disks", [], |r| r.get(0))
            .optional()?
            .flatten();
        let snapshot = conn
            .query_row(
                "SELECT max(id) FROM scans WHERE finished IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        Ok(CopyAge {
            written,
            snapshot,
            format,
        })
    }
}
