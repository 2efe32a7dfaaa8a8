//! Run history: every scan, backup, verify, restore and forget, by hand or by `watch`,
//! is recorded in the catalog (kind, start, end, disk, result, files and bytes, the
//! first errors). [`record`] wraps the library call that does the work, so every path
//! to it records; it also takes the catalog's work lock ([`lock`]) for the kinds that
//! write the catalog, so two of them never run at once.

pub mod lock;

use crate::catalog::{Catalog, DiskRecord};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Errors kept in a run's record.
pub const MAX_ERRORS: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Scan,
    Backup,
    Verify,
    Restore,
    Forget,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Scan,
        Kind::Backup,
        Kind::Verify,
        Kind::Restore,
        Kind::Forget,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Scan => "scan",
            Kind::Backup => "backup",
            Kind::Verify => "verify",
            Kind::Restore => "restore",
            Kind::Forget => "forget",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Kinds that write the catalog take its work lock: one at a time. A restore only
    /// reads it.
    pub fn exclusive(self) -> bool {
        self != Kind::Restore
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    /// Finished, but something needs attention (the command's exit code 3).
    Attention,
    /// Failed or stopped early (exit code 1).
    Failed,
    /// Stopped on request (SIGTERM to `watch`), or killed.
    Interrupted,
    /// No end recorded: running now, or killed (a later run that takes the catalog's
    /// lock marks those interrupted).
    Unfinished,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Attention => "attention",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
            Outcome::Unfinished => "unfinished",
        }
    }

    pub fn parse(s: Option<&str>) -> Outcome {
        match s {
            Some("ok") => Outcome::Ok,
            Some("attention") => Outcome::Attention,
            Some("failed") => Outcome::Failed,
            Some("interrupted") => Outcome::Interrupted,
            _ => Outcome::Unfinished,
        }
    }

    /// Failed or needing attention: what reports list and notifications tell.
    pub fn is_problem(self) -> bool {
        matches!(self, Outcome::Attention | Outcome::Failed)
    }
}

/// Who started a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Hand,
    Watch,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Hand => "hand",
            Origin::Watch => "watch",
        }
    }
}

static BY_WATCH: AtomicBool = AtomicBool::new(false);

/// Marks every later run of this process as started by `watch`.
pub fn set_watch_origin() {
    BY_WATCH.store(true, Ordering::Relaxed);
}

fn origin() -> Origin {
    if BY_WATCH.load(Ordering::Relaxed) {
        Origin::Watch
    } else {
        Origin::Hand
    }
}

/// Files and bytes with 0, 1, 2 and 3+ copies.
pub type ByCopies = [crate::tally::Files; 4];

/// A recorded run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Run {
    pub id: i64,
    pub kind: Kind,
    /// Unix seconds (RFC 3339 in JSON, as every time is).
    #[serde(serialize_with = "crate::util::ser_time")]
    pub started: i64,
    #[serde(serialize_with = "crate::util::ser_opt_time")]
    pub finished: Option<i64>,
    pub origin: Origin,
    pub host: String,
    #[serde(skip)]
    pub disk_id: Option<i64>,
    pub disk: Option<String>,
    /// How it ended (`Unfinished`, with nothing else, until it does).
    #[serde(flatten)]
    pub end: Ending,
}

/// A run as it starts.
pub struct Start<'a> {
    pub kind: Kind,
    pub started: i64,
    pub origin: Origin,
    pub host: &'a str,
    pub disk: Option<(i64, &'a str)>,
}

/// What a run's record says about how it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ending {
    pub result: Outcome,
    pub files: u64,
    pub bytes: u64,
    pub summary: String,
    /// The first errors.
    pub errors: Vec<String>,
    /// After a backup or verify: the catalog's files by copies.
    pub copies: Option<ByCopies>,
}

impl Ending {
    pub fn new(result: Outcome, (files, bytes): (u64, u64), summary: String) -> Ending {
        Ending {
            result,
            files,
            bytes,
            summary,
            errors: Vec::new(),
            copies: None,
        }
    }

    /// Keeps the first `MAX_ERRORS` of `errors`.
    pub fn errors<S: AsRef<str>>(mut self, errors: impl IntoIterator<Item = S>) -> Ending {
        self.errors = errors
            .into_iter()
            .take(MAX_ERRORS)
            .map(|e| e.as_ref().to_string())
            .collect();
        self
    }

    /// The ending of work that returned an error.
    pub fn failed(e: &anyhow::Error) -> Ending {
        let line = format!("{e:#}").replace('\n', " ");
        let result = if crate::interrupt::is_interrupted(e) {
            Outcome::Interrupted
        } else {
            Outcome::Failed
        };
        Ending::new(result, (0, 0), line.clone()).errors([&line])
    }
}

/// The outcome for work that finished: ok, or attention.
pub fn finished(needs_attention: bool) -> Outcome {
    if needs_attention {
        Outcome::Attention
    } else {
        Outcome::Ok
    }
}

/// A disk's latest backup or verify for people: `2026-12-01 08:50:44 ok`; without a
/// recorded run (catalogs from before run history), the time the disk record keeps.
pub fn last_line(recorded_time: Option<i64>, run: Option<&Run>) -> String {
    use crate::util::format_time;
    match run {
        Some(r) => format!(
            "{} {}",
            format_time(Some(r.finished.unwrap_or(r.started))),
            r.end.result.as_str()
        ),
        None => format_time(recorded_time),
    }
}

/// What a library call's report says for the run's record.
pub trait Recordable {
    fn ending(&self) -> Ending;
}

/// This machine's name, as runs record it.
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Runs `work` as a recorded run of `kind` (on `disk`): takes the catalog's work lock
/// first for the kinds that need it (waiting for whoever holds it), records the start,
/// and records how it ended. A run that cannot be recorded (a catalog on read-only
/// media) still runs; a failure to record is a warning, never the run's failure.
pub fn record<T: Recordable>(
    cat: &Catalog,
    kind: Kind,
    disk: Option<&DiskRecord>,
    work: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let _lock = if kind.exclusive() {
        Some(lock::WorkLock::acquire(cat.path(), &describe(kind, disk))?)
    } else {
        None
    };
    let own;
    let book = if !cat.is_read_only() {
        Some(cat)
    } else {
        own = writable_beside(cat.path());
        own.as_ref()
    };
    let host = host();
    let start = Start {
        kind,
        started: crate::util::now(),
        origin: origin(),
        host: &host,
        disk: disk.map(|d| (d.id, d.name.as_str())),
    };
    let id = book.and_then(|b| {
        let begun = b.begin_run(&start, kind.exclusive());
        begun
            .inspect_err(|e| tracing::warn!("cannot record the {} run: {e:#}", kind.as_str()))
            .ok()
    });
    let out = work();
    if let (Some(b), Some(id)) = (book, id) {
        let mut ending = match &out {
            Ok(report) => report.ending(),
            Err(e) => Ending::failed(e),
        };
        if matches!(kind, Kind::Backup | Kind::Verify) {
            ending.copies = b.protection().ok().map(|p| p.by_copies);
        }
        if let Err(e) = b.finish_run(id, crate::util::now(), &ending) {
            tracing::warn!("cannot record the end of the {} run: {e:#}", kind.as_str());
        }
    }
    out
}

/// What a run holding the lock is doing, for whoever waits for it.
fn describe(kind: Kind, disk: Option<&DiskRecord>) -> String {
    let by = match origin() {
        Origin::Watch => "dsbfs watch",
        Origin::Hand => "by hand",
    };
    match disk {
        Some(d) => format!("{} of disk {} ({by})", kind.as_str(), d.name),
        None => format!("{} ({by})", kind.as_str()),
    }
}

/// A writable connection to a catalog the work reads through a read-only one (a
/// restore), when the file may be written: never a catalog copy on a backup disk, which
/// describes the disk and is replaced by the next backup.
fn writable_beside(path: &Path) -> Option<Catalog> {
    let dir = path.parent()?;
    let is_copy = path.file_name() == Some(std::ffi::OsStr::new(crate::store::CATALOG_COPY))
        && dir.join(crate::store::IDENTITY_FILE).exists();
    let writable = |p: &Path| nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok();
    if is_copy || !writable(path) || !writable(dir) {
        return None;
    }
    Catalog::open(path)
        .inspect_err(|e| tracing::debug!("runs are not recorded in {}: {e:#}", path.display()))
        .ok()
}

impl Recordable for crate::scan::ScanSummary {
    fn ending(&self) -> Ending {
        let mut summary = format!(
            "{} new, {} changed, {} deleted",
            self.new.files, self.changed.files, self.deleted.files
        );
        if !self.only.is_empty() {
            summary += &format!("; rescanned {}", self.only.join(", "));
        }
        if self.needs_attention() {
            summary += &format!(
                "; {} unreadable, {} kept changing",
                self.unreadable, self.changed_while_hashing
            );
        }
        Ending::new(
            finished(self.needs_attention()),
            (self.hashed.files, self.hashed.bytes),
            summary,
        )
        .errors(self.errors.iter())
    }
}

impl Recordable for crate::backup::BackupReport {
    fn ending(&self) -> Ending {
        let mut summary = format!(
            "copied {} objects ({}), deleted {} ({})",
            self.copied.objects,
            crate::util::format_size(self.copied.bytes),
            self.deleted.objects,
            crate::util::format_size(self.deleted.bytes)
        );
        let result = if let Some(why) = &self.stopped {
            summary += &format!("; {why}");
            if crate::interrupt::requested() {
                Outcome::Interrupted
            } else {
                Outcome::Failed
            }
        } else {
            finished(self.needs_attention())
        };
        let errors: Vec<String> = (self.stopped.iter().cloned())
            .chain(self.errors.iter().map(|e| e.into_owned()))
            .collect();
        Ending::new(result, (self.copied.objects, self.copied.bytes), summary).errors(&errors)
    }
}

impl Recordable for crate::verify::VerifyReport {
    fn ending(&self) -> Ending {
        let summary = format!(
            "checked {} objects ({}): {} damaged, {} missing, {} unknown",
            self.checked.objects,
            crate::util::format_size(self.checked.bytes),
            self.damaged.len(),
            self.missing.len(),
            self.unknown.len()
        );
        let errors: Vec<String> = (self.damaged.iter().map(|d| format!("damaged: {d}")))
            .chain(self.missing.iter().map(|m| format!("missing: {m}")))
            .chain(self.unknown.iter().map(|u| format!("unknown: {u}")))
            .take(MAX_ERRORS)
            .collect();
        Ending::new(
            finished(self.needs_attention()),
            (self.checked.objects, self.checked.bytes),
            summary,
        )
        .errors(&errors)
    }
}

impl Recordable for crate::restore::RestoreReport {
    fn ending(&self) -> Ending {
        let mut summary = format!(
            "restored {} files ({})",
            self.restored.files,
            crate::util::format_size(self.restored.bytes)
        );
        if self.missing_files > 0 {
            summary += &format!("; {} still missing", self.missing_files);
        }
        let errors: Vec<String> = (self.corrupt.iter().map(|e| e.into_owned()))
            .chain(self.errors.iter().map(|e| e.into_owned()))
            .chain(self.missing.iter().map(|m| {
                format!(
                    "{} files missing, on {}",
                    m.files,
                    if m.disks.is_empty() {
                        "no disk".to_string()
                    } else {
                        m.disks.join(" or ")
                    }
                )
            }))
            .take(MAX_ERRORS)
            .collect();
        Ending::new(
            finished(self.needs_attention()),
            (self.restored.files, self.restored.bytes),
            summary,
        )
        .errors(&errors)
    }
}

impl Recordable for crate::catalog::history::Released {
    fn ending(&self) -> Ending {
        Ending::new(
            Outcome::Ok,
            (self.objects, self.bytes),
            format!(
                "forgot {} snapshots; released {} versions and {} contents ({})",
                self.snapshots,
                self.versions,
                self.objects,
                crate::util::format_size(self.bytes)
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_archive::Archive;

    #[derive(Debug)]
    struct Done(Outcome);

    impl Recordable for Done {
        fn ending(&self) -> Ending {
            Ending::new(self.0, (3, 300), "did it".into()).errors(&["e1".to_string()])
        }
    }

    #[test]
    fn a_run_is_recorded_from_its_start_to_how_it_ended() {
        let a = Archive::new();
        let d = a.disk("red", None);
        let seen = record(&a.cat, Kind::Verify, Some(&d), || {
            let runs = a.cat.runs_since(0)?;
            assert_eq!(runs.len(), 1);
            assert_eq!(
                runs[0].end.result,
                Outcome::Unfinished,
                "begun before the work"
            );
            Ok(Done(Outcome::Attention))
        })
        .unwrap();
        assert_eq!(seen.0, Outcome::Attention);
        let e = record(&a.cat, Kind::Backup, Some(&d), || -> Result<Done> {
            anyhow::bail!("disk red is full")
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "disk red is full");
        let runs = a.cat.runs_since(0).unwrap();
        assert_eq!(runs.len(), 2);
        let (v, b) = (&runs[0], &runs[1]);
        assert_eq!(
            (v.kind, v.end.result, v.end.files, v.end.bytes),
            (Kind::Verify, Outcome::Attention, 3, 300)
        );
        assert_eq!(v.disk.as_deref(), Some("red"));
        assert_eq!(v.disk_id, Some(d.id));
        assert_eq!(
            (v.end.summary.as_str(), v.end.errors.as_slice()),
            ("did it", ["e1".to_string()].as_slice())
        );
        assert_eq!(v.origin, Origin::Hand);
        assert_eq!(v.host, host());
        assert!(v.finished.is_some_and(|f| f >= v.started));
        assert_eq!(
            v.end.copies,
            Some([crate::tally::Files::default(); 4]),
            "a verify records the copies after it"
        );
        assert_eq!((b.kind, b.end.result), (Kind::Backup, Outcome::Failed));
        assert_eq!(b.end.errors, ["disk red is full"]);
        assert_eq!(
            a.cat
                .last_run(Kind::Backup, Some(d.id))
                .unwrap()
                .unwrap()
                .id,
            b.id
        );
        assert_eq!(a.cat.last_run(Kind::Scan, None).unwrap(), None);
    }

    #[test]
    fn a_run_left_unfinished_is_marked_interrupted_by_the_next_that_holds_the_lock() {
        let a = Archive::new();
        let host = host();
        let start = Start {
            kind: Kind::Scan,
            started: 100,
            origin: Origin::Watch,
            host: &host,
            disk: None,
        };
        let killed = a.cat.begin_run(&start, true).unwrap();
        let restore = a
            .cat
            .begin_run(
                &Start {
                    kind: Kind::Restore,
                    ..start
                },
                false,
            )
            .unwrap();
        record(&a.cat, Kind::Scan, None, || Ok(Done(Outcome::Ok))).unwrap();
        let runs = a.cat.runs_since(0).unwrap();
        let result = |id| runs.iter().find(|r| r.id == id).unwrap().end.result;
        assert_eq!(result(killed), Outcome::Interrupted);
        assert_eq!(
            result(restore),
            Outcome::Unfinished,
            "a restore takes no lock: it may still run"
        );
        assert_eq!(
            a.cat.runs_since(101).unwrap().len(),
            1,
            "since filters by start"
        );
    }

    #[test]
    fn a_catalog_copy_on_a_disk_is_never_written_to_record_a_run() {
        let a = Archive::scanned(&[("f", 10)]);
        let d = a.disk("red", None);
        let copy = a.path("red").join(crate::store::CATALOG_COPY);
        a.cat.copy_into(&copy).unwrap();
        assert!(writable_beside(&copy).is_none());
        let plain = a.path("other.db");
        a.cat.copy_into(&plain).unwrap();
        assert!(writable_beside(&plain).is_some());
        let runs = |p: &Path| {
            Catalog::open_readonly(p)
                .unwrap()
                .runs_since(0)
                .unwrap()
                .len()
        };
        let before = runs(&copy);
        let ro = Catalog::open_readonly(&copy).unwrap();
        record(&ro, Kind::Restore, Some(&d), || Ok(Done(Outcome::Ok))).unwrap();
        assert_eq!(runs(&copy), before);
        let ro = Catalog::open_readonly(&plain).unwrap();
        record(&ro, Kind::Restore, None, || Ok(Done(Outcome::Ok))).unwrap();
        assert_eq!(runs(&plain), before + 1, "recorded beside the reader");
    }
}
