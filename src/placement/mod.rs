//! Placement planner: decides what to delete from, and copy onto, the one disk plugged in now.
//!
//! It is a pure function of the catalog's view of the objects, so the same rules serve the real
//! run, dry-run reports and simulations, and can be tested without disks.
//!
//! The caller executes a [`Plan`] as: every delete first, then the copies in order. The planner
//! counts room as if each delete it has chosen were already done; since all deletes do run
//! first, the room at each copy is at least what the planner counted, so a plan never overfills.
//!
//! Goals in order: (1) drop orphans here; (2, 3) give objects below their wanted copies one more
//! copy, the current tree before history, fewest copies first; (4) optionally add extra copies up
//! to `max_copies`. With `evict`, a copy held here may make way for (2, 3) only when the swap
//! improves the [`protection`] order, in which every deficit of the current tree ranks above
//! every deficit of history: history never displaces a copy the current tree wants.

use std::cmp::Reverse;
use std::collections::HashSet;

#[cfg(test)]
mod tests;

/// Catalog id of an object.
pub type ObjectId = i64;
/// Catalog id of a disk.
pub type DiskId = i64;

/// Disk allocation granularity assumed for room accounting.
pub const BLOCK: u64 = 4096;

/// One object as the catalog sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectState {
    pub id: ObjectId,
    /// Bytes of content (> 0; empty files have no object).
    pub size: u64,
    /// Wanted copies (max over the kept file versions that reference it); 0 when not `needed`.
    pub wanted: u32,
    /// Higher = more important (max over referencing versions).
    pub priority: i32,
    /// Disks that hold a copy now (no duplicates).
    pub holders: Vec<DiskId>,
    /// False = orphan: no kept file version references it.
    pub needed: bool,
    /// Only past snapshots hold it, not the current tree: it ranks below every object of the
    /// current tree (see [`protection`]).
    pub history: bool,
}

impl ObjectState {
    fn copies(&self) -> usize {
        self.holders.len()
    }

    /// 0 for the current tree, 1 for history: the first key of every protection order.
    fn tier(&self) -> usize {
        usize::from(self.history)
    }

    /// Bytes this object adds to protection level `copies`: its size while it is needed and
    /// still below its wanted copies there.
    fn level_bytes(&self, copies: usize) -> u64 {
        if self.needed && copies < self.wanted as usize {
            self.size
        } else {
            0
        }
    }

    /// Holds more copies than wanted: one can go without lowering its protection.
    fn surplus(&self) -> bool {
        self.copies() > self.wanted as usize
    }
}

/// The disk plugged in now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetDisk {
    pub id: DiskId,
    /// Bytes free for dsbfs on this disk now (cap minus used, bounded by filesystem free space).
    pub room: u64,
}

/// What a plan may do beyond deleting orphans and filling wanted copies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Once every object has its wanted copies, add extra copies up to this count while room
    /// remains (None = no extras).
    pub max_copies: Option<u32>,
    /// Allow removing copies from this disk to make room when that improves protection.
    pub evict: bool,
    /// Copy at most this many bytes (by [`alloc_size`]) in this run.
    pub limit: Option<u64>,
}

/// What to do on the plugged disk: all `delete`s first, then `copy` in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub delete: Vec<ObjectId>,
    pub copy: Vec<ObjectId>,
    /// Sum of [`alloc_size`] over `delete`.
    pub delete_bytes: u64,
    /// Sum of [`alloc_size`] over `copy`.
    pub copy_bytes: u64,
}

/// What an object costs on disk: its size rounded up to [`BLOCK`].
pub fn alloc_size(size: u64) -> u64 {
    size.checked_next_multiple_of(BLOCK).unwrap_or(u64::MAX)
}

/// Protection vectors of the current tree (`[0]`) and of history (`[1]`): entry `k` is the
/// content bytes (not alloc) of needed objects that have exactly `k` copies and want more.
/// Trailing zeros are trimmed, so the array's own lexicographic `<` is the protection order:
/// smaller is better (fewer bytes of the current tree at level 0, then at level 1, ..., then
/// the same for history).
pub fn protection(objects: &[ObjectState]) -> [Vec<u64>; 2] {
    let mut tiers = [Vec::new(), Vec::new()];
    for o in objects {
        let bytes = o.level_bytes(o.copies());
        if bytes > 0 {
            let levels = &mut tiers[o.tier()];
            if levels.len() <= o.copies() {
                levels.resize(o.copies() + 1, 0);
            }
            levels[o.copies()] += bytes;
        }
    }
    tiers
}

/// Histogram for reports: for copy counts 0, 1, 2, 3+ (index 3 = 3 or more), the
/// (object count, bytes) of the objects the current tree needs.
pub fn copy_histogram(objects: &[ObjectState]) -> [(u64, u64); 4] {
    let mut hist = [(0, 0); 4];
    for o in objects.iter().filter(|o| o.needed && !o.history) {
        let slot = &mut hist[o.copies().min(3)];
        slot.0 += 1;
        slot.1 += o.size;
    }
    hist
}

/// Leaves out content only history holds that no connected disk can give `target`: its
/// source changed since, so a copy can only come from a disk holding one. Left in, a plan
/// would count copies no run can make (and a dry run would promise them).
pub fn drop_unreachable_history(
    objects: &mut Vec<ObjectState>,
    target: DiskId,
    connected: &[DiskId],
) {
    objects.retain(|o| {
        !o.history || o.holders.contains(&target) || o.holders.iter().any(|h| connected.contains(h))
    });
}

/// Apply a plan made for `disk` to the object states (simulations, dry-run "after" reports).
pub fn apply(objects: &mut [ObjectState], disk: DiskId, plan: &Plan) {
    let delete: HashSet<ObjectId> = plan.delete.iter().copied().collect();
    let copy: HashSet<ObjectId> = plan.copy.iter().copied().collect();
    for o in objects {
        if delete.contains(&o.id) {
            o.holders.retain(|&d| d != disk);
        }
        if copy.contains(&o.id) && !o.holders.contains(&disk) {
            o.holders.push(disk);
        }
    }
}

/// Copy order: the current tree before history, then fewest copies, then higher priority,
/// then larger, then id.
fn copy_order(o: &&ObjectState) -> (usize, usize, Reverse<i32>, Reverse<u64>, ObjectId) {
    (
        o.tier(),
        o.copies(),
        Reverse(o.priority),
        Reverse(o.size),
        o.id,
    )
}

/// Plan deletes and copies for the plugged `disk`. Deterministic: the order of `objects` (and of
/// their holders) does not matter. Cost: a sort, plus, with `evict`, a scan of this disk's
/// evictable copies for each candidate that needs eviction to fit.
pub fn plan(objects: &[ObjectState], disk: &TargetDisk, opts: &Options) -> Plan {
    let mut objs: Vec<&ObjectState> = objects.iter().collect();
    objs.sort_by_key(|o| o.id);
    let here = |o: &ObjectState| o.holders.contains(&disk.id);
    let mut b = Builder {
        plan: Plan::default(),
        free: disk.room,
        budget: opts.limit.unwrap_or(u64::MAX),
    };

    // (1) Orphans here only take room.
    for &o in objs.iter().filter(|o| !o.needed && here(o)) {
        b.delete(o);
    }

    // (2, 3) Objects below their wanted copies, the least protected first.
    let mut below: Vec<&ObjectState> = objs
        .iter()
        .copied()
        .filter(|o| o.needed && !here(o) && o.copies() < o.wanted as usize)
        .collect();
    below.sort_by_key(copy_order);
    let mut evictor = opts.evict.then(|| Evictor::new(&objs, disk.id));
    for c in below {
        let cost = alloc_size(c.size);
        if cost > b.budget {
            continue;
        }
        if cost > b.free {
            // Eviction cannot help with the limit, only with room.
            let Some(evicted) = evictor.as_mut().and_then(|e| e.make_room(c, cost - b.free)) else {
                continue;
            };
            for e in evicted {
                b.delete(e);
            }
        }
        b.try_copy(c);
    }

    // (4) Extra copies (and another try for objects below wanted that did not fit), never by
    // eviction. What was evicted above still counts as held here, so it is not copied back.
    if let Some(max) = opts.max_copies {
        let copied: HashSet<ObjectId> = b.plan.copy.iter().copied().collect();
        let mut extra: Vec<&ObjectState> = objs
            .iter()
            .copied()
            .filter(|o| o.needed && !here(o) && !copied.contains(&o.id))
            .filter(|o| o.copies() < max as usize)
            .collect();
        extra.sort_by_key(copy_order);
        for c in extra {
            b.try_copy(c);
        }
    }
    b.plan
}

/// A plan under construction with its running room and copy budget.
struct Builder {
    plan: Plan,
    /// Room left, counting every delete chosen so far as done (deletes run first).
    free: u64,
    /// Copy bytes still allowed by `limit`.
    budget: u64,
}

impl Builder {
    fn delete(&mut self, o: &ObjectState) {
        let a = alloc_size(o.size);
        self.plan.delete.push(o.id);
        self.plan.delete_bytes += a;
        self.free = self.free.saturating_add(a);
    }

    /// Copy `o` if it fits both room and budget; otherwise skip it (smaller ones may still fit).
    fn try_copy(&mut self, o: &ObjectState) {
        let a = alloc_size(o.size);
        if a <= self.free && a <= self.budget {
            self.plan.copy.push(o.id);
            self.plan.copy_bytes += a;
            self.free -= a;
            self.budget -= a;
        }
    }
}

/// Copies on the plugged disk that may make way for a less protected object.
///
/// Protection levels are numbered across both tiers, the current tree's first: level
/// `tier * levels + copies` (see [`Evictor::level`]), so that one vector in that order
/// compares as [`protection`] does.
struct Evictor<'a> {
    /// Needed objects held here with another copy elsewhere, in preference order: surplus
    /// copies first, then history, then most copies, then largest, then id.
    pool: Vec<&'a ObjectState>,
    gone: Vec<bool>,
    /// Every entry before `start` is gone (saves rescanning evicted ones).
    start: usize,
    /// Alloc bytes still evictable among surplus copies.
    surplus_bytes: u64,
    /// Alloc bytes still evictable among non-surplus objects, by level.
    bytes_at: Vec<u64>,
    /// Copy counts per tier a swap can touch (the largest count, plus room for one more).
    levels: usize,
}

impl<'a> Evictor<'a> {
    fn new(objs: &[&'a ObjectState], disk: DiskId) -> Self {
        let mut pool: Vec<&ObjectState> = objs
            .iter()
            .copied()
            .filter(|o| o.needed && o.copies() >= 2 && o.holders.contains(&disk))
            .collect();
        pool.sort_by_key(|o| {
            let key = (Reverse(o.surplus()), Reverse(o.tier()), Reverse(o.copies()));
            (key, Reverse(o.size), o.id)
        });
        let levels = objs.iter().map(|o| o.copies()).max().unwrap_or(0) + 2;
        let mut ev = Evictor {
            gone: vec![false; pool.len()],
            pool,
            start: 0,
            surplus_bytes: 0,
            bytes_at: vec![0; 2 * levels],
            levels,
        };
        for i in 0..ev.pool.len() {
            let o = ev.pool[i];
            *ev.bytes_of(o) += alloc_size(o.size);
        }
        ev
    }

    /// Where `copies` copies of `o` fall in the order of levels across both tiers.
    fn level(&self, o: &ObjectState, copies: usize) -> usize {
        o.tier() * self.levels + copies
    }

    fn bytes_of(&mut self, o: &ObjectState) -> &mut u64 {
        if o.surplus() {
            &mut self.surplus_bytes
        } else {
            let at = self.level(o, o.copies());
            &mut self.bytes_at[at]
        }
    }

    /// Choose copies to evict that free at least `need` bytes so that the swap (evict them,
    /// copy `c`) improves the protection order; None if there is no such set.
    ///
    /// Each eviction on its own never improves protection (it moves bytes down a level, or
    /// changes nothing for a surplus copy), so once a set fails no larger set can pass. Hence a
    /// walk in preference order that keeps each pick only if the swap still improves loses
    /// nothing by skipping the others. Picks made unnecessary by later ones are then dropped.
    fn make_room(&mut self, c: &ObjectState, need: u64) -> Option<Vec<&'a ObjectState>> {
        let cc = c.copies();
        let c_level = self.level(c, cc);
        // Only surplus copies and objects above `c`'s level (more copies in its tier, or in
        // the tier below it) can ever qualify.
        let possible = self.surplus_bytes + self.bytes_at[c_level + 1..].iter().sum::<u64>();
        if possible < need {
            return None;
        }
        let mut delta = vec![0i128; 2 * self.levels];
        self.shift(&mut delta, c, cc, cc + 1);
        let mut picked = Vec::new();
        let mut freed = 0;
        while self.gone.get(self.start) == Some(&true) {
            self.start += 1;
        }
        for i in self.start..self.pool.len() {
            let e = self.pool[i];
            if freed >= need {
                break;
            }
            if self.gone[i] {
                continue;
            }
            let ce = e.copies();
            if !e.surplus() && self.level(e, ce) <= c_level {
                // It would land below `c`'s level; so would every later entry.
                break;
            }
            self.shift(&mut delta, e, ce, ce - 1);
            if improves(&delta) {
                picked.push(i);
                freed += alloc_size(e.size);
            } else {
                self.shift(&mut delta, e, ce - 1, ce);
            }
        }
        if freed < need {
            return None;
        }
        // Latest picks first, so the large pick that closed the gap stays and earlier small
        // ones it made unnecessary go back.
        let mut spare = freed - need;
        let mut evicted = Vec::new();
        for &i in picked.iter().rev() {
            let e = self.pool[i];
            let a = alloc_size(e.size);
            if a <= spare {
                spare -= a;
                continue;
            }
            self.gone[i] = true;
            *self.bytes_of(e) -= a;
            evicted.push(e);
        }
        evicted.reverse();
        Some(evicted)
    }
}

impl Evictor<'_> {
    /// Record in `delta` that `o` moves from `from` copies to `to` copies.
    fn shift(&self, delta: &mut [i128], o: &ObjectState, from: usize, to: usize) {
        delta[self.level(o, from)] -= i128::from(o.level_bytes(from));
        delta[self.level(o, to)] += i128::from(o.level_bytes(to));
    }
}

/// A protection delta is an improvement when its lowest nonzero level lost bytes.
fn improves(delta: &[i128]) -> bool {
    delta.iter().find(|&&d| d != 0).is_some_and(|&d| d < 0)
}
