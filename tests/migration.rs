//! Catalogs written by earlier versions of dsbfs are carried forward: a format-2
//! catalog (`tests/fixtures/catalog-v2.db`, written by dsbfs at commit e2cd651: two scans
//! of a small tree, the second after deleting docs/report.txt and rewriting note.md, each
//! followed by a backup to a folder-disk `d`) opens with everything it knew.

mod common;

use common::*;
use dsbfs::catalog::Catalog;
use dsbfs::catalog::tree::At;

fn sha(data: &[u8]) -> [u8; 32] {
    dsbfs::scan::hash::sha256(data)
}

/// The fixture copied into `w`'s catalog path.
fn v2_catalog(w: &World) {
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/catalog-v2.db"),
        &w.catalog,
    )
    .unwrap();
}

/// (entry, first_scan) → ctime as format 2 stored it.
fn old_ctimes(w: &World) -> Vec<(i64, i64, i64)> {
    let c = rusqlite::Connection::open(&w.catalog).unwrap();
    let mut st = c
        .prepare("SELECT entry, first_scan, ctime_ns FROM versions ORDER BY entry, first_scan")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

#[test]
fn a_format_2_catalog_opens_with_its_history_copies_and_change_detection() {
    let w = World::new();
    v2_catalog(&w);
    let before = old_ctimes(&w);
    assert_eq!(before.len(), 11);
    let cat = Catalog::open(&w.catalog).unwrap();
    let version: i64 = rusqlite::Connection::open(&w.catalog)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, dsbfs::catalog::FORMAT);
    // Every version kept its key and its ctime (now stored as a distance from mtime).
    let mut after = Vec::new();
    for snapshot in [At::Scan(1), At::Scan(2)] {
        for (_, v) in cat.files(snapshot).unwrap() {
            after.push((v.entry, v.first_scan, v.attr.ctime_ns));
        }
    }
    after.sort();
    after.dedup();
    assert_eq!(after, before);
    // Contents are found by hash, with their copies on disk d. (Format 2 mirrored: its
    // second backup deleted the old contents from d.)
    for (content, on) in [
        (&b"new note!\n"[..], &["d"][..]),
        (b"same\n", &["d"]),
        (b"old note\n", &[]),
        (b"report\n", &[]),
    ] {
        let (id, size) = cat.object_by_hash(&sha(content)).unwrap().expect("known");
        assert_eq!(size as usize, content.len());
        let holders: Vec<String> = cat
            .holders(id)
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(holders, on);
    }
    assert!(cat.object_by_hash(&sha(b"never seen")).unwrap().is_none());
    drop(cat);

    // History works on it: counted on demand, versions, diff, the old tree.
    let s = w.json(["snapshots", "--json"]);
    let counts: Vec<(u64, u64, u64, u64)> = s
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let n = |k: &str| s[k].as_u64().unwrap();
            (n("files"), n("new"), n("changed"), n("deleted"))
        })
        .collect();
    assert_eq!(counts, vec![(5, 5, 0, 0), (4, 0, 1, 1)]);
    let v = w.json(["versions", "/note.md", "--json"]);
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["sha256"], dsbfs::util::hex(&sha(b"old note\n")));
    assert_eq!(v[1]["disks"][0], "d");
    let d = w.ok(["diff"]);
    assert_eq!(
        d.lines().collect::<Vec<_>>(),
        ["-    /docs/report.txt", "M    /note.md"]
    );
    let w1 = w.json(["where", "/docs/report.txt", "--snapshot", "1", "--json"]);
    assert_eq!(w1[0]["sha256"], dsbfs::util::hex(&sha(b"report\n")));
    // Hard links stay one content; odd names stay bytes.
    let paths = w.ls_paths();
    assert!(paths.contains(&b"/caf\xe9".to_vec()), "{paths:?}");
    assert!(paths.contains(&b"/keep-link.txt".to_vec()));
}

#[test]
fn a_catalog_reaches_the_new_format_in_one_transaction_per_step_and_only_once() {
    let w = World::new();
    v2_catalog(&w);
    drop(Catalog::open(&w.catalog).unwrap());
    let size = std::fs::metadata(&w.catalog).unwrap().len();
    // Opening again changes nothing; the indexes of format 2 are gone.
    drop(Catalog::open(&w.catalog).unwrap());
    let c = rusqlite::Connection::open(&w.catalog).unwrap();
    let indexes: Vec<String> = c
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name IN ('objects', 'versions') ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(indexes, ["objects_prefix", "versions_links"]);
    let fk: i64 = c
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0, "every reference still points at a row");
    assert!(std::fs::metadata(&w.catalog).unwrap().len() <= size + 4096);
}
