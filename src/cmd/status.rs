//! `dsbfs status`: what the catalog holds, how well it is protected, and what to do next.

use super::Ctx;
use crate::catalog::tree::Protection;
use crate::cli::StatusArgs;
use crate::status::Status;
use crate::util::format_size as sz;
use anyhow::Result;

pub fn run(ctx: &Ctx, args: StatusArgs) -> Result<u8> {
    let cat = ctx.open_readonly()?;
    let st = crate::status::compute(&cat, args.simulate_drop.as_deref(), crate::util::now())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&st)?);
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
    println!("catalog   {}", st.catalog);
    match (st.last_complete_scan, st.scan_interrupted) {
        (_, true) => println!("scan      interrupted: run `dsbfs scan` to finish it"),
        (None, false) => println!("scan      none yet"),
        (Some(s), false) => println!("scan      #{s} complete"),
    }
    println!(
        "files     {} in {} folders, {} symlinks",
        st.files, st.folders, st.symlinks
    );
    print_protection(&st.protection);
    let h = &st.history;
    if h.snapshots > 0 {
        println!(
            "history   {} snapshots; old and deleted files hold {} contents ({}), {} on the disks",
            h.snapshots,
            h.objects,
            sz(h.bytes),
            sz(h.disk_bytes)
        );
    }
    if !st.disks.is_empty() {
        println!("disks");
        for d in &st.disks {
            println!(
                "  {:<12} {:<9} {:>9} of {:<9} backup {}  verify {}",
                d.name,
                if d.connected { "connected" } else { "offline" },
                sz(d.used),
                d.cap.map_or("auto".into(), sz),
                crate::runs::last_line(d.last_backup, d.last_backup_run.as_ref()),
                crate::runs::last_line(d.last_verify, d.last_verify_run.as_ref())
            );
        }
    }
    if let Some((name, p)) = &st.simulate_drop {
        println!("if disk {name} died:");
        print_protection(p);
    }
    for a in &st.advice {
        println!("next: {a}");
    }
}

fn print_protection(p: &Protection) {
    for (i, (n, b)) in p.by_copies.iter().enumerate() {
        let label = if i == 3 {
            "3+".to_string()
        } else {
            i.to_string()
        };
        println!("  {label:>2} copies  {n:>9} files  {:>9}", sz(*b));
    }
    if p.empty_files > 0 {
        println!("  {} empty files need no disk", p.empty_files);
    }
    if p.below_wanted.0 > 0 {
        println!(
            "  at risk: {} files ({}) have fewer copies than wanted",
            p.below_wanted.0,
            sz(p.below_wanted.1)
        );
    }
}
