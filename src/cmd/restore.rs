//! `dsbfs restore DEST [PATTERN…] [--from NAME] [--plan]`

use super::Ctx;
use crate::cli::RestoreArgs;
use crate::restore::{RestoreOptions, disk_plan, restore};
use crate::select::PathMatcher;
use crate::util::{format_size as sz, path_bytes};
use anyhow::Result;

pub fn run(ctx: &Ctx, a: RestoreArgs) -> Result<u8> {
    let cat = ctx.open_readonly()?;
    let patterns = a
        .patterns
        .iter()
        .map(|p| PathMatcher::new(path_bytes(p)))
        .collect::<Result<Vec<_>>>()?;
    let at = super::history::at(&cat, a.snapshot.as_deref())?;
    if a.plan {
        let (plan, disks) = disk_plan(&cat, at, &patterns)?;
        if a.json {
            let steps: Vec<_> = plan
                .steps
                .iter()
                .map(|s| serde_json::json!({ "disk": disks[s.disk].name, "files": s.files, "bytes": s.bytes }))
                .collect();
            let doc = serde_json::json!({ "steps": steps, "on_no_disk": { "files": plan.uncovered.0, "bytes": plan.uncovered.1 } });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        } else {
            for (i, s) in plan.steps.iter().enumerate() {
                println!(
                    "{}. plug in {}: adds {} files ({})",
                    i + 1,
                    disks[s.disk].name,
                    s.files,
                    sz(s.bytes)
                );
            }
            if plan.uncovered.0 > 0 {
                println!(
                    "{} files ({}) are on no disk yet",
                    plan.uncovered.0,
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
    let report = restore(
        &cat,
        &a.dest,
        &RestoreOptions {
            at,
            patterns,
            from: a.from,
            progress: ctx.progress(a.json),
        },
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !ctx.quiet {
        println!(
            "restored {} files ({}), {} already there, {} folders, {} symlinks, {} hard links",
            report.restored.0,
            sz(report.restored.1),
            report.already_there,
            report.folders,
            report.symlinks,
            report.hard_links
        );
        for m in &report.missing {
            println!(
                "still missing: {} files ({}) on {}; e.g. {}",
                m.files,
                sz(m.bytes),
                if m.disks.is_empty() {
                    "no disk".to_string()
                } else {
                    format!("disk {}", m.disks.join(" or "))
                },
                m.examples.join(", ")
            );
        }
        if report.missing_files > 0 {
            println!("plug in a listed disk and run the same restore again to continue");
        }
    }
    Ok(if report.needs_attention() {
        crate::exit::ATTENTION
    } else {
        crate::exit::OK
    })
}
