//! `dsbfs ls [PATTERN]`: the current files of the catalog, with their copy counts.

use super::{Ctx, print_path_line};
use crate::catalog::Kind;
use crate::cli::LsArgs;
use crate::select::PathMatcher;
use crate::util::{hex, path_bytes};
use anyhow::Result;
use serde::Serialize;

#[derive(Serialize)]
struct Row {
    path: String,
    kind: Kind,
    size: u64,
    copies: u32,
    wanted: u32,
    sha256: Option<String>,
}

pub fn run(ctx: &Ctx, args: LsArgs) -> Result<u8> {
    let cat = ctx.open_readonly()?;
    let matcher = args
        .pattern
        .as_deref()
        .map(path_bytes)
        .map(PathMatcher::new)
        .transpose()?;
    let holders = cat.holder_sets()?;
    let disk_id = |name: &Option<String>| -> Result<Option<i64>> {
        name.as_deref()
            .map(|n| crate::disks::named(&cat, n).map(|d| d.id))
            .transpose()
    };
    let (on, not_on) = (disk_id(&args.on)?, disk_id(&args.not_on)?);
    let copy_filter = args.copies.is_some()
        || args.min_copies.is_some()
        || args.max_copies.is_some()
        || args.at_risk
        || on.is_some()
        || not_on.is_some();
    let mut rows = Vec::new();
    let text = !args.print0 && !args.json;
    if text {
        outln!("{:>6} {:>12} PATH", "COPIES", "SIZE");
    }
    for (path, v) in cat.current_files()? {
        if v.attr.kind == Kind::Dir || matcher.as_ref().is_some_and(|m| !m.matches(&path)) {
            continue;
        }
        let disks: &[i64] = v
            .object
            .and_then(|o| holders.get(&o))
            .map_or(&[], |d| d.as_slice());
        let copies = disks.len() as u32;
        if copy_filter
            && (v.object.is_none()
                || args.copies.is_some_and(|n| copies != n)
                || args.min_copies.is_some_and(|n| copies < n)
                || args.max_copies.is_some_and(|n| copies > n)
                || (args.at_risk && copies >= v.copies)
                || on.is_some_and(|d| !disks.contains(&d))
                || not_on.is_some_and(|d| disks.contains(&d)))
        {
            continue;
        }
        if args.print0 {
            use std::io::Write;
            crate::output::Stdout.write_all(&[path.as_slice(), b"\0"].concat())?;
        } else if args.json {
            rows.push(Row {
                path: String::from_utf8_lossy(&path).into_owned(),
                kind: v.attr.kind,
                size: v.attr.size,
                copies,
                wanted: v.copies,
                sha256: v.hash.map(|h| hex(&h)),
            });
        } else {
            let copies = if v.attr.kind == Kind::File && v.object.is_some() {
                format!("{copies}/{}", v.copies)
            } else {
                "-".into()
            };
            let size = if args.human_readable {
                crate::util::format_size(v.attr.size)
            } else {
                v.attr.size.to_string()
            };
            print_path_line(&format!("{copies:>6} {size:>12} "), &path);
        }
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
    }
    Ok(crate::exit::OK)
}
