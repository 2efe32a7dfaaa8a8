//! `dsbfs where PATH…`: which disks hold each file.

use super::Ctx;
use crate::catalog::Kind;
use crate::cli::WhereArgs;
use crate::util::{display_bytes, format_size, hex};
use anyhow::Result;
use serde::Serialize;

#[derive(Serialize)]
struct Holder {
    disk: String,
    connected: bool,
}

#[derive(Serialize)]
struct Found {
    path: String,
    kind: Option<Kind>,
    size: u64,
    sha256: Option<String>,
    wanted: u32,
    disks: Vec<Holder>,
    error: Option<String>,
}

pub fn run(ctx: &Ctx, args: WhereArgs) -> Result<u8> {
    let cat = ctx.open_readonly()?;
    let at = super::history::at(&cat, args.snapshot.as_deref())?;
    let connected: Vec<i64> = crate::disks::connected(&cat)?
        .iter()
        .map(|c| c.record.id)
        .collect();
    let mut found = Vec::new();
    for p in &args.paths {
        let vpath = super::vpath_arg(p)?;
        let mut f = Found {
            path: display_bytes(&vpath),
            kind: None,
            size: 0,
            sha256: None,
            wanted: 0,
            disks: Vec::new(),
            error: None,
        };
        match cat.resolve(&vpath, at)? {
            None => f.error = Some("not in the catalog".into()),
            Some(v) => {
                f.kind = Some(v.attr.kind);
                f.size = v.attr.size;
                f.sha256 = v.hash.map(|h| hex(&h));
                f.wanted = v.copies;
                if let Some(o) = v.object {
                    f.disks = cat
                        .holders(o)?
                        .into_iter()
                        .map(|d| Holder {
                            connected: connected.contains(&d.id),
                            disk: d.name,
                        })
                        .collect();
                }
            }
        }
        found.push(f);
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&found)?);
    } else {
        for f in &found {
            match (&f.error, f.kind) {
                (Some(e), _) => errln!("dsbfs: {}: {e}", f.path),
                (None, Some(Kind::File)) if f.sha256.is_none() => {
                    outln!("{}: empty file, needs no disk", f.path)
                }
                (None, Some(Kind::File)) => {
                    let disks: Vec<String> = f
                        .disks
                        .iter()
                        .map(|h| {
                            format!(
                                "{} ({})",
                                h.disk,
                                if h.connected { "connected" } else { "offline" }
                            )
                        })
                        .collect();
                    outln!(
                        "{}: {} sha256 {} on {}/{}: {}",
                        f.path,
                        format_size(f.size),
                        f.sha256.as_deref().unwrap_or("-"),
                        f.disks.len(),
                        f.wanted,
                        if disks.is_empty() {
                            "no disk yet".into()
                        } else {
                            disks.join(", ")
                        }
                    );
                }
                (None, Some(k)) => outln!("{}: {}, stored in the catalog itself", f.path, k.noun()),
                (None, None) => {}
            }
        }
    }
    Ok(if found.iter().any(|f| f.error.is_some()) {
        crate::exit::FAILURE
    } else {
        crate::exit::OK
    })
}
