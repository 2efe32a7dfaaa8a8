//! The tree the mount shows: one finished scan of the catalog (the latest, or the
//! snapshot `-o snapshot=` names), or with `-o history` a folder per snapshot and
//! `latest`; read through a small pool of read-only connections (a `Connection` is not
//! `Sync`; each request thread borrows one), with a bounded cache of recently seen nodes.
//!
//! Inode numbers: with one tree, a node's inode is its catalog entry id (stable across
//! mounts). With history, the snapshot in slot `s` (1 = the oldest) numbers its nodes
//! `s << SLOT_SHIFT | entry`, so the same path in two snapshots is two inodes, each
//! with its own attributes; 1 is the root of folders and 2 the `latest` symlink.

use super::options::Show;
use super::read_ahead::ReadAhead;
use crate::catalog::tree::At;
use crate::catalog::view::{Node, Totals};
use crate::catalog::{Catalog, Kind};
use anyhow::{Result, bail};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Nodes kept in memory (about 200 bytes each); the kernel caches far more itself.
const NODE_CACHE: usize = 32 * 1024;
/// Children fetched per catalog query when listing a folder.
const PAGE_LEN: u32 = 256;
/// Folders whose latest listing page is kept (at most `PAGE_LEN` nodes each).
const PAGE_CACHE: usize = 256;
/// Folders listed ahead that the kernel has not asked for yet, at most: well below
/// `PAGE_CACHE`, so that listing ahead does not push out what it listed before.
const UNASKED_MAX: usize = PAGE_CACHE / 2;

/// A run of a folder's children in name order, as one catalog query returned it.
pub struct Page {
    /// The entry id of the child this page starts after (0: the folder's first child).
    after: i64,
    pub children: Vec<(Vec<u8>, Arc<Node>)>,
    /// Whether the folder has no children after this page.
    pub last: bool,
    /// Whether the read-ahead thread listed it (before the kernel asked).
    listed_ahead: bool,
    /// Whether the kernel asked for this page (as a folder's first).
    asked: AtomicBool,
}

impl Page {
    /// Where the children after entry `after` start in this page, if the page knows.
    fn position_after(&self, after: i64) -> Option<usize> {
        if after == self.after {
            return Some(0);
        }
        let i = self.children.iter().position(|(_, n)| n.entry == after)?;
        Some(i + 1)
    }
}

/// Where an entry's inode number lies in a history mount: bits above this are its slot.
const SLOT_SHIFT: u32 = 40;
const ENTRY_MASK: u64 = (1 << SLOT_SHIFT) - 1;
/// The `latest` symlink of a history mount.
const LATEST_INO: u64 = 2;

pub struct View {
    path: PathBuf,
    /// The snapshot of each slot (one, unless this is a history mount).
    trees: Vec<i64>,
    /// The root of folders of a history mount.
    history: Option<HistoryRoot>,
    pool: Mutex<Vec<Catalog>>,
    nodes: Mutex<LruCache<u64, Arc<Node>>>,
    /// The page of each recently listed folder that the kernel read last. The kernel
    /// asks for a listing in several requests, each starting after the last entry it
    /// took (and a final one that finds nothing more): these are answered from here.
    pages: Mutex<LruCache<u64, Arc<Page>>>,
    totals: OnceLock<Totals>,
    /// Folders to list ahead of the kernel (see `start_read_ahead`).
    read_ahead: Arc<ReadAhead>,
}

/// The root of a history mount: a folder per snapshot, named by its local time, and
/// `latest`, a symlink to the newest.
struct HistoryRoot {
    root: Arc<Node>,
    latest: Arc<Node>,
    /// The folder names of the slots, in slot order.
    names: Vec<Vec<u8>>,
    /// The root's listing: every folder and `latest`, in name order.
    page: Arc<Page>,
}

/// What an inode number stands for.
enum Place {
    /// The entry `entry` of the snapshot in slot `slot` (an index into `trees`).
    Tree {
        slot: usize,
        entry: i64,
    },
    /// The history root or its `latest`.
    Root(Arc<Node>),
    Nowhere,
}

/// A connection borrowed from the pool; it goes back on drop.
pub struct Conn<'a> {
    cat: Option<Catalog>,
    view: &'a View,
}

impl std::ops::Deref for Conn<'_> {
    type Target = Catalog;
    fn deref(&self) -> &Catalog {
        self.cat.as_ref().expect("a borrowed connection")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.cat.take()
            && let Ok(mut pool) = self.view.pool.lock()
        {
            pool.push(c);
        }
    }
}

impl View {
    /// Opens the catalog showing `show`, which stays as it is until unmounted.
    pub fn open(path: &Path, show: &Show) -> Result<View> {
        let cat = open_connection(path)?;
        let snapshots = cat.snapshots()?;
        if snapshots.is_empty() {
            bail!(
                "the catalog {} has no finished scan yet: run `dsbfs scan` first",
                path.display()
            );
        }
        let tz = jiff::tz::TimeZone::system();
        let trees: Vec<i64> = match show {
            Show::Latest => vec![snapshots.last().expect("not empty").id],
            Show::Snapshot(spec) => vec![crate::history::resolve(&snapshots, spec, &tz)?],
            Show::History => snapshots.iter().map(|s| s.id).collect(),
        };
        for &scan in &trees {
            if !cat
                .node(1, At::Scan(scan))?
                .is_some_and(|n| n.kind == Kind::Dir)
            {
                bail!(
                    "the catalog {} has no root folder in snapshot {scan}",
                    path.display()
                );
            }
        }
        let history = match show {
            Show::History => Some(history_root(&cat, &snapshots, &tz)?),
            _ => None,
        };
        Ok(View {
            path: path.to_owned(),
            trees,
            history,
            pool: Mutex::new(vec![cat]),
            nodes: Mutex::new(LruCache::new(NonZeroUsize::new(NODE_CACHE).unwrap())),
            pages: Mutex::new(LruCache::new(NonZeroUsize::new(PAGE_CACHE).unwrap())),
            totals: OnceLock::new(),
            read_ahead: Arc::new(ReadAhead::new(UNASKED_MAX)),
        })
    }

    /// Starts a thread that lists folders ahead of the kernel, depth first from each
    /// folder the kernel lists, while the kernel is still busy with entries it has: a
    /// walk (`find`, `du`, `rsync`) then finds the next folder's first page ready, and
    /// the catalog queries run on a core that would otherwise wait. It stays at most
    /// `UNASKED_MAX` folders ahead, so browsing one folder lists only a few more.
    pub fn start_read_ahead(self: &Arc<Self>) {
        let view = Arc::downgrade(self);
        let read_ahead = self.read_ahead.clone();
        let spawned = std::thread::Builder::new()
            .name("dsbfs-read-ahead".into())
            .spawn(move || {
                while let Some(folder) = read_ahead.next() {
                    let Some(view) = view.upgrade() else { break };
                    let cached = view.pages.lock().unwrap().contains(&folder);
                    let page = (!cached)
                        .then(|| view.fetch_page(folder, 0, true).ok())
                        .flatten();
                    read_ahead.listed(page.is_some());
                    if let Some(page) = page {
                        read_ahead.plan_first(subfolders(&page));
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::debug!("no thread to list folders ahead: {e}");
            self.read_ahead.stop();
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The newest snapshot shown.
    pub fn scan(&self) -> i64 {
        *self.trees.last().expect("a view shows a snapshot")
    }

    /// What the mount shows, for its log: the snapshot, or how many.
    pub fn describe(&self) -> String {
        match &self.history {
            Some(h) => format!("history: {} snapshots", h.names.len()),
            None => format!("snapshot {}", self.scan()),
        }
    }

    /// What `ino` stands for.
    fn place(&self, ino: u64) -> Place {
        let Some(h) = &self.history else {
            return match i64::try_from(ino) {
                Ok(entry) => Place::Tree { slot: 0, entry },
                Err(_) => Place::Nowhere,
            };
        };
        match (ino >> SLOT_SHIFT) as usize {
            0 if ino == 1 => Place::Root(h.root.clone()),
            0 if ino == LATEST_INO => Place::Root(h.latest.clone()),
            0 => Place::Nowhere,
            s if s <= self.trees.len() => Place::Tree {
                slot: s - 1,
                entry: (ino & ENTRY_MASK) as i64,
            },
            _ => Place::Nowhere,
        }
    }

    fn at(&self, slot: usize) -> At {
        At::Scan(self.trees[slot])
    }

    /// The inode number of catalog inode `ino` in `slot`.
    fn slotted(&self, slot: usize, ino: u64) -> u64 {
        match self.history {
            Some(_) => ((slot as u64 + 1) << SLOT_SHIFT) | (ino & ENTRY_MASK),
            None => ino,
        }
    }

    /// A connection for this thread's request.
    pub fn conn(&self) -> Result<Conn<'_>> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        let cat = match pooled {
            Some(c) => c,
            None => open_connection(&self.path)?,
        };
        Ok(Conn {
            cat: Some(cat),
            view: self,
        })
    }

    /// The node with inode number `ino`.
    pub fn node(&self, ino: u64) -> Result<Option<Arc<Node>>> {
        if let Some(n) = self.nodes.lock().unwrap().get(&ino) {
            return Ok(Some(n.clone()));
        }
        let (slot, entry) = match self.place(ino) {
            Place::Tree { slot, entry } => (slot, entry),
            Place::Root(n) => return Ok(Some(n)),
            Place::Nowhere => return Ok(None),
        };
        let node = self.conn()?.node(entry, self.at(slot))?;
        Ok(node.map(|n| self.remember(slot, n)))
    }

    /// The child `name` of folder `parent`.
    pub fn lookup(&self, parent: u64, name: &[u8]) -> Result<Option<Arc<Node>>> {
        let (slot, parent) = match self.place(parent) {
            Place::Tree { slot, entry } => (slot, entry),
            Place::Root(_) => {
                let page = &self.history.as_ref().expect("a history root").page;
                let found = page.children.iter().find(|(n, _)| n == name);
                return Ok(found.map(|(_, node)| node.clone()));
            }
            Place::Nowhere => return Ok(None),
        };
        let node = self.conn()?.node_lookup(parent, name, self.at(slot))?;
        Ok(node.map(|n| self.remember(slot, n)))
    }

    /// The children of folder `parent` after the child with entry id `after` (0: from
    /// the first): a page and the index in it where they start. An empty rest of a
    /// page that is `last` means the folder has nothing more.
    pub fn children_after(&self, parent: u64, after: i64) -> Result<(Arc<Page>, usize)> {
        if let (Some(h), 1) = (&self.history, parent) {
            // The root of folders is one page, always at hand; an unknown cookie is its end.
            let start = h
                .page
                .position_after(after)
                .unwrap_or(h.page.children.len());
            return Ok((h.page.clone(), start));
        }
        // A first page may be being listed ahead right now: wait for it rather than
        // list it again.
        let found = self.cached_page(parent, after).or_else(|| {
            if after != 0 {
                return None;
            }
            self.read_ahead.wait_for(parent);
            self.cached_page(parent, after)
        });
        let (page, start) = match found {
            Some(found) => found,
            None => (self.fetch_page(parent, after, false)?, 0),
        };
        if page.after == 0 && start == 0 && !page.asked.swap(true, Ordering::Relaxed) {
            if page.listed_ahead {
                self.read_ahead.settled();
            } else {
                self.read_ahead.missed();
            }
            self.read_ahead.plan_first(subfolders(&page));
        }
        Ok((page, start))
    }

    /// The cached page holding the children of `parent` after entry `after`, if any.
    fn cached_page(&self, parent: u64, after: i64) -> Option<(Arc<Page>, usize)> {
        let page = self.pages.lock().unwrap().get(&parent).cloned()?;
        let start = page.position_after(after)?;
        (start < page.children.len() || page.last).then_some((page, start))
    }

    /// Queries a page of `parent`'s children after entry `after` and keeps it.
    fn fetch_page(&self, parent: u64, after: i64, listed_ahead: bool) -> Result<Arc<Page>> {
        let (slot, folder) = match self.place(parent) {
            Place::Tree { slot, entry } => (slot, entry),
            // The root of folders: its one page never needs fetching.
            Place::Root(n) if n.ino == 1 => {
                return Ok(self.history.as_ref().expect("a history root").page.clone());
            }
            _ => bail!("no folder {parent}"),
        };
        let children = self
            .conn()?
            .node_children(folder, self.at(slot), after, PAGE_LEN)?
            .into_iter()
            .map(|(name, n)| (name, self.remember(slot, n)))
            .collect::<Vec<_>>();
        let page = Arc::new(Page {
            after,
            last: children.len() < PAGE_LEN as usize,
            children,
            listed_ahead,
            asked: AtomicBool::new(false),
        });
        let dropped = self.pages.lock().unwrap().push(parent, page.clone());
        if let Some((_, old)) = dropped
            && old.listed_ahead
            && !old.asked.load(Ordering::Relaxed)
        {
            self.read_ahead.settled();
        }
        Ok(page)
    }

    /// Counts for `statfs`, computed once (the snapshot does not change): those of
    /// the newest snapshot shown.
    pub fn totals(&self) -> Result<Totals> {
        if let Some(t) = self.totals.get() {
            return Ok(*t);
        }
        let t = self.conn()?.totals(self.at(self.trees.len() - 1))?;
        Ok(*self.totals.get_or_init(|| t))
    }

    /// The path of entry `entry` (whose inode is `ino`) in the mount, for messages.
    pub fn path_of(&self, ino: u64, entry: i64) -> String {
        let path = self
            .conn()
            .and_then(|c| c.entry_path(entry))
            .map(|p| crate::util::display_bytes(&p))
            .unwrap_or_else(|_| format!("(entry {entry})"));
        match (&self.history, self.place(ino)) {
            (Some(h), Place::Tree { slot, .. }) => {
                format!("/{}{path}", String::from_utf8_lossy(&h.names[slot]))
            }
            _ => path,
        }
    }

    /// Whether content `object` belongs to the current tree (not only to past snapshots).
    pub fn is_current(&self, object: i64) -> Result<bool> {
        self.conn()?.object_is_current(object)
    }

    /// Files a catalog node of `slot` under its inode number in the mount.
    fn remember(&self, slot: usize, mut n: Node) -> Arc<Node> {
        // Hard links share an inode; the node under that number is the group's first name.
        let first_name = n.ino == n.entry as u64;
        if self.history.is_some() {
            n.ino = self.slotted(slot, n.ino);
            // A snapshot's root lies in the root of folders.
            n.parent = if n.entry == 1 {
                1
            } else {
                self.slotted(slot, n.parent as u64) as i64
            };
        }
        let n = Arc::new(n);
        if first_name {
            self.nodes.lock().unwrap().put(n.ino, n.clone());
        }
        n
    }
}

impl Drop for View {
    fn drop(&mut self) {
        self.read_ahead.stop();
    }
}

/// The subfolders on a page, in name order.
fn subfolders(page: &Page) -> impl DoubleEndedIterator<Item = u64> + '_ {
    page.children
        .iter()
        .filter(|(_, n)| n.kind == Kind::Dir)
        .map(|(_, n)| n.ino)
}

/// The root of folders of a history mount, from the snapshots (oldest first).
fn history_root(
    cat: &Catalog,
    snapshots: &[crate::catalog::history::SnapshotRecord],
    tz: &jiff::tz::TimeZone,
) -> Result<HistoryRoot> {
    let folders = crate::history::folder_names(snapshots, tz);
    let newest = snapshots.last().expect("not empty");
    let top = cat
        .node(1, At::Scan(newest.id))?
        .expect("checked: every snapshot has a root");
    let time_ns = newest.time.saturating_mul(1_000_000_000);
    let latest_name = folders.last().expect("not empty").0.clone().into_bytes();
    let root = Node {
        ino: 1,
        entry: 1,
        parent: 1,
        nlink: 2 + folders.len() as u32,
        mtime_ns: time_ns,
        ..top.clone()
    };
    let latest = Node {
        ino: LATEST_INO,
        entry: LATEST_INO as i64,
        parent: 1,
        kind: Kind::Symlink,
        mode: 0o777,
        mtime_ns: time_ns,
        size: latest_name.len() as u64,
        nlink: 1,
        target: Some(latest_name),
        object: None,
        ..top.clone()
    };
    let mut children = Vec::with_capacity(folders.len() + 1);
    for (slot, (name, id)) in folders.iter().enumerate() {
        let snap_root = cat
            .node(1, At::Scan(*id))?
            .expect("checked: every snapshot has a root");
        // Listing cookies come from entry ids: the folders get their own after `latest`.
        children.push((
            name.clone().into_bytes(),
            Arc::new(Node {
                ino: ((slot as u64 + 1) << SLOT_SHIFT) | 1,
                entry: LATEST_INO as i64 + 1 + slot as i64,
                parent: 1,
                ..snap_root
            }),
        ));
    }
    children.push((b"latest".to_vec(), Arc::new(latest.clone())));
    children.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(HistoryRoot {
        root: Arc::new(root),
        latest: Arc::new(latest),
        names: folders.into_iter().map(|(n, _)| n.into_bytes()).collect(),
        page: Arc::new(Page {
            after: 0,
            children,
            last: true,
            listed_ahead: false,
            asked: AtomicBool::new(false),
        }),
    })
}

/// The most of a catalog `warm_up` reads: about two million files' worth.
const WARM_UP_MAX: u64 = 512 << 20;

/// Reads the catalog once, in the background, so that it is in the page cache before
/// the first requests need it: a freshly mounted catalog on a cold disk would
/// otherwise cost every lookup a few random reads, each slower than the lookup it
/// serves. The catalog is small beside the files it lists, and page cache is the
/// kernel's to drop again: nothing stays in the daemon's memory.
pub fn warm_up(path: &Path) {
    let path = path.to_owned();
    let spawned = std::thread::Builder::new()
        .name("dsbfs-warm-up".into())
        .spawn(move || {
            if let Ok(f) = std::fs::File::open(&path) {
                let _ = std::io::copy(
                    &mut std::io::Read::take(f, WARM_UP_MAX),
                    &mut std::io::sink(),
                );
            }
        });
    if let Err(e) = spawned {
        tracing::debug!("no thread to warm up the catalog: {e}");
    }
}

/// A read-only connection that sees commits of a concurrent backup (no `immutable` unless
/// the catalog's folder is read-only), hardened for catalogs from untrusted disks.
fn open_connection(path: &Path) -> Result<Catalog> {
    Catalog::open_for_mount(path)
}
