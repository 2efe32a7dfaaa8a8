//! History: every finished scan is a snapshot; a retention policy decides which stay, and
//! only `forget` releases what no kept snapshot holds. These are the library calls the
//! commands print; the pure rules live in `retention` and `counts`.

pub mod counts;
pub mod retention;

use crate::catalog::Catalog;
use crate::catalog::history::{Change, Released, SnapshotRecord};
use anyhow::{Result, bail};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use retention::{Decision, Policy, Taken};
use serde::{Deserialize, Serialize};

/// Settings key of the mass-change guard.
pub const GUARD: &str = "mass_change";

/// Fewest changed or vanished files that can raise the guard: below it, a small tree's
/// ordinary edits would.
const GUARD_MIN_FILES: u64 = 10;
/// Share of files that changed or vanished in one scan that raises the guard.
pub const GUARD_PERCENT: u64 = 30;
/// How far back `check_since_last_forget` looks at most (seconds).
const WINDOW_MAX: i64 = 7 * 86400;

/// A scan that changed or removed an unusual share of the files: history is kept
/// regardless of policy until the user runs `forget` themselves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MassChange {
    pub snapshot: i64,
    pub changed: u64,
    pub deleted: u64,
    /// Files in the snapshot before it.
    pub before: u64,
}

impl MassChange {
    pub fn percent(&self) -> u64 {
        (self.changed + self.deleted) * 100 / self.before.max(1)
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        format!(
            "snapshot {} changed {} and removed {} of {} ({}%): history is kept whatever the policy until you run `dsbfs forget`",
            self.snapshot,
            self.changed,
            self.deleted,
            crate::util::count(self.before, "file"),
            self.percent()
        )
    }
}

/// Whether a scan with `changed` and `deleted` files, after a snapshot of `before` files,
/// is a mass change.
pub fn is_mass_change(before: u64, changed: u64, deleted: u64) -> bool {
    let touched = changed + deleted;
    touched >= GUARD_MIN_FILES && touched * 100 > before * GUARD_PERCENT
}

/// The raised guard, if any.
pub fn guard(cat: &Catalog) -> Result<Option<MassChange>> {
    cat.setting(GUARD)
}

/// Raises the guard for this snapshot when it is a mass change against the one before.
pub fn check_snapshot(cat: &Catalog, snapshot: i64) -> Result<Option<MassChange>> {
    let list = cat.snapshots_counted()?;
    let Some(pos) = list.iter().position(|s| s.id == snapshot) else {
        return Ok(None);
    };
    let (Some(now), Some(before)) = (
        list[pos].counts,
        pos.checked_sub(1).and_then(|p| list[p].counts),
    ) else {
        return Ok(None);
    };
    if !is_mass_change(before.files, now.changed, now.deleted) {
        return Ok(None);
    }
    let m = MassChange {
        snapshot,
        changed: now.changed,
        deleted: now.deleted,
        before: before.files,
    };
    cat.set_setting(GUARD, &m)?;
    Ok(Some(m))
}

/// Records what the snapshot `summary.scan` holds and changed, and raises the mass-change
/// guard if it should. A clean full scan counted as it went; one that was resumed, kept
/// files it could not read, or walked only some folders is counted from the versions.
pub fn after_scan(cat: &Catalog, summary: &crate::scan::ScanSummary) -> Result<Option<MassChange>> {
    let mut list = cat.snapshots()?;
    if let Some(s) = list.iter_mut().find(|s| s.id == summary.scan) {
        let counted = !summary.resumed && !summary.needs_attention() && summary.only.is_empty();
        s.counts = counted.then(|| counts::Counts {
            files: summary.unchanged.files + summary.new.files + summary.changed.files,
            bytes: summary.unchanged.bytes + summary.new.bytes + summary.changed.bytes,
            new: summary.new.files,
            changed: summary.changed.files,
            deleted: summary.deleted.files,
        });
        if s.counts.is_some() {
            cat.store_counts(std::slice::from_ref(s))?;
        }
    }
    let raised = check_snapshot(cat, summary.scan)?;
    if let Some(m) = &raised {
        tracing::warn!("{}", m.describe());
    }
    Ok(raised)
}

/// A snapshot named on the command line: its id, `latest`, or a date or local time
/// (`2026-12-01`, `2026-12-01T06:25`, `2026-12-01 06:25:59`) meaning the last snapshot
/// taken at or before it (a date alone: before its end).
pub fn resolve(list: &[SnapshotRecord], spec: &str, tz: &TimeZone) -> Result<i64> {
    let spec = spec.trim();
    let none = || anyhow::anyhow!("there is no snapshot yet: run `dsbfs scan`");
    if spec == "latest" {
        return list.last().map(|s| s.id).ok_or_else(none);
    }
    if let Ok(id) = spec.parse::<i64>() {
        if list.iter().any(|s| s.id == id) {
            return Ok(id);
        }
        bail!("there is no snapshot {id}: see `dsbfs snapshots`");
    }
    let Some(until) = parse_local_time(spec, tz) else {
        bail!(
            "`{spec}` is neither a snapshot id nor a date: give an id from `dsbfs snapshots`, `latest`, or a time like 2026-12-01 or 2026-12-01T06:25"
        );
    };
    list.iter()
        .rev()
        .find(|s| s.time <= until)
        .map(|s| s.id)
        .ok_or_else(|| {
            anyhow::anyhow!("no snapshot was taken at or before {spec}: see `dsbfs snapshots`")
        })
}

/// Unix seconds of a local date (its last second) or date and time.
fn parse_local_time(spec: &str, tz: &TimeZone) -> Option<i64> {
    let spec = spec.replace(' ', "T");
    if let Ok(dt) = spec.parse::<jiff::civil::DateTime>()
        && spec.contains('T')
    {
        return dt
            .to_zoned_datetime(tz.clone())
            .ok()
            .map(|z| z.timestamp().as_second());
    }
    let date = spec.parse::<jiff::civil::Date>().ok()?;
    let end = date.to_datetime(jiff::civil::Time::MAX);
    end.to_zoned_datetime(tz.clone())
        .ok()
        .map(|z| z.timestamp().as_second())
}

/// A snapshot's time as the history mount names its folder: local time to the second.
pub fn local_name(time: i64, tz: &TimeZone) -> String {
    Timestamp::from_second(time)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// Folder names for the history mount, one per snapshot in time order; of two snapshots
/// taken within one second, the later gets `_ID` after the time (still in time order
/// by name).
pub fn folder_names(list: &[SnapshotRecord], tz: &TimeZone) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = Vec::with_capacity(list.len());
    for s in list {
        let name = local_name(s.time, tz);
        if out.iter().any(|(n, _)| *n == name) {
            out.push((format!("{name}_{}", s.id), s.id));
        } else {
            out.push((name, s.id));
        }
    }
    out
}

/// What `forget` will do: a decision for every snapshot, newest first.
#[derive(Clone, Debug, Serialize)]
pub struct ForgetPlan {
    pub policy: Policy,
    pub decisions: Vec<Decision>,
}

impl ForgetPlan {
    pub fn drop(&self) -> Vec<i64> {
        self.decisions
            .iter()
            .filter(|d| !d.keep)
            .map(|d| d.id)
            .collect()
    }
}

/// Applies `policy` to the catalog's snapshots at time `now` in time zone `tz`.
pub fn plan_forget(cat: &Catalog, policy: &Policy, tz: &TimeZone, now: i64) -> Result<ForgetPlan> {
    let taken: Vec<Taken> = cat
        .snapshots()?
        .iter()
        .map(|s| Taken {
            id: s.id,
            time: s.time,
        })
        .collect();
    Ok(ForgetPlan {
        policy: policy.clone(),
        decisions: retention::apply(&taken, policy, tz, now),
    })
}

/// Drops the snapshots the plan does not keep (nothing with `dry_run`). A user's `forget`
/// lowers the mass-change guard: they have seen it and decided.
pub fn forget(cat: &Catalog, plan: &ForgetPlan, dry_run: bool) -> Result<Released> {
    if dry_run {
        return cat.forget(&plan.drop(), true);
    }
    crate::runs::record(cat, crate::runs::Kind::Forget, None, || {
        let released = cat.forget(&plan.drop(), false)?;
        cat.clear_setting(GUARD)?;
        Ok(released)
    })
}

/// The mass-change check over everything since the last forget: `watch` takes many small
/// snapshots (a partial scan per change), none of which alone is a mass change, while
/// together they may be (files encrypted one folder at a time). Raises the guard when the
/// paths changed or removed between the last snapshot before that forget (at most
/// `WINDOW_MAX` back: years of ordinary edits are no attack) and the latest are an
/// unusual share of the files.
pub fn check_since_last_forget(cat: &Catalog) -> Result<Option<MassChange>> {
    let list = cat.snapshots_counted()?;
    let Some(latest) = list.last() else {
        return Ok(None);
    };
    let forgotten = cat
        .last_run(crate::runs::Kind::Forget, None)?
        .map_or(i64::MIN, |r| r.started);
    let since = forgotten.max(latest.time - WINDOW_MAX);
    let base = list.iter().rev().find(|s| s.time <= since).or(list.first());
    let Some(base) = base.filter(|b| b.id != latest.id) else {
        return Ok(None);
    };
    let diff = cat.diff(base.id, latest.id)?;
    let count = |c: Change| diff.iter().filter(|(_, d)| *d == c).count() as u64;
    let (changed, deleted) = (count(Change::Modified), count(Change::Removed));
    let before = base.counts.map_or(0, |c| c.files);
    if !is_mass_change(before, changed, deleted) {
        return Ok(None);
    }
    let m = MassChange {
        snapshot: latest.id,
        changed,
        deleted,
        before,
    };
    cat.set_setting(GUARD, &m)?;
    tracing::warn!("{}", m.describe());
    Ok(Some(m))
}

/// `watch`'s forget: by the stored policy, never while the mass-change guard is raised
/// (looked at again once the catalog's lock is held), and leaving the guard alone. None
/// when the guard kept it from running.
pub fn forget_by_policy(cat: &Catalog, tz: &TimeZone, now: i64) -> Result<Option<Released>> {
    if guard(cat)?.is_some() || check_since_last_forget(cat)?.is_some() {
        return Ok(None);
    }
    let mut guarded = false;
    let released = crate::runs::record(cat, crate::runs::Kind::Forget, None, || {
        if guard(cat)?.is_some() {
            guarded = true;
            return Ok(Released::default());
        }
        let plan = plan_forget(cat, &cat.policy()?, tz, now)?;
        cat.forget(&plan.drop(), false)
    })?;
    Ok((!guarded).then_some(released))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: i64, time: i64) -> SnapshotRecord {
        SnapshotRecord {
            id,
            time,
            finished: time + 5,
            counts: None,
        }
    }

    fn utc() -> TimeZone {
        TimeZone::UTC
    }

    #[test]
    fn snapshots_are_named_by_id_latest_or_the_last_at_or_before_a_time() {
        // 2026-12-01T06:25:59Z and 2026-12-02T10:00:00Z.
        let list = [rec(3, 1_796_106_359), rec(7, 1_796_205_600)];
        assert_eq!(resolve(&list, "3", &utc()).unwrap(), 3);
        assert_eq!(resolve(&list, "latest", &utc()).unwrap(), 7);
        assert_eq!(resolve(&list, "2026-12-01", &utc()).unwrap(), 3);
        assert_eq!(resolve(&list, "2026-12-02T09:59", &utc()).unwrap(), 3);
        assert_eq!(resolve(&list, "2026-12-02 10:00", &utc()).unwrap(), 7);
        assert_eq!(resolve(&list, "2027-01-01", &utc()).unwrap(), 7);
        let e = resolve(&list, "2026-11-30", &utc())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no snapshot was taken at or before"), "{e}");
        let e = resolve(&list, "4", &utc()).unwrap_err().to_string();
        assert!(e.contains("no snapshot 4"), "{e}");
        assert!(resolve(&list, "yesterday-ish", &utc()).is_err());
        assert!(resolve(&[], "latest", &utc()).is_err());
    }

    #[test]
    fn folder_names_are_local_times_and_unique() {
        let list = [
            rec(1, 1_796_106_359),
            rec(2, 1_796_106_359),
            rec(3, 1_796_106_360),
        ];
        let names = folder_names(&list, &TimeZone::fixed(jiff::tz::offset(1)));
        assert_eq!(
            names,
            vec![
                ("2026-12-01T07:25:59".to_string(), 1),
                ("2026-12-01T07:25:59_2".to_string(), 2),
                ("2026-12-01T07:26:00".to_string(), 3),
            ]
        );
        // Sorted by name is sorted by time.
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, names);
    }

    #[test]
    fn many_small_snapshots_that_together_change_a_third_of_the_files_keep_forget_away() {
        let files: Vec<(String, usize)> = (0..40).map(|i| (format!("f{i:02}"), 10)).collect();
        let refs: Vec<(&str, usize)> = files.iter().map(|(n, s)| (n.as_str(), *s)).collect();
        let a = crate::test_archive::Archive::scanned(&refs);
        let tz = TimeZone::UTC;
        // One busy file rewritten again and again is one changed path.
        for round in 0..12 {
            std::fs::write(a.path("src/f00"), format!("round {round}")).unwrap();
            crate::scan::run(&a.cat, false).unwrap();
        }
        assert!(check_since_last_forget(&a.cat).unwrap().is_none());
        // Four files a snapshot, none a mass change alone: 16 of 40 files together.
        for round in 0..4 {
            for i in 0..4 {
                let f = a.path(&format!("src/f{:02}", 10 + round * 4 + i));
                std::fs::write(f, "encrypted").unwrap();
            }
            crate::scan::run(&a.cat, false).unwrap();
            assert!(
                guard(&a.cat).unwrap().is_none(),
                "no snapshot alone raises it"
            );
        }
        assert_eq!(
            forget_by_policy(&a.cat, &tz, crate::util::now()).unwrap(),
            None,
            "no automatic forget"
        );
        let g = guard(&a.cat).unwrap().expect("the guard is raised");
        assert_eq!((g.changed, g.deleted, g.before), (17, 0, 40));
        // The user looks and decides: their forget lowers it; the next window starts there.
        let plan = plan_forget(&a.cat, &a.cat.policy().unwrap(), &tz, crate::util::now()).unwrap();
        forget(&a.cat, &plan, false).unwrap();
        assert!(guard(&a.cat).unwrap().is_none());
        assert!(
            forget_by_policy(&a.cat, &tz, crate::util::now())
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn mass_change_needs_both_a_share_and_a_count() {
        assert!(!is_mass_change(10, 3, 1), "a small tree's edits");
        assert!(is_mass_change(30, 6, 4));
        assert!(!is_mass_change(1000, 200, 100), "exactly 30%");
        assert!(is_mass_change(1000, 200, 101));
        assert!(
            is_mass_change(0, 0, 12),
            "everything gone from nothing counted"
        );
    }
}
