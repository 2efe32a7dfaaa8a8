//! `dsbfs ls [PATTERN]`: the current files of the catalog, with their copy counts.

use super::{Ctx, print_path_line};
use crate::catalog::Kind;
use crate::cli::LsArgs;
use crate::util::{hex, normalize_vpath, path_bytes, vpath_within};
use anyhow::Result;
use serde::Serialize;
use std::os::unix::ffi::OsStrExt;

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
    let cat = ctx.open()?;
    let matcher = args
        .pattern
        .as_deref()
        .map(path_bytes)
        .map(PathMatcher::new)
        .transpose()?;
    let counts = cat.copy_counts()?;
    let mut rows = Vec::new();
    for (path, v) in cat.current_files()? {
        if v.attr.kind == Kind::Dir || matcher.as_ref().is_some_and(|m| !m.matches(&path)) {
            continue;
        }
        let copies = v.object.and_then(|o| counts.get(&o).copied()).unwrap_or(0);
        if args.print0 {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(&path)?;
            out.write_all(b"\0")?;
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
            print_path_line(&format!("{copies:>5} {:>12} ", v.attr.size), &path);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    }
    Ok(crate::exit::OK)
}

/// A virtual path (matches itself and everything below) or a glob over whole virtual paths.
pub enum PathMatcher {
    Prefix(Vec<u8>),
    Glob(globset::GlobMatcher),
}

impl PathMatcher {
    pub fn new(pattern: &[u8]) -> Result<PathMatcher> {
        if pattern.iter().any(|b| b"*?[{".contains(b)) {
            let text = std::str::from_utf8(pattern)
                .map_err(|_| crate::usage("a glob pattern must be UTF-8"))?;
            let glob = globset::GlobBuilder::new(text)
                .literal_separator(true)
                .build()
                .map_err(|e| crate::usage(format!("bad pattern {text:?}: {e}")))?;
            Ok(PathMatcher::Glob(glob.compile_matcher()))
        } else {
            Ok(PathMatcher::Prefix(
                normalize_vpath(pattern).map_err(|e| crate::usage(e.to_string()))?,
            ))
        }
    }

    pub fn matches(&self, path: &[u8]) -> bool {
        match self {
            PathMatcher::Prefix(p) => vpath_within(path, p),
            PathMatcher::Glob(g) => {
                g.is_match(std::path::Path::new(std::ffi::OsStr::from_bytes(path)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_subtrees_and_globs_match_whole_paths() {
        let p = PathMatcher::new(b"/photos").unwrap();
        assert!(p.matches(b"/photos/a.jpg") && p.matches(b"/photos") && !p.matches(b"/photosx"));
        let g = PathMatcher::new(b"/photos/**/*.jpg").unwrap();
        assert!(g.matches(b"/photos/2024/x/a.jpg"));
        assert!(!g.matches(b"/docs/a.jpg"));
        let star = PathMatcher::new(b"/*.txt").unwrap();
        assert!(star.matches(b"/a.txt") && !star.matches(b"/d/a.txt"));
    }
}
