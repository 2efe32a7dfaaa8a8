//! What the planner needs from the catalog, and recording what a backup did.

use super::Catalog;
use crate::placement::ObjectState;
use anyhow::Result;
use std::collections::HashMap;

/// The planner's view of the catalog for a backup to disk `disk`: every object a current
/// file version needs, plus the orphans `disk` holds. Also each object's hash.
pub struct Snapshot {
    pub objects: Vec<ObjectState>,
    pub hashes: HashMap<i64, [u8; 32]>,
}

impl Catalog {
    /// Content the current tree uses wants the copies its rules ask for; content only kept
    /// snapshots use wants the policy's history copies, ranked below the current tree.
    /// Released content (no version left) on `disk` is an orphan to delete, unless the
    /// mass-change guard is up: then it stays until the user runs `forget`.
    pub fn placement_snapshot(&self, disk: i64) -> Result<Snapshot> {
        let history_copies = self.policy()?.history_copies.max(1);
        let keep_released = self
            .setting::<serde_json::Value>(crate::history::GUARD)?
            .is_some();
        let mut holders: HashMap<i64, Vec<i64>> = HashMap::new();
        let mut st = self.conn.prepare("SELECT object, disk FROM copies")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            holders.entry(r.get(0)?).or_default().push(r.get(1)?);
        }
        let mut objects = Vec::new();
        let mut hashes = HashMap::new();
        let mut st = self.conn.prepare(
            "SELECT o.id, o.size, o.hash, max(v.end_scan IS NULL),
                    max(CASE WHEN v.end_scan IS NULL THEN v.copies END),
                    max(CASE WHEN v.end_scan IS NULL THEN v.priority END)
             FROM versions v JOIN objects o ON o.id = v.object GROUP BY o.id",
        )?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            if let Ok(h) = <[u8; 32]>::try_from(r.get::<_, Vec<u8>>(2)?) {
                hashes.insert(id, h);
            }
            let current = r.get::<_, i64>(3)? != 0;
            objects.push(ObjectState {
                id,
                size: r.get::<_, i64>(1)? as u64,
                wanted: if current { r.get(4)? } else { history_copies },
                priority: r.get::<_, Option<i32>>(5)?.unwrap_or(0),
                holders: holders.remove(&id).unwrap_or_default(),
                needed: true,
                history: !current,
            });
        }
        if keep_released {
            return Ok(Snapshot { objects, hashes });
        }
        let mut st = self
            .conn
            .prepare("SELECT o.id, o.size, o.hash FROM copies c JOIN objects o ON o.id = c.object WHERE c.disk = ?1")?;
        let mut rows = st.query([disk])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            if let Some(h) = holders.remove(&id) {
                if let Ok(hash) = <[u8; 32]>::try_from(r.get::<_, Vec<u8>>(2)?) {
                    hashes.insert(id, hash);
                }
                objects.push(ObjectState {
                    id,
                    size: r.get::<_, i64>(1)? as u64,
                    wanted: 0,
                    priority: 0,
                    holders: h,
                    needed: false,
                    history: false,
                });
            }
        }
        Ok(Snapshot { objects, hashes })
    }

    /// The virtual paths of the current files holding each object (where a backup can
    /// read it from), in one pass over the tree.
    pub fn object_paths(&self) -> Result<HashMap<i64, Vec<Vec<u8>>>> {
        let mut st = self.conn.prepare(
            "WITH RECURSIVE t(id, path) AS (
               SELECT 1, X''
               UNION ALL SELECT e.id, CAST(t.path || X'2F' || e.name AS BLOB) FROM entries e JOIN t ON e.parent = t.id
             )
             SELECT v.object, t.path FROM t JOIN versions v ON v.entry = t.id
             WHERE v.end_scan IS NULL AND v.object IS NOT NULL ORDER BY v.entry, v.first_scan",
        )?;
        let mut out: HashMap<i64, Vec<Vec<u8>>> = HashMap::new();
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            out.entry(r.get(0)?).or_default().push(r.get(1)?);
        }
        Ok(out)
    }

    /// Number of disks other than `disk` recorded as holding `object`.
    pub fn other_copies(&self, object: i64, disk: i64) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM copies WHERE object = ?1 AND disk != ?2",
            [object, disk],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Total bytes of the objects recorded on a disk, as the planner counts them.
    pub fn disk_alloc(&self, disk: i64) -> Result<u64> {
        let mut st = self.conn.prepare(
            "SELECT o.size FROM copies c JOIN objects o ON o.id = c.object WHERE c.disk = ?1",
        )?;
        let rows = st.query_map([disk], |r| r.get::<_, i64>(0))?;
        let mut total = 0;
        for s in rows {
            total += crate::placement::alloc_size(s? as u64);
        }
        Ok(total)
    }
}
