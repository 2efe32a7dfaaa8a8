//! Reading contents: many readers at once, both read paths, and the user.dsbfs.*
//! attributes.

use crate::common::*;
use crate::harness::*;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn parallel_reads(opts: &[&str]) {
    let w = World::new();
    let src = w.path("src");
    for i in 0..120u64 {
        let len = match i % 4 {
            0 => 1,
            1 => 4096 * (i as usize % 7) + 17,
            2 => 131_072 + i as usize * 1013,
            _ => 1_000_000 + i as usize * 7919,
        };
        write(src.join(format!("d{}/f{i:03}.bin", i % 6)), bytes(i, len));
    }
    write(src.join("empty.bin"), b"");
    w.ok([os("source"), os("add"), os("/"), src.as_os_str()]);
    w.ok(["scan"]);
    w.ok([
        os("disk"),
        os("add"),
        os("--create"),
        os("d1"),
        w.path("d1").as_os_str(),
    ]);
    w.ok(["backup", "d1"]);
    let m = mount(&w, &w.catalog, "mnt", opts);
    let expected = files_under(&src);
    let names: Vec<&Vec<u8>> = expected.keys().collect();
    std::thread::scope(|s| {
        for t in 0..8usize {
            let names = &names;
            let expected = &expected;
            let m = &m;
            s.spawn(move || {
                // Each reader starts elsewhere and walks the other way round on odd threads.
                for k in 0..names.len() {
                    let i = if t % 2 == 0 {
                        (k + t * 15) % names.len()
                    } else {
                        (names.len() * 8 - k - t * 15) % names.len()
                    };
                    let rel = Path::new(std::ffi::OsStr::from_bytes(names[i]));
                    let got = std::fs::read(m.dir.join(rel)).unwrap();
                    assert!(got == expected[names[i]], "thread {t}: {rel:?} differs");
                }
            });
        }
    });
}

#[test]
fn eight_parallel_readers_get_correct_bytes_through_dsbfs() {
    parallel_reads(&["nopassthrough"]);
}

#[test]
fn eight_parallel_readers_get_correct_bytes_with_passthrough_where_possible() {
    parallel_reads(&[]);
}

#[test]
fn xattrs_are_answered_by_name_but_not_listed_nor_copied() {
    let w = backed_up("1M");
    let m = mount(&w, &w.catalog, "mnt", &["xattr"]);
    let h = holders(&w);
    let get = |rel: &str, name: &str| -> String {
        let out = run_ok(
            "getfattr",
            &[
                os("--only-values"),
                os("-n"),
                os(name),
                m.path(rel).as_os_str(),
            ],
        );
        String::from_utf8(out).unwrap()
    };
    let rel = "photos/2024/big.raw";
    let content = std::fs::read(w.path("src").join(rel)).unwrap();
    assert_eq!(
        get(rel, "user.dsbfs.sha256"),
        dsbfs::util::hex(&dsbfs::scan::hash::sha256(&content))
    );
    let disks = &h[&rel.as_bytes().to_vec()];
    assert_eq!(get(rel, "user.dsbfs.disks"), disks.join(","));
    assert_eq!(get(rel, "user.dsbfs.copies"), disks.len().to_string());
    let (one_copy, its_disk) = h
        .iter()
        .find_map(|(p, d)| Some((std::str::from_utf8(p).ok()?, d)).filter(|_| d.len() == 1))
        .expect("a file with one copy");
    assert_eq!(get(one_copy, "user.dsbfs.disks"), its_disk[0]);
    assert_eq!(get(one_copy, "user.dsbfs.copies"), "1");
    assert_eq!(
        get("docs/empty.txt", "user.dsbfs.sha256"),
        dsbfs::util::hex(&dsbfs::scan::hash::sha256(b""))
    );
    let missing = tool(
        "getfattr",
        &[os("-n"), os("user.other"), m.path(rel).as_os_str()],
    );
    assert!(!missing.status.success());

    // Not listed: getfattr -d shows nothing, cp -a carries nothing.
    let dumped = run_ok(
        "getfattr",
        &[os("-hdR"), os("-m"), os("-"), m.dir.as_os_str()],
    );
    assert!(dumped.is_empty(), "{}", String::from_utf8_lossy(&dumped));
    let copy = w.path("copied.raw");
    run_ok("cp", &[os("-a"), m.path(rel).as_os_str(), copy.as_os_str()]);
    let dumped = run_ok("getfattr", &[os("-d"), os("-m"), os("-"), copy.as_os_str()]);
    assert!(dumped.is_empty(), "{}", String::from_utf8_lossy(&dumped));
    drop(m);

    // noxattr, and the default (measured: see fs::XATTR_DEFAULT): nothing is served.
    for opts in [&["noxattr"][..], &[]] {
        let m = mount(&w, &w.catalog, "mnt", opts);
        let out = tool(
            "getfattr",
            &[os("-n"), os("user.dsbfs.sha256"), m.path(rel).as_os_str()],
        );
        assert!(!out.status.success(), "{opts:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Operation not supported"),
            "{opts:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
