//! `snapshots`, `policy`, `forget`, `versions`, `diff`: print what `crate::history` says.

use super::{Ctx, print_path_line};
use crate::catalog::Kind;
use crate::catalog::history::{Change, SnapshotRecord};
use crate::catalog::tree::At;
use crate::cli::{DiffArgs, ForgetArgs, JsonArgs, PolicyArgs, VersionsArgs};
use crate::history::{self, retention};
use crate::util::{
    count, display_bytes, format_size as sz, hex, normalize_vpath, path_bytes, rfc3339,
};
use anyhow::Result;
use jiff::tz::TimeZone;
use serde::Serialize;

/// A snapshot as `snapshots --json` prints it.
#[derive(Serialize)]
struct SnapshotJson {
    id: i64,
    time: String,
    files: u64,
    bytes: u64,
    new: u64,
    changed: u64,
    deleted: u64,
}

/// The tree a `--snapshot` option names (None: the current tree).
pub fn at(cat: &crate::catalog::Catalog, snapshot: Option<&str>) -> Result<At> {
    match snapshot {
        None => Ok(At::Current),
        Some(spec) => history::resolve(&cat.snapshots()?, spec, &TimeZone::system())
            .map(At::Scan)
            .map_err(|e| crate::usage(e.to_string())),
    }
}

/// Local time for people.
fn local(t: i64) -> String {
    history::local_name(t, &TimeZone::system()).replace('T', " ")
}

pub fn snapshots(ctx: &Ctx, a: JsonArgs) -> Result<u8> {
    let cat = ctx.open_readonly()?;
    let list = cat.snapshots_counted()?;
    if a.json {
        let out: Vec<SnapshotJson> = list
            .iter()
            .map(|s| {
                let c = s.counts.unwrap_or_default();
                SnapshotJson {
                    id: s.id,
                    time: rfc3339(s.time),
                    files: c.files,
                    bytes: c.bytes,
                    new: c.new,
                    changed: c.changed,
                    deleted: c.deleted,
                }
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(crate::exit::OK);
    }
    if list.is_empty() {
        outln!("no snapshots yet: every finished `dsbfs scan` makes one");
        return Ok(crate::exit::OK);
    }
    outln!(
        "{:>5}  {:<19}  {:>9}  {:>10}  {:>7}  {:>7}  {:>7}",
        "ID",
        "TIME",
        "FILES",
        "SIZE",
        "NEW",
        "CHANGED",
        "DELETED"
    );
    for s in &list {
        let c = s.counts.unwrap_or_default();
        outln!(
            "{:>5}  {:<19}  {:>9}  {:>10}  {:>7}  {:>7}  {:>7}",
            s.id,
            local(s.time),
            c.files,
            sz(c.bytes),
            c.new,
            c.changed,
            c.deleted
        );
    }
    if let Some(g) = history::guard(&cat)? {
        outln!("{}", g.describe());
    }
    Ok(crate::exit::OK)
}

#[derive(Serialize)]
struct PolicyJson<'a> {
    #[serde(flatten)]
    policy: &'a retention::Policy,
    mass_change: Option<history::MassChange>,
}

pub fn policy(ctx: &Ctx, a: PolicyArgs) -> Result<u8> {
    let changing = a.reset || a.keep.any() || a.history_copies.is_some();
    let cat = if changing || ctx.catalog_path.exists() {
        Some(if changing {
            ctx.open()?
        } else {
            ctx.open_readonly()?
        })
    } else {
        None
    };
    let mut p = match &cat {
        Some(c) => c.policy()?,
        None => retention::Policy::default(),
    };
    if a.reset {
        p = retention::Policy::default();
    }
    if a.keep.any() {
        p = a.keep.applied_to(&p);
    }
    if let Some(n) = a.history_copies {
        p.history_copies = n;
    }
    retention::check(&p).map_err(|e| crate::usage(e.to_string()))?;
    if let Some(c) = cat.as_ref().filter(|_| changing) {
        c.set_policy(&p)?;
    }
    let guard = match &cat {
        Some(c) => history::guard(c)?,
        None => None,
    };
    if a.json {
        let out = PolicyJson {
            policy: &p,
            mass_change: guard,
        };
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else if !ctx.quiet {
        outln!(
            "{}{}",
            if changing { "policy set: " } else { "" },
            p.describe()
        );
        if let Some(g) = guard {
            outln!("{}", g.describe());
        }
    }
    Ok(crate::exit::OK)
}

#[derive(Serialize)]
struct ForgetJson<'a> {
    dry_run: bool,
    policy: &'a retention::Policy,
    keep: Vec<KeptJson>,
    forget: Vec<KeptJson>,
    released: crate::catalog::history::Released,
}

#[derive(Serialize)]
struct KeptJson {
    id: i64,
    time: String,
    reasons: Vec<String>,
}

pub fn forget(ctx: &Ctx, a: ForgetArgs) -> Result<u8> {
    let cat = ctx.open()?;
    let stored = cat.policy()?;
    let policy = if a.keep.any() {
        a.keep.applied_to(&stored)
    } else {
        stored
    };
    let guard = history::guard(&cat)?;
    let plan = history::plan_forget(&cat, &policy, &TimeZone::system(), crate::util::now())?;
    let released = history::forget(&cat, &plan, a.dry_run)?;
    if a.json {
        let listed = |keep: bool| -> Vec<KeptJson> {
            plan.decisions
                .iter()
                .filter(|d| d.keep == keep)
                .map(|d| KeptJson {
                    id: d.id,
                    time: rfc3339(d.time),
                    reasons: d.reasons.clone(),
                })
                .collect()
        };
        let out = ForgetJson {
            dry_run: a.dry_run,
            policy: &policy,
            keep: listed(true),
            forget: listed(false),
            released,
        };
        outln!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(crate::exit::OK);
    }
    if ctx.quiet {
        return Ok(crate::exit::OK);
    }
    if let Some(g) = &guard {
        outln!(
            "warning: {}",
            g.describe().split(": history").next().unwrap_or("")
        );
        if !a.dry_run {
            outln!("the guard is lowered: you ran forget");
        }
    }
    let forgotten = plan.drop();
    let would = if a.dry_run { "would " } else { "" };
    outln!(
        "policy: {}; {} kept, {} {}forgotten",
        policy.describe(),
        count((plan.decisions.len() - forgotten.len()) as u64, "snapshot"),
        forgotten.len(),
        if a.dry_run { "to be " } else { "" }
    );
    for d in plan.decisions.iter().rev() {
        outln!(
            "{} {:>5}  {}{}",
            if d.keep { "keep  " } else { "forget" },
            d.id,
            local(d.time),
            if d.keep {
                format!("  ({})", d.reasons.join(", "))
            } else {
                String::new()
            }
        );
    }
    outln!(
        "{would}release {} and {} ({}); the next backups {}free {} on the disks",
        count(released.versions, "version"),
        count(released.objects, "content"),
        sz(released.bytes),
        if a.dry_run { "would " } else { "" },
        sz(released.disk_bytes)
    );
    if a.dry_run {
        outln!("dry run: nothing was changed");
    }
    Ok(crate::exit::OK)
}

#[derive(Serialize)]
struct VersionJson {
    kind: Kind,
    size: u64,
    mtime: String,
    #[serde(skip)]
    mtime_s: i64,
    sha256: Option<String>,
    #[serde(serialize_with = "ser_opt_bytes")]
    target: Option<Vec<u8>>,
    snapshots: Vec<i64>,
    current: bool,
    disks: Vec<String>,
}

fn ser_opt_bytes<S: serde::Serializer>(b: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match b {
        Some(b) => crate::util::ser_bytes(b, s),
        None => s.serialize_none(),
    }
}

pub fn versions(ctx: &Ctx, a: VersionsArgs) -> Result<u8> {
    let cat = ctx.open_readonly()?;
    let vpath = normalize_vpath(path_bytes(&a.path)).map_err(|e| crate::usage(e.to_string()))?;
    let found = cat.path_versions(&vpath)?;
    if found.is_empty() {
        return Err(crate::usage(format!(
            "{} is in no kept snapshot: see `dsbfs ls` or `dsbfs diff`",
            display_bytes(&vpath)
        )));
    }
    let mut out = Vec::new();
    for v in &found {
        let disks = match v.object {
            Some(o) => cat.holders(o)?.into_iter().map(|d| d.name).collect(),
            None => Vec::new(),
        };
        out.push(VersionJson {
            kind: v.kind,
            size: v.size,
            mtime: rfc3339(v.mtime_ns.div_euclid(1_000_000_000)),
            mtime_s: v.mtime_ns.div_euclid(1_000_000_000),
            sha256: v.hash.map(|h| hex(&h)),
            target: v.target.clone(),
            snapshots: v.snapshots.clone(),
            current: v.current,
            disks,
        });
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(crate::exit::OK);
    }
    print_path_line("", &vpath);
    for v in &out {
        let what = match v.kind {
            Kind::File => format!(
                "file {} sha256 {}",
                sz(v.size),
                v.sha256.as_deref().unwrap_or("(empty)")
            ),
            Kind::Dir => "folder".into(),
            Kind::Symlink => format!(
                "symlink to {}",
                v.target.as_deref().map(display_bytes).unwrap_or_default()
            ),
        };
        let on = match (v.kind, v.disks.is_empty()) {
            (Kind::File, _) if v.size == 0 => String::new(),
            (Kind::File, true) => "; on no disk".into(),
            (Kind::File, false) => format!("; on {}", v.disks.join(", ")),
            _ => String::new(),
        };
        outln!(
            "  snapshots {}{}: {what}, modified {}{on}",
            ranges(&v.snapshots),
            if v.current { " (current)" } else { "" },
            local(v.mtime_s),
        );
    }
    Ok(crate::exit::OK)
}

/// Snapshot ids as ranges: `1-3, 5`.
fn ranges(ids: &[i64]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let start = ids[i];
        while i + 1 < ids.len() && ids[i + 1] == ids[i] + 1 {
            i += 1;
        }
        parts.push(if ids[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", ids[i])
        });
        i += 1;
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

#[derive(Serialize)]
struct DiffJson {
    from: i64,
    to: i64,
    changes: Vec<ChangeJson>,
}

#[derive(Serialize)]
struct ChangeJson {
    #[serde(serialize_with = "crate::util::ser_bytes")]
    path: Vec<u8>,
    change: &'static str,
}

fn sign(c: Change) -> &'static str {
    match c {
        Change::Added => "+",
        Change::Removed => "-",
        Change::Modified => "M",
        Change::Metadata => "U",
    }
}

pub fn diff(ctx: &Ctx, a: DiffArgs) -> Result<u8> {
    let cat = ctx.open_readonly()?;
    let list = cat.snapshots()?;
    let tz = TimeZone::system();
    let pick =
        |spec: &str| history::resolve(&list, spec, &tz).map_err(|e| crate::usage(e.to_string()));
    let to = match &a.to {
        Some(s) => pick(s)?,
        None => pick("latest")?,
    };
    let from = match &a.from {
        Some(s) => pick(s)?,
        None => before(&list, to).ok_or_else(|| {
            crate::usage(format!(
                "snapshot {to} is the first: there is nothing to compare it with"
            ))
        })?,
    };
    let changes: Vec<(Vec<u8>, Change)> = cat
        .diff(from, to)?
        .into_iter()
        .filter(|(_, c)| a.metadata || *c != Change::Metadata)
        .collect();
    if a.json {
        let out = DiffJson {
            from,
            to,
            changes: changes
                .into_iter()
                .map(|(path, c)| ChangeJson {
                    path,
                    change: match c {
                        Change::Added => "added",
                        Change::Removed => "removed",
                        Change::Modified => "modified",
                        Change::Metadata => "metadata",
                    },
                })
                .collect(),
        };
        outln!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(crate::exit::OK);
    }
    for (path, c) in &changes {
        print_path_line(&format!("{}    ", sign(*c)), path);
    }
    Ok(crate::exit::OK)
}

/// The snapshot before `id`.
fn before(list: &[SnapshotRecord], id: i64) -> Option<i64> {
    list.iter().rev().find(|s| s.id < id).map(|s| s.id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ranges_are_compact() {
        assert_eq!(super::ranges(&[1, 2, 3, 5, 7, 8]), "1-3, 5, 7-8");
        assert_eq!(super::ranges(&[4]), "4");
        assert_eq!(super::ranges(&[]), "none");
    }
}
