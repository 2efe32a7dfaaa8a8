//! What the kernel keeps. The tree never changes while mounted, so names, attributes,
//! absences, listings, symlink targets and file pages are asked of dsbfs once and kept.

use crate::harness::*;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

/// Everything `ls -lR` and a few probes for absent names see below `dir`, one line per
/// answer.
fn look(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for probe in [".hidden", "docs/.git", "photos/2024/desktop.ini"] {
        let e = std::fs::symlink_metadata(dir.join(probe)).unwrap_err();
        out.push(format!("{probe}: {:?}", e.raw_os_error()));
    }
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for name in names {
            let p = d.join(&name);
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mut line = format!(
                "{:?} ino={} mode={:o} size={} mtime={}.{}",
                name.as_bytes(),
                m.ino(),
                m.mode(),
                m.size(),
                m.mtime(),
                m.mtime_nsec()
            );
            if m.is_dir() {
                stack.push(p);
            } else if m.file_type().is_symlink() {
                line += &format!(" -> {:?}", std::fs::read_link(&p).unwrap());
            }
            out.push(line);
        }
    }
    out
}

#[test]
fn what_was_seen_once_is_answered_by_the_kernel_while_the_daemon_is_stopped() {
    let w = backed_up("1M");
    let m = mount(&w, &w.catalog, "mnt", &[]);
    let first = look(&m.dir);
    assert!(first.len() > 40, "{first:?}");
    assert!(
        first[0].ends_with(&format!("Some({})", libc::ENOENT)),
        "{first:?}"
    );
    let frozen = Frozen::new(m.pid.unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let dir = m.dir.clone();
    std::thread::spawn(move || {
        let _ = tx.send(look(&dir));
    });
    let again = rx.recv_timeout(Duration::from_secs(10));
    drop(frozen);
    let again = again.expect("the kernel asked the stopped daemon again");
    assert_eq!(again, first);
}

/// The bytes of `file` in the page cache, as fincore(1) counts them.
fn resident(file: &Path) -> u64 {
    let out = run_ok(
        "fincore",
        &[
            os("--bytes"),
            os("--noheadings"),
            os("--output"),
            os("RES"),
            file.as_os_str(),
        ],
    );
    String::from_utf8(out).unwrap().trim().parse().unwrap()
}

#[test]
fn a_file_read_once_stays_in_the_page_cache_across_opens() {
    let w = backed_up("1M");
    // Read through dsbfs: with passthrough the pages are the disk's file's.
    let m = mount(&w, &w.catalog, "mnt", &["nopassthrough"]);
    let file = m.path("photos/2024/medium.jpg");
    let len = std::fs::metadata(&file).unwrap().len();
    assert!(resident(&file) < len);
    assert!(
        std::fs::read(&file).unwrap()
            == std::fs::read(w.path("src/photos/2024/medium.jpg")).unwrap()
    );
    // fincore opens the file again: the open keeps what the first read cached.
    assert!(
        resident(&file) >= len,
        "{} of {len} bytes cached",
        resident(&file)
    );
}
