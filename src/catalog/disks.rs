//! The registry of backup disks and which objects each holds.

use super::Catalog;
use anyhow::Result;
use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;
use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize)]
pub struct DiskRecord {
    pub id: i64,
    pub name: String,
    pub uuid: String,
    pub path: PathBuf,
    #[serde(serialize_with = "crate::util::ser_bytes")]
    pub mount_rel: Vec<u8>,
    pub cap: Option<u64>,
    #[serde(serialize_with = "crate::util::ser_time")]
    pub added: i64,
    #[serde(serialize_with = "crate::util::ser_opt_time")]
    pub last_backup: Option<i64>,
    #[serde(serialize_with = "crate::util::ser_opt_time")]
    pub last_verify: Option<i64>,
    /// Room dsbfs had on the disk when it was last connected (for planning while offline).
    pub last_free: Option<u64>,
}

/// A change to a disk's record (`disk set`, or a disk found at a new place).
#[derive(Debug, Default)]
pub struct DiskUpdate {
    pub path: Option<(PathBuf, Vec<u8>)>,
    pub cap: Option<Option<u64>>,
    pub name: Option<String>,
    pub last_backup: Option<i64>,
    pub last_verify: Option<i64>,
    pub last_free: Option<u64>,
}

const DISK_COLS: &str =
    "id, name, uuid, path, mount_rel, cap, added, last_backup, last_verify, last_free";

fn disk_from_row(r: &Row) -> rusqlite::Result<DiskRecord> {
    Ok(DiskRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        uuid: r.get(2)?,
        path: PathBuf::from(std::ffi::OsStr::from_bytes(&r.get::<_, Vec<u8>>(3)?)),
        mount_rel: r.get(4)?,
        cap: r.get::<_, Option<i64>>(5)?.map(|c| c as u64),
        added: r.get(6)?,
        last_backup: r.get(7)?,
        last_verify: r.get(8)?,
        last_free: r.get::<_, Option<i64>>(9)?.map(|f| f as u64),
    })
}

impl Catalog {
    pub fn disks(&self) -> Result<Vec<DiskRecord>> {
        let mut st = self
            .conn
            .prepare_cached(&format!("SELECT {DISK_COLS} FROM disks ORDER BY name"))?;
        let rows = st.query_map([], disk_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The disk called `name`, if there is one.
    pub fn disk(&self, name: &str) -> Result<Option<DiskRecord>> {
        let mut st = self
            .conn
            .prepare_cached(&format!("SELECT {DISK_COLS} FROM disks WHERE name = ?1"))?;
        Ok(st.query_row([name], disk_from_row).optional()?)
    }

    pub fn add_disk(&self, d: &DiskRecord) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO disks(name, uuid, path, mount_rel, cap, added) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                d.name,
                d.uuid,
                d.path.as_os_str().as_bytes(),
                d.mount_rel,
                d.cap.map(|c| c as i64),
                d.added
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn update_disk(&self, id: i64, u: &DiskUpdate) -> Result<()> {
        if let Some((path, rel)) = &u.path {
            self.conn.execute(
                "UPDATE disks SET path = ?2, mount_rel = ?3 WHERE id = ?1",
                params![id, path.as_os_str().as_bytes(), rel],
            )?;
        }
        if let Some(cap) = u.cap {
            self.conn.execute(
                "UPDATE disks SET cap = ?2 WHERE id = ?1",
                params![id, cap.map(|c| c as i64)],
            )?;
        }
        if let Some(name) = &u.name {
            self.conn.execute(
                "UPDATE disks SET name = ?2 WHERE id = ?1",
                params![id, name],
            )?;
        }
        if let Some(t) = u.last_backup {
            self.conn.execute(
                "UPDATE disks SET last_backup = ?2 WHERE id = ?1",
                params![id, t],
            )?;
        }
        if let Some(f) = u.last_free {
            self.conn.execute(
                "UPDATE disks SET last_free = ?2 WHERE id = ?1",
                params![id, f as i64],
            )?;
        }
        if let Some(t) = u.last_verify {
            self.conn.execute(
                "UPDATE disks SET last_verify = ?2 WHERE id = ?1",
                params![id, t],
            )?;
        }
        Ok(())
    }

    /// Forgets a disk and every copy it held.
    pub fn delete_disk(&self, id: i64) -> Result<()> {
        self.transaction(|c| {
            c.execute("DELETE FROM copies WHERE disk = ?1", [id])?;
            c.execute("DELETE FROM disks WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    /// Number of objects and their bytes recorded on a disk.
    pub fn disk_usage(&self, id: i64) -> Result<(u64, u64)> {
        let (n, b): (i64, i64) = self.conn.query_row(
            "SELECT count(*), coalesce(sum(o.size), 0) FROM copies c JOIN objects o ON o.id = c.object
             WHERE c.disk = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((n as u64, b as u64))
    }

    /// Names of the disks that hold an object.
    pub fn holders(&self, object: i64) -> Result<Vec<DiskRecord>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {} FROM disks d JOIN copies c ON c.disk = d.id WHERE c.object = ?1 ORDER BY d.name",
            DISK_COLS.split(", ").map(|c| format!("d.{c}")).collect::<Vec<_>>().join(", ")
        ))?;
        let rows = st.query_map([object], disk_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn add_copy(&self, object: i64, disk: i64) -> Result<()> {
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO copies(object, disk) VALUES (?1, ?2)")?
            .execute(params![object, disk])?;
        Ok(())
    }

    pub fn remove_copy(&self, object: i64, disk: i64) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM copies WHERE object = ?1 AND disk = ?2")?
            .execute(params![object, disk])?;
        Ok(())
    }
}

/// The paths that hold an object, for reports.
#[derive(Debug, Default)]
pub struct ObjectNames {
    /// The first paths, current ones first, each with whether it is current.
    pub paths: Vec<(Vec<u8>, bool)>,
    /// How many paths hold it, named or not.
    pub all: u64,
}

impl Catalog {
    /// The objects recorded on a disk, ordered by hash: (id, hash, size).
    pub fn disk_objects(&self, disk: i64) -> Result<Vec<(i64, [u8; 32], u64)>> {
        let mut st = self.conn.prepare(
            "SELECT o.id, o.hash, o.size FROM copies c JOIN objects o ON o.id = c.object
             WHERE c.disk = ?1 ORDER BY o.hash",
        )?;
        let rows = st.query_map([disk], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, hash, size) = row?;
            if let Ok(h) = <[u8; 32]>::try_from(hash) {
                out.push((id, h, size as u64));
            }
        }
        Ok(out)
    }

    /// The object with this hash, if the catalog knows it: (id, size).
    pub fn object_by_hash(&self, hash: &[u8; 32]) -> Result<Option<(i64, u64)>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id, size FROM objects WHERE substr(hash, 1, 6) = substr(?1, 1, 6) AND hash = ?1",
            )?
            .query_row([&hash[..]], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .optional()?)
    }

    /// For each of `objects`: the paths whose versions hold it (at most `limit` named).
    /// One pass over the versions for all of them: what names the objects of a report.
    pub fn object_names(&self, objects: &[i64], limit: usize) -> Result<HashMap<i64, ObjectNames>> {
        let ids = serde_json::to_string(objects)?;
        let mut st = self.conn.prepare(
            "SELECT object, entry, max(end_scan IS NULL) FROM versions
             WHERE object IN (SELECT value FROM json_each(?1))
             GROUP BY object, entry ORDER BY object, 3 DESC, entry",
        )?;
        let rows = st.query_map([ids], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get(2)?))
        })?;
        let mut found: HashMap<i64, (Vec<(i64, bool)>, u64)> = HashMap::new();
        for row in rows {
            let (object, entry, current) = row?;
            let (entries, all) = found.entry(object).or_default();
            *all += 1;
            if entries.len() < limit {
                entries.push((entry, current));
            }
        }
        let mut out = HashMap::new();
        for (object, (entries, all)) in found {
            let named = entries
                .into_iter()
                .map(|(e, current)| Ok((self.entry_path(e)?, current)))
                .collect::<Result<Vec<_>>>()?;
            out.insert(object, ObjectNames { paths: named, all });
        }
        Ok(out)
    }

    /// Where an interrupted verify of the disk stopped, if it did.
    pub fn verify_cursor(&self, disk: i64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row(
                "SELECT verify_cursor FROM disks WHERE id = ?1",
                [disk],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    pub fn set_verify_cursor(&self, disk: i64, cursor: Option<&[u8]>) -> Result<()> {
        self.conn.execute(
            "UPDATE disks SET verify_cursor = ?2 WHERE id = ?1",
            params![disk, cursor],
        )?;
        Ok(())
    }
}
