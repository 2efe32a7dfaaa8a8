//! Partial scans: walk only the folders that changed (as `watch` learns from inotify)
//! and let the rest of the tree carry on. The result is a snapshot like any other: a
//! version lives until a scan sees it gone, so what was not walked stays as it was.
//!
//! A changed folder is walked shallowly: its own entries are brought up to date, and a
//! subfolder is walked into only when the catalog did not know it as a folder (new, or
//! in place of a file). A folder moved in from elsewhere is walked deeply, since its
//! subfolders may have the names of old ones and other contents.

use super::{ScanSummary, Scanner, scan};
use crate::catalog::tree::At;
use crate::catalog::{Catalog, Kind, Source, physical_path};
use crate::scan::detect::attr_of;
use crate::util::{display_bytes, vpath_within};
use anyhow::Result;
use std::collections::BTreeMap;

/// A folder to scan again, by virtual path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rescan {
    pub vpath: Vec<u8>,
    /// Walk everything below it too.
    pub deep: bool,
}

/// Scans only `folders` (a recorded run): each, or when it is gone or not yet in the
/// catalog, its nearest ancestor that is.
pub fn run_paths(cat: &Catalog, folders: &[Rescan]) -> Result<ScanSummary> {
    crate::runs::record(cat, crate::runs::Kind::Scan, None, || {
        scan(cat, false, Some(folders))
    })
}

impl Scanner<'_> {
    pub(super) fn walk_folders(&mut self, folders: &[Rescan]) -> Result<()> {
        let sources = self.cat.sources()?;
        let mut targets: BTreeMap<Vec<u8>, bool> = BTreeMap::new();
        for f in folders {
            let (vpath, deep) = self.walkable(&sources, &f.vpath, f.deep)?;
            *targets.entry(vpath).or_default() |= deep;
        }
        let mut deep_done: Vec<Vec<u8>> = Vec::new();
        for (vpath, deep) in targets {
            if deep_done.iter().any(|d| vpath_within(&vpath, d)) {
                continue;
            }
            self.summary.only.push(display_bytes(&vpath));
            self.walk_folder(&sources, &vpath, deep)?;
            if deep {
                deep_done.push(vpath);
            }
        }
        self.shallow = false;
        Ok(())
    }

    /// `vpath`, or its nearest ancestor that the catalog knows as a current folder and
    /// that is still a folder at its source (or exists only to lead to a deeper source).
    /// An ancestor stands in shallowly: it walks into what it did not know.
    fn walkable(&self, sources: &[Source], vpath: &[u8], deep: bool) -> Result<(Vec<u8>, bool)> {
        let mut v = vpath.to_vec();
        let mut deep = deep;
        loop {
            if v == b"/" {
                return Ok((v, deep));
            }
            let known = self
                .cat
                .resolve(&v, At::Current)?
                .is_some_and(|r| r.attr.kind == Kind::Dir);
            let present = match physical_path(sources, &v) {
                Some(p) => std::fs::metadata(&p).is_ok_and(|m| m.is_dir()),
                None => true,
            };
            if known && present {
                return Ok((v, deep));
            }
            let cut = v.iter().rposition(|&b| b == b'/').unwrap_or(0);
            v.truncate(cut.max(1));
            deep = false;
        }
    }

    fn walk_folder(&mut self, sources: &[Source], vpath: &[u8], deep: bool) -> Result<()> {
        let Some(old) = self.cat.resolve(vpath, At::Current)? else {
            return Ok(());
        };
        let physical = physical_path(sources, vpath);
        let source = sources
            .iter()
            .filter(|s| vpath_within(vpath, &s.vpath))
            .max_by_key(|s| s.vpath.len());
        let follow = source.is_some_and(|s| s.follow_symlinks);
        if let Some(p) = &physical {
            let is_root = source.is_some_and(|s| s.vpath == vpath);
            let meta = if is_root || follow {
                std::fs::metadata(p)
            } else {
                std::fs::symlink_metadata(p)
            };
            match meta {
                Ok(m) if m.is_dir() => {
                    self.record_folder(old.entry, Some(&old), &attr_of(&m, Kind::Dir, None))?
                }
                // Gone since it was chosen: the next event on its parent finds out.
                _ => return Ok(()),
            }
        }
        self.shallow = !deep;
        self.walk_dir(
            old.entry,
            vpath,
            physical.as_deref(),
            follow,
            &mut Vec::new(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_archive::Archive;

    /// Every current path with its kind, size and content.
    fn tree(cat: &Catalog) -> Vec<String> {
        let mut out: Vec<String> = cat
            .files(At::Current)
            .unwrap()
            .into_iter()
            .map(|(p, v)| {
                format!(
                    "{} {:?} {} {:?} {:o} {}",
                    display_bytes(&p),
                    v.attr.kind,
                    v.attr.size,
                    v.hash.map(|h| crate::util::hex(&h)),
                    v.attr.mode,
                    v.attr.mtime_ns
                )
            })
            .collect();
        out.sort();
        out
    }

    fn rescan(vpath: &str, deep: bool) -> Rescan {
        Rescan {
            vpath: vpath.as_bytes().to_vec(),
            deep,
        }
    }

    fn write(a: &Archive, rel: &str, data: &str) {
        let p = a.path(&format!("src/{rel}"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    /// Two catalogs of the same source: after the same changes, a partial scan of the
    /// folders that changed gives the tree a full scan gives.
    #[test]
    fn rescanning_the_changed_folders_gives_the_tree_a_full_scan_gives() {
        let a = Archive::scanned(&[
            ("a/one", 10),
            ("a/deep/two", 20),
            ("b/three", 30),
            ("top", 5),
        ]);
        let full = Catalog::open(&a.path("full.db")).unwrap();
        full.add_source(&a.cat.sources().unwrap()[0]).unwrap();
        crate::scan::run(&full, false).unwrap();

        write(&a, "a/new", "new file");
        write(&a, "a/one", "changed content");
        std::fs::remove_file(a.path("src/a/deep/two")).unwrap();
        write(&a, "a/fresh/sub/file", "in a new folder tree");
        std::fs::remove_dir_all(a.path("src/b")).unwrap();
        std::fs::rename(a.path("src/a/deep"), a.path("src/moved")).unwrap();
        write(&a, "moved/inside", "moved with its folder");

        let s = run_paths(
            &a.cat,
            &[
                rescan("/a", false),
                rescan("/a/deep", false),
                rescan("/a/fresh/sub", false),
                rescan("/b", false),
                rescan("/moved", true),
                rescan("/", false),
            ],
        )
        .unwrap();
        crate::scan::run(&full, false).unwrap();
        assert_eq!(tree(&a.cat), tree(&full));
        assert_eq!(
            (s.new.files, s.changed.files, s.deleted.files),
            (3, 1, 2),
            "a/new, a/fresh/sub/file, moved/inside; a/one; a/deep/two and b/three"
        );
        assert!(s.only.contains(&"/a".to_string()), "{:?}", s.only);
        assert!(
            !s.only.iter().any(|p| p.starts_with("/a/fresh")),
            "a new folder is walked from the nearest known one: {:?}",
            s.only
        );
        let snapshots = a.cat.snapshots().unwrap();
        assert_eq!(snapshots.len(), 2, "a partial scan is a snapshot");
        let counted = a.cat.snapshots_counted().unwrap();
        assert_eq!(
            counted.last().unwrap().counts.unwrap().files,
            full.snapshots_counted()
                .unwrap()
                .last()
                .unwrap()
                .counts
                .unwrap()
                .files
        );
    }

    #[test]
    fn a_shallow_rescan_leaves_unchanged_subfolders_unwalked() {
        let a = Archive::scanned(&[("a/sub/file", 10)]);
        // A change the rescan of /a must not see: it is in a subfolder nobody named.
        write(&a, "a/sub/file", "changed but not named");
        write(&a, "a/here", "named folder's new file");
        let s = run_paths(&a.cat, &[rescan("/a", false)]).unwrap();
        assert_eq!((s.new.files, s.changed.files), (1, 0));
        let s = run_paths(&a.cat, &[rescan("/a", true)]).unwrap();
        assert_eq!(
            (s.new.files, s.changed.files),
            (0, 1),
            "a deep rescan sees it"
        );
    }

    #[test]
    fn a_folder_that_vanished_is_rescanned_through_its_parent() {
        let a = Archive::scanned(&[("a/b/c/file", 10), ("keep", 3)]);
        std::fs::remove_dir_all(a.path("src/a/b")).unwrap();
        let s = run_paths(&a.cat, &[rescan("/a/b/c", false)]).unwrap();
        assert_eq!(s.only, ["/a"]);
        assert_eq!(s.deleted.files, 1);
        assert!(a.cat.resolve(b"/a/b", At::Current).unwrap().is_none());
        assert!(a.cat.resolve(b"/keep", At::Current).unwrap().is_some());
    }
}
