//! `restore --plan`: the smallest set of disks that holds a selection, in the order to
//! plug them. Pure: tested on made-up layouts.

use std::collections::BTreeMap;

/// What the selection needs of one object.
#[derive(Debug, Clone)]
pub struct Need {
    pub files: u64,
    pub bytes: u64,
    /// Disks (by index into the `disks` slice given to `plan_disks`) that hold it.
    pub holders: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub disk: usize,
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DiskPlan {
    pub steps: Vec<Step>,
    /// Files and bytes no disk holds.
    pub uncovered: (u64, u64),
}

/// Exact search is used up to this many candidate disks; beyond, a greedy cover.
const EXACT_LIMIT: usize = 16;

/// The fewest disks that together hold every object some disk holds, ordered so that
/// each next disk adds the most bytes (so stopping early restores the most).
pub fn plan_disks(needs: &[Need], disk_count: usize) -> DiskPlan {
    // Group objects by the set of disks holding them: the search works on sets.
    let mut groups: BTreeMap<Vec<usize>, (u64, u64)> = BTreeMap::new();
    let mut uncovered = (0, 0);
    for n in needs {
        let mut h = n.holders.clone();
        h.sort_unstable();
        h.dedup();
        h.retain(|&d| d < disk_count);
        if h.is_empty() {
            uncovered.0 += n.files;
            uncovered.1 += n.bytes;
            continue;
        }
        let g = groups.entry(h).or_default();
        g.0 += n.files;
        g.1 += n.bytes;
    }
    let groups: Vec<(Vec<usize>, (u64, u64))> = groups.into_iter().collect();
    let useful: Vec<usize> = {
        let mut v: Vec<usize> = groups.iter().flat_map(|(h, _)| h.iter().copied()).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let chosen = if useful.len() <= EXACT_LIMIT {
        exact_cover(&groups, &useful)
    } else {
        useful.clone()
    };
    DiskPlan {
        steps: order(&groups, &chosen),
        uncovered,
    }
}

/// The smallest subset of `useful` that covers every group (ties: the one that sorts first).
fn exact_cover(groups: &[(Vec<usize>, (u64, u64))], useful: &[usize]) -> Vec<usize> {
    let masks: Vec<u32> = groups
        .iter()
        .map(|(h, _)| {
            h.iter()
                .map(|d| 1u32 << useful.iter().position(|u| u == d).expect("useful"))
                .fold(0, |a, b| a | b)
        })
        .collect();
    let n = useful.len();
    let mut best: Option<u32> = None;
    for subset in 1u32..(1 << n) {
        if best.is_some_and(|b| subset.count_ones() >= b.count_ones()) {
            continue;
        }
        if masks.iter().all(|m| m & subset != 0) {
            best = Some(subset);
        }
    }
    let best = best.unwrap_or(0);
    (0..n)
        .filter(|i| best & (1 << i) != 0)
        .map(|i| useful[i])
        .collect()
}

/// Orders the chosen disks greedily: each next one adds the most bytes not yet covered.
/// Disks that would add nothing are left out.
fn order(groups: &[(Vec<usize>, (u64, u64))], chosen: &[usize]) -> Vec<Step> {
    let mut covered = vec![false; groups.len()];
    let mut left: Vec<usize> = chosen.to_vec();
    let mut steps = Vec::new();
    loop {
        let gain = |d: usize| -> (u64, u64) {
            groups
                .iter()
                .zip(&covered)
                .filter(|((h, _), c)| !**c && h.contains(&d))
                .fold((0, 0), |acc, ((_, (f, b)), _)| (acc.0 + f, acc.1 + b))
        };
        let Some((i, (files, bytes))) = left
            .iter()
            .enumerate()
            .map(|(i, &d)| (i, gain(d)))
            .filter(|(_, g)| g.0 > 0)
            .max_by(|a, b| {
                a.1.1
                    .cmp(&b.1.1)
                    .then(a.1.0.cmp(&b.1.0))
                    .then(b.0.cmp(&a.0))
            })
        else {
            break;
        };
        let disk = left.remove(i);
        for (g, c) in groups.iter().zip(covered.iter_mut()) {
            if g.0.contains(&disk) {
                *c = true;
            }
        }
        steps.push(Step { disk, files, bytes });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(bytes: u64, holders: &[usize]) -> Need {
        Need {
            files: 1,
            bytes,
            holders: holders.to_vec(),
        }
    }

    #[test]
    fn two_disks_cover_what_greedy_would_need_three_for() {
        // Disk 0 has the most bytes, but disks 1 and 2 together hold everything.
        let needs = vec![
            need(50, &[0, 1]),
            need(50, &[0, 2]),
            need(30, &[1]),
            need(30, &[2]),
        ];
        let p = plan_disks(&needs, 3);
        let disks: Vec<usize> = p.steps.iter().map(|s| s.disk).collect();
        assert_eq!(disks.len(), 2, "{p:?}");
        assert!(disks.contains(&1) && disks.contains(&2));
        assert_eq!(p.steps.iter().map(|s| s.bytes).sum::<u64>(), 160);
        assert_eq!(p.uncovered, (0, 0));
    }

    #[test]
    fn the_order_puts_the_disk_adding_most_first() {
        let needs = vec![need(10, &[0]), need(100, &[1]), need(5, &[2])];
        let p = plan_disks(&needs, 3);
        assert_eq!(
            p.steps.iter().map(|s| s.disk).collect::<Vec<_>>(),
            vec![1, 0, 2]
        );
        assert_eq!(
            p.steps[0],
            Step {
                disk: 1,
                files: 1,
                bytes: 100
            }
        );
    }

    #[test]
    fn objects_on_no_disk_are_reported_not_planned() {
        let needs = vec![need(10, &[]), need(20, &[0])];
        let p = plan_disks(&needs, 1);
        assert_eq!(p.uncovered, (1, 10));
        assert_eq!(p.steps.len(), 1);
    }

    #[test]
    fn one_disk_holding_everything_is_enough() {
        let needs = vec![need(1, &[0, 3]), need(2, &[1, 3]), need(3, &[2, 3])];
        let p = plan_disks(&needs, 4);
        assert_eq!(
            p.steps,
            vec![Step {
                disk: 3,
                files: 3,
                bytes: 6
            }]
        );
    }
}
