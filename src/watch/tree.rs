//! Watching the source tree with inotify: one watch per folder (inotify is not
//! recursive), added for new folders as they appear. Every event names the folder it
//! happened in, which becomes a folder to rescan.
//!
//! When the kernel's queue overflows, events were lost: the caller rescans everything.
//! When the watch limit (`fs.inotify.max_user_watches`) is reached, the folders left
//! unwatched are seen only by the periodic full rescan; that is said once, with the
//! sysctl to raise.

use super::pending::Pending;
use crate::catalog::Catalog;
use crate::rules::Rules;
use crate::util::{path_bytes, vpath_join};
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, InotifyEvent, WatchDescriptor};
use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Whatever changes what a scan records of a folder's entries.
fn interesting() -> AddWatchFlags {
    AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
        | AddWatchFlags::IN_ONLYDIR
}

/// One watched folder: where it is and where it appears in the virtual tree.
#[derive(Clone, Debug)]
struct Watched {
    vpath: Vec<u8>,
    path: PathBuf,
    follow: bool,
}

/// What `read` found besides folders to rescan.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Read {
    /// Events were lost: rescan everything and watch everything again.
    pub overflow: bool,
}

pub struct Tree {
    inotify: Inotify,
    /// A physical folder may appear at several virtual paths (nested sources).
    watched: HashMap<WatchDescriptor, Vec<Watched>>,
    rules: Rules,
    skip: HashSet<PathBuf>,
    /// The catalog's own files (with `-wal`, `.lock`, …), whose every write would look
    /// like a change when a source holds them.
    catalog: Vec<u8>,
    /// Some folders could not be watched (the watch limit).
    pub incomplete: bool,
    said_limit: bool,
}

impl Tree {
    /// A watch of every folder of the catalog's sources.
    pub fn new(cat: &Catalog) -> Result<Tree> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).map_err(
            |e| match e {
                Errno::EMFILE => anyhow::anyhow!(
                    "cannot watch the sources: too many inotify instances (raise it: sysctl fs.inotify.max_user_instances=512); changes are picked up by the full rescans only"
                ),
                e => anyhow::anyhow!("cannot watch the sources with inotify: {e}"),
            },
        )?;
        let mut tree = Tree {
            inotify,
            watched: HashMap::new(),
            rules: Rules::new(cat.rules()?)?,
            skip: crate::scan::skipped_folders(cat)?,
            catalog: path_bytes(
                &std::fs::canonicalize(cat.path()).unwrap_or_else(|_| cat.path().to_owned()),
            )
            .to_vec(),
            incomplete: false,
            said_limit: false,
        };
        tree.watch_all(cat)?;
        Ok(tree)
    }

    /// Drops every watch and watches every folder of the sources again (after a queue
    /// overflow, or when the sources or rules changed).
    pub fn watch_all(&mut self, cat: &Catalog) -> Result<()> {
        for wd in self.watched.keys() {
            let _ = self.inotify.rm_watch(*wd);
        }
        self.watched.clear();
        self.incomplete = false;
        self.rules = Rules::new(cat.rules()?)?;
        self.skip = crate::scan::skipped_folders(cat)?;
        for s in cat.sources()? {
            self.add_tree(s.vpath, s.path, s.follow_symlinks);
        }
        Ok(())
    }

    pub fn folders(&self) -> usize {
        self.watched.len()
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }

    /// Watches `path` (at `vpath`) and every folder below it that the rules keep.
    fn add_tree(&mut self, vpath: Vec<u8>, path: PathBuf, follow: bool) {
        let mut stack = vec![(vpath, path)];
        let mut seen: HashSet<(u64, u64)> = HashSet::new();
        while let Some((vpath, path)) = stack.pop() {
            if self.skip.contains(&path) {
                continue;
            }
            if follow
                && let Ok(m) = std::fs::metadata(&path)
                && !seen.insert((m.dev(), m.ino()))
            {
                continue;
            }
            if !self.add(&vpath, &path, follow) {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&path) else {
                continue;
            };
            for e in entries.flatten() {
                let is_dir = match e.file_type() {
                    Ok(t) if t.is_dir() => true,
                    Ok(t) if t.is_symlink() && follow => e.path().is_dir(),
                    _ => false,
                };
                let name = e.file_name().into_encoded_bytes();
                let child = vpath_join(&vpath, &name);
                if is_dir && !self.rules.excluded(&child, true) {
                    stack.push((child, e.path()));
                }
            }
        }
    }

    /// Adds one watch; false when the folder cannot be watched.
    fn add(&mut self, vpath: &[u8], path: &Path, follow: bool) -> bool {
        let mut flags = interesting();
        if !follow {
            flags |= AddWatchFlags::IN_DONT_FOLLOW;
        }
        match self.inotify.add_watch(path, flags) {
            Ok(wd) => {
                let list = self.watched.entry(wd).or_default();
                if !list.iter().any(|w| w.vpath == vpath) {
                    list.push(Watched {
                        vpath: vpath.to_vec(),
                        path: path.to_owned(),
                        follow,
                    });
                }
                true
            }
            Err(Errno::ENOSPC) => {
                self.incomplete = true;
                if !self.said_limit {
                    self.said_limit = true;
                    tracing::warn!(
                        "cannot watch every folder: the limit of inotify watches is reached ({} folders watched; fs.inotify.max_user_watches = {}). Changes in the others are seen by the full rescans only. Raise it: sysctl fs.inotify.max_user_watches=1048576 (and in /etc/sysctl.d/ to keep it)",
                        self.watched.len(),
                        std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
                            .map(|s| s.trim().to_string())
                            .unwrap_or_else(|_| "?".into())
                    );
                }
                false
            }
            // Gone already, or not a folder after all: its parent's events tell.
            Err(_) => false,
        }
    }

    /// Reads every event waiting and notes the folders they happened in.
    pub fn read(&mut self, pending: &mut Pending, now: Instant) -> Result<Read> {
        let mut out = Read::default();
        loop {
            let events = match self.inotify.read_events() {
                Ok(e) => e,
                Err(Errno::EAGAIN) => return Ok(out),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e).context("cannot read inotify events"),
            };
            for e in events {
                if e.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    out.overflow = true;
                    continue;
                }
                self.event(e, pending, now);
            }
        }
    }

    fn event(&mut self, e: InotifyEvent, pending: &mut Pending, now: Instant) {
        if e.mask.contains(AddWatchFlags::IN_IGNORED) {
            self.watched.remove(&e.wd);
            return;
        }
        let Some(list) = self.watched.get(&e.wd).cloned() else {
            return;
        };
        let arrived = e
            .mask
            .intersects(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO);
        let is_dir = e.mask.contains(AddWatchFlags::IN_ISDIR);
        for w in list {
            let Some(name) = &e.name else {
                // The folder itself changed, went away or moved (its parent's event
                // tells where).
                pending.note(w.vpath.clone(), false, now);
                continue;
            };
            let path = w.path.join(name);
            let child = vpath_join(&w.vpath, path_bytes(Path::new(name)));
            // A symlink to a folder is one when the source follows symlinks.
            let dir = is_dir || (w.follow && arrived && path.is_dir());
            if path_bytes(&path).starts_with(&self.catalog) || self.rules.excluded(&child, dir) {
                continue;
            }
            pending.note(w.vpath.clone(), false, now);
            if arrived && dir {
                // A folder moved in may hold folders with old names and new contents.
                let moved = e.mask.contains(AddWatchFlags::IN_MOVED_TO);
                pending.note(child.clone(), moved, now);
                self.add_tree(child, path, w.follow);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_archive::Archive;
    use std::time::Duration;

    fn due(p: &mut Pending) -> Vec<(String, bool)> {
        let mut out: Vec<(String, bool)> = p
            .take_due(Instant::now() + Duration::from_secs(3600))
            .into_iter()
            .map(|r| (String::from_utf8(r.vpath).unwrap(), r.deep))
            .collect();
        out.sort();
        out
    }

    fn settle(tree: &mut Tree, p: &mut Pending) {
        std::thread::sleep(Duration::from_millis(50));
        tree.read(p, Instant::now()).unwrap();
    }

    #[test]
    fn events_name_the_folders_to_rescan_and_new_folders_are_watched_too() {
        let a = Archive::scanned(&[("a/one", 10), ("b/two", 10), ("cache/x", 1)]);
        a.cat
            .set_rule(&crate::catalog::Rule {
                vpath: b"/".to_vec(),
                excludes: vec!["/cache".into(), "*.tmp".into()],
                copies: None,
                priority: None,
            })
            .unwrap();
        let mut tree = Tree::new(&a.cat).unwrap();
        assert_eq!(tree.folders(), 3, "/, /a and /b; /cache is excluded");
        let mut p = Pending::new(Duration::from_secs(2));

        std::fs::write(a.path("src/a/one"), "changed").unwrap();
        std::fs::write(a.path("src/cache/y"), "excluded").unwrap();
        settle(&mut tree, &mut p);
        assert_eq!(due(&mut p), [("/a".to_string(), false)]);
        std::fs::write(a.path("src/b/scratch.tmp"), "excluded by name").unwrap();
        settle(&mut tree, &mut p);
        assert_eq!(
            due(&mut p),
            [] as [(String, bool); 0],
            "an excluded file is no change"
        );

        std::fs::create_dir_all(a.path("src/b/new/deeper")).unwrap();
        settle(&mut tree, &mut p);
        assert_eq!(
            due(&mut p),
            [("/b".to_string(), false), ("/b/new".to_string(), false)]
        );
        std::fs::write(a.path("src/b/new/deeper/file"), "x").unwrap();
        settle(&mut tree, &mut p);
        assert_eq!(due(&mut p), [("/b/new/deeper".to_string(), false)]);

        std::fs::create_dir(a.path("elsewhere")).unwrap();
        std::fs::rename(a.path("elsewhere"), a.path("src/moved")).unwrap();
        settle(&mut tree, &mut p);
        assert_eq!(
            due(&mut p),
            [("/".to_string(), false), ("/moved".to_string(), true)]
        );
        std::fs::write(a.path("src/moved/f"), "x").unwrap();
        settle(&mut tree, &mut p);
        assert_eq!(due(&mut p), [("/moved".to_string(), false)]);
        assert_eq!(tree.folders(), 6);
    }

    #[test]
    fn the_catalogs_own_files_in_a_source_are_no_change() {
        let a = Archive::scanned(&[("f", 1)]);
        // The archive's catalog lives beside `src`: a source of the whole folder holds it.
        a.cat
            .add_source(&crate::catalog::Source {
                vpath: b"/all".to_vec(),
                path: a.dir.path().to_owned(),
                follow_symlinks: false,
            })
            .unwrap();
        let mut tree = Tree::new(&a.cat).unwrap();
        let mut p = Pending::new(Duration::from_secs(2));
        settle(&mut tree, &mut p);
        p.clear();
        a.cat.set_policy(&Default::default()).unwrap();
        a.cat.checkpoint().unwrap();
        settle(&mut tree, &mut p);
        assert!(due(&mut p).is_empty(), "writing the catalog is no change");
        std::fs::write(a.path("other"), "x").unwrap();
        settle(&mut tree, &mut p);
        assert_eq!(due(&mut p), [("/all".to_string(), false)]);
    }
}
