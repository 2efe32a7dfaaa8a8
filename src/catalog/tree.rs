//! The virtual tree: entries (stable ids, doubling as inode numbers) and their versions.

use super::Catalog;
use anyhow::Result;
use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Dir = 1,
    File = 2,
    Symlink = 3,
}

impl Kind {
    /// What people call it.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Dir => "folder",
            Kind::File => "file",
            Kind::Symlink => "symlink",
        }
    }

    pub(crate) fn from_i64(v: i64) -> rusqlite::Result<Kind> {
        match v {
            1 => Ok(Kind::Dir),
            2 => Ok(Kind::File),
            3 => Ok(Kind::Symlink),
            _ => Err(rusqlite::Error::IntegralValueOutOfRange(4, v)),
        }
    }
}

/// What the filesystem said about a path: everything a version records but its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAttr {
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime_ns: i64,
    pub size: u64,
    pub target: Option<Vec<u8>>,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u32,
    pub ctime_ns: i64,
}

/// A recorded version of an entry; (entry, first_scan) is its key.
#[derive(Clone, Debug)]
pub struct VersionRow {
    pub entry: i64,
    pub first_scan: i64,
    pub attr: NodeAttr,
    pub object: Option<i64>,
    pub hash: Option<[u8; 32]>,
    pub copies: u32,
    pub priority: i32,
}

/// The deepest a path may be: where walking up a crafted catalog's parents stops.
const MAX_DEPTH: i64 = 4096;

/// Columns read into a `VersionRow`, from `versions v LEFT JOIN objects o`.
const VERSION_COLS: &str = "v.entry, v.first_scan, v.kind, v.mode, v.uid, v.gid, v.mtime_ns, v.size, \
     v.target, v.dev, v.ino, v.nlink, v.mtime_ns + v.ctime_after_mtime, v.object, o.hash, v.copies, v.priority";

fn version_from_row(r: &Row, at: usize) -> rusqlite::Result<VersionRow> {
    let hash: Option<Vec<u8>> = r.get(at + 14)?;
    Ok(VersionRow {
        entry: r.get(at)?,
        first_scan: r.get(at + 1)?,
        attr: NodeAttr {
            kind: Kind::from_i64(r.get(at + 2)?)?,
            mode: r.get(at + 3)?,
            uid: r.get(at + 4)?,
            gid: r.get(at + 5)?,
            mtime_ns: r.get(at + 6)?,
            size: r.get::<_, i64>(at + 7)? as u64,
            target: r.get(at + 8)?,
            dev: r.get::<_, i64>(at + 9)? as u64,
            ino: r.get::<_, i64>(at + 10)? as u64,
            nlink: r.get(at + 11)?,
            ctime_ns: r.get(at + 12)?,
        },
        object: r.get(at + 13)?,
        hash: hash.and_then(|h| h.try_into().ok()),
        copies: r.get(at + 15)?,
        priority: r.get(at + 16)?,
    })
}

/// How a version stores its ctime: as the distance from its mtime, which is 0 for a
/// file last written and never touched since (SQLite then stores the value in no bytes).
fn ctime_after_mtime(attr: &NodeAttr) -> i64 {
    attr.ctime_ns.wrapping_sub(attr.mtime_ns)
}

/// A child of a folder with its current version, if it has one.
pub struct Child {
    pub entry: i64,
    pub name: Vec<u8>,
    pub version: Option<VersionRow>,
}

/// Which versions a query sees: the current ones (scan, backup) or those of a finished scan (mount).
#[derive(Clone, Copy, Debug)]
pub enum At {
    Current,
    Scan(i64),
}

impl At {
    pub(crate) fn predicate(self) -> String {
        self.predicate_for("v")
    }

    /// The predicate for a `versions` table aliased `alias`.
    pub(crate) fn predicate_for(self, alias: &str) -> String {
        match self {
            At::Current => format!("{alias}.end_scan IS NULL"),
            At::Scan(s) => format!(
                "{alias}.first_scan <= {s} AND ({alias}.end_scan IS NULL OR {alias}.end_scan >= {s})"
            ),
        }
    }
}

impl Catalog {
    /// Every child entry of `parent`, with its version as of `at` (None: not there then).
    /// For the scan, which compares object ids: the hashes are not read (`hash` is None).
    pub fn children(&self, parent: i64, at: At) -> Result<Vec<Child>> {
        let sql = format!(
            "SELECT e.id, e.name, {} FROM entries e
             LEFT JOIN versions v ON v.entry = e.id AND {}
             WHERE e.parent = ?1",
            VERSION_COLS.replace("o.hash", "NULL"),
            at.predicate()
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map([parent], |r| {
            let has_version = r.get::<_, Option<i64>>(2)?.is_some();
            Ok(Child {
                entry: r.get(0)?,
                name: r.get(1)?,
                version: if has_version {
                    Some(version_from_row(r, 2)?)
                } else {
                    None
                },
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Visible children of `parent` at `at`, ordered by entry id, after entry id `after`.
    pub fn list_dir(
        &self,
        parent: i64,
        at: At,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(Vec<u8>, VersionRow)>> {
        let sql = format!(
            "SELECT e.name, {VERSION_COLS} FROM entries e
             JOIN versions v ON v.entry = e.id AND {}
             LEFT JOIN objects o ON o.id = v.object
             WHERE e.parent = ?1 AND e.id > ?2 ORDER BY e.id LIMIT ?3",
            at.predicate()
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map(params![parent, after, limit], |r| {
            Ok((r.get(0)?, version_from_row(r, 1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The version of entry `entry` visible at `at`.
    pub fn version(&self, entry: i64, at: At) -> Result<Option<VersionRow>> {
        let sql = format!(
            "SELECT {VERSION_COLS} FROM versions v LEFT JOIN objects o ON o.id = v.object
             WHERE v.entry = ?1 AND {} ORDER BY v.first_scan DESC LIMIT 1",
            at.predicate()
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        Ok(st
            .query_row([entry], |r| version_from_row(r, 0))
            .optional()?)
    }

    /// The child called `name` of `parent`, if visible at `at`.
    pub fn lookup(&self, parent: i64, name: &[u8], at: At) -> Result<Option<VersionRow>> {
        let sql = format!(
            "SELECT {VERSION_COLS} FROM entries e
             JOIN versions v ON v.entry = e.id AND {}
             LEFT JOIN objects o ON o.id = v.object
             WHERE e.parent = ?1 AND e.name = ?2 ORDER BY v.first_scan DESC LIMIT 1",
            at.predicate()
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        Ok(st
            .query_row(params![parent, name], |r| version_from_row(r, 0))
            .optional()?)
    }

    /// Resolves a virtual path ("/a/b") to its entry id and version at `at`.
    pub fn resolve(&self, vpath: &[u8], at: At) -> Result<Option<VersionRow>> {
        let mut node = match self.version(1, at)? {
            Some(v) => v,
            None => return Ok(None),
        };
        for name in vpath.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            match self.lookup(node.entry, name, at)? {
                Some(v) => node = v,
                None => return Ok(None),
            }
        }
        Ok(Some(node))
    }

    /// The virtual path of an entry ("/" for the root). The walk up ends at the root,
    /// whatever a crafted catalog says the root's parent is, and a crafted catalog whose
    /// parents loop cannot make it run forever.
    pub fn entry_path(&self, entry: i64) -> Result<Vec<u8>> {
        let mut st = self.conn.prepare_cached(
            "WITH RECURSIVE up(id, parent, name, depth) AS (
               SELECT id, parent, name, 0 FROM entries WHERE id = ?1
               UNION ALL SELECT e.id, e.parent, e.name, up.depth + 1 FROM entries e
                 JOIN up ON e.id = up.parent WHERE up.id != 1 AND up.depth < ?2
             ) SELECT name FROM up WHERE id != 1 ORDER BY depth DESC",
        )?;
        let names: Vec<Vec<u8>> = st
            .query_map([entry, MAX_DEPTH], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut path = Vec::new();
        for n in names {
            path.push(b'/');
            path.extend_from_slice(&n);
        }
        if path.is_empty() {
            path.push(b'/');
        }
        Ok(path)
    }

    /// The id of `parent`'s child `name`, created if the path was never seen.
    pub fn entry_id(&self, parent: i64, name: &[u8]) -> Result<i64> {
        let mut find = self
            .conn
            .prepare_cached("SELECT id FROM entries WHERE parent = ?1 AND name = ?2")?;
        if let Some(id) = find
            .query_row(params![parent, name], |r| r.get(0))
            .optional()?
        {
            return Ok(id);
        }
        self.conn
            .prepare_cached("INSERT INTO entries(parent, name) VALUES (?1, ?2)")?
            .execute(params![parent, name])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// A new entry: the caller knows `parent` has no child called `name` (the scan
    /// lists every entry of a folder), so no look-up comes first.
    pub fn new_entry(&self, parent: i64, name: &[u8]) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached("INSERT INTO entries(parent, name) VALUES (?1, ?2) RETURNING id")?
            .query_row(params![parent, name], |r| r.get(0))?)
    }

    /// The object with this content, created if new.
    pub fn object_id(&self, hash: &[u8; 32], size: u64) -> Result<i64> {
        if let Some((id, _)) = self.object_by_hash(hash)? {
            return Ok(id);
        }
        Ok(self
            .conn
            .prepare_cached("INSERT INTO objects(hash, size) VALUES (?1, ?2) RETURNING id")?
            .query_row(params![&hash[..], size as i64], |r| r.get(0))?)
    }

    /// Records a new current version of `entry`, first seen by `scan`.
    pub fn add_version(
        &self,
        entry: i64,
        scan: i64,
        attr: &NodeAttr,
        object: Option<i64>,
        (copies, priority): (u32, i32),
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO versions(entry, first_scan, kind, mode, uid, gid, mtime_ns, size, object,
                   target, dev, ino, nlink, ctime_after_mtime, copies, priority)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?
            .execute(params![
                entry,
                scan,
                attr.kind as i64,
                attr.mode,
                attr.uid,
                attr.gid,
                attr.mtime_ns,
                attr.size as i64,
                object,
                attr.target,
                attr.dev as i64,
                attr.ino as i64,
                attr.nlink,
                ctime_after_mtime(attr),
                copies,
                priority
            ])?;
        Ok(())
    }

    /// Updates the detection fields (ctime, inode, device, link count) of a version whose
    /// visible attributes and content did not change.
    pub fn refresh_stat(&self, version: &VersionRow, attr: &NodeAttr) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE versions SET ctime_after_mtime = ?3, ino = ?4, dev = ?5, nlink = ?6
                 WHERE entry = ?1 AND first_scan = ?2",
            )?
            .execute(params![
                version.entry,
                version.first_scan,
                ctime_after_mtime(attr),
                attr.ino as i64,
                attr.dev as i64,
                attr.nlink
            ])?;
        Ok(())
    }

    /// Sets the wanted copies and priority of a version (rules changed).
    pub fn set_rule_fields(
        &self,
        version: &VersionRow,
        (copies, priority): (u32, i32),
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE versions SET copies = ?3, priority = ?4 WHERE entry = ?1 AND first_scan = ?2",
            )?
            .execute(params![version.entry, version.first_scan, copies, priority])?;
        Ok(())
    }

    /// Ends a version: the last scan that saw it was the one before `scan`. A version
    /// that no finished scan ever saw is simply forgotten.
    pub fn end_version(&self, version: &VersionRow, scan: i64) -> Result<()> {
        if version.first_scan >= scan {
            self.conn
                .prepare_cached("DELETE FROM versions WHERE entry = ?1 AND first_scan = ?2")?
                .execute([version.entry, version.first_scan])?;
        } else {
            self.conn
                .prepare_cached(
                    "UPDATE versions SET end_scan = ?3 WHERE entry = ?1 AND first_scan = ?2",
                )?
                .execute(params![version.entry, version.first_scan, scan - 1])?;
        }
        Ok(())
    }

    /// Ends the current versions of everything below `entry` (a folder that disappeared).
    /// Returns the number of files and bytes that ended.
    pub fn end_subtree(&self, entry: i64, scan: i64) -> Result<(u64, u64)> {
        let below = "WITH RECURSIVE t(id) AS (SELECT id FROM entries WHERE parent = ?1
                       UNION ALL SELECT e.id FROM entries e JOIN t ON e.parent = t.id)";
        let (files, bytes): (i64, i64) = self.conn.query_row(
            &format!(
                "{below} SELECT count(*), coalesce(sum(size), 0) FROM versions
                 WHERE entry IN t AND end_scan IS NULL AND kind = 2"
            ),
            [entry],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        self.conn.execute(
            &format!("{below} DELETE FROM versions WHERE entry IN t AND end_scan IS NULL AND first_scan >= ?2"),
            params![entry, scan],
        )?;
        self.conn.execute(
            &format!("{below} UPDATE versions SET end_scan = ?2 - 1 WHERE entry IN t AND end_scan IS NULL"),
            params![entry, scan],
        )?;
        Ok((files as u64, bytes as u64))
    }

    /// Marks the current versions that hold any of `objects` as needing a re-hash on the
    /// next scan (a backup found that their source no longer matches what was scanned). One
    /// pass over the versions, whatever the number of objects: versions are not indexed by
    /// object (only hard links are), to keep the catalog small.
    pub fn flag_for_rescan(&self, objects: &[i64]) -> Result<()> {
        if objects.is_empty() {
            return Ok(());
        }
        let list = serde_json::to_string(objects)?;
        self.conn.execute(
            "UPDATE versions SET ctime_after_mtime = -1 - mtime_ns
             WHERE end_scan IS NULL AND object IN (SELECT value FROM json_each(?1))",
            [list],
        )?;
        Ok(())
    }

    pub fn begin_or_resume_scan(&self, now: i64) -> Result<(i64, bool)> {
        if let Some(id) = self.conn.query_row(
            "SELECT max(id) FROM scans WHERE finished IS NULL",
            [],
            |r| r.get::<_, Option<i64>>(0),
        )? {
            return Ok((id, true));
        }
        self.conn
            .execute("INSERT INTO scans(started) VALUES (?1)", [now])?;
        Ok((self.conn.last_insert_rowid(), false))
    }

    pub fn finish_scan(&self, scan: i64, now: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE scans SET finished = ?2 WHERE id = ?1",
            params![scan, now],
        )?;
        Ok(())
    }

    /// Current files with their paths, for `ls` and reports: (path, version).
    pub fn current_files(&self) -> Result<Vec<(Vec<u8>, VersionRow)>> {
        self.files(At::Current)
    }

    /// The tree at `at` with its paths, in path order: (path, version).
    pub fn files(&self, at: At) -> Result<Vec<(Vec<u8>, VersionRow)>> {
        let mut out = Vec::new();
        self.each_path(at, |path, v| {
            out.push((path.to_vec(), v));
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `f` with every path of the tree at `at` and its version, in path order,
    /// without holding the whole tree in memory (a restore context of millions of paths).
    pub fn each_path(
        &self,
        at: At,
        mut f: impl FnMut(&[u8], VersionRow) -> Result<()>,
    ) -> Result<()> {
        let sql = format!(
            "WITH RECURSIVE t(id, path) AS (
               SELECT 1, X''
               UNION ALL SELECT e.id, CAST(t.path || X'2F' || e.name AS BLOB) FROM entries e JOIN t ON e.parent = t.id
             )
             SELECT t.path, {VERSION_COLS} FROM t JOIN versions v ON v.entry = t.id AND {}
             LEFT JOIN objects o ON o.id = v.object ORDER BY t.path",
            at.predicate()
        );
        let mut st = self.conn.prepare(&sql)?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let p = r.get_ref(0)?.as_blob()?;
            let v = version_from_row(r, 1)?;
            f(if p.is_empty() { b"/" } else { p }, v)?;
        }
        Ok(())
    }
}

/// Protection of current files with content: how many copies each has against how many it wants.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Protection {
    /// Files (and their bytes) with 0, 1, 2 and 3 or more copies.
    pub by_copies: [crate::tally::Files; 4],
    /// Files (and their bytes) with fewer copies than wanted.
    pub below_wanted: crate::tally::Files,
    pub empty_files: u64,
}

impl Catalog {
    /// The disks holding each object, for listings.
    pub fn holder_sets(&self) -> Result<std::collections::HashMap<i64, Vec<i64>>> {
        let mut out: std::collections::HashMap<i64, Vec<i64>> = std::collections::HashMap::new();
        let mut st = self
            .conn
            .prepare("SELECT object, disk FROM copies ORDER BY object, disk")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            out.entry(r.get(0)?).or_default().push(r.get(1)?);
        }
        Ok(out)
    }

    pub fn protection(&self) -> Result<Protection> {
        self.protection_without(None)
    }

    /// Protection as it would be if disk `lost` were gone.
    pub fn protection_without(&self, lost: Option<i64>) -> Result<Protection> {
        let mut p = Protection::default();
        let mut st = self.conn.prepare(
            "SELECT min(n, 3), count(*), sum(size), sum(n < wanted), sum(CASE WHEN n < wanted THEN size ELSE 0 END)
             FROM (SELECT v.size, v.copies AS wanted,
                     (SELECT count(*) FROM copies c WHERE c.object = v.object AND c.disk IS NOT ?1) AS n
                   FROM versions v WHERE v.end_scan IS NULL AND v.kind = 2 AND v.object IS NOT NULL)
             GROUP BY 1",
        )?;
        let mut rows = st.query([lost])?;
        while let Some(r) = rows.next()? {
            let bucket = r.get::<_, i64>(0)? as usize;
            p.by_copies[bucket] = crate::tally::Files {
                files: r.get::<_, i64>(1)? as u64,
                bytes: r.get::<_, i64>(2)? as u64,
            };
            p.below_wanted.files += r.get::<_, i64>(3)? as u64;
            p.below_wanted.bytes += r.get::<_, i64>(4)? as u64;
        }
        p.empty_files = self.conn.query_row(
            "SELECT count(*) FROM versions WHERE end_scan IS NULL AND kind = 2 AND object IS NULL",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64;
        Ok(p)
    }

    /// Counts of current folders, files and symlinks.
    pub fn kind_counts(&self) -> Result<[u64; 3]> {
        let mut out = [0u64; 3];
        let mut st = self
            .conn
            .prepare("SELECT kind, count(*) FROM versions WHERE end_scan IS NULL GROUP BY kind")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let k = r.get::<_, i64>(0)? as usize;
            if (1..=3).contains(&k) {
                out[k - 1] = r.get::<_, i64>(1)? as u64;
            }
        }
        Ok(out)
    }
}

impl Catalog {
    /// True when a scan was started and not finished.
    pub fn scan_interrupted(&self) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM scans WHERE finished IS NULL",
            [],
            |r| r.get::<_, i64>(0),
        )? > 0)
    }
}
