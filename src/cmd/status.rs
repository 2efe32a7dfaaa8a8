//! `dsbfs status`: what the catalog holds and how well it is protected.

use super::Ctx;
use crate::catalog::tree::Protection;
use crate::cli::StatusArgs;
use crate::util::format_size as sz;
use anyhow::Result;
use serde::Serialize;

#[derive(Serialize)]
struct Status {
    catalog: String,
    last_complete_scan: Option<i64>,
    scan_interrupted: bool,
    folders: u64,
    files: u64,
    symlinks: u64,
    protection: Protection,
}

pub fn run(ctx: &Ctx, args: StatusArgs) -> Result<u8> {
    let cat = ctx.open()?;
    let [folders, files, symlinks] = cat.kind_counts()?;
    let last = cat.last_complete_scan()?;
    let interrupted = cat.scan_interrupted()?;
    let st = Status {
        catalog: cat.path().display().to_string(),
        last_complete_scan: last,
        scan_interrupted: interrupted,
        folders,
        files,
        symlinks,
        protection: cat.protection()?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&st)?);
    } else {
        println!("catalog   {}", st.catalog);
        match (last, interrupted) {
            (_, true) => println!("scan      interrupted: run `dsbfs scan` to finish it"),
            (None, false) => println!("scan      none yet: run `dsbfs scan`"),
            (Some(s), false) => println!("scan      #{s} complete"),
        }
        println!("files     {files} in {folders} folders, {symlinks} symlinks");
        let p = &st.protection;
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
                "at risk   {} files ({}) have fewer copies than wanted",
                p.below_wanted.0,
                sz(p.below_wanted.1)
            );
        }
    }
    Ok(if st.protection.below_wanted.0 > 0 {
        crate::exit::ATTENTION
    } else {
        crate::exit::OK
    })
}
