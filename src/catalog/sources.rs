//! Source mappings (virtual path ← physical folder) and per-path rules.

use super::Catalog;
use anyhow::Result;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize)]
pub struct Source {
    #[serde(serialize_with = "crate::util::ser_bytes")]
    pub vpath: Vec<u8>,
    pub path: PathBuf,
    pub follow_symlinks: bool,
}

/// Rules set on a virtual path; they apply to everything below it unless a deeper rule says otherwise.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rule {
    #[serde(serialize_with = "crate::util::ser_bytes")]
    pub vpath: Vec<u8>,
    pub excludes: Vec<String>,
    pub copies: Option<u32>,
    pub priority: Option<i32>,
}

impl Catalog {
    pub fn sources(&self) -> Result<Vec<Source>> {
        let mut st = self
            .conn
            .prepare("SELECT vpath, path, follow_symlinks FROM sources ORDER BY vpath")?;
        let rows = st.query_map([], source_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn add_source(&self, src: &Source) -> Result<()> {
        self.conn.execute(
            "INSERT INTO sources(vpath, path, follow_symlinks) VALUES (?1, ?2, ?3)",
            params![
                src.vpath,
                src.path.as_os_str().as_bytes(),
                src.follow_symlinks
            ],
        )?;
        Ok(())
    }

    /// Forgets the source mapped at `vpath` and its rule; false if none is mapped there.
    pub fn remove_source(&self, vpath: &[u8]) -> Result<bool> {
        if self
            .conn
            .execute("DELETE FROM sources WHERE vpath = ?1", [vpath])?
            == 0
        {
            return Ok(false);
        }
        self.conn
            .execute("DELETE FROM rules WHERE vpath = ?1", [vpath])?;
        Ok(true)
    }

    pub fn rules(&self) -> Result<Vec<Rule>> {
        let mut st = self
            .conn
            .prepare("SELECT vpath, excludes, copies, priority FROM rules ORDER BY vpath")?;
        let rows = st.query_map([], |r| {
            let excludes: String = r.get(1)?;
            Ok(Rule {
                vpath: r.get(0)?,
                excludes: serde_json::from_str(&excludes).unwrap_or_default(),
                copies: r.get(2)?,
                priority: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn rule(&self, vpath: &[u8]) -> Result<Option<Rule>> {
        Ok(self.rules()?.into_iter().find(|r| r.vpath == vpath))
    }

    pub fn set_rule(&self, rule: &Rule) -> Result<()> {
        self.conn.execute(
            "INSERT INTO rules(vpath, excludes, copies, priority) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(vpath) DO UPDATE SET excludes = ?2, copies = ?3, priority = ?4",
            params![
                rule.vpath,
                serde_json::to_string(&rule.excludes)?,
                rule.copies,
                rule.priority
            ],
        )?;
        Ok(())
    }

    /// Writes the wanted copies and priority that `effective` gives each current version.
    /// Called after rules change so the next backup plans with them without a rescan.
    pub fn reapply_rules(&self, effective: impl Fn(&[u8]) -> (u32, i32)) -> Result<()> {
        self.transaction(|c| {
            let mut st = c.prepare(
                "WITH RECURSIVE t(id, path) AS (
                   SELECT 1, X''
                   UNION ALL
                   SELECT e.id, CAST(t.path || X'2F' || e.name AS BLOB) FROM entries e JOIN t ON e.parent = t.id
                 )
                 SELECT v.entry, v.first_scan, t.path, v.copies, v.priority FROM t
                 JOIN versions v ON v.entry = t.id AND v.end_scan IS NULL",
            )?;
            let mut update = c.prepare(
                "UPDATE versions SET copies = ?3, priority = ?4 WHERE entry = ?1 AND first_scan = ?2",
            )?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let path: Vec<u8> = r.get(2)?;
                let (copies, priority) = effective(if path.is_empty() { b"/" } else { &path });
                if (r.get::<_, u32>(3)?, r.get::<_, i32>(4)?) != (copies, priority) {
                    update.execute(params![
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        copies,
                        priority
                    ])?;
                }
            }
            Ok(())
        })
    }

    pub fn source_at(&self, vpath: &[u8]) -> Result<Option<Source>> {
        Ok(self
            .conn
            .query_row(
                "SELECT vpath, path, follow_symlinks FROM sources WHERE vpath = ?1",
                [vpath],
                source_from_row,
            )
            .optional()?)
    }
}

fn source_from_row(r: &rusqlite::Row) -> rusqlite::Result<Source> {
    Ok(Source {
        vpath: r.get(0)?,
        path: PathBuf::from(std::ffi::OsStr::from_bytes(&r.get::<_, Vec<u8>>(1)?)),
        follow_symlinks: r.get(2)?,
    })
}

/// The physical path behind a virtual path: the deepest source that contains it.
pub fn physical_path(sources: &[Source], vpath: &[u8]) -> Option<PathBuf> {
    let s = sources
        .iter()
        .filter(|s| crate::util::vpath_within(vpath, &s.vpath))
        .max_by_key(|s| s.vpath.len())?;
    let rest = &vpath[s.vpath.len()..];
    let rest = rest.strip_prefix(b"/").unwrap_or(rest);
    Some(if rest.is_empty() {
        s.path.clone()
    } else {
        s.path.join(std::ffi::OsStr::from_bytes(rest))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deepest_source_maps_a_virtual_path() {
        let s = |v: &str, p: &str| Source {
            vpath: v.into(),
            path: p.into(),
            follow_symlinks: false,
        };
        let sources = [s("/", "/home/u"), s("/photos", "/media/p")];
        assert_eq!(
            physical_path(&sources, b"/photos/a.jpg"),
            Some(PathBuf::from("/media/p/a.jpg"))
        );
        assert_eq!(
            physical_path(&sources, b"/doc.txt"),
            Some(PathBuf::from("/home/u/doc.txt"))
        );
        assert_eq!(physical_path(&sources[1..], b"/x"), None);
    }
}
