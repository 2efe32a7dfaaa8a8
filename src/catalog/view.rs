//! Read-only queries for the mount: one finished scan seen as a filesystem tree.
//!
//! Everything here is indexed by (parent, name), by entry or by object, so each FUSE
//! request costs a few B-tree lookups whatever the size of the catalog, and nothing
//! is loaded whole.

use super::Catalog;
use super::tree::{At, Kind};
use anyhow::Result;
use rusqlite::{OptionalExtension, Row, params};

/// One path of the tree as the mount shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The inode number: the entry id, or for hard links the smallest entry id of the
    /// group, so every name of a hard-linked file is one inode (as in the source).
    pub ino: u64,
    pub entry: i64,
    /// The folder holding this entry (the root is its own parent).
    pub parent: i64,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime_ns: i64,
    pub size: u64,
    /// Folders: 2 + visible subfolders. Files: names of the same hard-link group.
    pub nlink: u32,
    pub target: Option<Vec<u8>>,
    pub object: Option<ObjectRef>,
}

/// The content of a file: which object, and its recorded size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    pub id: i64,
    pub hash: [u8; 32],
    pub size: u64,
}

/// Totals for `statfs`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    pub entries: u64,
    pub bytes: u64,
}

/// Columns of a `Node` from `entries e JOIN versions v LEFT JOIN objects o`, then the name.
/// `{p}` is replaced by the scan predicate for the aliases of the subqueries.
const NODE_COLS: &str = "
    e.id, v.kind, v.mode, v.uid, v.gid, v.mtime_ns, v.size, v.target, o.id, o.hash, o.size,
    CASE WHEN v.kind = 1 THEN 2 + (SELECT count(*) FROM entries c JOIN versions cv ON cv.entry = c.id
                                   AND {pc} WHERE c.parent = e.id AND cv.kind = 1)
         WHEN v.kind = 2 AND v.nlink > 1 AND v.object IS NOT NULL THEN
              (SELECT count(*) FROM versions h WHERE h.nlink > 1 AND h.object = v.object AND h.dev = v.dev
               AND h.ino = v.ino AND h.kind = 2 AND {ph})
         ELSE 1 END,
    CASE WHEN v.kind = 2 AND v.nlink > 1 AND v.object IS NOT NULL THEN
              (SELECT min(h.entry) FROM versions h WHERE h.nlink > 1 AND h.object = v.object AND h.dev = v.dev
               AND h.ino = v.ino AND h.kind = 2 AND {ph})
         ELSE e.id END,
    e.parent, e.name";

/// What every child must be: not the root (entry 1) nor its own folder, and with an
/// id that makes a valid inode number and readdir cookie. A crafted catalog could
/// otherwise make a listing start over (entry 0 is cookie 2, which means "from the
/// start") or contain itself, and walkers never end.
const CHILD: &str = "e.id > 1 AND e.id <> e.parent";

fn node_cols(at: At) -> String {
    NODE_COLS
        .replace("{pc}", &at.predicate_for("cv"))
        .replace("{ph}", &at.predicate_for("h"))
}

fn node_from_row(r: &Row) -> rusqlite::Result<(Node, Vec<u8>)> {
    let hash: Option<Vec<u8>> = r.get(9)?;
    let object = match (r.get::<_, Option<i64>>(8)?, hash) {
        (Some(id), Some(h)) => Some(ObjectRef {
            id,
            hash: h
                .try_into()
                .map_err(|_| rusqlite::Error::IntegralValueOutOfRange(9, 0))?,
            size: r.get::<_, i64>(10)?.max(0) as u64,
        }),
        _ => None,
    };
    let node = Node {
        entry: r.get(0)?,
        kind: Kind::from_i64(r.get(1)?)?,
        mode: r.get::<_, u32>(2)? & 0o7777,
        uid: r.get(3)?,
        gid: r.get(4)?,
        mtime_ns: r.get(5)?,
        size: r.get::<_, i64>(6)?.max(0) as u64,
        target: r.get(7)?,
        object,
        nlink: r.get::<_, i64>(11)?.clamp(1, u32::MAX as i64) as u32,
        ino: r.get::<_, i64>(12)?.max(1) as u64,
        parent: r.get::<_, Option<i64>>(13)?.filter(|&p| p > 0).unwrap_or(1),
    };
    Ok((node, r.get(14)?))
}

impl Catalog {
    /// The node of entry `entry` as of `at`.
    pub fn node(&self, entry: i64, at: At) -> Result<Option<Node>> {
        let sql = format!(
            "SELECT {} FROM entries e JOIN versions v ON v.entry = e.id AND {}
             LEFT JOIN objects o ON o.id = v.object WHERE e.id = ?1",
            node_cols(at),
            at.predicate()
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        Ok(st
            .query_row([entry], |r| node_from_row(r).map(|(n, _)| n))
            .optional()?)
    }

    /// The child `name` of `parent` as of `at`.
    pub fn node_lookup(&self, parent: i64, name: &[u8], at: At) -> Result<Option<Node>> {
        let sql = format!(
            "SELECT {} FROM entries e JOIN versions v ON v.entry = e.id AND {}
             LEFT JOIN objects o ON o.id = v.object
             WHERE e.parent = ?1 AND e.name = ?2 AND {CHILD}",
            node_cols(at),
            at.predicate()
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        Ok(st
            .query_row(params![parent, name], |r| node_from_row(r).map(|(n, _)| n))
            .optional()?)
    }

    /// Up to `limit` children of `parent` visible at `at`, in name order, after the child
    /// whose entry id is `after` (0: from the start). Paging by name walks the
    /// (parent, name) index, so listing a folder of any size costs O(n log n) in all.
    pub fn node_children(
        &self,
        parent: i64,
        at: At,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(Vec<u8>, Node)>> {
        let sql = format!(
            "SELECT {} FROM entries e JOIN versions v ON v.entry = e.id AND {}
             LEFT JOIN objects o ON o.id = v.object
             WHERE e.parent = ?1 AND {CHILD}
               AND (?2 = 0 OR e.name > (SELECT a.name FROM entries a WHERE a.id = ?2 AND a.parent = ?1))
             ORDER BY e.name LIMIT ?3",
            node_cols(at),
            at.predicate()
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map(params![parent, after, limit], |r| {
            node_from_row(r).map(|(n, name)| (name, n))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Names of the disks recorded as holding `object`, by name.
    pub fn holder_names(&self, object: i64) -> Result<Vec<String>> {
        let mut st = self.conn.prepare_cached(
            "SELECT d.name FROM disks d JOIN copies c ON c.disk = d.id WHERE c.object = ?1 ORDER BY d.name",
        )?;
        let rows = st.query_map([object], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Number of entries and bytes of files visible at `at`.
    /// Whether a current file holds `object` (else only past snapshots do). Reads every
    /// version: it answers only for a file that cannot be opened.
    pub fn object_is_current(&self, object: i64) -> Result<bool> {
        let mut st = self.conn.prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM versions WHERE object = ?1 AND end_scan IS NULL)",
        )?;
        Ok(st.query_row([object], |r| r.get(0))?)
    }

    pub fn totals(&self, at: At) -> Result<Totals> {
        let sql = format!(
            "SELECT count(*), coalesce(sum(CASE WHEN v.kind = 2 THEN v.size ELSE 0 END), 0)
             FROM versions v WHERE {}",
            at.predicate()
        );
        let (entries, bytes): (i64, i64) = self
            .conn
            .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(Totals {
            entries: entries.max(0) as u64,
            bytes: bytes.max(0) as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::NodeAttr;

    fn attr(kind: Kind, size: u64, ino: u64, nlink: u32) -> NodeAttr {
        NodeAttr {
            kind,
            mode: 0o644,
            uid: 1,
            gid: 2,
            mtime_ns: 1_500_000_000_000_000_007,
            size,
            target: None,
            dev: 9,
            ino,
            nlink,
            ctime_ns: 0,
        }
    }

    /// A catalog with / (dir), /a (dir), /a/b (dir), /a/f and /a/g (hard links), /z (file).
    fn sample() -> (tempfile::TempDir, Catalog) {
        let d = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&d.path().join("c.db")).unwrap();
        let (scan, _) = cat.begin_or_resume_scan(1).unwrap();
        let rule = (2, 0);
        cat.add_version(1, scan, &attr(Kind::Dir, 0, 1, 3), None, rule)
            .unwrap();
        let a = cat.entry_id(1, b"a").unwrap();
        cat.add_version(a, scan, &attr(Kind::Dir, 0, 2, 3), None, rule)
            .unwrap();
        let b = cat.entry_id(a, b"b").unwrap();
        cat.add_version(b, scan, &attr(Kind::Dir, 0, 3, 2), None, rule)
            .unwrap();
        let obj = cat.object_id(&[7; 32], 5).unwrap();
        let f = cat.entry_id(a, b"f").unwrap();
        let g = cat.entry_id(a, b"g").unwrap();
        cat.add_version(g, scan, &attr(Kind::File, 5, 40, 2), Some(obj), rule)
            .unwrap();
        cat.add_version(f, scan, &attr(Kind::File, 5, 40, 2), Some(obj), rule)
            .unwrap();
        let z = cat.entry_id(1, b"z").unwrap();
        cat.add_version(z, scan, &attr(Kind::File, 5, 41, 1), Some(obj), rule)
            .unwrap();
        cat.finish_scan(scan, 2).unwrap();
        (d, cat)
    }

    #[test]
    fn folders_count_their_subfolders_and_hard_links_share_one_inode() {
        let (_d, cat) = sample();
        let at = At::Scan(1);
        let root = cat.node(1, at).unwrap().unwrap();
        assert_eq!((root.kind, root.nlink, root.ino), (Kind::Dir, 3, 1));
        let a = cat.node_lookup(1, b"a", at).unwrap().unwrap();
        assert_eq!(a.nlink, 3);
        let f = cat.node_lookup(a.entry, b"f", at).unwrap().unwrap();
        let g = cat.node_lookup(a.entry, b"g", at).unwrap().unwrap();
        assert_eq!(f.ino, g.ino, "one inode for both names");
        assert_eq!(f.ino, f.entry.min(g.entry) as u64);
        assert_eq!((f.nlink, g.nlink), (2, 2));
        let z = cat.node_lookup(1, b"z", at).unwrap().unwrap();
        assert_eq!(
            (z.nlink, z.ino),
            (1, z.entry as u64),
            "same content, other inode"
        );
        assert_eq!(z.object.as_ref().unwrap().hash, [7; 32]);
        assert!(cat.node_lookup(1, b"nope", at).unwrap().is_none());
        assert_eq!((a.parent, root.parent), (1, 1));
        assert_eq!(f.parent, a.entry);
        assert_eq!(cat.entry_path(f.entry).unwrap(), b"/a/f");
        assert_eq!(cat.entry_path(1).unwrap(), b"/");
    }

    #[test]
    fn a_crafted_parent_loop_does_not_hang_path_lookups() {
        let (_d, cat) = sample();
        cat.conn
            .execute_batch(
                "INSERT INTO entries(id, parent, name) VALUES (100, 101, X'61'), (101, 100, X'62');",
            )
            .unwrap();
        assert!(cat.entry_path(100).unwrap().len() > 4096);
    }

    #[test]
    fn a_crafted_entry_with_the_roots_parent_id_ends_at_the_root() {
        let (_d, cat) = sample();
        // The root's parent is 0: an entry 0 below the root must not lead back up to it.
        cat.conn
            .execute_batch(
                "INSERT INTO entries(id, parent, name) VALUES (0, 1, X'7a65726f'), (200, 0, X'66');",
            )
            .unwrap();
        assert_eq!(cat.entry_path(0).unwrap(), b"/zero");
        assert_eq!(cat.entry_path(200).unwrap(), b"/zero/f");
        assert_eq!(cat.entry_path(1).unwrap(), b"/");
    }

    #[test]
    fn crafted_entries_that_would_loop_a_listing_are_not_children() {
        let (_d, cat) = sample();
        let at = At::Scan(1);
        let a = cat.node_lookup(1, b"a", at).unwrap().unwrap();
        let before = cat.node_children(a.entry, at, 0, 100).unwrap().len();
        // Entry 0 and a negative id (cookies 2 and 1: "from the start"), and a folder
        // holding itself, all with a version in the shown scan.
        cat.conn
            .execute_batch(&format!(
                "INSERT INTO entries(id, parent, name) VALUES (0, {a}, X'30'), (-5, {a}, X'31'), (500, 500, X'32');
                 INSERT INTO versions(entry, first_scan, end_scan, kind, mode, uid, gid, mtime_ns, size)
                   SELECT e.id, v.first_scan, v.end_scan, v.kind, v.mode, v.uid, v.gid, v.mtime_ns, v.size
                   FROM entries e, versions v WHERE e.id IN (0, -5, 500) AND v.entry = {a};",
                a = a.entry
            ))
            .unwrap();
        assert_eq!(
            cat.node_children(a.entry, at, 0, 100).unwrap().len(),
            before
        );
        assert!(cat.node_lookup(a.entry, b"0", at).unwrap().is_none());
        assert!(cat.node_lookup(a.entry, b"1", at).unwrap().is_none());
        assert!(cat.node_children(500, at, 0, 100).unwrap().is_empty());
        assert!(cat.node_lookup(500, b"2", at).unwrap().is_none());
    }

    #[test]
    fn children_page_in_name_order() {
        let (_d, cat) = sample();
        let at = At::Scan(1);
        let a = cat.node_lookup(1, b"a", at).unwrap().unwrap();
        let mut names = Vec::new();
        let mut after = 0;
        loop {
            let page = cat.node_children(a.entry, at, after, 1).unwrap();
            let Some((name, node)) = page.into_iter().next() else {
                break;
            };
            after = node.entry;
            names.push(name);
        }
        assert_eq!(names, vec![b"b".to_vec(), b"f".to_vec(), b"g".to_vec()]);
        let t = cat.totals(at).unwrap();
        assert_eq!((t.entries, t.bytes), (6, 15));
    }

    #[test]
    fn a_later_unfinished_scan_does_not_change_the_view() {
        let (_d, cat) = sample();
        let (scan2, _) = cat.begin_or_resume_scan(3).unwrap();
        let z = cat.node_lookup(1, b"z", At::Scan(1)).unwrap().unwrap();
        let old = cat.version(z.entry, At::Current).unwrap().unwrap();
        cat.end_version(&old, scan2).unwrap();
        let new = cat.entry_id(1, b"new").unwrap();
        cat.add_version(new, scan2, &attr(Kind::File, 0, 50, 1), None, (2, 0))
            .unwrap();
        assert!(cat.node_lookup(1, b"z", At::Scan(1)).unwrap().is_some());
        assert!(cat.node_lookup(1, b"new", At::Scan(1)).unwrap().is_none());
        assert_eq!(cat.node_children(1, At::Scan(1), 0, 100).unwrap().len(), 2);
    }
}
