//! Per-path rules (`dsbfs source set`): gitignore-style excludes, wanted copies, priority.
//! A rule applies to its virtual path and everything below; the deepest rule that sets a
//! value wins.

use crate::catalog::Rule;
use crate::util::vpath_within;
use anyhow::{Context, Result};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub const DEFAULT_COPIES: u32 = 2;
/// The most copies a rule or the history policy may ask for: more than any drawer holds disks.
pub const MAX_COPIES: u32 = 64;
pub const DEFAULT_PRIORITY: i32 = 0;

pub struct Rules {
    /// Sorted by virtual path, so ancestors come before descendants.
    rules: Vec<(Rule, Option<Gitignore>)>,
}

impl Rules {
    pub fn new(mut rules: Vec<Rule>) -> Result<Rules> {
        rules.sort_by(|a, b| a.vpath.cmp(&b.vpath));
        let rules = rules
            .into_iter()
            .map(|r| {
                let matcher = if r.excludes.is_empty() {
                    None
                } else {
                    let mut b = GitignoreBuilder::new(Path::new(OsStr::from_bytes(&r.vpath)));
                    for glob in &r.excludes {
                        b.add_line(None, glob).with_context(|| {
                            format!(
                                "bad exclude pattern {glob:?} on {}",
                                String::from_utf8_lossy(&r.vpath)
                            )
                        })?;
                    }
                    Some(b.build()?)
                };
                Ok((r, matcher))
            })
            .collect::<Result<_>>()?;
        Ok(Rules { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// True when an exclude pattern of a rule above `vpath` matches it.
    pub fn excluded(&self, vpath: &[u8], is_dir: bool) -> bool {
        self.rules.iter().any(|(r, m)| {
            m.as_ref().is_some_and(|m| {
                vpath != r.vpath.as_slice()
                    && vpath_within(vpath, &r.vpath)
                    && m.matched(Path::new(OsStr::from_bytes(vpath)), is_dir)
                        .is_ignore()
            })
        })
    }

    /// Wanted copies and priority for `vpath`.
    pub fn effective(&self, vpath: &[u8]) -> (u32, i32) {
        let mut copies = DEFAULT_COPIES;
        let mut priority = DEFAULT_PRIORITY;
        for (r, _) in self
            .rules
            .iter()
            .filter(|(r, _)| vpath_within(vpath, &r.vpath))
        {
            copies = r.copies.unwrap_or(copies);
            priority = r.priority.unwrap_or(priority);
        }
        (copies, priority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(vpath: &str, excludes: &[&str], copies: Option<u32>) -> Rule {
        Rule {
            vpath: vpath.as_bytes().to_vec(),
            excludes: excludes.iter().map(|s| s.to_string()).collect(),
            copies,
            priority: None,
        }
    }

    #[test]
    fn deepest_rule_wins_and_applies_only_below_its_path() {
        let r = Rules::new(vec![
            rule("/", &[], Some(3)),
            rule("/photos/raw", &[], Some(1)),
        ])
        .unwrap();
        assert_eq!(r.effective(b"/docs/a.txt").0, 3);
        assert_eq!(r.effective(b"/photos/raw/x.cr2").0, 1);
        assert_eq!(r.effective(b"/photos/rawfile").0, 3);
        assert_eq!(
            Rules::new(vec![]).unwrap().effective(b"/x").0,
            DEFAULT_COPIES
        );
    }

    #[test]
    fn excludes_use_gitignore_syntax_relative_to_the_rule() {
        let r = Rules::new(vec![rule("/data", &["*.tmp", "/cache", "build/"], None)]).unwrap();
        assert!(r.excluded(b"/data/x.tmp", false));
        assert!(r.excluded(b"/data/deep/y.tmp", false));
        assert!(r.excluded(b"/data/cache", true));
        assert!(!r.excluded(b"/data/deep/cache", true));
        assert!(r.excluded(b"/data/deep/build", true));
        assert!(!r.excluded(b"/data/deep/build", false));
        assert!(!r.excluded(b"/other/x.tmp", false));
        assert!(!r.excluded(b"/data/keep.txt", false));
    }
}
