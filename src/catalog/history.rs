//! History in the catalog: snapshots (finished scans), settings (the retention policy,
//! the mass-change guard), releasing what no kept snapshot holds, and what a path was
//! over time.

use super::Catalog;
use super::tree::Kind;
use crate::history::counts::{self, Counts, Span};
use anyhow::{Context, Result};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A snapshot: a scan that ran to the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapshotRecord {
    pub id: i64,
    /// When its scan started (unix seconds): the snapshot's time, as restic's is.
    pub time: i64,
    pub finished: i64,
    /// Against the snapshot before it; None until counted (snapshots taken before history).
    pub counts: Option<Counts>,
}

/// What `forget` released.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Released {
    pub snapshots: u64,
    pub versions: u64,
    /// Contents no kept snapshot holds any more, and their bytes.
    pub objects: u64,
    pub bytes: u64,
    /// What those contents take on the disks (all copies): what the next backups free.
    pub disk_bytes: u64,
}

/// One version of a path and the snapshots it lives in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathVersion {
    pub kind: Kind,
    pub size: u64,
    pub mtime_ns: i64,
    pub hash: Option<[u8; 32]>,
    pub object: Option<i64>,
    pub target: Option<Vec<u8>>,
    /// Kept snapshots that hold it, ascending; `current` when the latest scan saw it.
    pub snapshots: Vec<i64>,
    pub current: bool,
}

/// How a path differs between two snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Change {
    Added,
    Removed,
    /// Content, link target or kind changed.
    Modified,
    /// Only mode, owner or mtime changed.
    Metadata,
}

/// Settings keys.
const POLICY: &str = "policy";

impl Catalog {
    /// Every snapshot, oldest first.
    pub fn snapshots(&self) -> Result<Vec<SnapshotRecord>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, started, finished, files, bytes, new_files, changed_files, deleted_files
             FROM scans WHERE finished IS NOT NULL ORDER BY id",
        )?;
        let rows = st.query_map([], |r| {
            let counted: Option<i64> = r.get(3)?;
            let n = |i: usize| {
                r.get::<_, Option<i64>>(i)
                    .map(|v| v.unwrap_or(0).max(0) as u64)
            };
            Ok(SnapshotRecord {
                id: r.get(0)?,
                time: r.get(1)?,
                finished: r.get(2)?,
                counts: match counted {
                    Some(_) => Some(Counts {
                        files: n(3)?,
                        bytes: n(4)?,
                        new: n(5)?,
                        changed: n(6)?,
                        deleted: n(7)?,
                    }),
                    None => None,
                },
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The snapshots with every count filled in: counted from the versions where the
    /// catalog has none (and stored, when it is writable).
    pub fn snapshots_counted(&self) -> Result<Vec<SnapshotRecord>> {
        let mut list = self.snapshots()?;
        if list.iter().any(|s| s.counts.is_none()) {
            let ids: Vec<i64> = list.iter().map(|s| s.id).collect();
            let counted = self.count_snapshots(&ids)?;
            for (s, c) in list.iter_mut().zip(counted) {
                s.counts = Some(c);
            }
            if !self.conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
                self.store_counts(&list)?;
            }
        }
        Ok(list)
    }

    /// Counts every snapshot of `ids` (ascending) from the file versions, in one pass.
    pub fn count_snapshots(&self, ids: &[i64]) -> Result<Vec<Counts>> {
        let mut st = self.conn.prepare(
            "SELECT entry, first_scan, end_scan, size FROM versions WHERE kind = 2
             ORDER BY entry, first_scan",
        )?;
        let mut rows = st.query([])?;
        let mut spans = Vec::new();
        while let Some(r) = rows.next()? {
            spans.push(Span {
                entry: r.get(0)?,
                first: r.get(1)?,
                end: r.get(2)?,
                size: r.get::<_, i64>(3)?.max(0) as u64,
            });
        }
        Ok(counts::count(ids, spans))
    }

    /// Stores the counts of these snapshots.
    pub fn store_counts(&self, list: &[SnapshotRecord]) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "UPDATE scans SET files = ?2, bytes = ?3, new_files = ?4, changed_files = ?5,
             deleted_files = ?6 WHERE id = ?1",
        )?;
        for s in list {
            if let Some(c) = s.counts {
                st.execute(params![
                    s.id,
                    c.files as i64,
                    c.bytes as i64,
                    c.new as i64,
                    c.changed as i64,
                    c.deleted as i64
                ])?;
            }
        }
        Ok(())
    }

    /// A setting, None when never set.
    pub fn setting<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let raw: Option<String> = self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?;
        raw.map(|v| {
            serde_json::from_str(&v)
                .with_context(|| format!("the catalog's setting `{key}` is damaged"))
        })
        .transpose()
    }

    pub fn set_setting<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        self.conn.execute(
            "INSERT INTO settings(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, serde_json::to_string(value)?],
        )?;
        Ok(())
    }

    pub fn clear_setting(&self, key: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM settings WHERE key = ?1", [key])?;
        Ok(())
    }

    /// The retention policy: the stored one, or the default.
    pub fn policy(&self) -> Result<crate::history::retention::Policy> {
        Ok(self.setting(POLICY)?.unwrap_or_default())
    }

    pub fn set_policy(&self, policy: &crate::history::retention::Policy) -> Result<()> {
        self.set_setting(POLICY, policy)
    }

    /// Drops the snapshots `drop` and releases every version no remaining snapshot holds
    /// (the current tree always stays), with the contents only those versions used; then
    /// recounts the snapshots that follow a dropped one. With `dry_run`, reports the same
    /// and changes nothing.
    pub fn forget(&self, drop: &[i64], dry_run: bool) -> Result<Released> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let result = self.forget_in_transaction(drop);
        let end = if dry_run || result.is_err() {
            "ROLLBACK"
        } else {
            "COMMIT"
        };
        self.conn.execute_batch(end)?;
        result
    }

    fn forget_in_transaction(&self, drop: &[i64]) -> Result<Released> {
        let mut released = Released::default();
        {
            let mut st = self
                .conn
                .prepare_cached("DELETE FROM scans WHERE id = ?1 AND finished IS NOT NULL")?;
            for id in drop {
                released.snapshots += st.execute([id])? as u64;
            }
        }
        self.conn.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS released_objects(id INTEGER PRIMARY KEY);
             DELETE FROM temp.released_objects;",
        )?;
        // A version that ended lives on while a kept snapshot lies in its span of scans.
        released.versions = self.delete_released_versions()?;
        let (objects, bytes, disk_bytes): (i64, i64, i64) = self.conn.query_row(
            "SELECT count(*), coalesce(sum(o.size), 0),
                    coalesce(sum(((o.size + ?1 - 1) / ?1) * ?1 *
                        (SELECT count(*) FROM copies c WHERE c.object = o.id)), 0)
             FROM objects o JOIN temp.released_objects r ON r.id = o.id
             WHERE o.id NOT IN (SELECT object FROM versions WHERE object IS NOT NULL)",
            [crate::placement::BLOCK as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        released.objects = objects as u64;
        released.bytes = bytes as u64;
        released.disk_bytes = disk_bytes as u64;
        // Contents on no disk and in no version are forgotten; those on disks stay until
        // the backups delete them (the next `forget` then drops their rows).
        self.forget_unused_objects()?;
        self.conn.execute(
            "DELETE FROM entries WHERE id > 1 AND NOT EXISTS
               (SELECT 1 FROM versions v WHERE v.entry = entries.id)",
            [],
        )?;
        let mut list = self.snapshots()?;
        let ids: Vec<i64> = list.iter().map(|s| s.id).collect();
        for (s, c) in list.iter_mut().zip(self.count_snapshots(&ids)?) {
            s.counts = Some(c);
        }
        self.store_counts(&list)?;
        Ok(released)
    }

    /// Deletes the versions no kept snapshot holds, noting their contents in
    /// `temp.released_objects`; returns how many went.
    fn delete_released_versions(&self) -> Result<u64> {
        self.conn.execute(
            "INSERT OR IGNORE INTO temp.released_objects(id)
             SELECT object FROM versions WHERE object IS NOT NULL AND end_scan IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM scans s WHERE s.finished IS NOT NULL
                             AND s.id BETWEEN versions.first_scan AND versions.end_scan)",
            [],
        )?;
        Ok(self.conn.execute(
            "DELETE FROM versions WHERE end_scan IS NOT NULL AND NOT EXISTS
               (SELECT 1 FROM scans s WHERE s.finished IS NOT NULL
                AND s.id BETWEEN versions.first_scan AND versions.end_scan)",
            [],
        )? as u64)
    }

    /// Forgets contents that no version uses and no disk holds, with their block
    /// hashes (also where foreign keys are not enforced: a new object must never find
    /// the hashes of a forgotten one under its id).
    pub fn forget_unused_objects(&self) -> Result<u64> {
        self.conn.execute(
            "DELETE FROM object_blocks WHERE object IN (SELECT id FROM objects
             WHERE NOT EXISTS (SELECT 1 FROM versions v WHERE v.object = objects.id)
             AND NOT EXISTS (SELECT 1 FROM copies c WHERE c.object = objects.id))",
            [],
        )?;
        Ok(self.conn.execute(
            "DELETE FROM objects WHERE id NOT IN (SELECT object FROM versions WHERE object IS NOT NULL)
             AND NOT EXISTS (SELECT 1 FROM copies c WHERE c.object = objects.id)",
            [],
        )? as u64)
    }

    /// Contents that only past snapshots hold (not the current tree): how many, their
    /// bytes, and what their copies take on the disks.
    pub fn history_usage(&self) -> Result<(u64, u64, u64)> {
        let (n, bytes, disk): (i64, i64, i64) = self.conn.query_row(
            "SELECT count(*), coalesce(sum(o.size), 0),
                    coalesce(sum(((o.size + ?1 - 1) / ?1) * ?1 *
                        (SELECT count(*) FROM copies c WHERE c.object = o.id)), 0)
             FROM (SELECT object FROM versions WHERE object IS NOT NULL
                   GROUP BY object HAVING max(end_scan IS NULL) = 0) h
             JOIN objects o ON o.id = h.object",
            [crate::placement::BLOCK as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok((n as u64, bytes as u64, disk as u64))
    }

    /// The entry at `vpath` whether or not it exists now (None: never seen).
    pub fn entry_at_path(&self, vpath: &[u8]) -> Result<Option<i64>> {
        let mut entry = 1;
        let mut st = self
            .conn
            .prepare_cached("SELECT id FROM entries WHERE parent = ?1 AND name = ?2")?;
        for name in vpath.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            match st
                .query_row(params![entry, name], |r| r.get(0))
                .optional()?
            {
                Some(id) => entry = id,
                None => return Ok(None),
            }
        }
        Ok(Some(entry))
    }

    /// Every version of the path `vpath` the catalog keeps, oldest first.
    pub fn path_versions(&self, vpath: &[u8]) -> Result<Vec<PathVersion>> {
        let Some(entry) = self.entry_at_path(vpath)? else {
            return Ok(Vec::new());
        };
        let snapshots: Vec<i64> = self.snapshots()?.iter().map(|s| s.id).collect();
        let mut st = self.conn.prepare_cached(
            "SELECT v.kind, v.size, v.mtime_ns, o.hash, v.object, v.target, v.first_scan, v.end_scan
             FROM versions v LEFT JOIN objects o ON o.id = v.object
             WHERE v.entry = ?1 ORDER BY v.first_scan",
        )?;
        let rows = st.query_map([entry], |r| {
            let hash: Option<Vec<u8>> = r.get(3)?;
            let first: i64 = r.get(6)?;
            let end: Option<i64> = r.get(7)?;
            Ok(PathVersion {
                kind: Kind::from_i64(r.get(0)?)?,
                size: r.get::<_, i64>(1)?.max(0) as u64,
                mtime_ns: r.get(2)?,
                hash: hash.and_then(|h| h.try_into().ok()),
                object: r.get(4)?,
                target: r.get(5)?,
                snapshots: snapshots
                    .iter()
                    .copied()
                    .filter(|&s| s >= first && end.is_none_or(|e| s <= e))
                    .collect(),
                current: end.is_none(),
            })
        })?;
        Ok(rows
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|v| v.current || !v.snapshots.is_empty())
            .collect())
    }

    /// The paths that differ between snapshots `from` and `to`, in path order.
    pub fn diff(&self, from: i64, to: i64) -> Result<Vec<(Vec<u8>, Change)>> {
        let visible = |alias: &str, s: i64| {
            format!(
                "{alias}.first_scan <= {s} AND ({alias}.end_scan IS NULL OR {alias}.end_scan >= {s})"
            )
        };
        // Versions seen by one snapshot and not the other, paired by entry.
        let sql = format!(
            "SELECT coalesce(a.entry, b.entry), a.kind, a.object, a.target, a.mode, a.uid, a.gid, a.mtime_ns,
                    b.kind, b.object, b.target, b.mode, b.uid, b.gid, b.mtime_ns
             FROM (SELECT * FROM versions v WHERE {va} AND NOT ({vb_v})) a
             FULL JOIN (SELECT * FROM versions w WHERE {wb} AND NOT ({wa})) b ON a.entry = b.entry",
            va = visible("v", from),
            vb_v = visible("v", to),
            wb = visible("w", to),
            wa = visible("w", from),
        );
        let mut st = self.conn.prepare(&sql)?;
        let mut rows = st.query([])?;
        let mut changes = Vec::new();
        while let Some(r) = rows.next()? {
            let entry: i64 = r.get(0)?;
            let a_kind: Option<i64> = r.get(1)?;
            let b_kind: Option<i64> = r.get(8)?;
            let change = match (a_kind, b_kind) {
                (None, Some(_)) => Change::Added,
                (Some(_), None) => Change::Removed,
                (Some(ak), Some(bk)) => {
                    let content = |i: usize| -> rusqlite::Result<(Option<i64>, Option<Vec<u8>>)> {
                        Ok((r.get(i)?, r.get(i + 1)?))
                    };
                    if ak != bk || content(2)? != content(9)? {
                        Change::Modified
                    } else {
                        Change::Metadata
                    }
                }
                (None, None) => continue,
            };
            changes.push((entry, change));
        }
        drop(rows);
        let mut out = Vec::with_capacity(changes.len());
        for (entry, change) in changes {
            out.push((self.entry_path(entry)?, change));
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::NodeAttr;
    use crate::catalog::tree::At;

    fn attr(kind: Kind, size: u64, mtime_ns: i64) -> NodeAttr {
        NodeAttr {
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime_ns,
            size,
            target: None,
            dev: 1,
            ino: 1,
            nlink: 1,
            ctime_ns: 0,
        }
    }

    struct Tree {
        _dir: tempfile::TempDir,
        cat: Catalog,
        scan: i64,
    }

    impl Tree {
        fn new() -> Tree {
            let dir = tempfile::tempdir().unwrap();
            let cat = Catalog::open(&dir.path().join("c.db")).unwrap();
            Tree {
                _dir: dir,
                cat,
                scan: 0,
            }
        }

        /// Starts the next scan, at time `scan * 1000`.
        fn begin(&mut self) {
            self.scan = self.cat.begin_or_resume_scan(0).unwrap().0;
            if self.scan == 1 {
                self.cat
                    .add_version(1, 1, &attr(Kind::Dir, 0, 0), None, (0, 0))
                    .unwrap();
            }
        }

        fn finish(&self) {
            self.cat.finish_scan(self.scan, self.scan * 1000).unwrap();
            self.cat
                .conn
                .execute(
                    "UPDATE scans SET started = ?1 WHERE id = ?1 / 1000",
                    [self.scan * 1000],
                )
                .unwrap();
        }

        /// Writes file `name` with content byte `fill` (one byte per content).
        fn put(&self, name: &str, fill: u8) {
            let entry = self.cat.entry_id(1, name.as_bytes()).unwrap();
            if let Some(old) = self.cat.version(entry, At::Current).unwrap() {
                self.cat.end_version(&old, self.scan).unwrap();
            }
            let object = self.cat.object_id(&[fill; 32], u64::from(fill)).unwrap();
            self.cat
                .add_version(
                    entry,
                    self.scan,
                    &attr(Kind::File, u64::from(fill), i64::from(fill)),
                    Some(object),
                    (2, 0),
                )
                .unwrap();
        }

        fn remove(&self, name: &str) {
            let entry = self.cat.entry_id(1, name.as_bytes()).unwrap();
            let old = self.cat.version(entry, At::Current).unwrap().unwrap();
            self.cat.end_version(&old, self.scan).unwrap();
        }
    }

    /// Scan 1: a=1 b=2; scan 2: a=3, b removed, c=4; scan 3: c=5.
    fn three_scans() -> Tree {
        let mut t = Tree::new();
        t.begin();
        t.put("a", 1);
        t.put("b", 2);
        t.finish();
        t.begin();
        t.put("a", 3);
        t.remove("b");
        t.put("c", 4);
        t.finish();
        t.begin();
        t.put("c", 5);
        t.finish();
        t
    }

    #[test]
    fn snapshots_are_counted_against_the_one_before() {
        let t = three_scans();
        let list = t.cat.snapshots_counted().unwrap();
        let c: Vec<(u64, u64, u64, u64, u64)> = list
            .iter()
            .map(|s| {
                let c = s.counts.unwrap();
                (c.files, c.bytes, c.new, c.changed, c.deleted)
            })
            .collect();
        assert_eq!(c, vec![(2, 3, 2, 0, 0), (2, 7, 1, 1, 1), (2, 8, 0, 1, 0)]);
        // Stored: a second read counts nothing.
        assert!(
            t.cat
                .snapshots()
                .unwrap()
                .iter()
                .all(|s| s.counts.is_some())
        );
    }

    #[test]
    fn forget_releases_only_what_no_kept_snapshot_holds() {
        let t = three_scans();
        let before = t.cat.snapshots().unwrap();
        let dry = t.cat.forget(&[1, 2], true).unwrap();
        assert_eq!(
            t.cat.snapshots().unwrap(),
            before,
            "a dry run changes nothing"
        );
        // Snapshot 1 held a=1, b=2; snapshot 2 held a=3, c=4: all but the current a=3 go.
        assert_eq!((dry.snapshots, dry.versions, dry.objects), (2, 3, 3));
        assert_eq!(dry.bytes, 1 + 2 + 4);
        let done = t.cat.forget(&[1, 2], false).unwrap();
        assert_eq!(done, dry);
        let ids: Vec<i64> = t.cat.snapshots().unwrap().iter().map(|s| s.id).collect();
        assert_eq!(ids, vec![3]);
        assert!(t.cat.path_versions(b"/b").unwrap().is_empty(), "b is gone");
        assert_eq!(t.cat.entry_at_path(b"/b").unwrap(), None);
        let a = t.cat.path_versions(b"/a").unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].size, a[0].current), (3, true));
        // Released contents on no disk are forgotten; the current ones stay.
        assert!(t.cat.object_by_hash(&[2; 32]).unwrap().is_none());
        assert!(t.cat.object_by_hash(&[3; 32]).unwrap().is_some());
        let c = t.cat.snapshots().unwrap()[0].counts.unwrap();
        assert_eq!(
            (c.files, c.new),
            (2, 2),
            "the oldest kept snapshot is all new"
        );
    }

    #[test]
    fn released_contents_on_a_disk_stay_until_a_backup_deletes_them() {
        let t = three_scans();
        let disk = t
            .cat
            .add_disk(&crate::catalog::DiskRecord {
                id: 0,
                name: "d".into(),
                uuid: "u".into(),
                path: "/nowhere".into(),
                mount_rel: Vec::new(),
                cap: None,
                added: 0,
                last_backup: None,
                last_verify: None,
                last_free: None,
            })
            .unwrap();
        let (b, _) = t.cat.object_by_hash(&[2; 32]).unwrap().unwrap();
        t.cat.add_copy(b, disk).unwrap();
        assert_eq!(t.cat.history_usage().unwrap(), (3, 1 + 2 + 4, 4096));
        let r = t.cat.forget(&[1], false).unwrap();
        assert_eq!((r.objects, r.disk_bytes), (2, 4096));
        assert!(
            t.cat.object_by_hash(&[2; 32]).unwrap().is_some(),
            "still on disk d"
        );
        t.cat.remove_copy(b, disk).unwrap();
        t.cat.forget_unused_objects().unwrap();
        assert!(t.cat.object_by_hash(&[2; 32]).unwrap().is_none());
    }

    #[test]
    fn versions_and_diff_name_what_changed() {
        let t = three_scans();
        let a = t.cat.path_versions(b"/a").unwrap();
        let seen: Vec<(u64, Vec<i64>, bool)> = a
            .iter()
            .map(|v| (v.size, v.snapshots.clone(), v.current))
            .collect();
        assert_eq!(seen, vec![(1, vec![1], false), (3, vec![2, 3], true)]);
        let d = t.cat.diff(1, 2).unwrap();
        let d: Vec<(&[u8], Change)> = d.iter().map(|(p, c)| (p.as_slice(), *c)).collect();
        assert_eq!(
            d,
            vec![
                (&b"/a"[..], Change::Modified),
                (&b"/b"[..], Change::Removed),
                (&b"/c"[..], Change::Added)
            ]
        );
        assert_eq!(
            t.cat.diff(2, 3).unwrap(),
            vec![(b"/c".to_vec(), Change::Modified)]
        );
        assert!(t.cat.diff(3, 3).unwrap().is_empty());
    }

    #[test]
    fn the_policy_and_other_settings_round_trip() {
        let t = Tree::new();
        assert_eq!(t.cat.policy().unwrap(), Default::default());
        let p = crate::history::retention::Policy {
            keep_last: Some(1),
            ..Default::default()
        };
        t.cat.set_policy(&p).unwrap();
        assert_eq!(t.cat.policy().unwrap(), p);
        t.cat
            .conn
            .execute(
                "UPDATE settings SET value = 'garbage' WHERE key = 'policy'",
                [],
            )
            .unwrap();
        let e = format!("{:#}", t.cat.policy().unwrap_err());
        assert!(e.contains("setting `policy` is damaged"), "{e}");
    }
}
