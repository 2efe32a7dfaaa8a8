//! Command handlers: parse-level checks, call the library, print results.

mod backup;
mod context;
mod disk;
mod history;
mod ls;
mod mount;
mod recover;
mod restore;
mod runs;
mod source;
mod status;
mod where_;

use crate::catalog::Catalog;
use crate::cli::{Cli, Command};
use crate::util::count;
use anyhow::Result;
use std::io::IsTerminal;
use std::path::PathBuf;

/// What every handler gets: the global options.
pub struct Ctx {
    pub catalog_path: PathBuf,
    pub quiet: bool,
    pub verbose: u8,
}

impl Ctx {
    pub fn open(&self) -> Result<Catalog> {
        Catalog::open(&self.catalog_path)
    }

    /// For commands that only read: works on a catalog copy on a read-only disk too.
    pub fn open_readonly(&self) -> Result<Catalog> {
        if !self.catalog_path.exists() {
            return Err(crate::usage(format!(
                "no catalog at {}: add a source first (`dsbfs source add`) or name one with --catalog",
                self.catalog_path.display()
            )));
        }
        Catalog::open_readonly(&self.catalog_path)
    }

    /// Progress bars only for people watching a terminal.
    pub fn progress(&self, json: bool) -> bool {
        !self.quiet && !json && std::io::stderr().is_terminal()
    }
}

pub fn run(cli: Cli) -> Result<u8> {
    if cli.catalog.len() > 1 && !matches!(cli.command, Command::Report(_)) {
        return Err(crate::usage(format!(
            "--catalog is given {} times: only `dsbfs report` reads several catalogs",
            cli.catalog.len()
        )));
    }
    let ctx = Ctx {
        catalog_path: cli
            .catalog
            .first()
            .cloned()
            .unwrap_or_else(crate::catalog::default_path),
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    match cli.command {
        Command::Source(c) => source::run(&ctx, c),
        Command::Scan(a) => scan(&ctx, a.json),
        Command::Disk(c) => disk::run(&ctx, c),
        Command::Backup(a) => backup::run(&ctx, a),
        Command::Ls(a) => ls::run(&ctx, a),
        Command::Where(a) => where_::run(&ctx, a),
        Command::Restore(a) => restore::run(&ctx, a),
        Command::Verify(a) => verify(&ctx, a),
        Command::Watch(a) => runs::watch(&ctx, a),
        Command::Log(a) => runs::log(&ctx, a),
        Command::Report(a) => runs::report(&ctx, &cli.catalog, a),
        Command::Completions { shell } => {
            crate::complete::registration(shell, &mut crate::output::Stdout)?;
            Ok(crate::exit::OK)
        }
        Command::GenMan { dir } => {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("dsbfs.1"), crate::manpage::render())?;
            Ok(crate::exit::OK)
        }
        Command::Status(a) => status::run(&ctx, a),
        Command::Mount(a) => mount::run(&ctx, a),
        Command::Snapshots(a) => history::snapshots(&ctx, a),
        Command::Policy(a) => history::policy(&ctx, a),
        Command::Forget(a) => history::forget(&ctx, a),
        Command::Versions(a) => history::versions(&ctx, a),
        Command::Diff(a) => history::diff(&ctx, a),
        Command::Context(c) => context::run(&ctx, c),
        Command::Recover(a) => recover::run(&ctx, a),
    }
}

fn scan(ctx: &Ctx, json: bool) -> Result<u8> {
    let cat = ctx.open()?;
    if cat.sources()?.is_empty() {
        return Err(crate::usage(
            "no sources yet: add one with `dsbfs source add VPATH PATH`",
        ));
    }
    let s = crate::scan::run(&cat, ctx.progress(json))?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&s)?);
    } else if !ctx.quiet {
        use crate::util::format_size as sz;
        outln!(
            "scan {}{}: {} new ({}), {} changed ({}), {} deleted ({}), {} unchanged ({})",
            s.scan,
            if s.resumed { " (resumed)" } else { "" },
            s.new.files,
            sz(s.new.bytes),
            s.changed.files,
            sz(s.changed.bytes),
            s.deleted.files,
            sz(s.deleted.bytes),
            s.unchanged.files,
            sz(s.unchanged.bytes)
        );
        outln!(
            "hashed {} ({}); {}, {}",
            count(s.hashed.files, "file"),
            sz(s.hashed.bytes),
            count(s.folders, "folder"),
            count(s.symlinks, "symlink")
        );
        if s.skipped_special > 0 {
            outln!(
                "skipped {}",
                count(s.skipped_special, "socket, FIFO or device file")
            );
        }
        if let Some(m) = &s.mass_change {
            outln!("warning: {}", m.describe());
        }
        if s.needs_attention() {
            outln!(
                "{} could not be read and {} kept changing: see the messages above",
                s.unreadable,
                s.changed_while_hashing
            );
        }
    }
    Ok(if s.needs_attention() {
        crate::exit::ATTENTION
    } else {
        crate::exit::OK
    })
}

/// A size the user typed (500G, 1.5T); a bad one is a usage error.
fn size_arg(s: &str) -> Result<u64> {
    crate::util::parse_size(s).map_err(|e| crate::usage(e.to_string()))
}

/// A virtual path the user typed (/photos/2024); a bad one is a usage error.
fn vpath_arg(p: &std::path::Path) -> Result<Vec<u8>> {
    crate::util::normalize_vpath(crate::util::path_bytes(p))
        .map_err(|e| crate::usage(e.to_string()))
}

/// Writes raw path bytes (names may be any bytes) followed by a newline.
pub fn print_path_line(prefix: &str, path: &[u8]) {
    use std::io::Write;
    let mut out = crate::output::Stdout;
    let _ = out.write_all(&[prefix.as_bytes(), path, b"\n"].concat());
}

fn verify(ctx: &Ctx, a: crate::cli::VerifyArgs) -> Result<u8> {
    let cat = ctx.open()?;
    let disk = crate::disks::require(&cat, &a.name)?;
    let r = crate::verify::verify(&cat, &disk, !a.check, ctx.progress(a.json))?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&r)?);
    } else if !ctx.quiet {
        outln!(
            "verified {} ({}) on {}{}: {} damaged, {} missing, {}, {} found and recorded",
            count(r.checked.objects, "object"),
            crate::util::format_size(r.checked.bytes),
            r.disk,
            if r.resumed { " (resumed)" } else { "" },
            r.damaged.len(),
            r.missing.len(),
            count(r.unknown.len() as u64, "unknown file"),
            r.adopted
        );
        let moved = if a.check {
            ""
        } else {
            " (moved to quarantine)"
        };
        for d in r.damaged.iter() {
            outln!("damaged: {d}{moved}");
        }
        for m in r.missing.iter() {
            outln!("missing: {m}");
        }
        for u in r.unknown.iter() {
            outln!("unknown: {u}");
        }
        let lost = r.damaged.len() + r.missing.len();
        if lost > 0 && !a.check {
            outln!(
                "the catalog was corrected: `dsbfs backup {}` (or a backup to another disk) makes the lost copies again",
                r.disk
            );
        } else if lost > 0 {
            outln!(
                "nothing was changed: `dsbfs verify {}` moves them to quarantine and corrects the catalog",
                r.disk
            );
        }
    }
    Ok(if r.needs_attention() {
        crate::exit::ATTENTION
    } else {
        crate::exit::OK
    })
}
