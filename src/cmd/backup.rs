//! `dsbfs backup NAME`

use super::Ctx;
use crate::backup::{BackupOptions, BackupReport};
use crate::cli::BackupArgs;
use crate::util::format_size as sz;
use anyhow::Result;

pub fn run(ctx: &Ctx, a: BackupArgs) -> Result<u8> {
    let limit = a.limit.as_deref().map(super::size_arg).transpose()?;
    let cat = ctx.open()?;
    let disk = crate::disks::require(&cat, &a.name)?;
    if a.scan {
        let s = crate::backup::scan_first(&cat, ctx.progress(a.json))?;
        if !ctx.quiet && !a.json {
            println!(
                "scan {}: {} new, {} changed, {} deleted",
                s.scan, s.new.files, s.changed.files, s.deleted.files
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
    let report = crate::backup::run(&cat, &disk, &opts)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !ctx.quiet {
        print_report(&report, a.dry_run);
    }
    if let Some(why) = &report.stopped {
        eprintln!("dsbfs: {why}");
        return Ok(crate::exit::FAILURE);
    }
    Ok(if report.needs_attention() {
        crate::exit::ATTENTION
    } else {
        crate::exit::OK
    })
}

fn print_report(r: &BackupReport, dry_run: bool) {
    println!(
        "{} {}: copy {} objects ({}), delete {} ({}); room {}",
        if dry_run { "plan for" } else { "backup to" },
        r.disk,
        r.plan_copy_objects,
        sz(r.plan_copy_bytes),
        r.plan_delete_objects,
        sz(r.plan_delete_bytes),
        sz(r.room)
    );
    println!("objects by copies   before              after");
    for i in 0..4 {
        let label = if i == 3 {
            "3+".to_string()
        } else {
            i.to_string()
        };
        println!(
            "  {label:>2}            {:>7} {:>9}   {:>7} {:>9}",
            r.before[i].0,
            sz(r.before[i].1),
            r.after[i].0,
            sz(r.after[i].1)
        );
    }
    if !dry_run {
        println!(
            "copied {} objects ({}), already there {}, deleted {} ({})",
            r.copied.0,
            sz(r.copied.1),
            r.adopted,
            r.deleted.0,
            sz(r.deleted.1)
        );
        if r.source_changed > 0 {
            println!(
                "{} files changed since the scan: run `dsbfs scan`, then back up again",
                r.source_changed
            );
        }
    }
}
