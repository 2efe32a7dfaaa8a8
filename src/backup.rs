//! `dsbfs backup`: carry out the placement plan on one connected disk.
//!
//! Deletes first, then copies. Copies are staged under temporary names (hashed while
//! written), flushed with one `syncfs` per batch, renamed, flushed again, and only then
//! recorded in the catalog: a crash leaves temporaries (cleaned next time) or objects
//! not yet recorded (adopted next time), never a catalog record without its object or
//! a partial object under a final name.

use crate::catalog::{Catalog, Source, physical_path};
use crate::disks::Connected;
use crate::placement::{self, ObjectState, Options, Plan, TargetDisk};
use crate::store::{DiskError, Store, Written};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A batch is flushed and recorded after this long or this many bytes.
const BATCH_TIME: Duration = Duration::from_secs(1);
const BATCH_BYTES: u64 = 256 << 20;

pub struct BackupOptions {
    pub dry_run: bool,
    pub limit: Option<u64>,
    pub max_copies: Option<u32>,
    pub evict: bool,
    pub progress: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct BackupReport {
    pub disk: String,
    pub room: u64,
    pub plan_copy_objects: u64,
    pub plan_copy_bytes: u64,
    pub plan_delete_objects: u64,
    pub plan_delete_bytes: u64,
    /// Objects by copy count (0, 1, 2, 3+): (objects, bytes), before and after the plan.
    pub before: [(u64, u64); 4],
    pub after: [(u64, u64); 4],
    pub copied: (u64, u64),
    pub adopted: u64,
    pub deleted: (u64, u64),
    /// Objects whose source no longer matches the scan (flagged for the next scan).
    pub source_changed: u64,
    pub unreadable: u64,
    /// Why the backup stopped early, if it did.
    pub stopped: Option<String>,
    pub errors: Vec<String>,
}

impl BackupReport {
    pub fn needs_attention(&self) -> bool {
        self.source_changed > 0 || self.unreadable > 0 || self.stopped.is_some()
    }
}

pub fn run(cat: &Catalog, disk: &Connected, opts: &BackupOptions) -> Result<BackupReport> {
    let store = &disk.store;
    let _lock = if opts.dry_run {
        None
    } else {
        Some(store.lock()?)
    };
    if !opts.dry_run {
        store.clean_temporaries()?;
    }
    let snap = cat.placement_snapshot(disk.record.id)?;
    let used = cat.disk_alloc(disk.record.id)?;
    let catalog_size = std::fs::metadata(cat.path()).map(|m| m.len()).unwrap_or(0);
    let room = crate::disks::room(disk.record.cap, used, store.space()?, catalog_size);
    let plan = placement::plan(
        &snap.objects,
        &TargetDisk {
            id: disk.record.id,
            room,
        },
        &Options {
            max_copies: opts.max_copies,
            evict: opts.evict,
            limit: opts.limit,
        },
    );
    let mut after = snap.objects.clone();
    placement::apply(&mut after, disk.record.id, &plan);
    let mut report = BackupReport {
        disk: disk.record.name.clone(),
        room,
        plan_copy_objects: plan.copy.len() as u64,
        plan_copy_bytes: plan.copy_bytes,
        plan_delete_objects: plan.delete.len() as u64,
        plan_delete_bytes: plan.delete_bytes,
        before: placement::copy_histogram(&snap.objects),
        after: placement::copy_histogram(&after),
        ..Default::default()
    };
    if opts.dry_run {
        return Ok(report);
    }
    let mut run = Run {
        cat,
        store,
        disk: disk.record.id,
        sources: cat.sources()?,
        others: crate::disks::connected(cat)?
            .into_iter()
            .filter(|c| c.record.id != disk.record.id)
            .collect(),
        report: &mut report,
    };
    run.delete(&plan, &snap)?;
    run.copy(&plan, &snap, &snap.objects, opts.progress)?;
    let now = crate::util::now();
    cat.update_disk(
        disk.record.id,
        &crate::catalog::DiskUpdate {
            last_backup: Some(now),
            ..Default::default()
        },
    )?;
    let _ = cat.conn().execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
    if let Err(e) = cat.snapshot_to(&store.root().join(crate::store::CATALOG_COPY)) {
        run.report
            .errors
            .push(format!("could not leave a catalog copy on the disk: {e:#}"));
        run.report
            .stopped
            .get_or_insert_with(|| "the catalog copy could not be written".into());
    }
    Ok(report)
}

struct Run<'a> {
    cat: &'a Catalog,
    store: &'a Store,
    disk: i64,
    sources: Vec<Source>,
    others: Vec<Connected>,
    report: &'a mut BackupReport,
}

impl Run<'_> {
    /// Forgets the copies first, then removes the files: the catalog never claims a copy
    /// that is not there. A needed object keeps at least one other copy.
    fn delete(&mut self, plan: &Plan, snap: &crate::catalog::Snapshot) -> Result<()> {
        let needed: std::collections::HashSet<i64> = snap
            .objects
            .iter()
            .filter(|o| o.needed)
            .map(|o| o.id)
            .collect();
        let mut doomed = Vec::new();
        self.cat.transaction(|_| {
            for &id in &plan.delete {
                if needed.contains(&id) && self.cat.other_copies(id, self.disk)? == 0 {
                    continue;
                }
                self.cat.remove_copy(id, self.disk)?;
                doomed.push(id);
            }
            Ok(())
        })?;
        let sizes: std::collections::HashMap<i64, u64> =
            snap.objects.iter().map(|o| (o.id, o.size)).collect();
        for id in doomed {
            if let Some(h) = snap.hashes.get(&id) {
                self.store.remove_object(h)?;
                self.report.deleted.0 += 1;
                self.report.deleted.1 += sizes.get(&id).copied().unwrap_or(0);
            }
        }
        if self.report.deleted.0 > 0 {
            self.store.sync()?;
        }
        Ok(())
    }

    /// Copies the plan's objects. Workers (one per core) read, hash and stage objects
    /// in parallel; this thread records what they staged, batch by batch.
    fn copy(
        &mut self,
        plan: &Plan,
        snap: &crate::catalog::Snapshot,
        objects: &[ObjectState],
        progress: bool,
    ) -> Result<()> {
        let sizes: std::collections::HashMap<i64, u64> =
            objects.iter().map(|o| (o.id, o.size)).collect();
        let mut paths = self.cat.object_paths()?;
        let jobs: Vec<CopyJob> = plan
            .copy
            .iter()
            .filter_map(|id| {
                Some(CopyJob {
                    id: *id,
                    hash: *snap.hashes.get(id)?,
                    size: *sizes.get(id)?,
                    sources: paths
                        .remove(id)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|vpath| physical_path(&self.sources, vpath))
                        .collect(),
                })
            })
            .collect();
        let pb = if progress {
            let pb = ProgressBar::new(plan.copy_bytes);
            pb.set_style(
                ProgressStyle::with_template(
                    "{spinner} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
                )
                .expect("valid template"),
            );
            pb
        } else {
            ProgressBar::hidden()
        };
        let others = std::mem::take(&mut self.others);
        let store = self.store;
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let result = std::thread::scope(|s| {
            let (tx, rx) = crossbeam_channel::bounded::<(usize, Staging)>(64);
            for _ in 0..workers {
                let tx = tx.clone();
                let (jobs, next, stop, others, pb) = (&jobs, &next, &stop, &others, &pb);
                s.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break };
                        if tx.send((i, stage(store, others, job, pb))).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let mut batch = Batch::default();
            for (i, staging) in rx {
                let job = &jobs[i];
                self.take_notes(job, staging.notes)?;
                match staging.written {
                    Ok(Some(Written::Staged(st))) => batch.staged.push((job.id, job.size, st)),
                    Ok(Some(Written::Present)) => batch.present.push((job.id, job.size)),
                    Ok(_) => {}
                    Err(e) if e.downcast_ref::<DiskError>().is_none() => {
                        self.report.unreadable += 1;
                        self.note(format!(
                            "object {} not copied: {e:#}",
                            crate::util::hex(&job.hash)
                        ));
                    }
                    Err(e) => {
                        // Stop the workers; what was staged before is still saved below.
                        stop.store(true, Ordering::Relaxed);
                        self.report
                            .stopped
                            .get_or_insert_with(|| disk_stop_reason(&e, &self.report.disk));
                    }
                }
                batch.bytes += job.size;
                let due = batch.started.elapsed() >= BATCH_TIME || batch.bytes >= BATCH_BYTES;
                if due
                    && self.report.stopped.is_none()
                    && let Err(e) = self.flush(&mut batch)
                {
                    stop.store(true, Ordering::Relaxed);
                    self.report.stopped = Some(disk_stop_reason(&e, &self.report.disk));
                }
            }
            if let Err(e) = self.flush(&mut batch) {
                let reason = disk_stop_reason(&e, &self.report.disk);
                self.report.stopped = Some(match self.report.stopped.take() {
                    Some(first) => {
                        format!("{first}; the last batch could not be saved either ({e:#})")
                    }
                    None => reason,
                });
            }
            Ok::<(), anyhow::Error>(())
        });
        self.others = others;
        pb.finish_and_clear();
        result
    }

    /// Records what a worker noticed: sources that changed since the scan (flagged so the
    /// next scan re-hashes them), unreadable sources, damaged copies on other disks.
    fn take_notes(&mut self, job: &CopyJob, notes: Vec<Note>) -> Result<()> {
        for n in notes {
            match n {
                Note::SourceChanged(path) => {
                    self.report.source_changed += 1;
                    self.cat.flag_for_rescan(job.id)?;
                    self.note(format!(
                        "{} changed since the scan; it will be re-hashed by the next scan",
                        path.display()
                    ));
                }
                Note::Unreadable(msg) => {
                    self.report.unreadable += 1;
                    self.note(msg);
                }
                Note::Damaged(msg) => self.note(msg),
            }
        }
        Ok(())
    }

    /// Makes a batch durable and records it: sync data, rename, sync names, commit.
    fn flush(&mut self, batch: &mut Batch) -> Result<()> {
        if batch.staged.is_empty() && batch.present.is_empty() {
            return Ok(());
        }
        self.store.sync()?;
        for (_, _, s) in &batch.staged {
            self.store.commit(s)?;
        }
        self.store.sync()?;
        self.cat.transaction(|_| {
            for (id, _, _) in &batch.staged {
                self.cat.add_copy(*id, self.disk)?;
            }
            for (id, _) in &batch.present {
                self.cat.add_copy(*id, self.disk)?;
            }
            Ok(())
        })?;
        for (_, size, _) in &batch.staged {
            self.report.copied.0 += 1;
            self.report.copied.1 += size;
        }
        self.report.adopted += batch.present.len() as u64;
        *batch = Batch::default();
        Ok(())
    }

    fn note(&mut self, msg: String) {
        tracing::warn!("{msg}");
        if self.report.errors.len() < 50 {
            self.report.errors.push(msg);
        }
    }
}

/// One object to copy and every source file that should hold its bytes.
struct CopyJob {
    id: i64,
    hash: [u8; 32],
    size: u64,
    sources: Vec<std::path::PathBuf>,
}

/// What a worker noticed besides the result.
enum Note {
    SourceChanged(std::path::PathBuf),
    Unreadable(String),
    Damaged(String),
}

struct Staging {
    written: Result<Option<Written>>,
    notes: Vec<Note>,
}

/// Writes one object from the first place that still has the right bytes: a source
/// file, else another connected disk. `Ok(None)` when no place has them. Runs on a
/// worker thread: no catalog access, only files.
fn stage(store: &Store, others: &[Connected], job: &CopyJob, pb: &ProgressBar) -> Staging {
    let on_bytes = |n| pb.inc(n);
    let mut notes = Vec::new();
    for path in &job.sources {
        let mut file = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
        {
            Ok(f) => f,
            Err(e) => {
                notes.push(Note::Unreadable(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
                continue;
            }
        };
        match store.stage(&mut file, &job.hash, job.size, &on_bytes) {
            Ok(Written::Mismatch) => notes.push(Note::SourceChanged(path.clone())),
            written => {
                return Staging {
                    written: written.map(Some),
                    notes,
                };
            }
        }
    }
    for other in others {
        let Ok(mut f) = other.store.open_object(&job.hash) else {
            continue;
        };
        match store.stage(&mut f, &job.hash, job.size, &on_bytes) {
            Ok(Written::Mismatch) => {
                let name = &other.record.name;
                notes.push(Note::Damaged(format!(
                    "object {} on disk {name} is damaged: run `dsbfs verify {name}`",
                    crate::util::hex(&job.hash)
                )));
            }
            written => {
                return Staging {
                    written: written.map(Some),
                    notes,
                };
            }
        }
    }
    Staging {
        written: Ok(None),
        notes,
    }
}

struct Batch {
    staged: Vec<(i64, u64, crate::store::Staged)>,
    present: Vec<(i64, u64)>,
    bytes: u64,
    started: Instant,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            staged: Vec::new(),
            present: Vec::new(),
            bytes: 0,
            started: Instant::now(),
        }
    }
}

/// One line saying why the backup stopped, for a disk that filled up or went away.
fn disk_stop_reason(e: &anyhow::Error, disk: &str) -> String {
    match e.downcast_ref::<DiskError>() {
        Some(DiskError::Full) => format!(
            "disk {disk} is full; what was copied is recorded. Lower its size with `dsbfs disk set {disk} --size` or free space, then run backup again"
        ),
        Some(DiskError::Gone(io)) => format!(
            "disk {disk} stopped answering ({io}); what was copied before is recorded. Reconnect it and run backup again"
        ),
        None => format!("backup to {disk} stopped: {e:#}"),
    }
}

/// Used by `--scan`: errors with context.
pub fn scan_first(cat: &Catalog, progress: bool) -> Result<crate::scan::ScanSummary> {
    crate::scan::run(cat, progress).context("the scan before the backup failed")
}
