//! `dsbfs status`: what the catalog holds, how well it is protected, and what to do next.

use super::Ctx;
use crate::catalog::tree::Protection;
use crate::cli::StatusArgs;
use crate::status::Status;
use crate::util::{count, format_size as sz};
use anyhow::Result;

pub fn run(ctx: &Ctx, args: StatusArgs) -> Result<u8> {
    let cat = ctx.open_readonly()?;
    let st = crate::status::compute(&cat, args.simulate_drop.as_deref(), crate::util::now())?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&st)?);
    } else {
        print_status(&st);
    }
    Ok(if st.needs_attention() {
        crate::exit::ATTENTION
    } else {
        crate::exit::OK
    })
}

fn print_status(st: &Status) {
    outln!("catalog   {}", st.catalog);
    match (st.last_complete_scan, st.scan_interrupted) {
        (_, true) => outln!("scan      interrupted: run `dsbfs scan` to finish it"),
        (None, false) => outln!("scan      none yet"),
        (Some(s), false) => outln!("scan      #{s} complete"),
    }
    outln!(
        "files     {} in {}, {}",
        st.files,
        count(st.folders, "folder"),
        count(st.symlinks, "symlink")
    );
    print_protection(&st.protection);
    let h = &st.history;
    if h.snapshots > 0 {
        outln!(
            "history   {}; old and deleted files hold {} ({}), {} on the disks",
            count(h.snapshots, "snapshot"),
            count(h.objects, "content"),
            sz(h.bytes),
            sz(h.disk_bytes)
        );
    }
    if !st.disks.is_empty() {
        outln!("disks");
        for d in &st.disks {
            outln!(
                "  {:<12} {:<9} {:>10} of {:<10} backup {}  verify {}",
                d.name,
                if d.connected { "connected" } else { "offline" },
                sz(d.used),
                d.cap.map_or("auto".into(), sz),
                crate::runs::last_line(d.last_backup, d.last_backup_run.as_ref()),
                crate::runs::last_line(d.last_verify, d.last_verify_run.as_ref())
            );
        }
    }
    if let Some(d) = &st.simulate_drop {
        outln!("if disk {} died:", d.disk);
        print_protection(&d.protection);
    }
    for a in &st.advice {
        outln!("next: {a}");
    }
}

fn print_protection(p: &Protection) {
    for (i, f) in p.by_copies.iter().enumerate() {
        let (n, b) = (&f.files, &f.bytes);
        let label = if i == 3 {
            "3+".to_string()
        } else {
            i.to_string()
        };
        let copies = if i == 1 { "copy  " } else { "copies" };
        let files = if *n == 1 { "file " } else { "files" };
        outln!("  {label:>2} {copies}  {n:>9} {files}  {:>10}", sz(*b));
    }
    if p.empty_files > 0 {
        outln!("  {} need no disk", count(p.empty_files, "empty file"));
    }
    let risk = &p.below_wanted;
    if risk.files > 0 {
        outln!(
            "  at risk: {} ({}) {} fewer copies than wanted",
            count(risk.files, "file"),
            sz(risk.bytes),
            if risk.files == 1 { "has" } else { "have" }
        );
    }
}
