//! `dsbfs report`: the summary a person reads once a week. For one catalog: what is at
//! risk and which disk to plug in, files by copies (now and over the period), each
//! disk's fill and last backup and verify, the runs of the period and their errors, and
//! how the archive grew. For several catalogs (machines): one line each, the supervisor
//! view ([`machines`]). `text`, `html` render what is computed here; JSON is its serde.

pub mod html;
pub mod machines;
pub mod text;

use crate::catalog::Catalog;
use crate::catalog::tree::Protection;
use crate::runs::{ByCopies, Kind, Outcome, Run};
use crate::status::DiskState;
use crate::util::{format_size as sz, format_time};
use anyhow::Result;
use serde::Serialize;

/// Problem runs listed in full; the rest are counted.
const MAX_PROBLEMS: usize = 20;
/// Points of the files-by-copies chart.
const MAX_POINTS: usize = 60;

#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: String,
    pub catalog: String,
    /// Unix seconds (in JSON, like every time, RFC 3339).
    #[serde(serialize_with = "crate::util::ser_time")]
    pub generated: i64,
    /// The period covered starts here.
    #[serde(serialize_with = "crate::util::ser_time")]
    pub since: i64,
    /// Why this report was sent, when a notification sends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the last scan finished.
    #[serde(serialize_with = "crate::util::ser_opt_time")]
    pub last_scan: Option<i64>,
    pub files: u64,
    pub protection: Protection,
    pub next_disk: Option<String>,
    pub advice: Vec<String>,
    pub disks: Vec<DiskState>,
    /// Runs of the period by kind and how they ended.
    pub runs: Vec<RunCount>,
    /// Runs of the period that failed or need attention, newest first.
    pub problems: Vec<Run>,
    /// Problem runs beyond those listed.
    pub more_problems: u64,
    pub growth: Growth,
    /// Files by copies after each backup and verify of the period, and now.
    pub copies_over_time: Vec<CopiesAt>,
    pub mass_change: Option<crate::history::MassChange>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct RunCount {
    pub kind: Kind,
    pub ok: u64,
    pub attention: u64,
    pub failed: u64,
    pub interrupted: u64,
    pub unfinished: u64,
}

/// The archive at the start of the period (its last snapshot then) and now.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Growth {
    #[serde(serialize_with = "crate::util::ser_opt_time")]
    pub from: Option<i64>,
    pub files_before: u64,
    pub bytes_before: u64,
    pub files_now: u64,
    pub bytes_now: u64,
}

#[derive(Debug, Serialize, PartialEq, Eq, Clone, Copy)]
pub struct CopiesAt {
    #[serde(serialize_with = "crate::util::ser_time")]
    pub time: i64,
    pub by_copies: ByCopies,
}

impl Report {
    /// Files fewer copies than wanted, or on no disk at all.
    pub fn at_risk(&self) -> bool {
        self.protection.below_wanted.files > 0
    }

    /// What is at risk, in one sentence.
    pub fn risk_line(&self) -> String {
        let p = &self.protection;
        if !self.at_risk() {
            return "every file has the copies it wants".into();
        }
        format!(
            "{} files ({}) have fewer copies than wanted; {} files ({}) are on no disk",
            p.below_wanted.files,
            sz(p.below_wanted.bytes),
            p.by_copies[0].files,
            sz(p.by_copies[0].bytes)
        )
    }

    /// How the archive grew over the period, in one sentence (None before any snapshot).
    pub fn growth_line(&self) -> Option<String> {
        let g = &self.growth;
        Some(format!(
            "since {}: {:+} files ({} → {}), {} → {}",
            format_time(Some(g.from?)),
            g.files_now as i64 - g.files_before as i64,
            g.files_before,
            g.files_now,
            sz(g.bytes_before),
            sz(g.bytes_now)
        ))
    }
}

/// A problem run in one line: `2026-12-01 08:50:44 backup of red failed: copied …`.
pub fn problem_line(run: &Run) -> String {
    format!(
        "{} {}{} {}: {}",
        format_time(Some(run.started)),
        run.kind.as_str(),
        run.disk
            .as_deref()
            .map(|d| format!(" of {d}"))
            .unwrap_or_default(),
        run.end.result.as_str(),
        run.end.summary
    )
}

/// The report of one catalog at `now` over the period since `since`.
pub fn compute(cat: &Catalog, since: i64, now: i64) -> Result<Report> {
    let st = crate::status::compute(cat, None, now)?;
    let runs = cat.runs_since(since)?;
    let snapshots = cat.snapshots_counted()?;
    let mut problems: Vec<Run> = runs
        .iter()
        .filter(|r| r.end.result.is_problem())
        .cloned()
        .collect();
    problems.reverse();
    let more_problems = problems.len().saturating_sub(MAX_PROBLEMS) as u64;
    problems.truncate(MAX_PROBLEMS);
    let mut copies_over_time: Vec<CopiesAt> = runs
        .iter()
        .filter_map(|r| {
            Some(CopiesAt {
                time: r.finished?,
                by_copies: r.end.copies?,
            })
        })
        .collect();
    copies_over_time.push(CopiesAt {
        time: now,
        by_copies: st.protection.by_copies,
    });
    Ok(Report {
        machine: machine_name(cat, &runs)?,
        catalog: cat.path().display().to_string(),
        generated: now,
        since,
        reason: None,
        last_scan: snapshots.last().map(|s| s.finished),
        files: st.files,
        growth: growth(&snapshots, since),
        runs: count_runs(&runs),
        problems,
        more_problems,
        copies_over_time: thin(copies_over_time, MAX_POINTS),
        protection: st.protection,
        next_disk: st.next_disk,
        advice: st.advice,
        disks: st.disks,
        mass_change: st.mass_change,
    })
}

/// The machine a catalog belongs to: the host its latest run ran on, else the catalog's
/// file name.
pub fn machine_name(cat: &Catalog, recent: &[Run]) -> Result<String> {
    if let Some(r) = recent.last() {
        return Ok(r.host.clone());
    }
    let latest = Kind::ALL
        .iter()
        .filter_map(|k| cat.last_run(*k, None).transpose())
        .collect::<Result<Vec<Run>>>()?;
    Ok(latest
        .into_iter()
        .max_by_key(|r| r.started)
        .map(|r| r.host)
        .unwrap_or_else(|| cat.path().display().to_string()))
}

pub fn count_runs(runs: &[Run]) -> Vec<RunCount> {
    let mut out: Vec<RunCount> = Vec::new();
    for kind in Kind::ALL {
        let mut c = RunCount {
            kind,
            ok: 0,
            attention: 0,
            failed: 0,
            interrupted: 0,
            unfinished: 0,
        };
        for r in runs.iter().filter(|r| r.kind == kind) {
            match r.end.result {
                Outcome::Ok => c.ok += 1,
                Outcome::Attention => c.attention += 1,
                Outcome::Failed => c.failed += 1,
                Outcome::Interrupted => c.interrupted += 1,
                Outcome::Unfinished => c.unfinished += 1,
            }
        }
        if c.ok + c.attention + c.failed + c.interrupted + c.unfinished > 0 {
            out.push(c);
        }
    }
    out
}

/// The archive at the last snapshot taken at or before `since` (else the first one) and
/// at the latest.
fn growth(snapshots: &[crate::catalog::history::SnapshotRecord], since: i64) -> Growth {
    let Some(last) = snapshots.last() else {
        return Growth::default();
    };
    let first = snapshots
        .iter()
        .rev()
        .find(|s| s.time <= since)
        .unwrap_or(&snapshots[0]);
    let (a, b) = (
        first.counts.unwrap_or_default(),
        last.counts.unwrap_or_default(),
    );
    Growth {
        from: Some(first.time),
        files_before: a.files,
        bytes_before: a.bytes,
        files_now: b.files,
        bytes_now: b.bytes,
    }
}

/// At most `n` points, evenly spread, always keeping the last.
fn thin<T: Copy>(points: Vec<T>, n: usize) -> Vec<T> {
    if points.len() <= n || n < 2 {
        return points;
    }
    let last = points.len() - 1;
    (0..n).map(|i| points[i * last / (n - 1)]).collect()
}

/// "7 days", "24 hours", "90 minutes": a period for people.
pub fn describe_period(seconds: i64) -> String {
    let s = seconds.max(0);
    let (n, unit) = if s >= 2 * 86400 && s % 86400 == 0 {
        (s / 86400, "days")
    } else if s >= 2 * 3600 && s % 3600 == 0 {
        (s / 3600, "hours")
    } else if s >= 120 {
        (s / 60, "minutes")
    } else {
        (s, "seconds")
    };
    format!("{n} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::history::SnapshotRecord;
    use crate::history::counts::Counts;

    fn snap(id: i64, time: i64, files: u64) -> SnapshotRecord {
        SnapshotRecord {
            id,
            time,
            finished: time + 1,
            counts: Some(Counts {
                files,
                bytes: files * 10,
                ..Default::default()
            }),
        }
    }

    #[test]
    fn growth_is_measured_from_the_last_snapshot_before_the_period() {
        let list = [snap(1, 100, 5), snap(2, 200, 8), snap(3, 300, 20)];
        let g = growth(&list, 250);
        assert_eq!(
            (g.from, g.files_before, g.files_now, g.bytes_now),
            (Some(200), 8, 20, 200)
        );
        assert_eq!(
            growth(&list, 50).files_before,
            5,
            "the first when none is older"
        );
        assert_eq!(growth(&[], 50), Growth::default());
    }

    #[test]
    fn a_long_series_is_thinned_evenly_keeping_both_ends() {
        let v: Vec<u32> = (0..100).collect();
        let t = thin(v, 5);
        assert_eq!(t, [0, 24, 49, 74, 99]);
        assert_eq!(thin(vec![1, 2], 5), [1, 2]);
    }

    #[test]
    fn periods_read_naturally() {
        assert_eq!(describe_period(7 * 86400), "7 days");
        assert_eq!(describe_period(86400), "24 hours");
        assert_eq!(describe_period(5400), "90 minutes");
        assert_eq!(describe_period(30), "30 seconds");
    }
}
