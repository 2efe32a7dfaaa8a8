//! Selecting files by virtual path or glob (`ls`, `restore`, `where`).

use crate::util::{normalize_vpath, vpath_within};
use anyhow::Result;
use std::os::unix::ffi::OsStrExt;

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

    /// The pattern as the user wrote it (normalised).
    pub fn describe(&self) -> String {
        match self {
            PathMatcher::Prefix(p) => crate::util::display_bytes(p),
            PathMatcher::Glob(g) => g.glob().glob().to_owned(),
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
