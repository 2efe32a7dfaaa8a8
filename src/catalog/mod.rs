//! The catalog: one SQLite file that knows the virtual tree, every file version,
//! every object and which disk holds which object. This module is the only place
//! that speaks SQL.

mod blocks;
mod disks;
pub mod history;
mod placement;
pub mod recover;
mod runs;
mod schema;
mod sources;
pub mod tree;
pub mod view;

pub use disks::{DiskRecord, DiskUpdate, ObjectNames};
pub use placement::Snapshot;
pub use sources::{Rule, Source, physical_path};
pub use tree::{Kind, NodeAttr, VersionRow};

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};

/// The catalog format this build writes (`PRAGMA user_version`).
pub const FORMAT: i64 = schema::VERSION;

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
    /// Opens the catalog for reading and writing, creating it (and its folder) on first
    /// use. An empty file is a catalog not made yet, like a missing one.
    pub fn open(path: &Path) -> Result<Catalog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the catalog folder {}", dir.display()))?;
        }
        if path.exists() {
            inspect(path)?;
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
        if let Some(format) = inspect(path)? {
            need_current(format, path)?;
        }
        let conn = connect_readonly(path)?;
        need_current(check_identity(&conn, path)?, path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch("PRAGMA query_only=ON;")?;
        harden(&conn)?;
        Ok(Catalog {
            conn,
            path: path.to_owned(),
        })
    }

    /// One of the mount's pooled connections: read-only like `open_readonly`, with a
    /// small page cache of its own (a mount holds one connection per request thread, and
    /// the kernel's page cache holds the file for all of them) and no memory map (an I/O
    /// error in a mapped file is a signal, not an error SQLite can return).
    pub fn open_for_mount(path: &Path) -> Result<Catalog> {
        let cat = Catalog::open_readonly(path)?;
        cat.conn
            .execute_batch("PRAGMA mmap_size=0; PRAGMA cache_size=-4096;")?;
        Ok(cat)
    }

    pub fn path(&self) -> &Path {
        &self.path
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

    /// Runs `f` as one long write that keeps what it wrote even when it fails, so that
    /// the next run resumes from it: one transaction, which `f` commits along the way
    /// with `bulk_commit`, and foreign keys unchecked (the writer keeps entries, versions
    /// and objects consistent itself; checking on every insert would double its index
    /// lookups).
    pub fn bulk<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.conn
            .execute_batch("PRAGMA foreign_keys=OFF; BEGIN IMMEDIATE")?;
        let result = f();
        let committed = self.conn.execute_batch("COMMIT");
        self.conn.execute_batch("PRAGMA foreign_keys=ON")?;
        committed?;
        result
    }

    /// Inside `bulk`: commits what was written so far and goes on in a new transaction.
    pub fn bulk_commit(&self) -> Result<()> {
        Ok(self.conn.execute_batch("COMMIT; BEGIN IMMEDIATE")?)
    }

    /// Moves the write-ahead log into the catalog file and empties it: after a large
    /// write, so that the log does not keep the size of everything written.
    pub fn checkpoint(&self) -> Result<()> {
        Ok(self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?)
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

    /// Writes a consistent copy of the catalog to `dest`, which must not exist or be
    /// empty. Not flushed: it is a temporary the caller copies onto a disk (through the
    /// disk's held folder, since SQLite opens paths and resolves symlinks, even
    /// `/proc/self/fd/N`, by name) and flushes there.
    pub fn copy_into(&self, dest: &Path) -> Result<()> {
        self.conn
            .execute("VACUUM INTO ?1", [dest.to_string_lossy()])
            .with_context(|| format!("cannot write a copy of the catalog to {}", dest.display()))?;
        Ok(())
    }
}

/// A read-only connection to the dsbfs catalog at `path`, of any format: immutable when
/// its folder is not writable (a backup disk mounted `ro`), where SQLite could not make
/// its shared-memory file.
fn connect_readonly(path: &Path) -> Result<Connection> {
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
    Ok(conn)
}

/// Settings for every connection. The bundled SQLite has STAT4, which re-plans (and
/// re-parses) a statement whenever a bound value might change its plan: one stable plan
/// per statement (QPSG) keeps the planner out of every mount lookup and the parser out
/// of the scan's per-folder query (README, "Performance"). A catalog may come from an
/// untrusted disk: no functions with side effects in its schema, and cells checked as
/// they are read.
fn harden(conn: &Connection) -> Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.execute_batch("PRAGMA trusted_schema=OFF; PRAGMA cell_size_check=ON;")?;
    Ok(())
}

/// What a file given as a catalog holds, told without changing it or anything beside it:
/// `Some(format)` for a catalog that dsbfs may open, None for one that cannot be judged
/// before it is opened (a log beside it). Refuses anything else: what is not a regular
/// file, not a dsbfs catalog, or from a newer dsbfs. An empty file is a catalog of no
/// format yet (`Some(0)`).
///
/// SQLite makes a `-wal` and a `-shm` file beside any file in WAL mode it reads, even
/// only to read it; so a candidate is read with `immutable`, which reads the file alone.
/// That sees all of it unless a write-ahead log lies beside it (a catalog in use, or
/// left by a killed writer): then the log and its index are there already, and only a
/// connection that reads the log (`check_identity`) can judge the catalog.
fn inspect(path: &Path) -> Result<Option<i64>> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot open the catalog {}", path.display()))?;
    if !meta.is_file() {
        return Err(not_a_catalog(path));
    }
    if meta.len() == 0 {
        return Ok(Some(0));
    }
    let mut log = path.as_os_str().to_owned();
    log.push("-wal");
    if Path::new(&log).exists() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(
        format!("file:{}?immutable=1", uri_escape(path)),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open the catalog {}", path.display()))?;
    check_identity(&conn, path).map(Some)
}

/// Refuses a catalog a read-only connection cannot use as it is: one of an older format
/// (a command that writes the catalog upgrades it), or none at all yet.
fn need_current(format: i64, path: &Path) -> Result<()> {
    if format == 0 {
        bail!(
            "{} is empty, not a dsbfs catalog yet: add a source first (`dsbfs source add`) or give the path of a dsbfs catalog",
            path.display()
        );
    }
    if format < schema::VERSION {
        bail!(
            "the catalog {} is in an older format ({format}); run `dsbfs source list` once to upgrade it",
            path.display()
        );
    }
    Ok(())
}

fn not_a_catalog(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{} is not a dsbfs catalog (left unchanged); give the path of a dsbfs catalog",
        path.display()
    )
}

/// Refuses files that are not dsbfs catalogs, or are from a newer dsbfs, before anything
/// is written; returns the catalog's format (0: an empty database, no catalog yet).
fn check_identity(conn: &Connection, path: &Path) -> Result<i64> {
    let not_ours = || not_a_catalog(path);
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|_| not_ours())?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(|_| not_ours())?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if app_id != APPLICATION_ID && (app_id != 0 || tables > 0 || version != 0) {
        return Err(not_ours());
    }
    if version > schema::VERSION {
        bail!(
            "the catalog {} was written by a newer dsbfs (format {version}, this one reads up to {}); upgrade dsbfs",
            path.display(),
            schema::VERSION
        );
    }
    Ok(version)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn source(vpath: &str) -> Source {
        Source {
            vpath: vpath.as_bytes().to_vec(),
            path: PathBuf::from("/srv").join(&vpath[1..]),
            follow_symlinks: false,
        }
    }

    fn vpaths(cat: &Catalog) -> Vec<Vec<u8>> {
        cat.sources()
            .unwrap()
            .into_iter()
            .map(|s| s.vpath)
            .collect()
    }

    fn pragma(cat: &Catalog, name: &str) -> i64 {
        cat.conn
            .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_bulk_write_commits_along_the_way_and_keeps_its_work_when_it_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let cat = Catalog::open(&path).unwrap();
        let failed: Result<()> = cat.bulk(|| {
            assert_eq!(pragma(&cat, "foreign_keys"), 0, "unchecked while bulk");
            cat.add_source(&source("/a"))?;
            cat.bulk_commit()?;
            let other = Catalog::open_readonly(&path)?;
            assert_eq!(vpaths(&other), [b"/a"], "committed along the way");
            cat.add_source(&source("/b"))?;
            anyhow::bail!("the walk failed")
        });
        assert_eq!(failed.unwrap_err().to_string(), "the walk failed");
        assert_eq!(pragma(&cat, "foreign_keys"), 1, "checked again after");
        let other = Catalog::open_readonly(&path).unwrap();
        assert_eq!(vpaths(&other), [b"/a", b"/b"], "kept although it failed");
        assert_eq!(cat.bulk(|| Ok(7)).unwrap(), 7);
    }

    #[test]
    fn a_checkpoint_empties_the_write_ahead_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let cat = Catalog::open(&path).unwrap();
        cat.add_source(&source("/a")).unwrap();
        let wal = dir.path().join("catalog.db-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
        cat.checkpoint().unwrap();
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
        assert_eq!(vpaths(&Catalog::open_readonly(&path).unwrap()), [b"/a"]);
    }

    #[test]
    fn a_mount_connection_only_reads_with_a_small_cache_and_no_memory_map() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        Catalog::open(&path).unwrap();
        let cat = Catalog::open_for_mount(&path).unwrap();
        assert_eq!(pragma(&cat, "query_only"), 1);
        assert_eq!(pragma(&cat, "trusted_schema"), 0);
        assert_eq!(pragma(&cat, "cell_size_check"), 1);
        assert_eq!(pragma(&cat, "mmap_size"), 0);
        assert_eq!(pragma(&cat, "cache_size"), -4096);
        assert!(cat.add_source(&source("/a")).is_err());
    }
}
