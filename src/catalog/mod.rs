//! The catalog: one SQLite file that knows the virtual tree, every file version,
//! every object and which disk holds which object. This module is the only place
//! that speaks SQL.

mod copy;
mod disks;
mod placement;
mod schema;
mod sources;
pub mod tree;
pub mod view;

pub use disks::{DiskRecord, DiskUpdate};
pub use placement::Snapshot;
pub use sources::{Rule, Source, physical_path};
pub use tree::{Kind, NodeAttr, VersionRow};

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};

/// `PRAGMA application_id` of a dsbfs catalog ("dsbf"): tells our files from other SQLite files.
pub const APPLICATION_ID: i32 = 0x6473_6266;

pub struct Catalog {
    conn: Connection,
    path: PathBuf,
}

/// Where the catalog lives when neither `--catalog` nor `DSBFS_CATALOG` says.
pub fn default_path() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("/var/lib"));
    data.join("dsbfs").join("catalog.db")
}

impl Catalog {
    /// Opens the catalog for reading and writing, creating it (and its folder) on first use.
    pub fn open(path: &Path) -> Result<Catalog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the catalog folder {}", dir.display()))?;
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open the catalog {}", path.display()))?;
        check_identity(&conn, path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .with_context(|| format!("cannot open the catalog {}", path.display()))?;
        conn.execute_batch(
            "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;
             PRAGMA cache_size=-65536;",
        )?;
        harden(&conn)?;
        schema::migrate(&conn)
            .with_context(|| format!("cannot upgrade the catalog {}", path.display()))?;
        Ok(Catalog {
            conn,
            path: path.to_owned(),
        })
    }

    /// Opens an existing catalog without ever writing to it. A catalog on read-only
    /// media (a backup disk mounted `ro`) is opened as immutable.
    pub fn open_readonly(path: &Path) -> Result<Catalog> {
        if !path.is_file() {
            bail!(
                "no catalog at {}: give the path of a dsbfs catalog",
                path.display()
            );
        }
        let writable_dir = path
            .parent()
            .map(|d| nix::unistd::access(d, nix::unistd::AccessFlags::W_OK).is_ok())
            .unwrap_or(false);
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = if writable_dir {
            Connection::open_with_flags(path, flags)
        } else {
            let uri = format!("file:{}?immutable=1", uri_escape(path));
            Connection::open_with_flags(uri, flags)
        }
        .with_context(|| format!("cannot open the catalog {}", path.display()))?;
        check_identity(&conn, path)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version < schema::VERSION {
            bail!(
                "the catalog {} is in an older format ({version}); open it once with `dsbfs status` to upgrade it",
                path.display()
            );
        }
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch("PRAGMA query_only=ON;")?;
        harden(&conn)?;
        Ok(Catalog {
            conn,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` inside one transaction, committed only if `f` succeeds.
    pub fn transaction<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        match f(&self.conn) {
            Ok(v) => {
                self.conn.execute_batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// The newest scan that ran to the end: what the mount shows.
    pub fn last_complete_scan(&self) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT max(id) FROM scans WHERE finished IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Writes a consistent, compact copy of the catalog to `dest` (temp name, fsync, rename).
    pub fn snapshot_to(&self, dest: &Path) -> Result<()> {
        let tmp = dest.with_extension("db.tmp");
        let _ = std::fs::remove_file(&tmp);
        self.conn
            .execute("VACUUM INTO ?1", [tmp.to_string_lossy()])
            .with_context(|| format!("cannot write the catalog copy {}", tmp.display()))?;
        crate::util::fsync_path(&tmp)?;
        std::fs::rename(&tmp, dest)
            .with_context(|| format!("cannot write the catalog copy {}", dest.display()))?;
        crate::util::fsync_parent(dest)
    }
}

/// Settings for every connection. The bundled SQLite has STAT4, which re-plans (and
/// re-parses) a statement whenever a bound value might change its plan: one stable plan
/// per statement (QPSG) made a mount lookup 5 µs instead of 70-100 µs and takes the
/// parser out of the scan's per-folder query. A catalog may come from an untrusted disk:
/// no functions with side effects in its schema, and cells checked as they are read.
fn harden(conn: &Connection) -> Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.execute_batch("PRAGMA trusted_schema=OFF; PRAGMA cell_size_check=ON;")?;
    Ok(())
}

/// Refuses files that are not dsbfs catalogs, or are from a newer dsbfs, before anything is written.
fn check_identity(conn: &Connection, path: &Path) -> Result<()> {
    let not_ours = || {
        anyhow::anyhow!(
            "{} is not a dsbfs catalog (left unchanged); give the path of a dsbfs catalog",
            path.display()
        )
    };
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|_| not_ours())?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(|_| not_ours())?;
    if app_id != APPLICATION_ID && (app_id != 0 || tables > 0) {
        return Err(not_ours());
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > schema::VERSION {
        bail!(
            "the catalog {} was written by a newer dsbfs (format {version}, this one reads up to {}); upgrade dsbfs",
            path.display(),
            schema::VERSION
        );
    }
    Ok(())
}

fn uri_escape(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
