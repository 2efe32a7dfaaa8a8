//! `dsbfs recover [PATH…] [--verify] [--force]`

use super::Ctx;
use crate::cli::RecoverArgs;
use crate::recover::{RecoverOptions, recover};
use crate::util::{count, format_time};
use anyhow::Result;

pub fn run(ctx: &Ctx, a: RecoverArgs) -> Result<u8> {
    let r = recover(
        &ctx.catalog_path,
        &RecoverOptions {
            places: a.paths,
            verify: a.verify,
            force: a.force,
            progress: ctx.progress(a.json),
        },
    )?;
    let attention = r
        .disks
        .iter()
        .any(|d| d.listing.missing + d.listing.wrong_size > 0 || d.damaged.is_some_and(|n| n > 0));
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&r)?);
    } else if !ctx.quiet {
        for d in &r.disks {
            let copy = match (&d.catalog_copy, &d.copy_error) {
                (Some(age), _) => format!(
                    "catalog copy of {} (snapshot {})",
                    format_time(age.written),
                    age.snapshot.map_or("none".into(), |s| s.to_string())
                ),
                (None, Some(e)) => format!("unusable catalog copy ({e})"),
                (None, None) => "no catalog copy".into(),
            };
            outln!("found disk {} at {}: {copy}", d.name, d.path.display());
        }
        outln!("took the catalog copy of {}", r.taken_from);
        for d in &r.disks {
            if let Some(why) = &d.lost {
                outln!("{}: could not be used after all: {why}", d.name);
                continue;
            }
            let l = &d.listing;
            outln!(
                "{}: holds {} ({} not recorded before), {} recorded ones missing, {} of the wrong size, {}{}{}",
                d.name,
                count(l.held, "object"),
                l.added,
                l.missing,
                l.wrong_size,
                count(l.unknown, "unknown file"),
                if d.registered {
                    "; added to the catalog"
                } else {
                    ""
                },
                d.damaged
                    .map(|n| format!("; verified: {n} damaged"))
                    .unwrap_or_default()
            );
        }
        if !r.not_found.is_empty() {
            outln!(
                "not found (their copies stay as the catalog copy says): {}",
                r.not_found.join(", ")
            );
        }
        if let Some(old) = &r.replaced {
            outln!("the catalog that was there is kept as {}", old.display());
        }
        outln!("installed the catalog at {}", r.catalog.display());
        if !r.missing_sources.is_empty() {
            outln!(
                "sources whose folders are not on this machine: {}; fix them with `dsbfs source remove` and `dsbfs source add` before the next scan",
                r.missing_sources
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if attention {
            outln!(
                "some recorded copies were missing or not whole: run `dsbfs verify NAME` on those disks, then `dsbfs status`"
            );
        }
    }
    Ok(if attention {
        crate::exit::ATTENTION
    } else {
        crate::exit::OK
    })
}
