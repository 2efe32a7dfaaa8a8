//! The tree the mount shows: one finished scan of the catalog, read through a small
//! pool of read-only connections (a `Connection` is not `Sync`; each request thread
//! borrows one), with a bounded cache of recently seen nodes.

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

pub struct View {
    path: PathBuf,
    at: At,
    scan: i64,
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
    /// Opens the catalog at its newest finished scan, which the mount shows unchanged
    /// until it is unmounted.
    pub fn open(path: &Path) -> Result<View> {
        let cat = open_connection(path)?;
        let Some(scan) = cat.last_complete_scan()? else {
            bail!(
                "the catalog {} has no finished scan yet: run `dsbfs scan` first",
                path.display()
            );
        };
        let at = At::Scan(scan);
        if !cat.node(1, at)?.is_some_and(|n| n.kind == Kind::Dir) {
            bail!("the catalog {} has no root folder", path.display());
        }
        Ok(View {
            path: path.to_owned(),
            at,
            scan,
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

    pub fn at(&self) -> At {
        self.at
    }

    pub fn scan(&self) -> i64 {
        self.scan
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
        let Ok(entry) = i64::try_from(ino) else {
            return Ok(None);
        };
        let node = self.conn()?.node(entry, self.at)?;
        Ok(node.map(|n| self.remember(n)))
    }

    /// The child `name` of folder `parent`.
    pub fn lookup(&self, parent: u64, name: &[u8]) -> Result<Option<Arc<Node>>> {
        let Ok(parent) = i64::try_from(parent) else {
            return Ok(None);
        };
        let node = self.conn()?.node_lookup(parent, name, self.at)?;
        Ok(node.map(|n| self.remember(n)))
    }

    /// The children of folder `parent` after the child with entry id `after` (0: from
    /// the first): a page and the index in it where they start. An empty rest of a
    /// page that is `last` means the folder has nothing more.
    pub fn children_after(&self, parent: u64, after: i64) -> Result<(Arc<Page>, usize)> {
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
        let Ok(folder) = i64::try_from(parent) else {
            bail!("no folder {parent}");
        };
        let children = self
            .conn()?
            .node_children(folder, self.at, after, PAGE_LEN)?
            .into_iter()
            .map(|(name, n)| (name, self.remember(n)))
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

    /// Counts for `statfs`, computed once (the snapshot does not change).
    pub fn totals(&self) -> Result<Totals> {
        if let Some(t) = self.totals.get() {
            return Ok(*t);
        }
        let t = self.conn()?.totals(self.at)?;
        Ok(*self.totals.get_or_init(|| t))
    }

    /// The virtual path of a node, for messages.
    pub fn path_of(&self, entry: i64) -> String {
        self.conn()
            .and_then(|c| c.entry_path(entry))
            .map(|p| crate::util::display_bytes(&p))
            .unwrap_or_else(|_| format!("(entry {entry})"))
    }

    fn remember(&self, n: Node) -> Arc<Node> {
        let n = Arc::new(n);
        // Hard links share an inode; the node under that number is the group's first name.
        if n.ino == n.entry as u64 {
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
