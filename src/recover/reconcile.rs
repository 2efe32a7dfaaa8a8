//! What a disk really holds against what a catalog records on it: a listing (names and
//! sizes), not a re-hash. Pure: the listing and the records in, the changes out.

use serde::Serialize;
use std::collections::HashMap;

/// How to bring a disk's records in line with its listing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Objects the disk holds whole that were not recorded on it.
    pub add: Vec<i64>,
    /// Objects recorded on it that are missing or not whole.
    pub remove: Vec<i64>,
    pub tally: Tally,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Objects on the disk, whole, that the catalog knows.
    pub held: u64,
    pub added: u64,
    /// Recorded, not on the disk.
    pub missing: u64,
    /// On the disk with another size than the catalog says.
    pub wrong_size: u64,
    /// Files in the object store whose content the catalog does not know.
    pub unknown: u64,
}

/// `recorded`: (object id, hash, size) the catalog has on the disk; `present`: each
/// object file's hash and size; `known`: the catalog's object with this hash, (id, size).
pub fn changes(
    recorded: &[(i64, [u8; 32], u64)],
    present: &HashMap<[u8; 32], u64>,
    known: impl Fn(&[u8; 32]) -> Option<(i64, u64)>,
) -> Changes {
    let mut c = Changes::default();
    let mut on_record: HashMap<&[u8; 32], ()> = HashMap::new();
    for (id, hash, size) in recorded {
        on_record.insert(hash, ());
        match present.get(hash) {
            Some(s) if s == size => c.tally.held += 1,
            Some(_) => {
                c.tally.wrong_size += 1;
                c.remove.push(*id);
            }
            None => {
                c.tally.missing += 1;
                c.remove.push(*id);
            }
        }
    }
    let mut unrecorded: Vec<(&[u8; 32], &u64)> = present
        .iter()
        .filter(|(h, _)| !on_record.contains_key(h))
        .collect();
    unrecorded.sort();
    for (hash, size) in unrecorded {
        match known(hash) {
            Some((id, s)) if s == *size => {
                c.tally.held += 1;
                c.tally.added += 1;
                c.add.push(id);
            }
            Some(_) => c.tally.wrong_size += 1,
            None => c.tally.unknown += 1,
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_decides_what_is_recorded() {
        let h = |b: u8| [b; 32];
        let recorded = [(1, h(1), 10), (2, h(2), 20), (3, h(3), 30)];
        let present: HashMap<[u8; 32], u64> =
            [(h(1), 10), (h(2), 21), (h(4), 40), (h(5), 50), (h(6), 60)].into();
        let known = |x: &[u8; 32]| match x[0] {
            4 => Some((4, 40)),
            5 => Some((5, 55)),
            _ => None,
        };
        let c = changes(&recorded, &present, known);
        assert_eq!(c.add, [4]);
        assert_eq!(c.remove, [2, 3]);
        assert_eq!(
            c.tally,
            Tally {
                held: 2,
                added: 1,
                missing: 1,
                wrong_size: 2,
                unknown: 1
            }
        );
    }
}
