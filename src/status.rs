//! What the catalog holds, how well it is protected, and what to do next: the facts
//! behind `dsbfs status`, computed without printing.

use crate::catalog::Catalog;
use crate::catalog::tree::Protection;
use crate::placement::{self, Options, TargetDisk};
use crate::tally::Objects;
use crate::util::format_size as sz;
use anyhow::Result;
use serde::Serialize;
use std::collections::HashMap;

/// A disk not verified for this long is named in the advice.
pub const VERIFY_EVERY_DAYS: i64 = 90;

#[derive(Debug, Serialize)]
pub struct DiskState {
    pub name: String,
    pub connected: bool,
    pub objects: u64,
    pub used: u64,
    pub cap: Option<u64>,
    #[serde(serialize_with = "crate::util::ser_opt_time")]
    pub last_backup: Option<i64>,
    #[serde(serialize_with = "crate::util::ser_opt_time")]
    pub last_verify: Option<i64>,
    /// The latest backup and verify runs on this disk, however they ended.
    pub last_backup_run: Option<crate::runs::Run>,
    pub last_verify_run: Option<crate::runs::Run>,
    /// Bytes dsbfs may still add (measured now if connected, else when last seen).
    pub room: u64,
    /// At-risk objects (and their bytes) a backup to this disk would give another copy.
    pub would_protect: Objects,
}

/// What would be left if a disk died (`status --simulate-drop`).
#[derive(Debug, Serialize)]
pub struct Dropped {
    pub disk: String,
    pub protection: Protection,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub catalog: String,
    pub last_complete_scan: Option<i64>,
    pub scan_interrupted: bool,
    pub folders: u64,
    pub files: u64,
    pub symlinks: u64,
    pub protection: Protection,
    pub disks: Vec<DiskState>,
    /// The disk whose backup would protect the most at-risk bytes now.
    pub next_disk: Option<String>,
    /// Disks holding objects that were never verified, or not for `VERIFY_EVERY_DAYS`.
    pub verify_due: Vec<String>,
    /// Disks on which the mount or a restore met damaged copies since they were last
    /// verified (`damaged`).
    pub damaged: Vec<DamagedOn>,
    /// The disk asked about, and the protection left if it died.
    pub simulate_drop: Option<Dropped>,
    /// Snapshots kept, and what content only they hold takes.
    pub history: HistoryState,
    /// A scan changed or removed an unusual share of the files (see `dsbfs snapshots`).
    pub mass_change: Option<crate::history::MassChange>,
    /// What to do next, most useful first.
    pub advice: Vec<String>,
}

/// Damaged copies met on one disk.
#[derive(Debug, Serialize)]
pub struct DamagedOn {
    pub disk: String,
    /// Files whose copy on the disk was found damaged (their paths, as read).
    pub files: Vec<String>,
    /// What found them: "mount", "restore".
    pub found_by: Vec<String>,
}

/// History as `status` shows it.
#[derive(Debug, Default, Serialize)]
pub struct HistoryState {
    pub snapshots: u64,
    /// Contents only past snapshots hold: how many, their bytes, and their copies' bytes
    /// on the disks.
    pub objects: u64,
    pub bytes: u64,
    pub disk_bytes: u64,
}

impl Status {
    /// Files have fewer copies than they want, or copies were found damaged (exit
    /// code 3).
    pub fn needs_attention(&self) -> bool {
        self.protection.below_wanted.files > 0 || !self.damaged.is_empty()
    }
}

/// The status of the catalog at time `now`; with `simulate_drop`, also the protection
/// left if that disk died (a usage error if no disk has that name).
pub fn compute(cat: &Catalog, simulate_drop: Option<&str>, now: i64) -> Result<Status> {
    let [folders, files, symlinks] = cat.kind_counts()?;
    let protection = cat.protection()?;
    let disks = disk_states(cat)?;
    let next_disk = disks
        .iter()
        .filter(|d| d.would_protect.bytes > 0)
        .max_by_key(|d| (d.would_protect.bytes, std::cmp::Reverse(d.name.clone())))
        .map(|d| d.name.clone());
    let verify_due: Vec<String> = disks
        .iter()
        .filter(|d| {
            d.objects > 0
                && d.last_verify
                    .is_none_or(|t| now - t > VERIFY_EVERY_DAYS * 86400)
        })
        .map(|d| d.name.clone())
        .collect();
    let simulate_drop = match simulate_drop {
        Some(name) => {
            let d = crate::disks::named(cat, name)?;
            Some(Dropped {
                disk: d.name,
                protection: cat.protection_without(Some(d.id))?,
            })
        }
        None => None,
    };
    let last_complete_scan = cat.last_complete_scan()?;
    let scan_interrupted = cat.scan_interrupted()?;
    let (objects, bytes, disk_bytes) = cat.history_usage()?;
    let history = HistoryState {
        snapshots: cat.snapshots()?.len() as u64,
        objects,
        bytes,
        disk_bytes,
    };
    let mut st = Status {
        catalog: cat.path().display().to_string(),
        last_complete_scan,
        scan_interrupted,
        folders,
        files,
        symlinks,
        protection,
        disks,
        next_disk,
        verify_due,
        damaged: damaged_on(cat)?,
        simulate_drop,
        history,
        mass_change: crate::history::guard(cat)?,
        advice: Vec::new(),
    };
    st.advice = advice(&st);
    Ok(st)
}

/// The damaged copies listed beside the catalog, by disk (as it is named now; disks
/// since forgotten are left out).
fn damaged_on(cat: &Catalog) -> Result<Vec<DamagedOn>> {
    let disks = cat.disks()?;
    let mut by_disk: Vec<DamagedOn> = Vec::new();
    for d in crate::damaged::load(cat.path()) {
        let Some(disk) = disks.iter().find(|r| r.uuid == d.disk_uuid) else {
            continue;
        };
        let i = match by_disk.iter().position(|o| o.disk == disk.name) {
            Some(i) => i,
            None => {
                by_disk.push(DamagedOn {
                    disk: disk.name.clone(),
                    files: Vec::new(),
                    found_by: Vec::new(),
                });
                by_disk.len() - 1
            }
        };
        let on = &mut by_disk[i];
        if !on.files.contains(&d.path) {
            on.files.push(d.path);
        }
        if !on.found_by.contains(&d.by) {
            on.found_by.push(d.by);
        }
    }
    Ok(by_disk)
}

/// Each registered disk, and what a backup to it would protect now: the planner's plan
/// for it, with the room it has if connected or had when last seen.
fn disk_states(cat: &Catalog) -> Result<Vec<DiskState>> {
    let connected = crate::disks::connected(cat)?;
    let catalog_size = std::fs::metadata(cat.path()).map(|m| m.len()).unwrap_or(0);
    let snap = cat.placement_snapshot(0)?;
    let at_risk: HashMap<i64, u64> = snap
        .objects
        .iter()
        .filter(|o| o.needed && !o.history && (o.holders.len() as u32) < o.wanted)
        .map(|o| (o.id, o.size))
        .collect();
    let mut disks = Vec::new();
    for d in cat.disks()? {
        let (objects, used) = cat.disk_usage(d.id)?;
        let live = connected.iter().find(|c| c.record.id == d.id);
        let space = live.and_then(|c| c.store.space().ok());
        let room = crate::disks::room(&d, cat.disk_alloc(d.id)?, space, catalog_size);
        let plan = placement::plan(
            &snap.objects,
            &TargetDisk { id: d.id, room },
            &Options {
                max_copies: None,
                evict: true,
                limit: None,
            },
        );
        let mut would_protect = Objects::default();
        for size in plan.copy.iter().filter_map(|id| at_risk.get(id)) {
            would_protect.add(*size);
        }
        disks.push(DiskState {
            connected: live.is_some(),
            objects,
            used,
            cap: d.cap,
            last_backup: d.last_backup,
            last_verify: d.last_verify,
            last_backup_run: cat.last_run(crate::runs::Kind::Backup, Some(d.id))?,
            last_verify_run: cat.last_run(crate::runs::Kind::Verify, Some(d.id))?,
            room,
            would_protect,
            name: d.name,
        });
    }
    Ok(disks)
}

fn advice(st: &Status) -> Vec<String> {
    let mut advice = Vec::new();
    for d in &st.damaged {
        let what = match d.files.as_slice() {
            [one] => format!("a damaged copy of {one}"),
            [first, ..] => format!("damaged copies of {} files ({first}, …)", d.files.len()),
            [] => "damaged copies".to_string(),
        };
        advice.push(format!(
            "disk {} holds {what}, found by {}: run `dsbfs verify {}` (it moves them to quarantine; the next backup copies them again)",
            d.disk,
            d.found_by.join(" and "),
            d.disk
        ));
    }
    if let Some(m) = &st.mass_change {
        advice.push(m.describe());
    }
    if st.last_complete_scan.is_none() || st.scan_interrupted {
        advice.push("run `dsbfs scan` to bring the catalog up to date".to_string());
    }
    let p = &st.protection;
    if p.by_copies[0].files > 0 {
        advice.push(format!(
            "{} ({}) {} on no disk at all",
            crate::util::count(p.by_copies[0].files, "file"),
            sz(p.by_copies[0].bytes),
            if p.by_copies[0].files == 1 {
                "is"
            } else {
                "are"
            }
        ));
    }
    if let Some(n) = &st.next_disk {
        let d = st.disks.iter().find(|d| &d.name == n).expect("listed");
        let step = if d.connected {
            format!("disk {n} is connected: run `dsbfs backup {n}`")
        } else {
            format!("plug in disk {n} and run `dsbfs backup {n}`")
        };
        advice.push(format!(
            "{step}: {} ({}) would get another copy",
            crate::util::count(d.would_protect.objects, "at-risk object"),
            sz(d.would_protect.bytes)
        ));
    } else if p.below_wanted.files > 0 && st.disks.is_empty() {
        advice.push("add a backup disk: `dsbfs disk add NAME PATH`".to_string());
    } else if p.below_wanted.files > 0 && st.history.disk_bytes > 0 {
        advice.push(format!(
            "the disks are too full for every file to get its copies, and history (old and deleted files) takes {} of them: `dsbfs forget --dry-run` shows what the policy would free, or add a disk (`dsbfs disk add`)",
            sz(st.history.disk_bytes)
        ));
    } else if p.below_wanted.files > 0 && st.disks.iter().any(|d| d.room > 0) {
        // Room is left, but only on disks that already hold these files: a disk holds
        // one copy, so more copies need more disks.
        advice.push(
            "every disk with room already holds the files at risk: add another disk (`dsbfs disk add`) for their further copies"
                .to_string(),
        );
    } else if p.below_wanted.files > 0 {
        advice.push(
            "the disks are full: add a disk (`dsbfs disk add`) to protect the rest".to_string(),
        );
    }
    for n in &st.verify_due {
        let never = st
            .disks
            .iter()
            .any(|d| &d.name == n && d.last_verify.is_none());
        let when = if never {
            "has never been verified".to_string()
        } else {
            format!("was last verified over {VERIFY_EVERY_DAYS} days ago")
        };
        advice.push(format!("disk {n} {when}: run `dsbfs verify {n}`"));
    }
    advice
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::DiskUpdate;
    use crate::test_archive::Archive;

    const DAY: i64 = 86400;

    fn files(files: u64, bytes: u64) -> crate::tally::Files {
        crate::tally::Files { files, bytes }
    }

    fn objects(objects: u64, bytes: u64) -> Objects {
        Objects { objects, bytes }
    }
    const NOW: i64 = 1_800_000_000;

    /// Three files of 5000, 600 and 100 bytes (8K, 4K and 4K on disk), none on a disk.
    fn three_files() -> Archive {
        let a = Archive::scanned(&[("big", 5000), ("mid", 600), ("sub/small", 100)]);
        std::os::unix::fs::symlink("big", a.path("src/link")).unwrap();
        std::fs::write(a.path("src/empty"), "").unwrap();
        crate::scan::run(&a.cat, false).unwrap();
        a
    }

    fn disk<'a>(st: &'a Status, name: &str) -> &'a DiskState {
        st.disks.iter().find(|d| d.name == name).unwrap()
    }

    #[test]
    fn status_counts_what_the_catalog_holds_and_names_the_disk_that_would_protect_most() {
        let a = three_files();
        a.disk("roomy", None);
        a.disk("tiny", Some(5 << 10));
        let st = compute(&a.cat, None, NOW).unwrap();
        assert_eq!((st.files, st.folders, st.symlinks), (4, 2, 1));
        assert_eq!(
            (st.last_complete_scan, st.scan_interrupted),
            (Some(2), false)
        );
        assert_eq!(st.protection.by_copies[0], files(3, 5700));
        assert_eq!(st.protection.empty_files, 1);
        assert!(st.needs_attention());
        assert!(disk(&st, "roomy").connected);
        assert_eq!(disk(&st, "roomy").would_protect, objects(3, 5700));
        assert_eq!(
            disk(&st, "tiny").would_protect,
            objects(1, 600),
            "one 4K block fits in 5K: the larger of the small files"
        );
        assert_eq!(st.next_disk.as_deref(), Some("roomy"));
        assert_eq!(
            st.advice,
            [
                "3 files (5.57 KiB) are on no disk at all",
                "disk roomy is connected: run `dsbfs backup roomy`: 3 at-risk objects (5.57 KiB) would get another copy",
            ]
        );
        assert!(st.verify_due.is_empty() && st.simulate_drop.is_none());
    }

    #[test]
    fn an_offline_disk_is_planned_with_its_cap_within_the_room_it_had_when_last_seen() {
        let a = three_files();
        let drawer = a.disk("drawer", Some(9 << 10));
        a.disk("bare", None);
        a.unplug("drawer");
        a.unplug("bare");
        let st = compute(&a.cat, None, NOW).unwrap();
        assert!(!disk(&st, "drawer").connected);
        assert_eq!(
            disk(&st, "drawer").would_protect,
            objects(1, 5000),
            "9K of cap: the 8K file first, then nothing else fits"
        );
        assert_eq!(
            disk(&st, "bare").would_protect,
            objects(0, 0),
            "no cap and no room ever measured: nothing is planned"
        );
        assert_eq!(st.next_disk.as_deref(), Some("drawer"));
        assert!(
            st.advice.iter().any(|a| a.starts_with(
                "plug in disk drawer and run `dsbfs backup drawer`: 1 at-risk object ("
            )),
            "{:?}",
            st.advice
        );
        a.update(
            &drawer,
            DiskUpdate {
                last_free: Some(4 << 10),
                ..Default::default()
            },
        );
        let st = compute(&a.cat, None, NOW).unwrap();
        assert_eq!(disk(&st, "drawer").would_protect, objects(1, 600));
    }

    #[test]
    fn the_next_disk_is_none_when_no_disk_has_room_and_the_advice_says_so() {
        let a = three_files();
        a.disk("bare", None);
        a.unplug("bare");
        let st = compute(&a.cat, None, NOW).unwrap();
        assert_eq!(st.next_disk, None);
        assert_eq!(
            st.advice.last().unwrap(),
            "the disks are full: add a disk (`dsbfs disk add`) to protect the rest"
        );
    }

    #[test]
    fn one_disk_with_room_for_files_wanting_two_copies_is_told_to_add_a_disk_not_that_it_is_full() {
        let a = three_files();
        let d = a.disk("only", None);
        for f in ["big", "mid", "sub/small"] {
            a.copy(f, &d);
        }
        let st = compute(&a.cat, None, NOW).unwrap();
        assert!(st.protection.below_wanted.files > 0);
        assert!(disk(&st, "only").room > 0);
        let advice = st.advice.join("\n");
        assert!(!advice.contains("full"), "{advice}");
        assert!(advice.contains("add another disk"), "{advice}");
    }

    #[test]
    fn a_disk_holding_objects_is_due_for_verify_when_never_or_long_ago_verified() {
        let a = three_files();
        let d = a.disk("d", None);
        a.disk("empty", None);
        a.copy("big", &d);
        let st = compute(&a.cat, None, NOW).unwrap();
        assert_eq!(
            st.verify_due,
            ["d"],
            "a disk with no objects needs no verify"
        );
        assert_eq!(
            st.advice.last().unwrap(),
            "disk d has never been verified: run `dsbfs verify d`"
        );
        let verified = |days: i64| {
            a.update(
                &d,
                DiskUpdate {
                    last_verify: Some(NOW - days * DAY),
                    ..Default::default()
                },
            );
            compute(&a.cat, None, NOW).unwrap()
        };
        assert!(verified(VERIFY_EVERY_DAYS - 1).verify_due.is_empty());
        let st = verified(VERIFY_EVERY_DAYS + 1);
        assert_eq!(st.verify_due, ["d"]);
        assert_eq!(
            st.advice.last().unwrap(),
            "disk d was last verified over 90 days ago: run `dsbfs verify d`"
        );
    }

    #[test]
    fn simulating_a_lost_disk_shows_what_it_alone_held() {
        let a = three_files();
        let d = a.disk("d", None);
        a.copy("big", &d);
        let st = compute(&a.cat, Some("d"), NOW).unwrap();
        assert_eq!(st.protection.by_copies[0], files(2, 700));
        let Dropped {
            disk: name,
            protection: lost,
        } = st.simulate_drop.unwrap();
        assert_eq!((name.as_str(), lost.by_copies[0]), ("d", files(3, 5700)));
        let err = compute(&a.cat, Some("nosuch"), NOW).unwrap_err();
        assert!(err.is::<crate::UsageError>(), "{err}");
    }

    #[test]
    fn a_catalog_never_scanned_asks_for_a_scan() {
        let a = Archive::new();
        let st = compute(&a.cat, None, NOW).unwrap();
        assert_eq!((st.files, st.last_complete_scan), (0, None));
        assert_eq!(
            st.advice,
            ["run `dsbfs scan` to bring the catalog up to date"]
        );
        assert!(!st.needs_attention());
    }
}
