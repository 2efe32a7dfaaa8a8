//! `dsbfs status`: what the catalog holds, how well it is protected, and what to do next.

use super::Ctx;
use crate::catalog::tree::Protection;
use crate::cli::StatusArgs;
use crate::placement::{self, Options, TargetDisk};
use crate::util::{format_size as sz, format_time};
use anyhow::Result;
use serde::Serialize;

/// A disk not verified for this long is named in the advice.
const VERIFY_EVERY_DAYS: i64 = 90;

#[derive(Serialize)]
struct DiskState {
    name: String,
    connected: bool,
    objects: u64,
    used: u64,
    cap: Option<u64>,
    last_backup: Option<i64>,
    last_verify: Option<i64>,
    /// At-risk bytes (and objects) a backup to this disk would give another copy.
    would_protect: (u64, u64),
}

#[derive(Serialize)]
struct Status {
    catalog: String,
    last_complete_scan: Option<i64>,
    scan_interrupted: bool,
    folders: u64,
    files: u64,
    symlinks: u64,
    protection: Protection,
    disks: Vec<DiskState>,
    next_disk: Option<String>,
    verify_due: Vec<String>,
    simulate_drop: Option<(String, Protection)>,
    advice: Vec<String>,
}

pub fn run(ctx: &Ctx, args: StatusArgs) -> Result<u8> {
    let cat = ctx.open_readonly()?;
    let [folders, files, symlinks] = cat.kind_counts()?;
    let protection = cat.protection()?;
    let connected = crate::disks::connected(&cat)?;
    let catalog_size = std::fs::metadata(cat.path()).map(|m| m.len()).unwrap_or(0);
    let snap = cat.placement_snapshot(0)?;
    let now = crate::util::now();
    let mut disks = Vec::new();
    for d in cat.disks()? {
        let (objects, used) = cat.disk_usage(d.id)?;
        let alloc = cat.disk_alloc(d.id)?;
        let live = connected.iter().find(|c| c.record.id == d.id);
        let room = match live.and_then(|c| c.store.space().ok()) {
            Some(space) => crate::disks::room(d.cap, alloc, space, catalog_size),
            None => match (d.cap, d.last_free) {
                (Some(c), free) => c.saturating_sub(alloc).min(free.unwrap_or(u64::MAX)),
                (None, free) => free.unwrap_or(0),
            },
        };
        let plan = placement::plan(
            &snap.objects,
            &TargetDisk { id: d.id, room },
            &Options {
                max_copies: None,
                evict: true,
                limit: None,
            },
        );
        let at_risk: std::collections::HashMap<i64, u64> = snap
            .objects
            .iter()
            .filter(|o| o.needed && (o.holders.len() as u32) < o.wanted)
            .map(|o| (o.id, o.size))
            .collect();
        let gained = plan
            .copy
            .iter()
            .filter_map(|id| at_risk.get(id))
            .fold((0, 0), |a, s| (a.0 + s, a.1 + 1));
        disks.push(DiskState {
            connected: live.is_some(),
            name: d.name,
            objects,
            used,
            cap: d.cap,
            last_backup: d.last_backup,
            last_verify: d.last_verify,
            would_protect: gained,
        });
    }
    let next_disk = disks
        .iter()
        .filter(|d| d.would_protect.0 > 0)
        .max_by_key(|d| (d.would_protect.0, std::cmp::Reverse(d.name.clone())))
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
    let simulate_drop = match &args.simulate_drop {
        Some(name) => {
            let d = crate::disks::named(&cat, name)?;
            Some((d.name, cat.protection_without(Some(d.id))?))
        }
        None => None,
    };
    let mut advice = Vec::new();
    if cat.last_complete_scan()?.is_none() || cat.scan_interrupted()? {
        advice.push("run `dsbfs scan` to bring the catalog up to date".to_string());
    }
    if protection.by_copies[0].0 > 0 {
        advice.push(format!(
            "{} files ({}) are on no disk at all",
            protection.by_copies[0].0,
            sz(protection.by_copies[0].1)
        ));
    }
    if let Some(n) = &next_disk {
        let d = disks.iter().find(|d| &d.name == n).expect("listed");
        advice.push(format!(
            "plug in disk {n} and run `dsbfs backup {n}`: {} at-risk objects ({}) would get another copy",
            d.would_protect.1,
            sz(d.would_protect.0)
        ));
    } else if protection.below_wanted.0 > 0 {
        advice.push(
            "the disks are full: add a disk (`dsbfs disk add`) to protect the rest".to_string(),
        );
    }
    for n in &verify_due {
        let never = disks
            .iter()
            .any(|d| &d.name == n && d.last_verify.is_none());
        let when = if never {
            "has never been verified".to_string()
        } else {
            format!("was last verified over {VERIFY_EVERY_DAYS} days ago")
        };
        advice.push(format!("disk {n} {when}: run `dsbfs verify {n}`"));
    }
    let st = Status {
        catalog: cat.path().display().to_string(),
        last_complete_scan: cat.last_complete_scan()?,
        scan_interrupted: cat.scan_interrupted()?,
        folders,
        files,
        symlinks,
        protection,
        disks,
        next_disk,
        verify_due,
        simulate_drop,
        advice,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&st)?);
    } else {
        print_status(&st);
    }
    Ok(if st.protection.below_wanted.0 > 0 {
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
    if !st.disks.is_empty() {
        println!("disks");
        for d in &st.disks {
            println!(
                "  {:<12} {:<9} {:>9} of {:<9} backup {:<19} verify {}",
                d.name,
                if d.connected { "connected" } else { "offline" },
                sz(d.used),
                d.cap.map_or("auto".into(), sz),
                format_time(d.last_backup),
                format_time(d.last_verify)
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
