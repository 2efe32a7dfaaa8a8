use super::*;
use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::HashMap;

const MB: u64 = 1 << 20;

fn obj(id: ObjectId, size: u64, wanted: u32, priority: i32, holders: &[DiskId]) -> ObjectState {
    ObjectState {
        id,
        size,
        wanted,
        priority,
        holders: holders.to_vec(),
        needed: true,
        history: false,
    }
}

/// An object only past snapshots hold.
fn past(id: ObjectId, size: u64, wanted: u32, holders: &[DiskId]) -> ObjectState {
    ObjectState {
        history: true,
        ..obj(id, size, wanted, 0, holders)
    }
}

fn orphan(id: ObjectId, size: u64, holders: &[DiskId]) -> ObjectState {
    ObjectState {
        wanted: 0,
        needed: false,
        ..obj(id, size, 0, 0, holders)
    }
}

fn on(disk: DiskId, room: u64) -> TargetDisk {
    TargetDisk { id: disk, room }
}

const EVICT: Options = Options {
    max_copies: None,
    evict: true,
    limit: None,
};
const NO_EVICT: Options = Options {
    evict: false,
    ..EVICT
};

fn used(objects: &[ObjectState], disk: DiskId) -> u64 {
    objects
        .iter()
        .filter(|o| o.holders.contains(&disk))
        .map(|o| alloc_size(o.size))
        .sum()
}

/// The lowest protection any object of the current tree has: min over needed of
/// min(copies, wanted). History may give way to it, never the other way round.
fn min_level(objects: &[ObjectState]) -> Option<usize> {
    objects
        .iter()
        .filter(|o| o.needed && !o.history)
        .map(|o| o.copies().min(o.wanted as usize))
        .min()
}

/// Deterministic shuffle (xorshift + Fisher-Yates) of the objects and of each holder list.
fn shuffled(objects: &[ObjectState], mut seed: u64) -> Vec<ObjectState> {
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut out = objects.to_vec();
    for i in (1..out.len()).rev() {
        out.swap(i, next(i + 1));
    }
    for o in &mut out {
        for i in (1..o.holders.len()).rev() {
            o.holders.swap(i, next(i + 1));
        }
    }
    out
}

/// Plan for `disk`, check every invariant against the state before, and apply the plan.
fn plug(objects: &mut [ObjectState], disk: DiskId, cap: u64, opts: &Options, seed: u64) {
    let before = objects.to_vec();
    let start = used(&before, disk);
    assert!(start <= cap, "disk {disk} over cap before plugging");
    let p = plan(&before, &on(disk, cap - start), opts);
    let shuffled_input = shuffled(&before, seed | 1);
    assert_eq!(plan(&shuffled_input, &on(disk, cap - start), opts), p);

    let by_id: HashMap<ObjectId, &ObjectState> = before.iter().map(|o| (o.id, o)).collect();
    let mut seen = HashSet::new();
    for id in p.delete.iter().chain(&p.copy) {
        assert!(seen.insert(*id), "object {id} planned twice");
    }
    for id in &p.delete {
        let o = by_id[id];
        assert!(o.holders.contains(&disk), "deletes {id} not held here");
        if o.needed {
            assert!(opts.evict, "evicts {id} without --evict");
            assert!(o.copies() >= 2, "evicts the last copy of {id}");
        }
    }
    for id in &p.copy {
        let o = by_id[id];
        assert!(o.needed && !o.holders.contains(&disk), "bad copy {id}");
    }
    for o in &before {
        if !o.needed && o.holders.contains(&disk) {
            assert!(p.delete.contains(&o.id), "orphan {} kept", o.id);
        }
    }
    // History never takes a copy the current tree wants: no current object below its wanted
    // copies loses one, and nothing of the current tree is evicted for history alone.
    let evicts_current = p
        .delete
        .iter()
        .any(|id| by_id[id].needed && !by_id[id].history && !by_id[id].surplus());
    if evicts_current {
        assert!(
            p.copy.iter().any(|id| !by_id[id].history),
            "a copy the current tree wants made way for history only"
        );
    }
    let bytes = |ids: &[ObjectId]| ids.iter().map(|id| alloc_size(by_id[id].size)).sum::<u64>();
    assert_eq!(p.delete_bytes, bytes(&p.delete));
    assert_eq!(p.copy_bytes, bytes(&p.copy));
    assert!(p.copy_bytes <= opts.limit.unwrap_or(u64::MAX));

    // Deletes first, then copies in order: never over the cap at any point.
    let mut fill = start - p.delete_bytes;
    for id in &p.copy {
        fill += alloc_size(by_id[id].size);
        assert!(fill <= cap, "over cap copying {id}");
    }

    apply(objects, disk, &p);
    assert_eq!(used(objects, disk), fill);
    for (a, b) in before.iter().zip(objects.iter()) {
        if a.needed && a.copies() > 0 {
            assert!(b.copies() > 0, "lost the last copy of {}", a.id);
        }
    }
    assert!(
        min_level(objects) >= min_level(&before),
        "lowest level fell"
    );
    assert!(
        protection(objects) <= protection(&before),
        "protection got worse"
    );
}

/// Random object: (size, wanted, priority, orphan, initial holder mask). A priority of 3 or
/// more marks an object only history holds (see `catalog`).
fn arb_object() -> impl Strategy<Value = (u64, u32, i32, bool, u8)> {
    (
        prop_oneof![1u64..=3 * BLOCK, 1u64..=50_000_000],
        1u32..=3,
        0i32..5,
        prop::bool::weighted(0.15),
        any::<u8>(),
    )
}

/// Build a catalog with initial copies from the masks, each only where it fits the cap.
fn catalog(specs: &[(u64, u32, i32, bool, u8)], caps: &[u64]) -> Vec<ObjectState> {
    let mut objects: Vec<ObjectState> = Vec::new();
    for (i, &(size, wanted, priority, is_orphan, mask)) in specs.iter().enumerate() {
        let mut o = if is_orphan {
            orphan(i as ObjectId, size, &[])
        } else if priority >= 3 {
            past(i as ObjectId, size, wanted.min(2), &[])
        } else {
            obj(i as ObjectId, size, wanted, priority, &[])
        };
        for (d, &cap) in caps.iter().enumerate() {
            let d = d as DiskId;
            if mask & (1 << d) != 0 && used(&objects, d) + alloc_size(size) <= cap {
                o.holders.push(d);
            }
        }
        objects.push(o);
    }
    objects
}

fn needed_alloc(specs: &[(u64, u32, i32, bool, u8)]) -> u64 {
    specs.iter().filter(|s| !s.3).map(|s| alloc_size(s.0)).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random catalogs, caps, options, plug orders and catalog changes between plugs: every plan
    /// keeps every invariant.
    #[test]
    fn every_plan_keeps_the_invariants(
        specs in vec(arb_object(), 1..60),
        cap_permille in vec(0u64..=1200, 2..=5),
        plugs in vec((any::<usize>(), proptest::option::weighted(0.3, (any::<usize>(), 0u32..=3))), 1..24),
        evict: bool,
        max_copies in proptest::option::of(1u32..=4),
        limit_permille in proptest::option::of(0u64..=500),
        seed: u64,
    ) {
        let total = needed_alloc(&specs);
        let caps: Vec<u64> = cap_permille.iter().map(|p| total * p / 1000).collect();
        let limit = limit_permille.map(|p| total * p / 1000);
        let opts = Options { max_copies, evict, limit };
        let mut objects = catalog(&specs, &caps);
        for (i, (d, churn)) in plugs.iter().enumerate() {
            // The catalog changes between plugs: wanted goes up or down, or to 0 (orphan).
            if let Some((o, wanted)) = churn {
                let o = &mut objects[o % specs.len()];
                (o.wanted, o.needed) = (*wanted, *wanted > 0);
            }
            let d = d % caps.len();
            plug(&mut objects, d as DiskId, caps[d], &opts, seed.wrapping_add(i as u64));
        }
    }

    /// Crowded disks with arbitrary copy counts (up to 6), so that evictions of every kind are
    /// common: each disk in turn gets a plan with little room, which must keep every invariant.
    #[test]
    fn crowded_disks_keep_the_invariants(
        specs in vec((arb_object(), 0u32..=4), 1..40),
        room_permille in vec(0u64..=200, 6),
        evict in prop::bool::weighted(0.8),
        max_copies in proptest::option::of(1u32..=6),
        limit_permille in proptest::option::of(0u64..=300),
        seed: u64,
    ) {
        let mut objects: Vec<ObjectState> = specs
            .iter()
            .enumerate()
            .map(|(i, &((size, _, priority, _, mask), wanted))| {
                let holders: Vec<DiskId> = (0..6).filter(|d| mask & (1 << d) != 0).collect();
                ObjectState {
                    needed: wanted > 0,
                    history: priority >= 3,
                    ..obj(i as ObjectId, size, wanted, priority, &holders)
                }
            })
            .collect();
        let total: u64 = objects.iter().map(|o| alloc_size(o.size)).sum();
        let opts = Options { max_copies, evict, limit: limit_permille.map(|p| total * p / 1000) };
        for (d, p) in room_permille.iter().enumerate() {
            let cap = used(&objects, d as DiskId) + total * p / 1000;
            plug(&mut objects, d as DiskId, cap, &opts, seed.wrapping_add(d as u64));
        }
    }

    /// Convergence. Let W = the largest wanted count and give W or more "big" disks a cap of at
    /// least the alloc total of all needed objects; other disks may be tiny. A big disk never
    /// lacks room (it holds each needed object at most once, and orphans go first), so it never
    /// evicts and copies every needed object it lacks that is then below target. If copies
    /// cannot fall during a run of plugs (no eviction: only small disks evict), then after each
    /// big disk is plugged once in that run, an object still below wanted would be on all W big
    /// disks: a contradiction. So after any history, a final run that plugs every big disk once,
    /// plus small disks only without --evict, reaches wanted; likewise min(max_copies, #big).
    #[test]
    fn repeated_plugs_reach_wanted_copies(
        specs in vec(arb_object(), 1..60),
        extra_big in 0usize..=1,
        small_permille in vec(0u64..=1000, 0..=3),
        big_extra_permille in vec(0u64..=500, 4),
        history in vec(any::<usize>(), 0..16),
        finale in vec(any::<usize>(), 4..=8),
        evict: bool,
        max_copies in proptest::option::of(1u32..=4),
        seed: u64,
    ) {
        let total = needed_alloc(&specs);
        let w = specs.iter().filter(|s| !s.3).map(|s| s.1).max().unwrap_or(1) as usize;
        let n_big = w + extra_big;
        let mut caps: Vec<u64> =
            big_extra_permille[..n_big].iter().map(|p| total + total * p / 1000).collect();
        caps.extend(small_permille.iter().map(|p| total * p / 1000));
        let opts = Options { max_copies, evict, limit: None };
        let mut objects = catalog(&specs, &caps);
        let mut step = seed;
        for d in &history {
            let d = d % caps.len();
            step = step.wrapping_add(1);
            plug(&mut objects, d as DiskId, caps[d], &opts, step);
        }
        // Final run: each big disk once in a random order; small disks between them only
        // when they cannot evict.
        let mut order: Vec<usize> = (0..n_big).collect();
        for (i, r) in finale.iter().enumerate().take(n_big) {
            order.swap(i, i + r % (n_big - i));
        }
        let mut run = Vec::new();
        for (i, &d) in order.iter().enumerate() {
            run.push(d);
            if !evict && caps.len() > n_big {
                run.push(n_big + finale[i] % (caps.len() - n_big));
            }
        }
        for d in run {
            step = step.wrapping_add(1);
            plug(&mut objects, d as DiskId, caps[d], &opts, step);
        }
        let extra = max_copies.map_or(0, |m| (m as usize).min(n_big));
        for o in objects.iter().filter(|o| o.needed) {
            prop_assert!(o.copies() >= o.wanted as usize, "object {} below wanted", o.id);
            prop_assert!(o.copies() >= extra, "object {} below max_copies", o.id);
        }
    }
}

#[test]
fn single_copy_video_evicts_small_triple_copies() {
    // Disk 1 is full of 600 MiB files held on three disks; a 4 GB video has one copy.
    let mut objects = vec![obj(1, 4_000_000_000, 2, 0, &[2])];
    objects.extend((10..18).map(|id| obj(id, 600 * MB, 3, 5, &[1, 2, 3])));
    let p = plan(&objects, &on(1, 0), &EVICT);
    // Seven 600 MiB files are just enough; equal sizes go by id.
    assert_eq!(p.delete, (10..17).collect::<Vec<_>>());
    assert_eq!(p.copy, vec![1]);
    assert_eq!(p.delete_bytes, 7 * 600 * MB);
    assert_eq!(p.copy_bytes, alloc_size(4_000_000_000));
    let before = protection(&objects);
    apply(&mut objects, 1, &p);
    assert!(protection(&objects) < before);

    // Without --evict nothing moves.
    objects
        .iter_mut()
        .for_each(|o| o.holders.retain(|&d| d != 1));
    objects[1..].iter_mut().for_each(|o| o.holders.push(1));
    assert_eq!(plan(&objects, &on(1, 0), &NO_EVICT), Plan::default());
}

#[test]
fn no_swap_that_puts_more_bytes_at_the_candidates_level() {
    // C has 1 of 2 copies; X has 2 of 2. Evicting X puts X's bytes at C's level.
    let c = obj(1, 3 * MB, 2, 0, &[2]);
    for (x_size, room, swaps) in [(4 * MB, 0, false), (3 * MB, 0, false), (2 * MB, MB, true)] {
        let objects = vec![c.clone(), obj(2, x_size, 2, 0, &[1, 3])];
        let p = plan(&objects, &on(1, room), &EVICT);
        assert_eq!(!p.copy.is_empty(), swaps, "X of {x_size} bytes");
        if swaps {
            assert_eq!((p.delete, p.copy), (vec![2], vec![1]));
        }
    }
}

#[test]
fn never_evicts_below_the_candidates_level_or_a_last_copy() {
    let objects = vec![
        obj(1, MB, 3, 0, &[2, 3]), // candidate at level 2
        obj(2, 1, 3, 0, &[1, 3]),  // would drop to level 1
        obj(3, MB, 1, 0, &[1]),    // last copy
    ];
    assert_eq!(plan(&objects, &on(1, 0), &EVICT), Plan::default());
}

#[test]
fn surplus_copies_go_first_and_unneeded_picks_are_dropped() {
    let objects = vec![
        obj(1, 9 * MB, 2, 0, &[2]),
        obj(2, MB, 1, 0, &[1, 3]), // surplus: preferred but not enough alone
        obj(3, 9 * MB, 3, 0, &[1, 2, 3]), // most copies, enough alone
        obj(4, 50 * MB, 2, 0, &[1, 2]), // would land at the candidate's level
        obj(5, MB, 1, 0, &[1, 2, 3, 4, 5]), // surplus, many copies: first in line
    ];
    let p = plan(&objects, &on(1, 0), &EVICT);
    assert_eq!((p.delete, p.copy), (vec![3], vec![1]));
    let objects = vec![
        obj(1, MB, 2, 0, &[2]),
        obj(2, MB, 1, 0, &[1, 3]),
        obj(3, MB, 3, 0, &[1, 2, 3]),
    ];
    let p = plan(&objects, &on(1, 0), &EVICT);
    assert_eq!((p.delete, p.copy), (vec![2], vec![1]));
}

#[test]
fn orphans_here_are_deleted_and_their_room_reused() {
    let objects = vec![
        orphan(1, 8 * MB, &[1, 2]),
        orphan(2, 8 * MB, &[2]),
        obj(3, 8 * MB, 1, 0, &[]),
    ];
    let p = plan(&objects, &on(1, 0), &NO_EVICT);
    assert_eq!((p.delete, p.copy), (vec![1], vec![3]));
}

#[test]
fn order_is_fewest_copies_then_priority_then_size_then_id() {
    let objects = vec![
        obj(1, MB, 2, 9, &[2]),
        obj(2, MB, 1, 0, &[]),
        obj(3, MB, 1, 5, &[]),
        obj(4, 2 * MB, 1, 5, &[]),
        obj(5, MB, 1, 5, &[]),
    ];
    let p = plan(&objects, &on(1, 100 * MB), &NO_EVICT);
    assert_eq!(p.copy, vec![4, 3, 5, 2, 1]);
}

#[test]
fn skips_what_does_not_fit_and_keeps_going() {
    let objects = vec![
        obj(1, 4 * MB, 1, 0, &[]),
        obj(2, 2 * MB, 1, 0, &[]),
        obj(3, MB, 1, 0, &[]),
    ];
    let p = plan(&objects, &on(1, 3 * MB + MB / 2), &NO_EVICT);
    assert_eq!((p.copy, p.copy_bytes), (vec![2, 3], 3 * MB));
}

#[test]
fn limit_caps_copied_bytes() {
    let objects = vec![
        obj(1, 3 * MB, 1, 0, &[]),
        obj(2, 2 * MB, 1, 0, &[]),
        obj(3, MB, 1, 0, &[]),
        obj(4, MB, 2, 0, &[2]),
    ];
    let opts = Options {
        limit: Some(4 * MB),
        ..EVICT
    };
    let p = plan(&objects, &on(1, 100 * MB), &opts);
    assert_eq!((p.copy, p.copy_bytes), (vec![1, 3], 4 * MB));
    // The limit is not a reason to evict.
    let objects = vec![obj(1, 2 * MB, 2, 0, &[2]), obj(2, 2 * MB, 1, 0, &[1, 2, 3])];
    let opts = Options {
        limit: Some(MB),
        ..EVICT
    };
    assert_eq!(plan(&objects, &on(1, 0), &opts), Plan::default());
}

#[test]
fn max_copies_adds_extras_after_wanted_and_never_evicts_for_them() {
    let objects = vec![
        obj(1, MB, 1, 0, &[2]),        // satisfied: extra candidate
        obj(2, 2 * MB, 1, 0, &[2, 3]), // already at 2
        obj(3, MB, 2, 0, &[2]),        // below wanted: goes first
    ];
    let two = Options {
        max_copies: Some(2),
        ..NO_EVICT
    };
    assert_eq!(plan(&objects, &on(1, 10 * MB), &two).copy, vec![3, 1]);
    assert_eq!(plan(&objects, &on(1, MB), &two).copy, vec![3]);
    assert_eq!(plan(&objects, &on(1, 10 * MB), &NO_EVICT).copy, vec![3]);
    let three = Options {
        max_copies: Some(3),
        ..NO_EVICT
    };
    assert_eq!(plan(&objects, &on(1, 10 * MB), &three).copy, vec![3, 1, 2]);

    // A full disk with a surplus copy: no eviction just for an extra.
    let objects = vec![obj(1, MB, 1, 0, &[2]), obj(2, MB, 1, 0, &[1, 2, 3])];
    let opts = Options {
        max_copies: Some(3),
        ..EVICT
    };
    assert_eq!(plan(&objects, &on(1, 0), &opts), Plan::default());
}

#[test]
fn histogram_apply_and_alloc() {
    assert_eq!(alloc_size(1), BLOCK);
    assert_eq!(alloc_size(BLOCK), BLOCK);
    assert_eq!(alloc_size(BLOCK + 1), 2 * BLOCK);
    let mut objects = vec![
        obj(1, 10, 2, 0, &[]),
        obj(2, 20, 2, 0, &[1]),
        obj(3, 30, 2, 0, &[1, 2, 3, 4]),
        orphan(4, 40, &[1]),
    ];
    assert_eq!(
        copy_histogram(&objects),
        [(1, 10), (1, 20), (0, 0), (1, 30)]
    );
    assert_eq!(protection(&objects), [vec![10, 20], vec![]]);
    let p = plan(&objects, &on(2, 0), &EVICT);
    assert_eq!((p.delete.clone(), p.copy.clone()), (vec![3], vec![1]));
    apply(&mut objects, 2, &p);
    assert_eq!(copy_histogram(&objects), [(0, 0), (2, 30), (0, 0), (1, 30)]);
    assert_eq!(protection(&objects), [vec![0, 30], vec![]]);
}

#[test]
fn the_current_tree_is_copied_before_history() {
    let objects = vec![past(1, 10 * MB, 1, &[]), obj(2, MB, 2, 0, &[7])];
    // Room for one: the current file with one copy goes before history with none.
    let p = plan(&objects, &on(1, 2 * MB), &EVICT);
    assert_eq!(p.copy, vec![2]);
    let p = plan(&objects, &on(1, 20 * MB), &EVICT);
    assert_eq!(p.copy, vec![2, 1]);
}

#[test]
fn history_never_displaces_what_the_current_tree_wants() {
    // Disk 1 is full of current files at exactly their wanted two copies; an old version
    // with no copy at all does not get in.
    let mut objects: Vec<ObjectState> = (10..14).map(|id| obj(id, MB, 2, 0, &[1, 2])).collect();
    objects.push(past(1, MB, 1, &[]));
    let p = plan(&objects, &on(1, 0), &EVICT);
    assert_eq!(p, Plan::default());
    // A surplus copy of a current file may make way for it.
    objects[0] = obj(10, MB, 2, 0, &[1, 2, 3]);
    let p = plan(&objects, &on(1, 0), &EVICT);
    assert_eq!((p.delete, p.copy), (vec![10], vec![1]));
}

#[test]
fn the_current_tree_may_displace_a_spare_history_copy_but_never_the_last() {
    // History wants one copy and has two; the current file has none.
    let objects = vec![past(1, MB, 1, &[1, 2]), obj(2, MB, 2, 0, &[])];
    let p = plan(&objects, &on(1, 0), &EVICT);
    assert_eq!((p.delete, p.copy), (vec![1], vec![2]));
    // Its only copy stays, even for a current file with none.
    let objects = vec![past(1, MB, 1, &[1]), obj(2, MB, 2, 0, &[])];
    assert_eq!(plan(&objects, &on(1, 0), &EVICT), Plan::default());
    // History that wants two copies gives one up for the current tree, never the last.
    let objects = vec![past(1, MB, 2, &[1, 2]), obj(2, MB, 2, 0, &[])];
    let p = plan(&objects, &on(1, 0), &EVICT);
    assert_eq!((p.delete, p.copy), (vec![1], vec![2]));
}

#[test]
fn protection_ranks_every_deficit_of_the_current_tree_above_history() {
    let a = vec![obj(1, MB, 2, 0, &[1, 2]), past(2, 100 * MB, 1, &[])];
    let b = vec![obj(1, MB, 2, 0, &[1]), past(2, 100 * MB, 1, &[3])];
    assert!(protection(&a) < protection(&b));
    assert_eq!(protection(&a), [vec![], vec![100 * MB]]);
    assert_eq!(copy_histogram(&a), [(0, 0), (0, 0), (1, MB), (0, 0)]);
}

#[test]
fn history_no_connected_disk_holds_is_left_out_of_the_plan() {
    let mut objects = vec![
        past(1, MB, 1, &[]),
        past(2, MB, 1, &[5]),
        past(3, MB, 2, &[6]),
        past(4, MB, 2, &[1]),
        obj(5, MB, 2, 0, &[]),
    ];
    drop_unreachable_history(&mut objects, 1, &[6]);
    let ids: Vec<ObjectId> = objects.iter().map(|o| o.id).collect();
    // 1: on no disk; 2: only on disk 5, not connected. 3 can be copied from disk 6; 4 is
    // already here; the current file's source still has it.
    assert_eq!(ids, vec![3, 4, 5]);
    let p = plan(&objects, &on(1, 10 * MB), &EVICT);
    assert_eq!(p.copy, vec![5, 3]);
}
