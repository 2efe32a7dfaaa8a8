//! Run history in the catalog: a row per scan, backup, verify, restore and forget.

use super::Catalog;
use crate::runs::{ByCopies, Ending, Kind, Origin, Outcome, Run, Start};
use anyhow::Result;
use rusqlite::{OptionalExtension, Row, params};

const RUN_COLS: &str = "id, kind, started, finished, origin, host, disk, disk_name, result, files, \
     bytes, summary, errors, copies";

fn run_from_row(r: &Row) -> rusqlite::Result<Run> {
    let kind: String = r.get(1)?;
    let origin: String = r.get(4)?;
    let errors: String = r.get(12)?;
    let copies: Option<String> = r.get(13)?;
    Ok(Run {
        id: r.get(0)?,
        // An unknown kind (from a newer dsbfs) reads as a scan rather than failing the list.
        kind: Kind::parse(&kind).unwrap_or(Kind::Scan),
        started: r.get(2)?,
        finished: r.get(3)?,
        origin: if origin == "watch" {
            Origin::Watch
        } else {
            Origin::Hand
        },
        host: r.get(5)?,
        disk_id: r.get(6)?,
        disk: r.get(7)?,
        end: Ending {
            result: Outcome::parse(r.get::<_, Option<String>>(8)?.as_deref()),
            files: r.get::<_, i64>(9)?.max(0) as u64,
            bytes: r.get::<_, i64>(10)?.max(0) as u64,
            summary: r.get(11)?,
            errors: serde_json::from_str(&errors).unwrap_or_default(),
            copies: copies.and_then(|c| by_copies(&c)),
        },
    })
}

impl Catalog {
    /// Whether this connection only reads (`open_readonly`).
    pub fn is_read_only(&self) -> bool {
        self.conn
            .query_row("PRAGMA query_only", [], |r| r.get::<_, i64>(0))
            .ok()
            != Some(0)
            || self.conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true)
    }

    /// Records a run's start. With `exclusive` (the caller holds the work lock), runs of
    /// the exclusive kinds that never ended were killed: they are marked interrupted.
    pub fn begin_run(&self, s: &Start, exclusive: bool) -> Result<i64> {
        self.transaction(|c| {
            if exclusive {
                c.execute(
                    "UPDATE runs SET result = 'interrupted' WHERE result IS NULL AND kind != 'restore'",
                    [],
                )?;
            }
            c.execute(
                "INSERT INTO runs(kind, started, origin, host, disk, disk_name)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    s.kind.as_str(),
                    s.started,
                    s.origin.as_str(),
                    s.host,
                    s.disk.map(|d| d.0),
                    s.disk.map(|d| d.1)
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    pub fn finish_run(&self, id: i64, finished: i64, e: &Ending) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET finished = ?2, result = ?3, files = ?4, bytes = ?5, summary = ?6,
             errors = ?7, copies = ?8 WHERE id = ?1",
            params![
                id,
                finished,
                e.result.as_str(),
                e.files as i64,
                e.bytes as i64,
                e.summary,
                serde_json::to_string(&e.errors)?,
                e.copies.map(|c| serde_json::to_string(&c)).transpose()?
            ],
        )?;
        Ok(())
    }

    /// Runs started at or after `since` (unix seconds), oldest first.
    pub fn runs_since(&self, since: i64) -> Result<Vec<Run>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {RUN_COLS} FROM runs WHERE started >= ?1 ORDER BY started, id"
        ))?;
        let rows = st.query_map([since], run_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The latest run of `kind` (on disk `disk`, when given).
    pub fn last_run(&self, kind: Kind, disk: Option<i64>) -> Result<Option<Run>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {RUN_COLS} FROM runs WHERE kind = ?1 AND (?2 IS NULL OR disk = ?2)
             ORDER BY started DESC, id DESC LIMIT 1"
        ))?;
        Ok(st
            .query_row(params![kind.as_str(), disk], run_from_row)
            .optional()?)
    }

    /// Forgets runs that started before `before` (and ended).
    pub fn prune_runs(&self, before: i64) -> Result<u64> {
        Ok(self.conn.execute(
            "DELETE FROM runs WHERE started < ?1 AND result IS NOT NULL",
            [before],
        )? as u64)
    }

    /// The latest run that ended as `result` says, of `kind`.
    pub fn last_run_with(&self, kind: Kind, result: Outcome) -> Result<Option<Run>> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {RUN_COLS} FROM runs WHERE kind = ?1 AND result = ?2
             ORDER BY started DESC, id DESC LIMIT 1"
        ))?;
        Ok(st
            .query_row(params![kind.as_str(), result.as_str()], run_from_row)
            .optional()?)
    }
}

/// A run's files by copies as recorded: `{"files", "bytes"}` objects, or the pairs the
/// first catalogs of format 6 wrote.
fn by_copies(json: &str) -> Option<ByCopies> {
    serde_json::from_str::<ByCopies>(json).ok().or_else(|| {
        let pairs: [(u64, u64); 4] = serde_json::from_str(json).ok()?;
        Some(pairs.map(|(files, bytes)| crate::tally::Files { files, bytes }))
    })
}
