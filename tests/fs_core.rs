//! The filesystem core driven directly, with no kernel and no mount: the tree it
//! answers is compared with the source tree it was scanned from (a reference model over
//! random trees with odd names), reads go on from another copy when one fails, offline
//! disks give ENOMEDIUM naming the disks, and crafted catalogs give clear errors. The
//! FUSE tests (fuse-tests/) check what the kernel makes of the same answers.

mod common;

use common::*;
use dsbfs::catalog::Kind;
use dsbfs::catalog::view::Node;
use dsbfs::fs::disks::Disks;
use dsbfs::fs::error::{FsError, Level};
use dsbfs::fs::filesystem::{Filesystem, Opened, Reader, Settings, Xattr};
use dsbfs::fs::options::Show;
use dsbfs::fs::view::View;
use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, UNIX_EPOCH};

type Fs = Arc<Filesystem<()>>;

/// What the kernel asks for at a time by default.
const CHUNK: u32 = 128 << 10;

fn settings(xattr: bool, passthrough: bool) -> Settings {
    Settings {
        xattr,
        passthrough,
        label: "test".into(),
    }
}

/// The core over `w`'s catalog, made as `dsbfs mount` makes it.
fn core_with<B: Send + Sync + 'static>(w: &World, settings: Settings) -> Arc<Filesystem<B>> {
    core_showing(w, settings, &Show::Latest)
}

/// The core showing `show` (`-o snapshot=`, `-o history`).
fn core_showing<B: Send + Sync + 'static>(
    w: &World,
    settings: Settings,
    show: &Show,
) -> Arc<Filesystem<B>> {
    let view = View::open(&w.catalog, show).unwrap();
    let extra = vec![w.catalog.parent().unwrap().to_owned()];
    Filesystem::new(view, Disks::new(extra), settings, 2)
}

fn core(w: &World) -> Fs {
    core_with(w, settings(false, false))
}

/// The backing-file maker for a core without passthrough: never called.
fn no_kernel(_: &std::fs::File) -> std::io::Result<()> {
    panic!("passthrough is off, yet a backing file was asked for")
}

/// A world whose source, made by `tree`, is scanned and then backed up to each of
/// `disks` (name, optional size cap) in turn.
fn world(tree: impl FnOnce(&Path), disks: &[(&str, Option<&str>)]) -> World {
    let w = World::new();
    let src = w.path("src");
    std::fs::create_dir_all(&src).unwrap();
    tree(&src);
    w.ok([
        OsStr::new("source"),
        OsStr::new("add"),
        OsStr::new("/"),
        src.as_os_str(),
    ]);
    w.ok(["scan", "-q"]);
    for (name, cap) in disks {
        let mut args: Vec<OsString> =
            vec!["disk".into(), "add".into(), "--create".into(), name.into()];
        args.push(w.path(name).into());
        if let Some(cap) = cap {
            args.extend(["--size".into(), cap.into()]);
        }
        w.ok(&args);
        w.ok(["backup", name]);
    }
    w
}

/// Content that differs with `seed` and from block to block.
fn content(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(seed | 1) ^ (i >> 9) as u8)
        .collect()
}

/// The disk goes away (unplugged, or mounted elsewhere).
fn unplug(w: &World, disk: &str) {
    std::fs::rename(w.path(disk), w.path(&format!("{disk}-away"))).unwrap();
}

fn plug_in(w: &World, disk: &str) {
    std::fs::rename(w.path(&format!("{disk}-away")), w.path(disk)).unwrap();
}

/// Where `disk` keeps the object of `bytes`.
fn object_path(w: &World, disk: &str, bytes: &[u8]) -> PathBuf {
    let hex = dsbfs::util::hex(&dsbfs::scan::hash::sha256(bytes));
    w.path(disk).join("objects").join(&hex[..2]).join(&hex)
}

/// Cuts a file short under whoever has it open, as a damaged copy would be.
fn truncate(path: &Path, len: u64) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// The node at `path`, looked up name by name from the root as the kernel does.
fn resolve<B: Send + Sync + 'static>(
    fs: &Arc<Filesystem<B>>,
    path: &[u8],
) -> Result<Option<Arc<Node>>, FsError> {
    let mut node = fs.getattr(1)?;
    for name in path.split(|&b| b == b'/').filter(|n| !n.is_empty()) {
        match fs.lookup(node.ino, name)? {
            Some(n) => node = n,
            None => return Ok(None),
        }
    }
    Ok(Some(node))
}

fn node<B: Send + Sync + 'static>(fs: &Arc<Filesystem<B>>, path: &str) -> Arc<Node> {
    resolve(fs, path.as_bytes())
        .unwrap()
        .unwrap_or_else(|| panic!("{path} is not in the tree"))
}

/// Reads `reader` on from `out.len()` to its end, `chunk` bytes at a time, into `out`.
fn read_on<B: Send + Sync + 'static>(
    fs: &Arc<Filesystem<B>>,
    reader: &Reader<B>,
    chunk: u32,
    out: &mut Vec<u8>,
) -> Result<(), FsError> {
    let mut buf = Vec::new();
    loop {
        let bytes = fs.read(reader, out.len() as u64, chunk, &mut buf)?;
        if bytes.is_empty() {
            return Ok(());
        }
        out.extend_from_slice(bytes);
    }
}

/// Reads an open handle from its start to its end, `chunk` bytes at a time.
fn read_to_end<B: Send + Sync + 'static>(
    fs: &Arc<Filesystem<B>>,
    fh: u64,
    chunk: u32,
) -> Result<Vec<u8>, FsError> {
    let mut out = Vec::new();
    read_on(fs, &fs.reader(fh)?, chunk, &mut out)?;
    Ok(out)
}

/// Opens the file at `path` and returns its handle.
fn open_path(fs: &Fs, path: &str) -> u64 {
    fs.open(node(fs, path).ino, libc::O_RDONLY, no_kernel)
        .unwrap()
        .fh()
}

/// Opens, reads whole and releases the file `ino`.
fn read_file(fs: &Fs, ino: u64, chunk: u32) -> Result<Vec<u8>, FsError> {
    let fh = fs.open(ino, libc::O_RDONLY, no_kernel)?.fh();
    let read = read_to_end(fs, fh, chunk);
    fs.release(fh);
    read
}

/// Opens `ino` with `register` for passthrough, reads it whole and releases it.
fn read_file_with<B: Send + Sync + 'static>(
    fs: &Arc<Filesystem<B>>,
    ino: u64,
    register: impl FnOnce(&std::fs::File) -> std::io::Result<B>,
) -> Result<Vec<u8>, FsError> {
    let fh = fs.open(ino, libc::O_RDONLY, register)?.fh();
    let read = read_to_end(fs, fh, CHUNK);
    fs.release(fh);
    read
}

/// A folder's listing from cookie `offset` on, as (name, node, cookie).
fn list_from(fs: &Fs, ino: u64, offset: u64) -> Vec<(Vec<u8>, Node, u64)> {
    let mut out = Vec::new();
    fs.readdir(ino, offset, |e| {
        out.push((e.name.to_vec(), e.node.clone(), e.cookie));
        false
    })
    .unwrap();
    out
}

/// A folder's children (no "." and ".."), in the order listed.
fn children(fs: &Fs, ino: u64) -> Vec<(Vec<u8>, Node)> {
    list_from(fs, ino, 0)
        .into_iter()
        .filter(|(name, _, _)| name != b"." && name != b"..")
        .map(|(name, node, _)| (name, node))
        .collect()
}

fn mtime_ns(m: &std::fs::Metadata) -> i64 {
    m.mtime() * 1_000_000_000 + m.mtime_nsec()
}

/// Sets the mtime of a file or folder (`ns` since the epoch, negative before it).
fn set_mtime(path: &Path, ns: i64) {
    let t = if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    };
    std::fs::File::open(path).unwrap().set_modified(t).unwrap();
}

// ---- The reference model: random source trees against the core's answers ----

#[derive(Clone, Debug)]
enum Spec {
    File { len: usize, seed: u8 },
    Link(Vec<u8>),
    Dir(Vec<Entry>),
}

/// A name, its permission bits, its mtime (ns; not for symlinks) and what it is.
type Entry = (Vec<u8>, u32, i64, Spec);

/// Names as they come: plain, any bytes but '/' and NUL (so not UTF-8, with newlines),
/// and of the longest length a name may have.
fn name() -> impl Strategy<Value = Vec<u8>> {
    let byte = (1u8..=255).prop_map(|b| if b == b'/' { b'%' } else { b });
    prop_oneof![
        4 => "[a-zA-Z0-9._ -]{1,12}".prop_map(String::into_bytes),
        3 => vec(byte.clone(), 1..20),
        1 => Just(b"new\nline".to_vec()),
        1 => byte.prop_map(|b| vec![b; 255]),
    ]
    .prop_filter("a name", |n| n != b"." && n != b"..")
}

fn entry(spec: impl Strategy<Value = Spec>) -> impl Strategy<Value = Entry> {
    // Times from before 1970 to after 2038, to the nanosecond.
    let mtime = -2_000_000_000_000_000_000i64..4_000_000_000_000_000_000;
    (name(), 0u32..0o10000, mtime, spec)
}

fn tree() -> impl Strategy<Value = Vec<Entry>> {
    let len = prop_oneof![3 => 0usize..3000, 1 => Just(0usize), 1 => 3000usize..400_000];
    let leaf = prop_oneof![
        4 => (len, any::<u8>()).prop_map(|(len, seed)| Spec::File { len, seed }),
        1 => vec(1u8..=255, 1..80).prop_map(Spec::Link),
    ];
    let spec = leaf.prop_recursive(3, 48, 6, |inner| {
        vec(entry(inner), 0..6).prop_map(Spec::Dir)
    });
    vec(entry(spec), 1..8)
}

/// Makes `entries` in `dir`, each with its mode and mtime (folders after their content).
fn materialize(dir: &Path, entries: &[Entry]) {
    let mut seen = HashSet::new();
    for (name, mode, mtime, spec) in entries {
        if !seen.insert(name) {
            continue;
        }
        let p = dir.join(OsStr::from_bytes(name));
        let chmod = |m: u32| std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m));
        match spec {
            Spec::File { len, seed } => {
                std::fs::write(&p, content(*seed, *len)).unwrap();
                // Readable by whoever scans it.
                chmod(mode | 0o400).unwrap();
            }
            Spec::Link(target) => {
                // Its mtime is whenever it was made: links cannot be opened to set it.
                std::os::unix::fs::symlink(OsStr::from_bytes(target), &p).unwrap();
                continue;
            }
            Spec::Dir(inner) => {
                std::fs::create_dir(&p).unwrap();
                materialize(&p, inner);
                chmod(mode | 0o700).unwrap();
            }
        }
        set_mtime(&p, *mtime);
    }
}

/// What the walk of a source folder and the core's answers for it added up to.
#[derive(Default)]
struct Seen {
    entries: u64,
    bytes: u64,
}

/// Compares folder `src` of the source with folder `ino` of the core, all the way down:
/// names, kinds, sizes, modes, owners, mtimes, link counts, symlink targets, bytes.
fn compare(fs: &Fs, src: &Path, ino: u64, chunk: u32, seen: &mut Seen) {
    let mut want: Vec<Vec<u8>> = std::fs::read_dir(src)
        .unwrap()
        .map(|e| e.unwrap().file_name().as_bytes().to_vec())
        .collect();
    want.sort();
    let listed = list_from(fs, ino, 0);
    let dir = fs.getattr(ino).unwrap();
    assert_eq!(listed[0].0, b".");
    assert_eq!(listed[0].1, *dir);
    assert_eq!(listed[1].0, b"..");
    let got = children(fs, ino);
    let names: Vec<&Vec<u8>> = got.iter().map(|(n, _)| n).collect();
    assert_eq!(names, want.iter().collect::<Vec<_>>(), "{}", src.display());
    for (name, listed) in got {
        let path = src.join(OsStr::from_bytes(&name));
        let what = path.display();
        let m = std::fs::symlink_metadata(&path).unwrap();
        // Listing and lookup agree, and the inode answers getattr with the same node.
        let looked = fs.lookup(ino, &name).unwrap().expect("listed, so found");
        assert_eq!(*looked, listed, "{what}");
        assert_eq!(*fs.getattr(looked.ino).unwrap(), listed, "{what}");
        assert_eq!(listed.mode, m.mode() & 0o7777, "{what}");
        assert_eq!((listed.uid, listed.gid), (m.uid(), m.gid()), "{what}");
        assert_eq!(listed.mtime_ns, mtime_ns(&m), "{what}");
        seen.entries += 1;
        let t = m.file_type();
        if t.is_dir() {
            assert_eq!(listed.kind, Kind::Dir, "{what}");
            // 2 + subfolders, as the source's own filesystem counts.
            assert_eq!(listed.nlink as u64, m.nlink(), "{what}");
            compare(fs, &path, listed.ino, chunk, seen);
            assert_eq!(list_from(fs, listed.ino, 0)[1].1.ino, ino, "{what}/..");
        } else if t.is_symlink() {
            assert_eq!(listed.kind, Kind::Symlink, "{what}");
            let target = std::fs::read_link(&path).unwrap();
            assert_eq!(
                fs.readlink(listed.ino).unwrap(),
                target.as_os_str().as_bytes()
            );
            assert_eq!(listed.size, m.len(), "{what}");
        } else {
            assert_eq!(listed.kind, Kind::File, "{what}");
            assert_eq!((listed.size, listed.nlink), (m.len(), 1), "{what}");
            let bytes = read_file(fs, listed.ino, chunk).unwrap();
            assert!(
                bytes == std::fs::read(&path).unwrap(),
                "{what}: other bytes"
            );
            seen.bytes += m.len();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_core_answers_what_the_source_tree_holds(
        entries in tree(),
        root_mtime in 0i64..4_000_000_000_000_000_000,
        chunk in prop_oneof![Just(CHUNK), 1u32..70_000],
    ) {
        let w = world(
            |src| {
                materialize(src, &entries);
                set_mtime(src, root_mtime);
            },
            &[("d1", None)],
        );
        let fs = core(&w);
        let src = w.path("src");
        let root = fs.getattr(1).unwrap();
        let m = std::fs::metadata(&src).unwrap();
        prop_assert_eq!((root.kind, root.mode), (Kind::Dir, m.mode() & 0o7777));
        prop_assert_eq!(root.mtime_ns, mtime_ns(&m));
        let mut seen = Seen::default();
        compare(&fs, &src, 1, chunk, &mut seen);
        // ".." of the root is the root; df counts what was walked (and the root).
        prop_assert_eq!(list_from(&fs, 1, 0)[1].1.ino, 1);
        let st = fs.statfs().unwrap();
        prop_assert_eq!(st.files, seen.entries + 1);
        prop_assert_eq!(st.blocks, seen.bytes.div_ceil(st.block_size as u64));
        prop_assert_eq!(st.name_max, 255);
    }
}

// ---- Disks that fail, go away and come back ----

#[test]
fn a_copy_that_fails_mid_file_is_continued_from_another_disk() {
    let big = content(7, 3 << 20);
    let w = world(
        |src| write(src.join("big.bin"), &big),
        &[("d1", None), ("d2", None)],
    );
    // Opened while only d1 is there, so the handle reads d1.
    unplug(&w, "d2");
    let fs = core(&w);
    let fh = open_path(&fs, "big.bin");
    let reader = fs.reader(fh).unwrap();
    let mut buf = Vec::new();
    let first = fs.read(&reader, 0, CHUNK, &mut buf).unwrap().to_vec();
    assert_eq!(first, big[..CHUNK as usize]);
    plug_in(&w, "d2");
    // d1's copy ends mid-file now: the read that reaches the cut goes on from d2.
    truncate(&object_path(&w, "d1", &big), (1 << 20) + 5);
    let mut all = first;
    read_on(&fs, &reader, CHUNK, &mut all).unwrap();
    assert!(all == big, "the bytes after failing over differ");
    fs.release(fh);
}

#[test]
fn a_failing_copy_with_no_other_gives_eio_naming_the_disk_and_the_file() {
    let only = content(3, 500_000);
    let w = world(
        |src| {
            write(src.join("only.bin"), &only);
            write(src.join("other.txt"), b"still served");
        },
        &[("d1", None)],
    );
    let fs = core(&w);
    let fh = open_path(&fs, "only.bin");
    truncate(&object_path(&w, "d1", &only), 1000);
    let e = read_to_end(&fs, fh, CHUNK).unwrap_err();
    assert_eq!((e.errno, e.level), (libc::EIO, Level::Error), "{e}");
    assert!(
        e.message
            .starts_with("reading /only.bin from disk d1 failed")
            && e.message.ends_with("and no other connected disk holds it"),
        "{e}"
    );
    fs.release(fh);
    // The rest of the tree is served as before.
    assert_eq!(
        read_file(&fs, node(&fs, "other.txt").ino, CHUNK).unwrap(),
        b"still served"
    );
}

/// Flips one bit of the byte at `at` in a copy, as bit rot would.
fn rot(path: &Path, at: u64) {
    use std::os::unix::fs::FileExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x10], at).unwrap();
}

/// The disk a handle reads from now.
fn disk_of<B: Send + Sync + 'static>(fs: &Arc<Filesystem<B>>, fh: u64) -> String {
    match fs.reader(fh).unwrap() {
        Reader::Open(of) => of.source().disk_name.clone(),
        Reader::Empty => panic!("a file with content"),
    }
}

#[test]
fn a_rotten_block_of_the_only_copy_is_eio_naming_the_disk_and_the_file_and_the_rest_reads() {
    let big = content(11, (3 << 20) + 700);
    let small = content(12, 9000);
    let w = world(
        |src| {
            write(src.join("big.bin"), &big);
            write(src.join("small.txt"), &small);
        },
        &[("d1", None)],
    );
    rot(&object_path(&w, "d1", &big), (1 << 20) + 4321);
    rot(&object_path(&w, "d1", &small), 5);
    let fs = core(&w);
    let fh = open_path(&fs, "big.bin");
    let reader = fs.reader(fh).unwrap();
    let mut buf = Vec::new();
    // The blocks before and after the rotten one read right; a read touching it fails.
    assert!(fs.read(&reader, 0, CHUNK, &mut buf).unwrap() == &big[..CHUNK as usize]);
    let tail = fs
        .read(&reader, 2 << 20, 1 << 20, &mut buf)
        .unwrap()
        .to_vec();
    assert!(tail == big[2 << 20..3 << 20]);
    for (offset, size) in [((1 << 20) + 4096, 4096), ((1 << 20) - 10, 20), (0, 4 << 20)] {
        let e = fs.read(&reader, offset, size, &mut buf).unwrap_err();
        assert_eq!((e.errno, e.level), (libc::EIO, Level::Error), "{e}");
        assert!(
            e.message
                .starts_with("reading /big.bin from disk d1 failed (its block 1, at byte 1048576, does not match its hash")
                && e.message.contains("`dsbfs verify d1`")
                && e.message.ends_with("and no other connected disk holds it"),
            "{e}"
        );
    }
    let end = fs.read(&reader, 3 << 20, CHUNK, &mut buf).unwrap().to_vec();
    assert!(end == big[3 << 20..]);
    fs.release(fh);
    // A file of one block is checked against its own hash.
    let e = read_file(&fs, node(&fs, "small.txt").ino, CHUNK).unwrap_err();
    assert_eq!(e.errno, libc::EIO, "{e}");
    assert!(e.message.contains("/small.txt from disk d1"), "{e}");
    // Listed beside the catalog for `status`, once per copy.
    let listed = dsbfs::damaged::load(&w.catalog);
    let paths: Vec<&str> = listed.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["/big.bin", "/small.txt"]);
    assert!(listed.iter().all(|d| d.disk == "d1" && d.by == "mount"));
}

#[test]
fn a_rotten_copy_is_replaced_by_a_good_one_and_the_next_open_starts_with_the_good_one() {
    let big = content(13, (2 << 20) + 5);
    let w = world(
        |src| write(src.join("big.bin"), &big),
        &[("d1", None), ("d2", None)],
    );
    rot(&object_path(&w, "d1", &big), (1 << 20) + 1);
    let fs = core(&w);
    let ino = node(&fs, "big.bin").ino;
    let fh = fs.open(ino, libc::O_RDONLY, no_kernel).unwrap().fh();
    assert_eq!(disk_of(&fs, fh), "d1", "disks are tried by name");
    assert!(read_to_end(&fs, fh, CHUNK).unwrap() == big);
    assert_eq!(disk_of(&fs, fh), "d2");
    fs.release(fh);
    let fh = fs.open(ino, libc::O_RDONLY, no_kernel).unwrap().fh();
    assert_eq!(disk_of(&fs, fh), "d2", "the damaged copy comes last");
    assert!(read_to_end(&fs, fh, 1 << 20).unwrap() == big);
    fs.release(fh);
    // With the good copy gone (another mount), the damaged one still serves its good
    // blocks.
    unplug(&w, "d2");
    let fs = core(&w);
    let fh = fs.open(ino, libc::O_RDONLY, no_kernel).unwrap().fh();
    let reader = fs.reader(fh).unwrap();
    let mut buf = Vec::new();
    assert!(fs.read(&reader, 0, 1 << 20, &mut buf).unwrap() == &big[..1 << 20]);
    assert_eq!(
        fs.read(&reader, 1 << 20, 10, &mut buf).unwrap_err().errno,
        libc::EIO
    );
    fs.release(fh);
}

#[test]
fn a_file_without_recorded_block_hashes_is_checked_whole_when_opened() {
    let big = content(14, (2 << 20) + 77);
    let w = world(|src| write(src.join("big.bin"), &big), &[("d1", None)]);
    let blocks: i64 = read_only(&w.catalog)
        .unwrap()
        .query_row(
            "SELECT length(hashes) / 32 FROM object_blocks JOIN objects o ON o.id = object WHERE o.size = ?1",
            [big.len() as i64],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(blocks, 3, "backup records a hash per MiB");
    // As an older backup left it: no block hashes.
    craft(&w, "DELETE FROM object_blocks");
    let fs = core(&w);
    let ino = node(&fs, "big.bin").ino;
    assert!(read_file(&fs, ino, CHUNK).unwrap() == big);
    // Damage found at the next mount's first open: nothing of the file is served.
    rot(&object_path(&w, "d1", &big), 3);
    let fs = core(&w);
    let e = fs.open(ino, libc::O_RDONLY, no_kernel).unwrap_err();
    assert_eq!((e.errno, e.level), (libc::EIO, Level::Error), "{e}");
    assert!(
        e.message.starts_with(
            "reading /big.bin from disk d1 failed (its content does not match its hash"
        ) && e.message.ends_with("and no other connected disk holds it"),
        "{e}"
    );
}

#[test]
fn a_disk_gone_before_the_open_is_replaced_by_another_copy() {
    let photo = content(9, 200_000);
    let w = world(
        |src| write(src.join("photo.jpg"), &photo),
        &[("d1", None), ("d2", None)],
    );
    unplug(&w, "d1");
    let fs = core(&w);
    assert!(read_file(&fs, node(&fs, "photo.jpg").ino, CHUNK).unwrap() == photo);
}

#[test]
fn offline_files_give_enomedium_naming_the_disks_once_a_minute() {
    let w = world(
        |src| {
            write(src.join("photos/a.jpg"), content(1, 5000));
            write(src.join("empty.txt"), b"");
        },
        &[("d1", None), ("d2", None)],
    );
    unplug(&w, "d1");
    unplug(&w, "d2");
    let fs = core(&w);
    // The tree needs no disk.
    let a = node(&fs, "photos/a.jpg");
    assert_eq!(a.size, 5000);
    assert_eq!(children(&fs, 1).len(), 2);
    let e = fs.open(a.ino, libc::O_RDONLY, no_kernel).unwrap_err();
    assert_eq!((e.errno, e.level), (libc::ENOMEDIUM, Level::Warn));
    assert_eq!(e.message, "/photos/a.jpg is offline: plug in disk d1 or d2");
    // Asked again within the minute: the same answer, not the same log line.
    let again = fs.open(a.ino, libc::O_RDONLY, no_kernel).unwrap_err();
    assert_eq!((again.errno, again.level), (libc::ENOMEDIUM, Level::Quiet));
    // A file without content needs no disk.
    let empty = node(&fs, "empty.txt");
    let opened = fs.open(empty.ino, libc::O_RDONLY, no_kernel).unwrap();
    assert!(matches!(opened, Opened::Empty));
    assert_eq!(read_to_end(&fs, opened.fh(), CHUNK).unwrap(), b"");
}

#[test]
fn a_disk_plugged_in_after_mounting_is_used_without_remounting() {
    let a = content(4, 70_000);
    let w = world(|src| write(src.join("a.bin"), &a), &[("d1", None)]);
    unplug(&w, "d1");
    let fs = core(&w);
    let ino = node(&fs, "a.bin").ino;
    assert_eq!(
        read_file(&fs, ino, CHUNK).unwrap_err().errno,
        libc::ENOMEDIUM
    );
    plug_in(&w, "d1");
    assert!(read_file(&fs, ino, CHUNK).unwrap() == a);
}

#[test]
fn a_file_on_no_disk_yet_says_to_back_it_up() {
    let w = world(|src| write(src.join("new.txt"), b"not backed up"), &[]);
    let fs = core(&w);
    let e = read_file(&fs, node(&fs, "new.txt").ino, CHUNK).unwrap_err();
    assert_eq!((e.errno, e.level), (libc::ENOMEDIUM, Level::Warn));
    assert_eq!(
        e.message,
        "/new.txt is not on any disk yet: back it up with `dsbfs backup DISK`"
    );
}

/// Descriptors this process holds on anything below `dir`.
fn fds_below(dir: &Path) -> usize {
    let dir = std::fs::canonicalize(dir).unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.starts_with(&dir)))
        .count()
}

#[test]
fn a_disk_is_let_go_once_idle() {
    let w = world(
        |src| write(src.join("a.bin"), content(5, 9000)),
        &[("d1", None)],
    );
    let fs = core(&w);
    let fh = open_path(&fs, "a.bin");
    read_to_end(&fs, fh, CHUNK).unwrap();
    assert!(fds_below(&w.path("d1")) > 0);
    fs.release(fh);
    let start = Instant::now();
    while fds_below(&w.path("d1")) > 0 {
        assert!(
            start.elapsed() < dsbfs::fs::idle::IDLE * 3,
            "d1 is still held {:?} after its last use",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Found again at the next open.
    assert_eq!(
        read_file(&fs, node(&fs, "a.bin").ino, CHUNK).unwrap(),
        content(5, 9000)
    );
}

// ---- Passthrough: the core decides, the kernel's backing file is made once per inode ----

#[test]
fn passthrough_is_for_copies_checked_whole_with_one_backing_file_per_inode_and_falls_back_when_refused()
 {
    let w = world(
        |src| {
            write(src.join("a.bin"), content(1, 4000));
            write(src.join("b.bin"), content(2, 4000));
        },
        &[("d1", None)],
    );
    let fs: Arc<Filesystem<u32>> = core_with(&w, settings(false, true));
    fs.enable_passthrough(true);
    let made = AtomicU32::new(0);
    let make = |_: &std::fs::File| Ok(made.fetch_add(1, Ordering::SeqCst) + 1);
    let a = node(&fs, "a.bin").ino;
    // Not checked in this mount yet: read through the core, which checks it.
    let Opened::Plain(fh) = fs.open(a, libc::O_RDONLY, make).unwrap() else {
        panic!("a copy not checked in this mount is read through the core");
    };
    // Checked whole now, but a handle of the inode reads through the core: the kernel
    // refuses to mix the two on one inode.
    assert_eq!(read_to_end(&fs, fh, CHUNK).unwrap(), content(1, 4000));
    assert!(matches!(
        fs.open(a, libc::O_RDONLY, make).unwrap(),
        Opened::Plain(other) if other != fh
    ));
    fs.release(fh);
    fs.release(fh + 1);
    assert_eq!(made.load(Ordering::SeqCst), 0);
    let (Opened::Backing(fh1, b1), Opened::Backing(fh2, b2)) = (
        fs.open(a, libc::O_RDONLY, make).unwrap(),
        fs.open(a, libc::O_RDONLY, make).unwrap(),
    ) else {
        panic!("passthrough is on and the copy was checked: opens are passed through");
    };
    assert!(fh1 != fh2 && Arc::ptr_eq(&b1, &b2));
    assert_eq!(made.load(Ordering::SeqCst), 1);
    // Closed with its last handle: the next open makes a new one.
    fs.release(fh1);
    fs.release(fh2);
    drop((b1, b2));
    assert!(matches!(fs.open(a, libc::O_RDONLY, make).unwrap(), Opened::Backing(_, b) if *b == 2));
    // A kernel that cannot back this file: read through the core, passthrough stays on.
    let b = node(&fs, "b.bin").ino;
    let ask = |_: &std::fs::File| -> std::io::Result<u32> { panic!("asked for a backing file") };
    assert_eq!(read_file_with(&fs, b, ask).unwrap(), content(2, 4000));
    let einval = |_: &std::fs::File| Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    let Opened::Plain(fh) = fs.open(b, libc::O_RDONLY, einval).unwrap() else {
        panic!("a refused backing file falls back to plain reads");
    };
    assert_eq!(read_to_end(&fs, fh, CHUNK).unwrap(), content(2, 4000));
    fs.release(fh);
    let Opened::Backing(fh, backing) = fs.open(b, libc::O_RDONLY, make).unwrap() else {
        panic!("passthrough stays on after a file it could not back");
    };
    fs.release(fh);
    drop(backing);
    // Not permitted (not root): off for good, the kernel is not asked again.
    let eperm = |_: &std::fs::File| Err(std::io::Error::from_raw_os_error(libc::EPERM));
    let Opened::Plain(fh) = fs.open(b, libc::O_RDONLY, eperm).unwrap() else {
        panic!("not permitted: plain reads");
    };
    fs.release(fh);
    assert!(matches!(
        fs.open(b, libc::O_RDONLY, ask).unwrap(),
        Opened::Plain(_)
    ));
}

#[test]
fn a_copy_changed_since_it_was_checked_is_read_through_the_core_again() {
    let a = content(3, (1 << 20) + 100);
    let w = world(|src| write(src.join("a.bin"), &a), &[("d1", None)]);
    let fs: Arc<Filesystem<u32>> = core_with(&w, settings(false, true));
    fs.enable_passthrough(true);
    let ino = node(&fs, "a.bin").ino;
    let never = |_: &std::fs::File| -> std::io::Result<u32> { panic!("not checked") };
    assert!(read_file_with(&fs, ino, never).unwrap() == a);
    std::thread::sleep(Duration::from_millis(20));
    // Written to since it was checked (its ctime moved): checked again, block by block.
    rot(&object_path(&w, "d1", &a), 10);
    let Opened::Plain(fh) = fs.open(ino, libc::O_RDONLY, never).unwrap() else {
        panic!("a copy changed since it was checked is not passed through");
    };
    assert_eq!(read_to_end(&fs, fh, CHUNK).unwrap_err().errno, libc::EIO);
    fs.release(fh);
}

// ---- Catalogs from someone else ----

/// Runs SQL on a world's catalog, as someone crafting a catalog would.
fn craft(w: &World, sql: &str) {
    rusqlite::Connection::open(&w.catalog)
        .unwrap()
        .execute_batch(sql)
        .unwrap();
}

#[test]
fn crafted_files_without_content_or_of_another_size_give_eio() {
    let photo = content(6, 10_000);
    let w = world(|src| write(src.join("photo.jpg"), &photo), &[("d1", None)]);
    craft(
        &w,
        "INSERT INTO entries(id, parent, name) VALUES (9001, 1, CAST('hollow.bin' AS BLOB));
         INSERT INTO versions(entry, first_scan, kind, mode, uid, gid, mtime_ns, size)
             VALUES (9001, 1, 2, 420, 0, 0, 0, 100);
         UPDATE versions SET size = size + 1 WHERE end_scan IS NULL AND entry =
             (SELECT id FROM entries WHERE parent = 1 AND name = CAST('photo.jpg' AS BLOB));",
    );
    let fs = core(&w);
    let e = read_file(&fs, node(&fs, "hollow.bin").ino, CHUNK).unwrap_err();
    assert_eq!((e.errno, e.level), (libc::EIO, Level::Error));
    assert_eq!(
        e.message,
        "/hollow.bin has 100 bytes but no content in the catalog"
    );
    let e = read_file(&fs, node(&fs, "photo.jpg").ino, CHUNK).unwrap_err();
    assert_eq!((e.errno, e.level), (libc::EIO, Level::Error));
    assert_eq!(
        e.message,
        "/photo.jpg: the catalog records 10001 bytes but its object has 10000"
    );
}

#[test]
fn crafted_entries_that_would_loop_a_walk_are_never_children() {
    let w = world(|src| write(src.join("photo.jpg"), b"photo"), &[]);
    // Ids no inode or cookie may have, and an entry that is its own folder.
    craft(
        &w,
        "INSERT INTO entries(id, parent, name) VALUES
             (0, 1, CAST('zero' AS BLOB)), (-7, 1, CAST('negative' AS BLOB)),
             (9002, 9002, CAST('loop' AS BLOB));
         INSERT INTO versions(entry, first_scan, kind, mode, uid, gid, mtime_ns, size)
             VALUES (0, 1, 1, 493, 0, 0, 0, 0), (-7, 1, 1, 493, 0, 0, 0, 0),
                    (9002, 1, 1, 493, 0, 0, 0, 0);",
    );
    let fs = core(&w);
    let names: Vec<Vec<u8>> = children(&fs, 1).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, [b"photo.jpg"]);
    for hidden in ["zero", "negative", "loop"] {
        assert!(
            fs.lookup(1, hidden.as_bytes()).unwrap().is_none(),
            "{hidden}"
        );
    }
    // The entry that is its own folder lists itself as "." and "..", and nothing more.
    let listed: Vec<(Vec<u8>, u64)> = list_from(&fs, 9002, 0)
        .into_iter()
        .map(|(n, node, _)| (n, node.ino))
        .collect();
    assert_eq!(listed, [(b".".to_vec(), 9002), (b"..".to_vec(), 9002)]);
}

// ---- What the tree answers ----

#[test]
fn the_tree_is_read_only_and_each_wrong_request_gets_its_errno() {
    let w = world(
        |src| {
            write(src.join("docs/private.txt"), b"mine");
            std::fs::set_permissions(
                src.join("docs/private.txt"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
            std::os::unix::fs::symlink("docs", src.join("link")).unwrap();
        },
        &[("d1", None)],
    );
    let fs = core(&w);
    let file = node(&fs, "docs/private.txt");
    let quiet = |r: Result<Opened<()>, FsError>| {
        let e = r.unwrap_err();
        assert_eq!(e.level, Level::Quiet, "{e}");
        e.errno
    };
    for flags in [libc::O_WRONLY, libc::O_RDWR, libc::O_RDONLY | libc::O_TRUNC] {
        assert_eq!(quiet(fs.open(file.ino, flags, no_kernel)), libc::EROFS);
    }
    assert_eq!(
        quiet(fs.open(node(&fs, "docs").ino, libc::O_RDONLY, no_kernel)),
        libc::EISDIR
    );
    assert_eq!(
        quiet(fs.open(node(&fs, "link").ino, libc::O_RDONLY, no_kernel)),
        libc::EINVAL
    );
    assert_eq!(fs.readlink(node(&fs, "link").ino).unwrap(), b"docs");
    assert_eq!(fs.readlink(file.ino).unwrap_err().errno, libc::EINVAL);
    let not_dir = fs.readdir(file.ino, 0, |_| false).unwrap_err();
    assert_eq!(not_dir.errno, libc::ENOTDIR);
    // access(2): writing never, reading as the mode bits say.
    let (uid, gid) = (file.uid, file.gid);
    assert_eq!(
        fs.access(file.ino, uid, gid, libc::W_OK).unwrap_err().errno,
        libc::EROFS
    );
    assert!(fs.access(file.ino, uid, gid, libc::R_OK).is_ok());
    let other = fs
        .access(file.ino, uid + 1, gid + 1, libc::R_OK)
        .unwrap_err();
    assert_eq!((other.errno, other.level), (libc::EACCES, Level::Quiet));
    // No such inode, name or handle: quiet answers; a name that is not there is an
    // absence the kernel may remember, a name no folder may hold is not even that.
    assert_eq!(fs.getattr(987_654).unwrap_err(), FsError::not_found());
    assert!(fs.lookup(1, b"missing").unwrap().is_none());
    assert_eq!(
        fs.lookup(1, b"docs/private.txt").unwrap_err(),
        FsError::not_found()
    );
    let e = fs.reader(424_242).err().unwrap();
    assert_eq!((e.errno, e.level), (libc::EBADF, Level::Quiet));
    // Reads past the end are empty.
    let fh = fs.open(file.ino, libc::O_RDONLY, no_kernel).unwrap().fh();
    let reader = fs.reader(fh).unwrap();
    assert_eq!(fs.read(&reader, 2, CHUNK, &mut Vec::new()).unwrap(), b"ne");
    assert!(
        fs.read(&reader, 4, CHUNK, &mut Vec::new())
            .unwrap()
            .is_empty()
    );
    assert!(
        fs.read(&reader, 1 << 40, CHUNK, &mut Vec::new())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn listings_resume_after_every_cookie_whatever_the_room_per_reply() {
    let w = world(
        |src| {
            // More children than one catalog page, with names from 1 to 255 bytes.
            for i in 0..700usize {
                let mut name = format!("{i:04}-").into_bytes();
                name.resize(5 + (i * 37) % 251, b"x\n\xe9 "[i % 4]);
                write(src.join("many").join(OsStr::from_bytes(&name)), b"");
            }
        },
        &[],
    );
    let fs = core(&w);
    let many = node(&fs, "many").ino;
    let all = list_from(&fs, many, 0);
    assert_eq!(all.len(), 702);
    let cookies: HashSet<u64> = all.iter().map(|(_, _, c)| *c).collect();
    assert_eq!(cookies.len(), all.len(), "cookies are unique");
    // From any cookie: exactly what follows it.
    for i in (0..all.len()).step_by(13) {
        let rest = list_from(&fs, many, all[i].2);
        assert!(
            rest.iter()
                .map(|e| &e.0)
                .eq(all[i + 1..].iter().map(|e| &e.0)),
            "after {i}"
        );
    }
    // As the kernel reads it: replies with room for `room` entries, each resumed after
    // the last one taken.
    for room in [1, 7, 100, 255, 256, 257] {
        let (mut got, mut offset) = (Vec::new(), 0);
        loop {
            let mut reply = Vec::new();
            fs.readdir(many, offset, |e| {
                if reply.len() == room {
                    return true;
                }
                reply.push((e.name.to_vec(), e.cookie));
                false
            })
            .unwrap();
            let Some(&(_, last)) = reply.last() else {
                break;
            };
            offset = last;
            got.extend(reply.into_iter().map(|(n, _)| n));
        }
        assert!(got.iter().eq(all.iter().map(|e| &e.0)), "room {room}");
    }
}

#[test]
fn xattrs_are_served_by_name_only_and_are_off_by_default() {
    let photo = content(8, 3000);
    let w = world(
        |src| {
            write(src.join("photo.jpg"), &photo);
            write(src.join("empty.txt"), b"");
        },
        &[("d1", None), ("d2", None)],
    );
    let fs: Fs = core_with(&w, settings(true, false));
    let p = node(&fs, "photo.jpg").ino;
    let hex = dsbfs::util::hex(&dsbfs::scan::hash::sha256(&photo));
    let sha = b"user.dsbfs.sha256";
    assert_eq!(fs.getxattr(p, sha, 0).unwrap(), Xattr::Size(64));
    assert_eq!(
        fs.getxattr(p, sha, 64).unwrap(),
        Xattr::Data(hex.into_bytes())
    );
    assert_eq!(fs.getxattr(p, sha, 63).unwrap_err().errno, libc::ERANGE);
    assert_eq!(
        fs.getxattr(p, b"user.dsbfs.disks", 100).unwrap(),
        Xattr::Data(b"d1,d2".to_vec())
    );
    assert_eq!(
        fs.getxattr(p, b"user.dsbfs.copies", 100).unwrap(),
        Xattr::Data(b"2".to_vec())
    );
    let empty = node(&fs, "empty.txt").ino;
    let empty_sha = dsbfs::util::hex(&dsbfs::scan::hash::sha256(b""));
    assert_eq!(
        fs.getxattr(empty, sha, 100).unwrap(),
        Xattr::Data(empty_sha.into_bytes())
    );
    // What the kernel asks of every file is answered quietly; nothing is listed.
    let e = fs.getxattr(p, b"security.selinux", 100).unwrap_err();
    assert_eq!((e.errno, e.level), (libc::ENODATA, Level::Quiet));
    assert_eq!(fs.getxattr(1, sha, 100).unwrap_err().errno, libc::ENODATA);
    assert_eq!(fs.listxattr(p, 0).unwrap(), Xattr::Size(0));
    // Off (the default): ENOSYS, after which the kernel stops asking.
    let off = core(&w);
    assert_eq!(off.getxattr(p, sha, 100).unwrap_err().errno, libc::ENOSYS);
    assert_eq!(off.listxattr(p, 100).unwrap_err().errno, libc::ENOSYS);
}

#[test]
fn inodes_are_entry_ids_shared_by_hard_links_and_stable_across_scans_and_mounts() {
    let w = world(
        |src| {
            write(src.join("a.txt"), b"linked");
            std::fs::hard_link(src.join("a.txt"), src.join("b.txt")).unwrap();
            write(src.join("dir/c.txt"), b"c");
        },
        &[],
    );
    let first = core(&w);
    let ino = |fs: &Fs, p: &str| node(fs, p).ino;
    let (a, b, c) = (
        ino(&first, "a.txt"),
        ino(&first, "b.txt"),
        ino(&first, "dir/c.txt"),
    );
    assert_eq!(a, b);
    assert_eq!(
        (node(&first, "a.txt").nlink, node(&first, "b.txt").nlink),
        (2, 2)
    );
    let conn = rusqlite::Connection::open(&w.catalog).unwrap();
    let entry_of = |name: &str| -> u64 {
        conn.query_row(
            "SELECT id FROM entries WHERE name = CAST(?1 AS BLOB)",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as u64
    };
    assert_eq!(c, entry_of("c.txt"));
    assert_eq!(a, entry_of("a.txt").min(entry_of("b.txt")));
    // A new scan: a mount made now shows it with the same inodes; one made before
    // keeps showing its own scan.
    write(w.path("src/new.txt"), b"new");
    w.ok(["scan", "-q"]);
    let second = core(&w);
    assert_eq!((ino(&second, "a.txt"), ino(&second, "dir/c.txt")), (a, c));
    assert!(resolve(&second, b"new.txt").unwrap().is_some());
    assert!(resolve(&first, b"new.txt").unwrap().is_none());
}

// ---- Snapshots: `-o snapshot=` and `-o history` ----

/// A world with two snapshots: the tree `first` made, scanned and backed up to d1; then
/// `change` applied to the source, scanned and backed up again. Returns a copy of the
/// first tree (cp -a) beside the source.
fn two_snapshots(first: impl FnOnce(&Path), change: impl FnOnce(&Path)) -> World {
    let w = world(first, &[("d1", None)]);
    let old = w.path("old");
    let copied = std::process::Command::new("cp")
        .args(["-a".as_ref(), w.path("src").as_os_str(), old.as_os_str()])
        .status()
        .unwrap();
    assert!(copied.success());
    change(&w.path("src"));
    w.ok(["scan", "-q"]);
    w.ok(["backup", "d1", "-q"]);
    w
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, max_shrink_iters: 32, ..ProptestConfig::default() })]

    /// Random trees, changed at random: `-o snapshot=1` answers what the first tree
    /// held, and `-o history` holds both trees side by side.
    #[test]
    fn a_past_snapshot_answers_what_the_source_held_then(
        before in tree(),
        after in tree(),
    ) {
        let w = two_snapshots(
            |src| materialize(src, &before),
            |src| {
                for e in std::fs::read_dir(src).unwrap() {
                    let p = e.unwrap().path();
                    let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755));
                    if p.is_dir() && !p.is_symlink() {
                        let _ = std::process::Command::new("chmod").args(["-R".as_ref(), "u+rwx".as_ref(), p.as_os_str()]).status();
                        std::fs::remove_dir_all(&p).unwrap();
                    } else {
                        std::fs::remove_file(&p).unwrap();
                    }
                }
                materialize(src, &after);
            },
        );
        let old: Fs = core_showing(&w, settings(false, false), &Show::Snapshot("1".into()));
        let mut seen = Seen::default();
        compare(&old, &w.path("old"), 1, CHUNK, &mut seen);
        let history: Fs = core_showing(&w, settings(false, false), &Show::History);
        let folders = children(&history, 1);
        prop_assert_eq!(folders.len(), 3);
        prop_assert_eq!(&folders[2].0, b"latest");
        let mut seen = Seen::default();
        compare(&history, &w.path("old"), folders[0].1.ino, CHUNK, &mut seen);
        compare(&history, &w.path("src"), folders[1].1.ino, CHUNK, &mut seen);
    }
}

#[test]
fn history_shows_a_folder_per_snapshot_named_by_local_time_and_latest() {
    let w = two_snapshots(
        |src| {
            write(src.join("kept.txt"), b"the same in both");
            write(src.join("note.md"), b"old note");
            write(src.join("gone/a.txt"), b"deleted later");
        },
        |src| {
            write(src.join("note.md"), b"new note, longer");
            std::fs::remove_dir_all(src.join("gone")).unwrap();
        },
    );
    let fs = core_showing::<()>(&w, settings(false, false), &Show::History);
    let root = children(&fs, 1);
    let names: Vec<String> = root
        .iter()
        .map(|(n, _)| String::from_utf8(n.clone()).unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    // Local time to the second; a second snapshot within the same second gets `_ID`.
    let stamp = |n: &str| {
        n.len() >= 19
            && n.as_bytes()[10] == b'T'
            && n[..19].parse::<jiff::civil::DateTime>().is_ok()
    };
    assert!(stamp(&names[0]) && stamp(&names[1]), "{names:?}");
    assert!(names[0] <= names[1], "sorted by name is sorted by time");
    assert_eq!(names[2], "latest");
    let latest = &root[2].1;
    assert_eq!(latest.kind, Kind::Symlink);
    let target = fs.readlink(latest.ino).unwrap();
    assert_eq!(
        target,
        names[1].as_bytes(),
        "latest points at the newest snapshot"
    );
    // The same path in two snapshots: two inodes, each with its own attributes, stable.
    let old = node(&fs, &format!("{}/note.md", names[0]));
    let new = node(&fs, &format!("{}/note.md", names[1]));
    assert_ne!(old.ino, new.ino);
    assert_eq!((old.size, new.size), (8, 16));
    assert_eq!(fs.getattr(old.ino).unwrap().size, 8);
    assert_eq!(read_file(&fs, old.ino, CHUNK).unwrap(), b"old note");
    assert_eq!(read_file(&fs, new.ino, CHUNK).unwrap(), b"new note, longer");
    let kept = (
        node(&fs, &format!("{}/kept.txt", names[0])).ino,
        node(&fs, &format!("{}/kept.txt", names[1])).ino,
    );
    assert_ne!(kept.0, kept.1);
    assert!(
        resolve(&fs, format!("{}/gone/a.txt", names[0]).as_bytes())
            .unwrap()
            .is_some()
    );
    assert!(
        resolve(&fs, format!("{}/gone", names[1]).as_bytes())
            .unwrap()
            .is_none()
    );
    // Every inode is unique within the mount, and ".." leads back up.
    let mut inos = HashSet::new();
    for (_, n) in &root {
        assert!(inos.insert(n.ino));
        if n.kind == Kind::Dir {
            assert_eq!(list_from(&fs, n.ino, 0)[1].1.ino, 1);
            for (_, c) in children(&fs, n.ino) {
                assert!(inos.insert(c.ino), "inode {} twice", c.ino);
            }
        }
    }
    // Listings resume after any cookie at the root too.
    let all = list_from(&fs, 1, 0);
    for (i, (_, _, cookie)) in all.iter().enumerate() {
        let rest: Vec<Vec<u8>> = list_from(&fs, 1, *cookie)
            .into_iter()
            .map(|e| e.0)
            .collect();
        let want: Vec<Vec<u8>> = all[i + 1..].iter().map(|e| e.0.clone()).collect();
        assert_eq!(rest, want);
    }
}

#[test]
fn snapshots_are_chosen_by_id_or_date_and_a_wrong_one_is_refused() {
    let w = two_snapshots(
        |src| write(src.join("a.txt"), b"one"),
        |src| write(src.join("a.txt"), b"two!"),
    );
    let size = |show: Show| {
        node(
            &core_showing::<()>(&w, settings(false, false), &show),
            "a.txt",
        )
        .size
    };
    assert_eq!(size(Show::Snapshot("1".into())), 3);
    assert_eq!(size(Show::Snapshot("2".into())), 4);
    assert_eq!(size(Show::Snapshot("latest".into())), 4);
    assert_eq!(size(Show::Snapshot("2999-01-01".into())), 4);
    assert_eq!(size(Show::Latest), 4);
    for bad in ["3", "1999-01-01", "soon"] {
        let e = View::open(&w.catalog, &Show::Snapshot(bad.into()))
            .err()
            .expect(bad)
            .to_string();
        assert!(e.contains("snapshot"), "{bad}: {e}");
    }
}

#[test]
fn an_old_version_no_disk_holds_says_it_cannot_be_read_not_to_back_it_up() {
    // Scanned, changed and scanned again before any backup: the first version never
    // reached a disk.
    let w = world(|src| write(src.join("a.txt"), b"first"), &[]);
    write(w.path("src/a.txt"), b"second");
    w.ok(["scan", "-q"]);
    w.ok([
        "disk",
        "add",
        "--create",
        "d1",
        w.path("d1").to_str().unwrap(),
    ]);
    w.ok(["backup", "d1", "-q"]);
    let fs: Fs = core_showing(&w, settings(false, false), &Show::Snapshot("1".into()));
    let e = fs
        .open(node(&fs, "a.txt").ino, libc::O_RDONLY, no_kernel)
        .unwrap_err();
    assert_eq!(e.errno, libc::ENOMEDIUM);
    assert!(
        e.message.contains("an old version that no disk holds"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("back it up"), "{}", e.message);
    let now: Fs = core(&w);
    assert_eq!(
        read_file(&now, node(&now, "a.txt").ino, CHUNK).unwrap(),
        b"second"
    );
}
