//! How each snapshot compares with the one before it (files, bytes, new, changed and
//! deleted files), counted in one pass over the file versions: pure, so it serves the
//! catalog after `forget` (when the snapshot before a kept one changed) and after
//! migration, and is tested without a catalog.

use serde::Serialize;

/// A file version and the scans it lived in: from `first` to `end` (None: still current).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub entry: i64,
    pub first: i64,
    pub end: Option<i64>,
    pub size: u64,
}

/// One snapshot against the snapshot before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub files: u64,
    pub bytes: u64,
    pub new: u64,
    pub changed: u64,
    pub deleted: u64,
}

/// Counts for each of `snapshots` (ids, ascending), from the file versions in order of
/// entry (and of `first` within an entry). The first snapshot's files are all new.
pub fn count(snapshots: &[i64], versions: impl IntoIterator<Item = Span>) -> Vec<Counts> {
    let n = snapshots.len();
    let mut out = vec![Counts::default(); n];
    // Files and bytes as differences: +1 where a version becomes visible, -1 after.
    let mut files = vec![0i64; n + 1];
    let mut bytes = vec![0i128; n + 1];
    // The snapshots (by index) the previous version of the same entry ended at.
    let mut entry = None;
    let mut last_seen: Option<usize> = None;
    let finish_entry = |last_seen: Option<usize>, out: &mut [Counts]| {
        if let Some(j) = last_seen
            && j + 1 < n
        {
            out[j + 1].deleted += 1;
        }
    };
    for v in versions {
        if entry != Some(v.entry) {
            finish_entry(last_seen, &mut out);
            entry = Some(v.entry);
            last_seen = None;
        }
        let i = snapshots.partition_point(|&s| s < v.first);
        let j_end = match v.end {
            Some(e) => snapshots.partition_point(|&s| s <= e),
            None => n,
        };
        if i >= j_end {
            continue; // seen by no kept snapshot
        }
        let j = j_end - 1;
        files[i] += 1;
        files[j_end] -= 1;
        bytes[i] += i128::from(v.size);
        bytes[j_end] -= i128::from(v.size);
        match last_seen {
            _ if i == 0 => out[0].new += 1,
            Some(prev) if prev + 1 == i => out[i].changed += 1,
            Some(prev) => {
                out[prev + 1].deleted += 1;
                out[i].new += 1;
            }
            None => out[i].new += 1,
        }
        last_seen = Some(j);
    }
    finish_entry(last_seen, &mut out);
    let (mut f, mut b) = (0i64, 0i128);
    for (k, c) in out.iter_mut().enumerate() {
        f += files[k];
        b += bytes[k];
        c.files = f.max(0) as u64;
        c.bytes = b.max(0) as u64;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(entry: i64, first: i64, end: Option<i64>, size: u64) -> Span {
        Span {
            entry,
            first,
            end,
            size,
        }
    }

    #[test]
    fn new_changed_and_deleted_against_the_snapshot_before() {
        // Scans 1..=3: entry 10 unchanged, 11 changed at 2, 12 deleted at 3, 13 new at 3.
        let versions = [
            v(10, 1, None, 5),
            v(11, 1, Some(1), 7),
            v(11, 2, None, 8),
            v(12, 1, Some(2), 100),
            v(13, 3, None, 1),
        ];
        let c = count(&[1, 2, 3], versions);
        assert_eq!(
            c[0],
            Counts {
                files: 3,
                bytes: 112,
                new: 3,
                changed: 0,
                deleted: 0
            }
        );
        assert_eq!(
            c[1],
            Counts {
                files: 3,
                bytes: 113,
                new: 0,
                changed: 1,
                deleted: 0
            }
        );
        assert_eq!(
            c[2],
            Counts {
                files: 3,
                bytes: 14,
                new: 1,
                changed: 0,
                deleted: 1
            }
        );
    }

    #[test]
    fn counts_follow_the_kept_snapshots_after_forget() {
        // Snapshot 2 was forgotten: the version that lived only in 2 is gone from the
        // catalog, and 3 is compared with 1.
        let versions = [
            v(10, 1, Some(1), 5),
            v(10, 3, None, 6),
            v(11, 1, None, 1),
            v(12, 3, None, 2),
        ];
        let c = count(&[1, 3], versions);
        assert_eq!((c[1].new, c[1].changed, c[1].deleted), (1, 1, 0));
        assert_eq!((c[1].files, c[1].bytes), (3, 9));
    }

    #[test]
    fn a_file_that_comes_back_is_deleted_then_new() {
        let versions = [v(10, 1, Some(1), 5), v(10, 3, None, 5)];
        let c = count(&[1, 2, 3], versions);
        assert_eq!((c[1].deleted, c[1].files), (1, 0));
        assert_eq!((c[2].new, c[2].files), (1, 1));
    }

    #[test]
    fn versions_no_kept_snapshot_saw_count_nowhere() {
        let versions = [v(10, 2, Some(2), 5), v(11, 1, None, 1)];
        let c = count(&[1, 3], versions);
        assert_eq!(c.iter().map(|c| c.files).collect::<Vec<_>>(), vec![1, 1]);
        assert_eq!(c[1].new + c[1].changed + c[1].deleted, 0);
    }
}
