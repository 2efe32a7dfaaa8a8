//! Bit rot: no wrong byte reaches a reader through the mount. A byte flipped in a copy
//! on a folder-disk makes the reads that touch it fail with EIO, named in the log,
//! while the rest of the file reads; a good copy on another connected disk is read
//! instead; `status` says which disk to verify.

use crate::common::*;
use crate::harness::*;
use std::path::Path;

/// A source with a file of several blocks and one of a single block, scanned and
/// backed up to each of `disks` (folder-disks).
fn rotting_world(disks: &[&str]) -> (World, Vec<u8>, Vec<u8>) {
    let w = World::new();
    let src = w.path("src");
    let big = bytes(7, (3 << 20) + 333);
    let photo = bytes(8, 200_000);
    write(src.join("big.bin"), &big);
    write(src.join("photo.jpg"), &photo);
    write(src.join("fine.txt"), b"nothing wrong here\n");
    w.ok([os("source"), os("add"), os("/"), src.as_os_str()]);
    w.ok(["scan"]);
    for d in disks {
        w.ok([
            os("disk"),
            os("add"),
            os("--create"),
            os(d),
            w.path(d).as_os_str(),
        ]);
        w.ok(["backup", d]);
    }
    (w, big, photo)
}

/// Flips a bit of the byte at `at` in disk `disk`'s copy of `content`.
fn rot(w: &World, disk: &str, content: &[u8], at: u64) {
    use std::os::unix::fs::FileExt;
    let hex = dsbfs::util::hex(&dsbfs::scan::hash::sha256(content));
    let path = w.path(disk).join("objects").join(&hex[..2]).join(&hex);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x04], at).unwrap();
}

/// `dd if=FILE bs=1M skip=SKIP count=1`: its output, or its error.
fn dd_block(file: &Path, skip: u64) -> Result<Vec<u8>, String> {
    let out = tool(
        "dd",
        &[
            os(&format!("if={}", file.display())),
            os("bs=1M"),
            os(&format!("skip={skip}")),
            os("count=1"),
            os("status=none"),
        ],
    );
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn cat(file: &Path) -> std::process::Output {
    tool("cat", &[file.as_os_str()])
}

#[test]
fn a_flipped_byte_in_the_only_copy_fails_with_eio_named_in_the_log_and_status_says_verify() {
    let (w, big, photo) = rotting_world(&["d1"]);
    rot(&w, "d1", &photo, 150_000);
    rot(&w, "d1", &big, (1 << 20) + 12_345);
    for opts in [&[][..], &["nopassthrough"][..]] {
        let m = mount(&w, &w.catalog, "mnt", opts);
        let out = cat(&m.path("photo.jpg"));
        assert!(
            !out.status.success(),
            "cat returned the rotten photo ({opts:?})"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Input/output error"), "{err}");
        assert!(
            out.stdout.len() < photo.len(),
            "cat printed a whole file ({opts:?})"
        );
        assert_eq!(cat(&m.path("fine.txt")).stdout, b"nothing wrong here\n");
        // Reads of other blocks of a file with a rotten block are served, byte-exact.
        let piece = |i: usize| big[i << 20..((i + 1) << 20).min(big.len())].to_vec();
        assert_eq!(dd_block(&m.path("big.bin"), 2).unwrap(), piece(2));
        assert_eq!(dd_block(&m.path("big.bin"), 0).unwrap(), piece(0));
        assert_eq!(dd_block(&m.path("big.bin"), 3).unwrap(), piece(3));
        let err = dd_block(&m.path("big.bin"), 1).unwrap_err();
        assert!(err.contains("Input/output error"), "{err}");
        let out = cat(&m.path("big.bin"));
        assert!(!out.status.success() && out.stdout.len() <= 1 << 20);
        let log = m.log_text();
        for file in ["/photo.jpg", "/big.bin"] {
            assert!(
                log.lines().any(|l| l.contains("ERROR")
                    && l.contains(&format!("reading {file} from disk d1 failed"))
                    && l.contains("does not match its hash")
                    && l.contains("`dsbfs verify d1`")),
                "no ERROR line names {file} and disk d1 ({opts:?}):\n{log}"
            );
        }
        drop(m);
    }
    let out = w.run(["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("disk d1 holds damaged copies of 2 files (/photo.jpg, …), found by mount: run `dsbfs verify d1`"),
        "{text}"
    );
    // verify finds them, moves them to quarantine, and status stops asking.
    let report: serde_json::Value =
        serde_json::from_str(&w.expect(3, ["verify", "d1", "--json"])).unwrap();
    assert_eq!(report["damaged"].as_array().unwrap().len(), 2, "{report}");
    let out = w.run(["status"]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("damaged"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_good_copy_on_another_connected_disk_gives_the_right_bytes() {
    let (w, big, photo) = rotting_world(&["d1", "d2"]);
    rot(&w, "d1", &photo, 10);
    rot(&w, "d1", &big, (2 << 20) + 1);
    for opts in [&[][..], &["nopassthrough"][..]] {
        let m = mount(&w, &w.catalog, "mnt", opts);
        for (name, want) in [("photo.jpg", &photo), ("big.bin", &big)] {
            let out = cat(&m.path(name));
            assert!(out.status.success(), "{name}: {}", m.log_text());
            assert!(
                out.stdout == *want,
                "cat {name} gave wrong bytes ({opts:?})"
            );
        }
        let log = m.log_text();
        assert!(
            log.contains("reading /big.bin from disk d1 failed")
                && log.contains("continuing from disk d2"),
            "{log}"
        );
        // Read again (another program, another open): still right, whichever way.
        let out = tool("md5sum", &[m.path("big.bin").as_os_str()]);
        let again = tool("md5sum", &[w.path("src/big.bin").as_os_str()]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).split(' ').next(),
            String::from_utf8_lossy(&again.stdout).split(' ').next()
        );
        drop(m);
    }
}
