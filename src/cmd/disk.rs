//! `dsbfs disk …`

use super::Ctx;
use crate::catalog::{DiskRecord, DiskUpdate};
use crate::cli::DiskCmd;
use crate::disks::{check_name, mount_rel};
use crate::mounts::mounts;
use crate::store::{FORMAT, Identity, read_identity, write_identity};
use crate::usage;
use crate::util::format_size;
use anyhow::{Context, Result};
use serde::Serialize;

#[derive(Serialize)]
struct DiskRow {
    #[serde(flatten)]
    record: DiskRecord,
    connected: bool,
    found_at: Option<String>,
    objects: u64,
    used: u64,
}

pub fn run(ctx: &Ctx, cmd: DiskCmd) -> Result<u8> {
    let cat = ctx.open()?;
    match cmd {
        DiskCmd::Add {
            name,
            path,
            size,
            force,
        } => {
            check_name(&name)?;
            let cap = size.as_deref().map(super::size_arg).transpose()?;
            if cat.disk(&name)?.is_some() {
                return Err(usage(format!("a disk called {name} exists already")));
            }
            std::fs::create_dir_all(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let path = std::fs::canonicalize(&path)?;
            if let Some(id) = read_identity(&path) {
                return Err(usage(format!(
                    "{} already holds the dsbfs disk {} ({}); if that disk moved, use `dsbfs disk set {} --path`",
                    path.display(),
                    id.name,
                    id.uuid,
                    id.name
                )));
            }
            if !force && std::fs::read_dir(&path)?.next().is_some() {
                return Err(usage(format!(
                    "{} is not empty; use --force to make it a disk anyway (its files are left alone)",
                    path.display()
                )));
            }
            for s in cat.sources()? {
                if path.starts_with(&s.path) || s.path.starts_with(&path) {
                    return Err(usage(format!(
                        "{} overlaps the source {}; a disk cannot hold its own source",
                        path.display(),
                        s.path.display()
                    )));
                }
            }
            let uuid = uuid::Uuid::new_v4().to_string();
            write_identity(
                &path,
                &Identity {
                    format: FORMAT,
                    name: name.clone(),
                    uuid: uuid.clone(),
                },
            )?;
            let rec = DiskRecord {
                id: 0,
                name: name.clone(),
                uuid,
                mount_rel: mount_rel(&path, &mounts()),
                path: path.clone(),
                cap,
                added: crate::util::now(),
                last_backup: None,
                last_verify: None,
                last_free: None,
            };
            cat.add_disk(&rec)?;
            if !ctx.quiet {
                println!(
                    "disk {name} at {} ({})",
                    path.display(),
                    cap.map_or("size follows free space".into(), format_size)
                );
            }
        }
        DiskCmd::List { json } => {
            let table = mounts();
            let mut rows = Vec::new();
            for record in cat.disks()? {
                let found = crate::disks::locate(&record, &table, &[]);
                let (objects, used) = cat.disk_usage(record.id)?;
                rows.push(DiskRow {
                    connected: found.is_some(),
                    found_at: found.map(|s| s.root().display().to_string()),
                    objects,
                    used,
                    record,
                });
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:<12} {:<10} {:>9} {:>9} {:>9} {:<20} {:<20} PATH",
                    "NAME", "STATE", "OBJECTS", "USED", "SIZE", "LAST BACKUP", "LAST VERIFY"
                );
                for r in rows {
                    println!(
                        "{:<12} {:<10} {:>9} {:>9} {:>9} {:<20} {:<20} {}",
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
        }
        DiskCmd::Set { name, size, path } => {
            let rec = crate::disks::named(&cat, &name)?;
            let mut u = DiskUpdate::default();
            if let Some(s) = size {
                u.cap = Some(if s == "auto" {
                    None
                } else {
                    Some(super::size_arg(&s)?)
                });
            }
            if let Some(p) = path {
                let p = std::fs::canonicalize(&p)
                    .map_err(|e| usage(format!("{}: {e}", p.display())))?;
                crate::store::check_identity(&p, &rec.uuid)?;
                u.path = Some((p.clone(), mount_rel(&p, &mounts())));
            }
            cat.update_disk(rec.id, &u)?;
        }
        DiskCmd::Rename { old, new } => {
            check_name(&new)?;
            let rec = crate::disks::named(&cat, &old)?;
            if cat.disk(&new)?.is_some() {
                return Err(usage(format!("a disk called {new} exists already")));
            }
            cat.update_disk(
                rec.id,
                &DiskUpdate {
                    name: Some(new.clone()),
                    ..Default::default()
                },
            )?;
            if let Some(store) = crate::disks::locate(&rec, &mounts(), &[]) {
                write_identity(
                    store.root(),
                    &Identity {
                        format: FORMAT,
                        name: new,
                        uuid: rec.uuid,
                    },
                )?;
            }
        }
        DiskCmd::Drop { name } => {
            let rec = crate::disks::named(&cat, &name)?;
            let before = cat.protection()?;
            cat.delete_disk(rec.id)?;
            let after = cat.protection()?;
            if !ctx.quiet {
                println!(
                    "forgot disk {name}; files with no copy: {} -> {}, below wanted copies: {} -> {}",
                    before.by_copies[0].0,
                    after.by_copies[0].0,
                    before.below_wanted.0,
                    after.below_wanted.0
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
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else if !ctx.quiet {
                println!(
                    "looked at {} files, hashed {}: adopted {} ({}) without copying, {} already there",
                    r.files_seen,
                    r.hashed,
                    r.adopted.0,
                    format_size(r.adopted.1),
                    r.already_there
                );
                for e in &r.errors {
                    eprintln!("dsbfs: {e}");
                }
            }
            return Ok(if r.errors.is_empty() {
                crate::exit::OK
            } else {
                crate::exit::ATTENTION
            });
        }
        DiskCmd::Remove { name } => {
            let rec = crate::disks::named(&cat, &name)?;
            let (objects, _) = cat.disk_usage(rec.id)?;
            if objects > 0 {
                return Err(usage(format!(
                    "disk {name} holds {objects} objects; use `dsbfs disk drop {name}` if it is lost"
                )));
            }
            cat.delete_disk(rec.id)?;
        }
    }
    Ok(crate::exit::OK)
}
