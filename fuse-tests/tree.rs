//! The mounted tree is the source: names, sizes, modes, owners, times, links.

use crate::common::*;
use crate::harness::*;
use std::os::unix::fs::MetadataExt;

#[test]
fn rsync_diff_and_cp_see_the_source_exactly() {
    let w = backed_up("100M");
    let m = mount(&w, &w.catalog, "mnt", &[]);
    let src = w.path("src");

    // rsync -a compares sizes, mtimes (ns), modes, owners, symlinks, folders' times too.
    let itemized = run_ok(
        "rsync",
        &[
            os("-a"),
            os("--dry-run"),
            os("--itemize-changes"),
            os(&format!("{}/", src.display())),
            os(&format!("{}/", m.dir.display())),
        ],
    );
    assert!(
        itemized.is_empty(),
        "rsync sees differences:\n{}",
        String::from_utf8_lossy(&itemized)
    );
    run_ok(
        "diff",
        &[
            os("-r"),
            os("--no-dereference"),
            src.as_os_str(),
            m.dir.as_os_str(),
        ],
    );

    // Hard links are one inode, as in the source; folders count their subfolders.
    let a = std::fs::metadata(m.path("docs/notes.txt")).unwrap();
    let b = std::fs::metadata(m.path("docs/notes-link.txt")).unwrap();
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
    for dir in ["", "photos", "empty", "photos/2024", "private"] {
        assert_eq!(
            std::fs::metadata(m.path(dir)).unwrap().nlink(),
            std::fs::metadata(src.join(dir)).unwrap().nlink(),
            "nlink of /{dir}"
        );
    }
    assert_eq!(
        std::fs::read_link(m.path("dangling")).unwrap(),
        std::path::Path::new("/nonexistent/target")
    );

    // The usual walkers run clean and see every name.
    let found = run_ok("find", &[m.dir.as_os_str(), os("-printf"), os("%P\\0")]);
    let expected = run_ok("find", &[src.as_os_str(), os("-printf"), os("%P\\0")]);
    let sorted = |b: Vec<u8>| {
        let mut v: Vec<Vec<u8>> = b.split(|&c| c == 0).map(|s| s.to_vec()).collect();
        v.sort();
        v
    };
    assert_eq!(sorted(found), sorted(expected));
    run_ok("ls", &[os("-lR"), m.dir.as_os_str()]);
    run_ok("du", &[os("-sb"), m.dir.as_os_str()]);
    run_ok("df", &[m.dir.as_os_str()]);

    // cp -a out of the mount reproduces the source, hard link included.
    let dest = w.path("restored");
    std::fs::create_dir(&dest).unwrap();
    run_ok(
        "cp",
        &[
            os("-a"),
            os(&format!("{}/.", m.dir.display())),
            dest.as_os_str(),
        ],
    );
    let itemized = run_ok(
        "rsync",
        &[
            os("-a"),
            os("--dry-run"),
            os("--itemize-changes"),
            os(&format!("{}/", src.display())),
            os(&format!("{}/", dest.display())),
        ],
    );
    assert!(
        itemized.is_empty(),
        "the cp -a copy differs:\n{}",
        String::from_utf8_lossy(&itemized)
    );
    assert_eq!(
        std::fs::metadata(dest.join("docs/notes.txt"))
            .unwrap()
            .ino(),
        std::fs::metadata(dest.join("docs/notes-link.txt"))
            .unwrap()
            .ino()
    );
    assert!(
        !m.log_text().contains("ERROR"),
        "errors in the log: {}",
        m.log_text()
    );
}

#[test]
fn inodes_are_stable_across_mounts_and_umount_ends_the_daemon() {
    let w = backed_up("100M");
    let names = [
        "docs/notes.txt",
        "photos/2023",
        "link-to-dir",
        "empty/deeper",
    ];
    let inodes = |m: &Mounted| -> Vec<u64> {
        names
            .iter()
            .map(|n| std::fs::symlink_metadata(m.path(n)).unwrap().ino())
            .collect()
    };
    let m = mount(&w, &w.catalog, "mnt", &[]);
    let first = inodes(&m);
    assert_eq!(
        std::fs::metadata(&m.dir).unwrap().ino(),
        1,
        "the root is inode 1"
    );
    run_ok("umount", &[m.dir.as_os_str()]);
    assert!(m.wait_exit(), "the daemon outlived umount");
    assert!(!is_mounted(&m.dir));
    drop(m);

    let m = mount(&w, &w.catalog, "mnt", &[]);
    assert_eq!(inodes(&m), first);
    run_ok("fusermount3", &[os("-u"), m.dir.as_os_str()]);
    assert!(m.wait_exit(), "the daemon outlived fusermount3 -u");
    assert!(m.log_text().contains("unmounted"), "{}", m.log_text());
}

#[test]
fn the_tree_is_the_last_finished_scan_and_stays_fixed_while_mounted() {
    let w = backed_up("100M");
    let m = mount(&w, &w.catalog, "mnt", &[]);
    assert!(m.path("docs/notes.txt").exists());
    // A new scan while mounted (a file gone, one added) changes nothing in this mount.
    std::fs::remove_file(w.path("src/readonly.txt")).unwrap();
    write(w.path("src/added.txt"), b"new");
    w.ok(["scan"]);
    assert!(m.path("readonly.txt").exists());
    assert!(!m.path("added.txt").exists());
    assert_eq!(std::fs::read(m.path("readonly.txt")).unwrap(), b"read only");
    drop(m);
    // The next mount shows the new scan.
    let m = mount(&w, &w.catalog, "mnt", &[]);
    assert!(!m.path("readonly.txt").exists());
    assert!(m.path("added.txt").exists());
}

#[test]
fn a_folder_of_thousands_of_names_lists_whole_to_two_walkers_at_once() {
    // More children than one catalog page and than one kernel readdir buffer, with
    // names from 1 to 255 bytes, so replies split pages at odd places.
    let w = World::new();
    let crowd = w.path("src/crowd");
    std::fs::create_dir_all(&crowd).unwrap();
    let mut expected: Vec<Vec<u8>> = (0..1500usize)
        .map(|i| {
            let mut name = format!("{i:04}-").into_bytes();
            name.resize(5 + (i * 7) % 251, b'a' + (i % 26) as u8);
            name
        })
        .collect();
    for name in &expected {
        write(bytes_path(&crowd, name), b"");
    }
    for sub in ["sub1", "sub2"] {
        std::fs::create_dir(crowd.join(sub)).unwrap();
        expected.push(sub.as_bytes().to_vec());
    }
    w.ok([os("source"), os("add"), os("/"), w.path("src").as_os_str()]);
    w.ok(["scan"]);
    let m = mount(&w, &w.catalog, "mnt", &[]);
    expected.sort();
    let listed = |out: Vec<u8>| {
        let mut names: Vec<Vec<u8>> = out
            .split(|&b| b == 0)
            .filter(|n| !n.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        names.sort();
        names
    };
    // Two walkers at once, then again from the kernel's cache: all of it, each time.
    let dir = m.path("crowd");
    let spawn = || {
        std::process::Command::new("find")
            .args([
                dir.as_os_str(),
                os("-mindepth"),
                os("1"),
                os("-maxdepth"),
                os("1"),
            ])
            .args([os("-printf"), os("%f\\0")])
            .output()
            .unwrap()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap(), b.join().unwrap())
    });
    for out in [a, b, spawn()] {
        assert!(out.status.success());
        assert_eq!(listed(out.stdout), expected);
    }
    // The folder's link count counts its two subfolders.
    assert_eq!(std::fs::metadata(&dir).unwrap().nlink(), 4);
}
