//! `dsbfs backup NAME`

use super::Ctx;
use crate::backup::{BackupOptions, BackupReport};
use crate::cli::BackupArgs;
use crate::util::{count, format_size as sz};
use anyhow::Result;

pub fn run(ctx: &Ctx, a: BackupArgs) -> Result<u8> {
    let limit = a.limit.as_deref().map(super::size_arg).transpose()?;
    let cat = ctx.open()?;
    let disk = crate::disks::require(&cat, &a.name)?;
    if a.scan {
        let s = crate::backup::scan_first(&cat, ctx.progress(a.json))?;
        if !ctx.quiet && !a.json {
            outln!(
                "scan {}: {} new, {} changed, {} deleted",
                s.scan,
                s.new.files,
                s.changed.files,
                s.deleted.files
            );
        }
    }
    let opts = BackupOptions {
        dry_run: a.dry_run,
        limit,
        max_copies: a.max_copies,
        evict: !a.no_evict,
        progress: ctx.progress(a.json),
    };
    let text = !a.json && !ctx.quiet;
    let report = crate::backup::run_with(&cat, &disk, &opts, |planned| {
        if text {
            print_plan(&planned.report, a.dry_run);
            if a.dry_run && ctx.verbose > 0 {
                print_objects(planned)?;
            }
        }
        Ok(())
    })?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else if text && !a.dry_run {
        print_done(&report);
    }
    if let Some(why) = &report.stopped {
        errln!("dsbfs: {why}");
        return Ok(crate::exit::FAILURE);
    }
    Ok(if report.needs_attention() {
        crate::exit::ATTENTION
    } else {
        crate::exit::OK
    })
}

/// The plan, before anything is copied.
fn print_plan(r: &BackupReport, dry_run: bool) {
    outln!(
        "{} {}: copy {} ({}), delete {} ({}); room {}",
        if dry_run { "plan for" } else { "backup to" },
        r.disk,
        count(r.planned_copy.objects, "object"),
        sz(r.planned_copy.bytes),
        r.planned_delete.objects,
        sz(r.planned_delete.bytes),
        sz(r.room)
    );
    outln!("objects by copies   before              after");
    for i in 0..4 {
        let label = if i == 3 {
            "3+".to_string()
        } else {
            i.to_string()
        };
        outln!(
            "  {label:>2}            {:>7} {:>9}   {:>7} {:>9}",
            r.before[i].objects,
            sz(r.before[i].bytes),
            r.after[i].objects,
            sz(r.after[i].bytes)
        );
    }
}

/// `--dry-run -v`: every file the plan copies and deletes.
fn print_objects(planned: &crate::backup::Planned) -> Result<()> {
    let (copy, delete) = planned.objects()?;
    for (verb, objects) in [("copy", copy), ("delete", delete)] {
        for o in objects {
            if o.paths.is_empty() {
                outln!(
                    "{verb} {} ({}, only in past snapshots)",
                    crate::util::hex(&o.hash),
                    sz(o.size)
                );
            }
            for p in &o.paths {
                super::print_path_line(&format!("{verb} ({}) ", sz(o.size)), p);
            }
        }
    }
    Ok(())
}

/// What the backup did.
fn print_done(r: &BackupReport) {
    outln!(
        "copied {} ({}), already there {}, deleted {} ({})",
        count(r.copied.objects, "object"),
        sz(r.copied.bytes),
        r.adopted,
        r.deleted.objects,
        sz(r.deleted.bytes)
    );
    if r.source_changed > 0 {
        outln!(
            "{} changed since the scan: run `dsbfs scan`, then back up again",
            count(r.source_changed, "file")
        );
    }
}
