//! `dsbfs restore DEST [PATTERN…] [--from NAME] [--plan]`

use super::Ctx;
use crate::cli::RestoreArgs;
use crate::restore::{RestoreOptions, disk_plan, preview, restore};
use crate::select::PathMatcher;
use crate::util::{count, format_size as sz, path_bytes};
use anyhow::Result;

pub fn run(ctx: &Ctx, a: RestoreArgs) -> Result<u8> {
    let cat = ctx.open_readonly()?;
    let patterns = a
        .patterns
        .iter()
        .map(|p| PathMatcher::new(path_bytes(p)))
        .collect::<Result<Vec<_>>>()?;
    let at = super::history::at(&cat, a.snapshot.as_deref())?;
    let connected: Vec<String> = crate::disks::connected(&cat)?
        .into_iter()
        .map(|c| c.record.name)
        .collect();
    if a.plan {
        let (plan, disks) = disk_plan(&cat, at, &patterns)?;
        if a.json {
            let steps: Vec<_> = plan
                .steps
                .iter()
                .map(|s| {
                    let name = &disks[s.disk].name;
                    serde_json::json!({ "disk": name, "connected": connected.contains(name), "files": s.files, "bytes": s.bytes })
                })
                .collect();
            let doc = serde_json::json!({ "steps": steps, "on_no_disk": { "files": plan.uncovered.0, "bytes": plan.uncovered.1 } });
            outln!("{}", serde_json::to_string_pretty(&doc)?);
        } else {
            for (i, s) in plan.steps.iter().enumerate() {
                let name = &disks[s.disk].name;
                let step = if connected.contains(name) {
                    format!("disk {name} (connected)")
                } else {
                    format!("plug in disk {name}")
                };
                outln!(
                    "{}. {step}: {} ({})",
                    i + 1,
                    count(s.files, "file"),
                    sz(s.bytes)
                );
            }
            if plan.uncovered.0 > 0 {
                outln!(
                    "{} ({}) on no disk yet",
                    count(plan.uncovered.0, "file"),
                    sz(plan.uncovered.1)
                );
            }
        }
        return Ok(if plan.uncovered.0 > 0 {
            crate::exit::ATTENTION
        } else {
            crate::exit::OK
        });
    }
    let opts = RestoreOptions {
        at,
        patterns,
        from: a.from,
        overwrite: a.overwrite,
        progress: ctx.progress(a.json),
    };
    if a.dry_run {
        return dry_run(ctx, &cat, &a.dest, &opts, a.json);
    }
    let report = restore(&cat, &a.dest, &opts)?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else if !ctx.quiet {
        outln!(
            "restored {} ({}), {} already there, {}, {}, {}",
            count(report.restored.files, "file"),
            sz(report.restored.bytes),
            report.already_there,
            count(report.folders, "folder"),
            count(report.symlinks, "symlink"),
            count(report.hard_links, "hard link")
        );
        let mut to_plug = false;
        for m in &report.missing {
            let offline: Vec<&str> = m
                .disks
                .iter()
                .filter(|d| !connected.contains(d))
                .map(String::as_str)
                .collect();
            let on = match (m.disks.is_empty(), offline.is_empty()) {
                (true, _) => "on no disk".to_string(),
                (false, false) => format!("on disk {} (not connected)", offline.join(" or ")),
                (false, true) => format!(
                    "on disk {}, whose copy could not be read (`dsbfs verify` it)",
                    m.disks.join(" or ")
                ),
            };
            to_plug |= !offline.is_empty();
            outln!(
                "still missing: {} ({}) {on}; e.g. {}",
                count(m.files, "file"),
                sz(m.bytes),
                m.examples.join(", ")
            );
        }
        if to_plug {
            outln!("plug in a listed disk and run the same restore again to continue");
        }
        if report.replaced > 0 {
            outln!(
                "replaced {} that differed from the backup",
                count(report.replaced, "file")
            );
        }
        if !report.conflicts.is_empty() {
            outln!(
                "kept {} in {} that differ from the backup (rerun with --overwrite to replace them):",
                count(report.conflicts.len() as u64, "file"),
                a.dest.display()
            );
            for c in report.conflicts.iter() {
                outln!("  {c}");
            }
        }
    }
    Ok(if report.needs_attention() {
        crate::exit::ATTENTION
    } else {
        crate::exit::OK
    })
}

/// `--dry-run`: every path the restore would write, replace or keep, then the counts.
fn dry_run(
    ctx: &Ctx,
    cat: &crate::catalog::Catalog,
    dest: &std::path::Path,
    opts: &RestoreOptions,
    json: bool,
) -> Result<u8> {
    let p = preview(cat, dest, opts)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&p)?);
    } else if !ctx.quiet {
        for (what, paths) in [
            ("write", &p.write),
            ("replace", &p.replace),
            ("keep (differs from the backup)", &p.conflicts),
            ("missing (on no connected disk)", &p.missing),
        ] {
            for path in paths {
                outln!("{what}: {path}");
            }
        }
        outln!(
            "dry run: would write {} and replace {} ({} to copy), {} already there; {}, {} missing; nothing was written",
            p.write.len(),
            p.replace.len(),
            sz(p.copy.bytes),
            p.already_there,
            count(p.conflicts.len() as u64, "conflict"),
            p.missing.len()
        );
    }
    Ok(if p.needs_attention() {
        crate::exit::ATTENTION
    } else {
        crate::exit::OK
    })
}
