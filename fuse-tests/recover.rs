//! A catalog recovered from the disks alone mounts as the lost one did.

use crate::harness::*;
use std::path::Path;

/// Everything `find` sees of a mounted tree: per path, type, mode, owner, size, mtime,
/// link target, link count and inode number.
fn listing(dir: &Path) -> Vec<String> {
    let out = run_ok(
        "find",
        &[
            dir.as_os_str(),
            os("-printf"),
            os("%P\\t%y\\t%m\\t%U\\t%G\\t%s\\t%T@\\t%l\\t%n\\t%i\\0"),
        ],
    );
    let mut v: Vec<String> = out
        .split(|&b| b == 0)
        .filter(|l| !l.is_empty())
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_recovered_catalog_mounts_the_same_tree_and_reads_every_file() {
    // Three disks backed up one after another: their catalog copies differ in age.
    let w = backed_up("1M");
    w.ok([
        os("disk"),
        os("add"),
        os("--create"),
        os("d3"),
        w.path("d3").as_os_str(),
        os("--size"),
        os("3M"),
    ]);
    w.ok(["backup", "d3"]);
    let before = {
        let m = mount(&w, &w.catalog, "mnt", &[]);
        listing(&m.dir)
    };
    assert!(before.len() > 40, "{before:?}");
    for tail in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{tail}", w.catalog.display()));
    }

    w.ok([
        os("recover"),
        w.path("d1").as_os_str(),
        w.path("d2").as_os_str(),
        w.path("d3").as_os_str(),
    ]);
    let m = mount(&w, &w.catalog, "mnt2", &[]);
    assert_eq!(listing(&m.dir), before);
    // Every file reads back through the recovered records of the three disks.
    let itemized = run_ok(
        "rsync",
        &[
            os("-a"),
            os("-n"),
            os("-i"),
            os("-c"),
            os(&format!("{}/", w.path("src").display())),
            os(&format!("{}/", m.dir.display())),
        ],
    );
    assert!(
        itemized.is_empty(),
        "rsync sees differences:\n{}",
        String::from_utf8_lossy(&itemized)
    );
}
