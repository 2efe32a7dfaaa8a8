//! `dsbfs backup`: carry out the placement plan on one connected disk.
//!
//! Deletes first, then copies. Copies are staged under temporary names (hashed while
//! written), renamed only after a `syncfs` that started once they were written, and
//! recorded in the catalog only after a `syncfs` that started once they were renamed
//! (see [`Flow`]): a crash leaves temporaries (cleaned next time) or objects not yet
//! recorded (checked and adopted next time, see [`tidy`]), never a catalog record
//! without its object or a partial object under a final name.
//!
//! Every write goes through the disk's folder held open since its identity was checked,
//! the catalog copy included; a disk whose path stops leading to that folder (unmounted,
//! even lazily, or replaced) stops the backup with exit 1.

mod tidy;

use crate::catalog::{Catalog, Source, physical_path};
use crate::disks::Connected;
use crate::placement::{self, ObjectState, Options, Plan, TargetDisk};
use crate::store::{Blocks, DiskError, Store, Written};
use crate::tally::Objects;
use crate::util::{SYNC_BATCH_BYTES, SYNC_BATCH_TIME};
use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, Sender};
use indicatif::ProgressBar;
use serde::Serialize;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Staged copies the workers may hand over before they wait for the recording thread.
const STAGED_WAITING: usize = 64;

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
    /// What the plan copies and deletes.
    pub planned_copy: Objects,
    pub planned_delete: Objects,
    /// Objects the current tree needs by their copies (0, 1, 2, 3 or more), before and
    /// after the plan.
    pub before: [Objects; 4],
    pub after: [Objects; 4],
    pub copied: Objects,
    pub adopted: u64,
    /// Objects found on the disk but not recorded (left by a killed run): checked and
    /// recorded, or removed when the catalog does not know them.
    pub orphans_adopted: u64,
    pub orphans_removed: u64,
    /// Objects not copied because something that does not belong takes their place.
    pub blocked: u64,
    pub deleted: Objects,
    /// Objects whose source no longer matches the scan (flagged for the next scan).
    pub source_changed: u64,
    pub unreadable: u64,
    /// Why the backup stopped early, if it did.
    pub stopped: Option<String>,
    pub errors: crate::problems::Problems,
}

impl BackupReport {
    pub fn needs_attention(&self) -> bool {
        self.source_changed > 0 || self.unreadable > 0 || self.blocked > 0 || self.stopped.is_some()
    }

    /// A warning: one line on stderr, and in the report.
    fn note(&mut self, msg: String) {
        tracing::warn!("{msg}");
        self.errors.push(msg);
    }
}

/// Plans and carries out a backup to `disk`.
pub fn run(cat: &Catalog, disk: &Connected, opts: &BackupOptions) -> Result<BackupReport> {
    run_with(cat, disk, opts, |_| Ok(()))
}

/// Plans a backup to `disk`, shows the plan to `planned` (to print it before anything is
/// copied), and carries it out: a recorded run holding the catalog's work lock from the
/// planning on, unless a dry run.
pub fn run_with(
    cat: &Catalog,
    disk: &Connected,
    opts: &BackupOptions,
    planned: impl FnOnce(&Planned) -> Result<()>,
) -> Result<BackupReport> {
    let work = || {
        let p = plan(cat, disk, opts)?;
        planned(&p)?;
        p.carry_out()
    };
    if opts.dry_run {
        return work();
    }
    crate::runs::record(cat, crate::runs::Kind::Backup, Some(&disk.record), work)
}

/// A backup planned and not yet carried out: its report holds the plan so far. The disk
/// stays locked until it is carried out (or dropped).
pub struct Planned<'a> {
    cat: &'a Catalog,
    disk: &'a Connected,
    opts: &'a BackupOptions,
    _lock: Option<nix::fcntl::Flock<std::fs::File>>,
    blocks: Vec<Blocks>,
    snap: crate::catalog::Snapshot,
    plan: Plan,
    others: Vec<Connected>,
    pub report: BackupReport,
}

/// Plans a backup to `disk`: tidies what a killed run left (unless a dry run), and
/// works out what to copy and delete.
pub fn plan<'a>(
    cat: &'a Catalog,
    disk: &'a Connected,
    opts: &'a BackupOptions,
) -> Result<Planned<'a>> {
    // A backup of nothing would still record a backup time, as if the disk were current.
    if cat.last_complete_scan()?.is_none() {
        return Err(crate::usage(
            "nothing scanned yet: run `dsbfs scan` first (or `dsbfs backup --scan`)",
        ));
    }
    let store = &disk.store;
    let mut report = BackupReport {
        disk: disk.record.name.clone(),
        ..Default::default()
    };
    let lock = if opts.dry_run {
        None
    } else {
        Some(store.lock()?)
    };
    let blocks = if opts.dry_run {
        Vec::new()
    } else {
        tidy::tidy(cat, store, (disk.record.id, &disk.record.name), &mut report)?
    };
    let mut snap = cat.placement_snapshot(disk.record.id)?;
    let others: Vec<Connected> = crate::disks::connected(cat)?
        .into_iter()
        .filter(|c| c.record.id != disk.record.id)
        .collect();
    let reachable: Vec<i64> = others.iter().map(|c| c.record.id).collect();
    placement::drop_unreachable_history(&mut snap.objects, disk.record.id, &reachable);
    let used = cat.disk_alloc(disk.record.id)?;
    let catalog_size = std::fs::metadata(cat.path()).map(|m| m.len()).unwrap_or(0);
    let room = crate::disks::room(&disk.record, used, Some(store.space()?), catalog_size);
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
    // Reports count apparent bytes, as `copied` does; the planner's block-rounded ones
    // are for room only.
    let sizes: std::collections::HashMap<i64, u64> =
        snap.objects.iter().map(|o| (o.id, o.size)).collect();
    let apparent = |ids: &[i64]| Objects {
        objects: ids.len() as u64,
        bytes: ids.iter().filter_map(|id| sizes.get(id)).sum(),
    };
    let histogram = |objects: &[ObjectState]| {
        placement::copy_histogram(objects).map(|(objects, bytes)| Objects { objects, bytes })
    };
    report.room = room;
    report.planned_copy = apparent(&plan.copy);
    report.planned_delete = apparent(&plan.delete);
    report.before = histogram(&snap.objects);
    report.after = histogram(&after);
    Ok(Planned {
        cat,
        disk,
        opts,
        _lock: lock,
        blocks,
        snap,
        plan,
        others,
        report,
    })
}

/// One object of a plan, for people: the paths of the current tree that hold it (none
/// for content only past snapshots hold), its hash and size.
#[derive(Debug)]
pub struct PlannedObject {
    pub paths: Vec<Vec<u8>>,
    pub hash: [u8; 32],
    pub size: u64,
}

impl Planned<'_> {
    /// The objects the plan copies and those it deletes.
    pub fn objects(&self) -> Result<(Vec<PlannedObject>, Vec<PlannedObject>)> {
        let mut paths = self.cat.object_paths()?;
        let sizes: std::collections::HashMap<i64, u64> =
            self.snap.objects.iter().map(|o| (o.id, o.size)).collect();
        let mut named = |ids: &[i64]| -> Vec<PlannedObject> {
            ids.iter()
                .filter_map(|id| {
                    Some(PlannedObject {
                        paths: paths.remove(id).unwrap_or_default(),
                        hash: *self.snap.hashes.get(id)?,
                        size: sizes.get(id).copied().unwrap_or(0),
                    })
                })
                .collect()
        };
        Ok((named(&self.plan.copy), named(&self.plan.delete)))
    }

    /// Deletes, then copies, what the plan says (nothing for a dry run), records the
    /// backup and leaves the catalog copy and restore context on the disk.
    fn carry_out(self) -> Result<BackupReport> {
        let Planned {
            cat,
            disk,
            opts,
            _lock,
            blocks,
            snap,
            plan,
            others,
            mut report,
        } = self;
        if opts.dry_run {
            return Ok(report);
        }
        let store = &disk.store;
        let mut run = Run {
            cat,
            store,
            disk: disk.record.id,
            sources: cat.sources()?,
            others,
            blocks,
            changed_sources: Vec::new(),
            report: &mut report,
        };
        run.delete(&plan, &snap)?;
        let copied = run.copy(&plan, &snap, &snap.objects, opts.progress);
        // Whatever happened to the copy, the sources seen changing are re-hashed next scan.
        cat.flag_for_rescan(&run.changed_sources)?;
        copied?;
        if crate::interrupt::requested() {
            run.report.stopped.get_or_insert_with(|| {
                "stopped on request; what was copied before is recorded".into()
            });
        }
        let now = crate::util::now();
        cat.update_disk(
            disk.record.id,
            &crate::catalog::DiskUpdate {
                last_backup: Some(now),
                ..Default::default()
            },
        )?;
        let _ = cat.checkpoint();
        if let Err(e) = leave_catalog_copy(cat, store, disk.record.id) {
            run.report
                .errors
                .push(format!("could not leave a catalog copy on the disk: {e:#}"));
            run.report
                .stopped
                .get_or_insert_with(|| "the catalog copy could not be written".into());
        }
        if let Err(e) = crate::context::leave_on_disk(cat, disk) {
            run.report.errors.push(format!(
                "could not leave the restore context on the disk: {e:#}"
            ));
            run.report
                .stopped
                .get_or_insert_with(|| "the restore context could not be written".into());
        }
        // Last: whatever was written went to the disk held open, but a disk that left
        // during the run is not a backup that succeeded.
        if !store.at_its_path() {
            let reason = disk_stop_reason(&DiskError::Left.into(), &report.disk);
            report.stopped.get_or_insert(reason);
        }
        Ok(report)
    }
}

/// Writes the catalog copy onto the disk. SQLite writes only by path, so the copy is
/// made beside the catalog first (a name per disk, which the next backup to that disk
/// overwrites if this one is killed) and copied through the disk's held folder.
fn leave_catalog_copy(cat: &Catalog, store: &Store, disk: i64) -> Result<()> {
    let mut tmp = cat.path().as_os_str().to_owned();
    tmp.push(format!(".copy-{disk}"));
    let tmp = std::path::PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let result = cat.copy_into(&tmp).and_then(|()| {
        let mut f =
            std::fs::File::open(&tmp).with_context(|| format!("cannot read {}", tmp.display()))?;
        store.install(crate::store::CATALOG_COPY, &mut f)
    });
    let _ = std::fs::remove_file(&tmp);
    result
}

struct Run<'a> {
    cat: &'a Catalog,
    store: &'a Store,
    disk: i64,
    sources: Vec<Source>,
    others: Vec<Connected>,
    /// What strays in the store stand in the way of: those objects are not copied.
    blocks: Vec<Blocks>,
    /// Objects whose source changed since the scan (flagged for a re-hash at the end).
    changed_sources: Vec<i64>,
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
                // A stray in its place is not the copy: it stays for `verify`.
                if self.blocked(h) {
                    continue;
                }
                self.store.remove_object(h)?;
                self.report
                    .deleted
                    .add(sizes.get(&id).copied().unwrap_or(0));
            }
        }
        if self.report.deleted.objects > 0 {
            self.store.sync()?;
        }
        Ok(())
    }

    /// Copies the plan's objects. Workers read, hash and stage objects in parallel, a
    /// flusher thread syncs and renames, and this thread records ([`Flow`]).
    fn copy(
        &mut self,
        plan: &Plan,
        snap: &crate::catalog::Snapshot,
        objects: &[ObjectState],
        progress: bool,
    ) -> Result<()> {
        let jobs = self.copy_jobs(plan, snap, objects)?;
        let pb = crate::util::progress_bar(
            jobs.iter().map(|j| j.size).sum(),
            "{spinner} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            progress,
        );
        let others = std::mem::take(&mut self.others);
        let store = self.store;
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let workers = crate::util::cores();
        let result = std::thread::scope(|s| {
            let (tx, rx) = crossbeam_channel::bounded::<(usize, Staging)>(STAGED_WAITING);
            for _ in 0..workers {
                let tx = tx.clone();
                let (jobs, next, stop, others, pb) = (&jobs, &next, &stop, &others, &pb);
                s.spawn(move || {
                    while !stop.load(Ordering::Relaxed) && !crate::interrupt::requested() {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break };
                        if tx.send((i, stage(store, others, job, pb))).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let (sync, rounds) = crossbeam_channel::bounded::<Vec<Copied>>(1);
            let (synced_tx, synced) = crossbeam_channel::bounded::<Result<Synced>>(1);
            s.spawn(move || {
                for covered in rounds {
                    if synced_tx.send(flush(store, covered)).is_err() {
                        break;
                    }
                }
            });
            self.save(&jobs, rx, (&sync, &synced), &stop)
        });
        self.others = others;
        pb.finish_and_clear();
        result
    }

    fn blocked(&self, hash: &[u8; 32]) -> bool {
        self.blocks.iter().any(|b| b.covers(hash))
    }

    /// One job per object of the plan that no stray blocks, with the source files that
    /// hold it.
    fn copy_jobs(
        &mut self,
        plan: &Plan,
        snap: &crate::catalog::Snapshot,
        objects: &[ObjectState],
    ) -> Result<Vec<CopyJob>> {
        let sizes: std::collections::HashMap<i64, u64> =
            objects.iter().map(|o| (o.id, o.size)).collect();
        let mut paths = self.cat.object_paths()?;
        let blocked = plan
            .copy
            .iter()
            .filter(|id| snap.hashes.get(id).is_some_and(|h| self.blocked(h)))
            .count();
        self.report.blocked += blocked as u64;
        Ok(plan
            .copy
            .iter()
            .filter(|id| snap.hashes.get(id).is_some_and(|h| !self.blocked(h)))
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
            .collect())
    }

    /// Takes the workers' results until they are done and moves each copy through the
    /// flusher's rounds (asked on `sync`, answered on `synced`) to the catalog.
    fn save(
        &mut self,
        jobs: &[CopyJob],
        mut results: Receiver<(usize, Staging)>,
        (sync, synced): (&Sender<Vec<Copied>>, &Receiver<Result<Synced>>),
        stop: &AtomicBool,
    ) -> Result<()> {
        let mut flow = Flow::default();
        let mut working = true;
        loop {
            if flow.due(working) {
                sync.send(flow.start())
                    .expect("the flusher runs until the end");
            }
            if !working && flow.done() {
                return Ok(());
            }
            crossbeam_channel::select! {
                recv(results) -> msg => match msg {
                    Ok((i, staging)) => {
                        if let Some(c) = self.receive(&jobs[i], staging, stop)? {
                            flow.arrive(c);
                        }
                    }
                    Err(_) => {
                        working = false;
                        results = crossbeam_channel::never();
                    }
                },
                recv(synced) -> r => {
                    flow.syncing = false;
                    let r = r.expect("the flusher answers every round");
                    if let Err(e) = r.and_then(|s| self.advance(&mut flow, s)) {
                        stop.store(true, Ordering::Relaxed);
                        flow.broken = true;
                        self.stop_saving(&e);
                    }
                },
                default(flow.wait()) => {}
            }
        }
    }

    /// Takes one worker's result: records what it noticed and returns the copy to save,
    /// if any. A disk error stops the workers; what was staged before is still saved.
    fn receive(
        &mut self,
        job: &CopyJob,
        staging: Staging,
        stop: &AtomicBool,
    ) -> Result<Option<Copied>> {
        self.take_notes(job, staging.notes)?;
        let mut blocks = None;
        let step = match staging.written {
            Ok(Some(Written::Staged(mut st))) => {
                blocks = st.blocks.take();
                Step::Staged(st)
            }
            Ok(Some(Written::Present)) => Step::Present,
            Ok(_) => return Ok(None),
            // Abandoned on request: its temporary is gone, nothing to count.
            Err(e) if crate::interrupt::is_interrupted(&e) => return Ok(None),
            Err(e) if e.downcast_ref::<DiskError>().is_none() => {
                self.report.unreadable += 1;
                self.note(format!(
                    "object {} not copied: {e:#}",
                    crate::util::hex(&job.hash)
                ));
                return Ok(None);
            }
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                self.report
                    .stopped
                    .get_or_insert_with(|| disk_stop_reason(&e, &self.report.disk));
                return Ok(None);
            }
        };
        Ok(Some(Copied {
            id: job.id,
            size: job.size,
            step,
            blocks,
        }))
    }

    /// Records what a worker noticed: sources that changed since the scan (flagged so the
    /// next scan re-hashes them), unreadable sources, damaged copies on other disks.
    fn take_notes(&mut self, job: &CopyJob, notes: Vec<Note>) -> Result<()> {
        for n in notes {
            match n {
                Note::SourceChanged(path) => {
                    self.report.source_changed += 1;
                    self.changed_sources.push(job.id);
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

    /// After a flusher round: records the copies whose names it made durable; the
    /// objects it renamed wait for the next round.
    fn advance(&mut self, flow: &mut Flow, synced: Synced) -> Result<()> {
        self.record(&synced.named)?;
        for c in synced.renamed {
            flow.renamed(c);
        }
        Ok(())
    }

    /// Records copies in one transaction.
    fn record(&mut self, copies: &[Copied]) -> Result<()> {
        if copies.is_empty() {
            return Ok(());
        }
        self.cat.transaction(|_| {
            for c in copies {
                self.cat.add_copy(c.id, self.disk)?;
                if let Some(blocks) = &c.blocks {
                    self.cat.set_block_hashes(c.id, blocks)?;
                }
            }
            Ok(())
        })?;
        for c in copies {
            if matches!(c.step, Step::Present) {
                self.report.adopted += 1;
            } else {
                self.report.copied.add(c.size);
            }
        }
        Ok(())
    }

    /// Why the backup stopped when a sync, rename or record failed: nothing after that
    /// is renamed or recorded (temporaries are cleaned, named objects adopted next time).
    fn stop_saving(&mut self, e: &anyhow::Error) {
        self.report.stopped = Some(match self.report.stopped.take() {
            Some(first) => {
                format!("{first}; what was staged last could not be saved either ({e:#})")
            }
            None => disk_stop_reason(e, &self.report.disk),
        });
    }

    fn note(&mut self, msg: String) {
        self.report.note(msg);
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
        let mut file = crate::interrupt::Abandoning(&mut file);
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
        let Ok(f) = other.store.open_object(&job.hash) else {
            continue;
        };
        let mut f = crate::interrupt::Abandoning(f);
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

/// One object copied to (or found on) the disk, on its way to the catalog.
struct Copied {
    id: i64,
    size: u64,
    step: Step,
    /// The block hashes of the bytes written (objects of more than one block), recorded
    /// with the copy.
    blocks: Option<Vec<crate::store::Hash>>,
}

enum Step {
    /// Written under a temporary name: renamed after a sync that started later.
    Staged(crate::store::Staged),
    /// Under its final name: recorded after a sync that started later.
    Renamed,
    /// Found whole under its final name: recorded after a sync that started later.
    Present,
}

/// Copies waiting for syncs. A copy takes its next step (rename, then record) only
/// after a sync that started once its last step was done, so every sync serves two
/// steps: it makes durable the data of the objects staged before it started and the
/// names given before it started. Syncs run on the flusher thread; staging goes on. A
/// sync starts [`SYNC_BATCH_TIME`] after the last one started, or once
/// [`SYNC_BATCH_BYTES`] were staged since (and not before the last one ended).
#[derive(Default)]
struct Flow {
    /// Not covered by the running sync (if any), in arrival order.
    waiting: Vec<Copied>,
    /// Bytes that arrived in `waiting`.
    waiting_bytes: u64,
    /// A flusher round runs.
    syncing: bool,
    last_start: Option<Instant>,
    /// A sync, rename or record failed: nothing more is saved.
    broken: bool,
}

impl Flow {
    fn arrive(&mut self, c: Copied) {
        if !self.broken {
            self.waiting_bytes += c.size;
            self.waiting.push(c);
        }
    }

    /// Puts back a copy renamed after a sync: its name needs the next one.
    fn renamed(&mut self, c: Copied) {
        self.waiting.push(c);
    }

    /// Whether to start a sync now: copies wait and none runs, and enough time or bytes
    /// went by (once the workers are done, at once).
    fn due(&self, working: bool) -> bool {
        let time = self
            .last_start
            .is_none_or(|t| t.elapsed() >= SYNC_BATCH_TIME);
        !self.syncing
            && !self.broken
            && !self.waiting.is_empty()
            && (!working || time || self.waiting_bytes >= SYNC_BATCH_BYTES)
    }

    /// Starts a round: everything waiting goes to the flusher.
    fn start(&mut self) -> Vec<Copied> {
        self.waiting_bytes = 0;
        self.syncing = true;
        self.last_start = Some(Instant::now());
        std::mem::take(&mut self.waiting)
    }

    /// Nothing left to save (or nothing more can be).
    fn done(&self) -> bool {
        !self.syncing && (self.broken || self.waiting.is_empty())
    }

    /// How long to wait for results before checking `due` again.
    fn wait(&self) -> Duration {
        match self.last_start {
            Some(t) if !self.syncing && !self.waiting.is_empty() => {
                SYNC_BATCH_TIME.saturating_sub(t.elapsed())
            }
            _ => SYNC_BATCH_TIME,
        }
    }
}

/// What a flusher round did with the copies it covered.
struct Synced {
    /// Named before the round's sync started: safe to record.
    named: Vec<Copied>,
    /// Staged before the sync started, renamed after it ended: their names need the next.
    renamed: Vec<Copied>,
}

/// One flusher round: a sync, then the renames it made safe. Runs on its own thread so
/// staging and recording go on meanwhile.
fn flush(store: &Store, covered: Vec<Copied>) -> Result<Synced> {
    if !store.at_its_path() {
        return Err(DiskError::Left.into());
    }
    store.sync()?;
    let (mut renamed, named): (Vec<Copied>, Vec<Copied>) = covered
        .into_iter()
        .partition(|c| matches!(c.step, Step::Staged(_)));
    for c in &mut renamed {
        if let Step::Staged(st) = &c.step {
            store.commit(st)?;
        }
        c.step = Step::Renamed;
    }
    Ok(Synced { named, renamed })
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
        Some(DiskError::Left) => format!(
            "disk {disk} was unmounted or replaced during the backup; what was copied before is recorded. Reconnect it and run backup again"
        ),
        None => format!("backup to {disk} stopped: {e:#}"),
    }
}

/// Used by `--scan`: errors with context.
pub fn scan_first(cat: &Catalog, progress: bool) -> Result<crate::scan::ScanSummary> {
    crate::scan::run(cat, progress).context("the scan before the backup failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(id: i64, size: u64, step: Step) -> Copied {
        Copied {
            id,
            size,
            step,
            blocks: None,
        }
    }

    fn ids(copies: &[Copied]) -> Vec<i64> {
        copies.iter().map(|c| c.id).collect()
    }

    #[test]
    fn a_sync_covers_only_what_waited_when_it_started() {
        let mut f = Flow::default();
        assert!(!f.due(true), "nothing waits");
        f.arrive(copy(1, 10, Step::Present));
        assert!(f.due(true), "the first sync starts at once");
        assert_eq!(ids(&f.start()), [1]);
        f.arrive(copy(2, 10, Step::Present));
        assert!(!f.due(false), "one round at a time");
        assert!(!f.done());
        f.syncing = false;
        f.renamed(copy(3, 10, Step::Renamed));
        assert!(
            !f.due(true),
            "while workers run, the next round waits for its time"
        );
        assert!(f.due(false), "once they are done, it starts at once");
        assert_eq!(ids(&f.start()), [2, 3]);
        f.syncing = false;
        assert!(f.done());
    }

    #[test]
    fn a_round_renames_only_what_was_staged_and_passes_on_what_was_named() {
        let d = tempfile::tempdir().unwrap();
        let id = crate::store::Identity {
            format: crate::store::FORMAT,
            name: "t".into(),
            uuid: "u".into(),
        };
        crate::store::write_identity(d.path(), &id).unwrap();
        let store = Store::open(d.path()).unwrap();
        let h = crate::scan::hash::sha256(b"data");
        let Ok(Written::Staged(st)) = store.stage(&mut &b"data"[..], &h, 4, &|_| {}) else {
            panic!("not staged");
        };
        let covered = vec![
            copy(1, 4, Step::Staged(st)),
            copy(2, 10, Step::Renamed),
            copy(3, 10, Step::Present),
        ];
        let synced = flush(&store, covered).unwrap();
        assert_eq!(ids(&synced.named), [2, 3]);
        assert_eq!(ids(&synced.renamed), [1]);
        assert!(matches!(synced.renamed[0].step, Step::Renamed));
        assert_eq!(store.object_size(&h), Some(4));
    }

    #[test]
    fn enough_staged_bytes_start_a_sync_before_its_time() {
        let mut f = Flow::default();
        f.arrive(copy(1, 10, Step::Present));
        f.start();
        f.syncing = false;
        f.arrive(copy(2, SYNC_BATCH_BYTES - 1, Step::Present));
        assert!(!f.due(true));
        f.arrive(copy(3, 1, Step::Present));
        assert!(f.due(true));
    }

    #[test]
    fn nothing_more_is_saved_once_a_sync_failed() {
        let mut f = Flow::default();
        f.arrive(copy(1, 10, Step::Present));
        f.start();
        f.arrive(copy(2, 10, Step::Present));
        f.syncing = false;
        f.broken = true;
        f.arrive(copy(3, 10, Step::Present));
        assert!(!f.due(false), "no sync ever covers 2 or 3");
        assert!(f.done());
    }
}
