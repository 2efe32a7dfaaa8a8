//! `dsbfs context export FILE` and `dsbfs context import FILE`.

use super::Ctx;
use crate::cli::ContextCmd;
use crate::context::{ImportOptions, import, write};
use crate::util::{count, format_size as sz};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

pub fn run(ctx: &Ctx, c: ContextCmd) -> Result<u8> {
    match c {
        ContextCmd::Export {
            file,
            snapshot,
            disk,
        } => export(ctx, &file, snapshot.as_deref(), disk.as_deref()),
        ContextCmd::Import {
            file,
            rewrite,
            disk,
            json,
        } => import_file(ctx, &file, &rewrite, disk.as_deref(), json),
    }
}

fn is_stdio(file: &Path) -> bool {
    file.as_os_str() == "-"
}

fn export(ctx: &Ctx, file: &Path, snapshot: Option<&str>, disk: Option<&str>) -> Result<u8> {
    let cat = ctx.open_readonly()?;
    let crate::catalog::tree::At::Scan(id) =
        super::history::at(&cat, Some(snapshot.unwrap_or("latest")))?
    else {
        unreachable!("a named snapshot is a scan");
    };
    let disk = disk.map(|n| crate::disks::named(&cat, n)).transpose()?;
    if is_stdio(file) {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, crate::output::Stdout);
        write(&cat, Some(id), disk.as_ref(), &mut out)?;
        out.flush()?;
        return Ok(crate::exit::OK);
    }
    let mut written = Default::default();
    write_file_atomic(file, |out| {
        written = write(&cat, Some(id), disk.as_ref(), out)?;
        Ok(())
    })?;
    if !ctx.quiet {
        let w: crate::context::export::Written = written;
        outln!(
            "wrote {} ({}{}) of snapshot {id} to {}",
            count(w.paths, "path"),
            count(w.files, "file"),
            disk.as_ref()
                .map(|d| format!(", {} of them on disk {}", w.on_disk, d.name))
                .unwrap_or_default(),
            file.display()
        );
    }
    Ok(crate::exit::OK)
}

/// Writes `file` through a temporary name beside it, flushed and renamed. A FILE that
/// exists and is not a regular file (`/dev/stdout`, `/dev/null`, a FIFO) is written to
/// as it is: renaming over it would replace a device or pipe with a plain file.
fn write_file_atomic(file: &Path, fill: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    if std::fs::metadata(file).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(file)
            .with_context(|| format!("cannot write {}", file.display()))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, f);
        return fill(&mut out)
            .and_then(|()| Ok(out.flush()?))
            .with_context(|| format!("cannot write {}", file.display()));
    }
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, f);
    let done = fill(&mut out)
        .and_then(|()| out.into_inner().map_err(|e| e.into_error().into()))
        .and_then(|f| Ok(f.sync_all()?))
        .and_then(|()| Ok(std::fs::rename(&tmp, file)?));
    if let Err(e) = done {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", file.display()));
    }
    crate::util::fsync_parent(file)
}

/// `OLD=NEW`, both virtual paths: split at the first `=` followed by `/`.
fn rewrite_arg(s: &str) -> Result<(Vec<u8>, Vec<u8>)> {
    let bad = || {
        crate::usage(format!(
            "--rewrite {s:?}: write it as OLD=NEW, both starting with / (e.g. /=/old-laptop)"
        ))
    };
    let at = s.find("=/").ok_or_else(bad)?;
    let (old, new) = (&s[..at], &s[at + 1..]);
    Ok((
        super::vpath_arg(Path::new(old)).map_err(|_| bad())?,
        super::vpath_arg(Path::new(new)).map_err(|_| bad())?,
    ))
}

fn import_file(
    ctx: &Ctx,
    file: &Path,
    rewrites: &[String],
    disk: Option<&Path>,
    json: bool,
) -> Result<u8> {
    let rewrites = rewrites
        .iter()
        .map(|r| rewrite_arg(r))
        .collect::<Result<Vec<_>>>()?;
    let mut disk_folders = Vec::new();
    if let Some(d) = disk {
        disk_folders.push(
            std::fs::canonicalize(d).map_err(|e| crate::usage(format!("{}: {e}", d.display())))?,
        );
    }
    let input: Box<dyn std::io::BufRead> = if is_stdio(file) {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(file)
            .map_err(|e| crate::usage(format!("cannot read {}: {e}", file.display())))?;
        if let Some(dir) = std::fs::canonicalize(file)
            .ok()
            .and_then(|p| p.parent().map(Path::to_owned))
        {
            disk_folders.push(dir);
        }
        Box::new(std::io::BufReader::with_capacity(1 << 20, f))
    };
    let cat = ctx.open()?;
    let r = import(
        &cat,
        input,
        &ImportOptions {
            rewrites,
            disk_folders,
        },
    )
    .with_context(|| format!("cannot import {}", file.display()))?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&r)?);
    } else if !ctx.quiet {
        outln!(
            "snapshot {}: {} ({}, {}), {} replaced, {} unchanged, {} made",
            r.snapshot,
            count(r.paths, "path"),
            count(r.files, "file"),
            sz(r.bytes),
            r.replaced,
            r.unchanged,
            count(r.folders_made, "folder")
        );
        if let Some(d) = &r.disk {
            match &d.found_at {
                Some(at) => outln!(
                    "disk {} at {}{}: {} recorded, {} not on it",
                    d.name,
                    at.display(),
                    if d.registered {
                        " (added to the catalog)"
                    } else {
                        ""
                    },
                    count(d.recorded, "copy"),
                    count(d.missing, "object")
                ),
                None => outln!(
                    "disk {} ({}) was not found: its {} neither checked nor recorded; import the context from the disk's folder or give --disk PATH",
                    d.name,
                    d.uuid,
                    if d.missing == 1 {
                        "1 object was".to_string()
                    } else {
                        format!("{} objects were", d.missing)
                    }
                ),
            }
        }
    }
    Ok(if r.disk.as_ref().is_some_and(|d| d.missing > 0) {
        crate::exit::ATTENTION
    } else {
        crate::exit::OK
    })
}
