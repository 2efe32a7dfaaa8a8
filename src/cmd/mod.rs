//! Command handlers: parse-level checks, call the library, print results.

mod backup;
mod disk;
mod ls;
mod mount;
mod source;
mod status;

use crate::catalog::Catalog;
use crate::cli::{Cli, Command};
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

    /// Progress bars only for people watching a terminal.
    pub fn progress(&self, json: bool) -> bool {
        !self.quiet && !json && std::io::stderr().is_terminal()
    }
}

pub fn run(cli: Cli) -> Result<u8> {
    let ctx = Ctx {
        catalog_path: cli
            .catalog
            .clone()
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
        Command::Status(a) => status::run(&ctx, a),
        Command::Mount(a) => mount::run(&ctx, a),
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
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else if !ctx.quiet {
        use crate::util::format_size as sz;
        println!(
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
        println!(
            "hashed {} files ({}); {} folders, {} symlinks",
            s.hashed.files,
            sz(s.hashed.bytes),
            s.folders,
            s.symlinks
        );
        if s.skipped_special > 0 {
            println!(
                "skipped {} sockets, FIFOs or device files",
                s.skipped_special
            );
        }
        if s.needs_attention() {
            println!(
                "{} could not be read and {} kept changing: see the messages above",
                s.unreadable, s.changed_while_hashing
            );
        }
    }
    Ok(if s.needs_attention() {
        crate::exit::ATTENTION
    } else {
        crate::exit::OK
    })
}

/// Writes raw path bytes (names may be any bytes) followed by a newline.
pub fn print_path_line(prefix: &str, path: &[u8]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(prefix.as_bytes());
    let _ = out.write_all(path);
    let _ = out.write_all(b"\n");
}
