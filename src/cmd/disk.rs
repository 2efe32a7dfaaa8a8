//! `dsbfs disk …`

use super::Ctx;
use crate::cli::DiskCmd;
use crate::disks::admin;
use crate::util::{count, format_size};
use anyhow::Result;

pub fn run(ctx: &Ctx, cmd: DiskCmd) -> Result<u8> {
    let cat = ctx.open()?;
    match cmd {
        DiskCmd::Add {
            name,
            path,
            size,
            create,
            force,
        } => {
            crate::disks::check_name(&name)?;
            let cap = size.as_deref().map(super::size_arg).transpose()?;
            let opts = admin::AddOptions { cap, create, force };
            let added = admin::add(&cat, &name, &path, opts)?;
            if let Some(w) = &added.warning {
                errln!("dsbfs: warning: {w}");
            }
            if !ctx.quiet {
                outln!(
                    "disk {name} at {} ({})",
                    added.record.path.display(),
                    cap.map_or("size follows free space".into(), format_size)
                );
            }
        }
        DiskCmd::List { json } => {
            let rows = admin::list(&cat)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print_list(rows);
            }
        }
        DiskCmd::Set { name, size, path } => {
            let disk = crate::disks::named(&cat, &name)?;
            let cap = size
                .map(|s| match s.as_str() {
                    "auto" => Ok(None),
                    s => super::size_arg(s).map(Some),
                })
                .transpose()?;
            admin::set(&cat, &disk, cap, path.as_deref())?;
        }
        DiskCmd::Rename { old, new } => admin::rename(&cat, &old, &new)?,
        DiskCmd::Drop { name } => {
            let f = admin::forget(&cat, &name)?;
            if !ctx.quiet {
                outln!(
                    "forgot disk {name}; files with no copy: {} -> {}, below wanted copies: {} -> {}",
                    f.before.by_copies[0].files,
                    f.after.by_copies[0].files,
                    f.before.below_wanted.files,
                    f.after.below_wanted.files
                );
            }
        }
        DiskCmd::Discover {
            name,
            path,
            r#move,
            json,
        } => {
            let disk = crate::disks::require(&cat, &name)?;
            let r = crate::discover::discover(&cat, &disk, &path, r#move)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&r)?);
            } else if !ctx.quiet {
                outln!(
                    "looked at {}, hashed {}: adopted {} ({}) without copying, {} already there",
                    count(r.files_seen, "file"),
                    r.hashed,
                    r.adopted.objects,
                    format_size(r.adopted.bytes),
                    r.already_there
                );
            }
            return Ok(if r.errors.is_empty() {
                crate::exit::OK
            } else {
                crate::exit::ATTENTION
            });
        }
        DiskCmd::Remove { name } => {
            let retired = admin::remove(&cat, &name)?;
            if !ctx.quiet {
                match retired {
                    admin::Retired::At(path) => outln!(
                        "removed disk {name}; {} holds no disk any more (its identity is kept as {})",
                        path.display(),
                        crate::store::RETIRED_IDENTITY
                    ),
                    admin::Retired::NotConnected => outln!(
                        "removed disk {name}; it is not connected, so its folder still names it: `dsbfs disk add --force` makes it a disk again"
                    ),
                }
            }
        }
    }
    Ok(crate::exit::OK)
}

fn print_list(rows: Vec<admin::DiskRow>) {
    outln!(
        "{:<12} {:<10} {:>9} {:>10} {:>10} {:<20} {:<20} PATH",
        "NAME",
        "STATE",
        "OBJECTS",
        "USED",
        "SIZE",
        "LAST BACKUP",
        "LAST VERIFY"
    );
    for r in rows {
        outln!(
            "{:<12} {:<10} {:>9} {:>10} {:>10} {:<20} {:<20} {}",
            r.record.name,
            if r.connected { "connected" } else { "offline" },
            r.objects,
            format_size(r.used),
            r.record.cap.map_or("auto".into(), format_size),
            crate::util::format_time(r.record.last_backup),
            crate::util::format_time(r.record.last_verify),
            r.found_at
                .unwrap_or_else(|| r.record.path.display().to_string())
        );
    }
}
