//! Small helpers shared by every command: byte paths, sizes, hex, durable writes.

use anyhow::{Context, Result, bail};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Hex digits of a SHA-256.
pub const HASH_HEX_LEN: usize = 64;

/// Parses a hex SHA-256 ([`HASH_HEX_LEN`] lowercase or uppercase hex digits).
pub fn parse_hash(s: &str) -> Option<[u8; 32]> {
    if s.len() != HASH_HEX_LEN {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(chunk[0])? * 16 + digit(chunk[1])?) as u8;
    }
    Some(out)
}

/// The largest size dsbfs takes: sizes are stored as SQLite integers (`i64`), and no
/// disk comes near 8 EiB.
pub const MAX_SIZE: u64 = i64::MAX as u64;

/// Parses sizes like `950M`, `1.5T`, `500G`, `4096` (binary units: K = 1024). Whole
/// numbers are exact; a size of 8 EiB or more (what cannot be a disk, or overflows) is
/// refused rather than clamped.
pub fn parse_size(s: &str) -> Result<u64> {
    let not_a_size = || anyhow::anyhow!("{s:?} is not a size; write it like 500G, 1.5T or 950M");
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        "P" => 50,
        "E" => 60,
        _ => return Err(not_a_size()),
    };
    let num = num.trim();
    let bytes = if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u128 is too large, like any other overflow.
        num.parse::<u128>()
            .ok()
            .and_then(|v| v.checked_mul(1 << shift))
            .and_then(|v| u64::try_from(v).ok())
            .filter(|&v| v <= MAX_SIZE)
    } else {
        let value: f64 = num
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(not_a_size)?;
        let bytes = value * (1u64 << shift) as f64;
        // `MAX_SIZE as f64` rounds up to 2^63, the first size refused.
        (bytes < MAX_SIZE as f64).then_some(bytes as u64)
    };
    bytes.ok_or_else(|| anyhow::anyhow!("{s:?} is too large: no disk holds 8 EiB or more"))
}

/// Formats bytes for people, in IEC units (powers of 1024, as `--size` reads them):
/// `1.50 GiB`, `950 MiB`, `12.0 KiB`, `800 B`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else if v < 10.0 {
        format!("{v:.2} {}", UNITS[u])
    } else if v < 100.0 {
        format!("{v:.1} {}", UNITS[u])
    } else {
        format!("{v:.0} {}", UNITS[u])
    }
}

/// A count and its noun, plural unless the count is 1: `1 file`, `2 files`,
/// `3 copies`. The noun's last word is the one made plural.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        return format!("1 {noun}");
    }
    let plural = match noun.strip_suffix('y') {
        Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{stem}ies"),
        _ if noun.ends_with(['s', 'x']) || noun.ends_with("sh") || noun.ends_with("ch") => {
            format!("{noun}es")
        }
        _ => format!("{noun}s"),
    };
    format!("{n} {plural}")
}

/// Normalises a virtual path: absolute, no `.`/`..`/empty components, no trailing slash.
pub fn normalize_vpath(raw: &[u8]) -> Result<Vec<u8>> {
    if raw.first() != Some(&b'/') {
        bail!(
            "virtual path {:?} must start with / (for example /photos)",
            String::from_utf8_lossy(raw)
        );
    }
    let mut out = Vec::new();
    for c in raw.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        if c == b"." || c == b".." {
            bail!(
                "virtual path {:?} may not contain . or ..",
                String::from_utf8_lossy(raw)
            );
        }
        out.push(b'/');
        out.extend_from_slice(c);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    Ok(out)
}

/// True when `inner` is `outer` or lies below it (both normalised).
pub fn vpath_within(inner: &[u8], outer: &[u8]) -> bool {
    outer == b"/"
        || inner == outer
        || (inner.starts_with(outer) && inner.get(outer.len()) == Some(&b'/'))
}

/// Joins a virtual folder path and a child name.
pub fn vpath_join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if p.last() != Some(&b'/') {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

pub fn display_bytes(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn path_bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

pub fn ser_bytes<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(b))
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A unix time as RFC 3339, in UTC (`2026-12-01T06:25:59Z`): how JSON writes times.
pub fn rfc3339(t: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64),
    )
    .to_string()
}

/// Serializes a unix time as [`rfc3339`].
pub fn ser_time<S: serde::Serializer>(t: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// Serializes a unix time, if any, as [`rfc3339`] (else null).
pub fn ser_opt_time<S: serde::Serializer>(t: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

/// A unix time for people (UTC), or "never".
pub fn format_time(t: Option<i64>) -> String {
    match t {
        Some(t) => humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64),
        )
        .to_string()
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_string(),
        None => "never".into(),
    }
}

pub fn fsync_path(p: &Path) -> Result<()> {
    File::open(p)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync {}", p.display()))
}

/// Makes a rename or create inside `p`'s folder durable.
pub fn fsync_parent(p: &Path) -> Result<()> {
    match p.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => fsync_path(dir),
        _ => fsync_path(Path::new(".")),
    }
}

/// Copies are made durable in batches, one sync for many files (a sync per file would
/// wait for the device each time): a batch is synced once it is this old, or once it
/// holds [`SYNC_BATCH_BYTES`], whichever comes first.
pub const SYNC_BATCH_TIME: std::time::Duration = std::time::Duration::from_secs(1);
pub const SYNC_BATCH_BYTES: u64 = 256 << 20;

/// Threads for work that keeps every core busy (hashing, copying): one per core.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Alignment of the copy buffer: what `O_DIRECT` asks of buffers, offsets and lengths.
pub const DIRECT_ALIGN: usize = 4096;
/// One checked block: readers of objects hand out a block at a time (`store::checked`).
const COPY_BUFFER: usize = crate::store::BLOCK as usize;

/// Runs `f` with this thread's 1 MiB copy buffer, aligned for `O_DIRECT`: copying many
/// small files must not allocate (and fault in) a fresh megabyte for each.
pub fn with_copy_buffer<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> =
            std::cell::RefCell::new(vec![0u8; COPY_BUFFER + DIRECT_ALIGN]);
    }
    BUF.with_borrow_mut(|b| {
        let start = b.as_ptr().align_offset(DIRECT_ALIGN);
        f(&mut b[start..start + COPY_BUFFER])
    })
}

/// A byte progress bar drawn with `template`, or a hidden one when `show` is false.
pub fn progress_bar(total: u64, template: &str, show: bool) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(total);
    pb.set_style(indicatif::ProgressStyle::with_template(template).expect("valid template"));
    pb
}

/// Opens `path` relative to `dir`, refusing to leave `dir` or to follow any symlink on
/// the way: what keeps a crafted disk or catalog from reaching outside its folder.
pub fn open_beneath(
    dir: impl std::os::fd::AsFd,
    path: &(impl nix::NixPath + ?Sized),
    flags: nix::fcntl::OFlag,
    mode: u32,
) -> nix::Result<std::os::fd::OwnedFd> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
        .mode(nix::sys::stat::Mode::from_bits_truncate(mode))
        .resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
    nix::fcntl::openat2(dir, path, how)
}

/// Writes a small file atomically: temp name, fsync, rename, fsync the folder.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    fsync_parent(path)
}

/// Whether every page of the first `len` bytes of `file` is in the page cache now,
/// by `cachestat(2)` (Linux 6.5; it needs the caller to own the file, may write it, or
/// be root). False when that cannot be told. Nothing is read.
pub fn in_page_cache(file: &File, len: u64) -> bool {
    use std::os::fd::AsRawFd;
    /// cachestat's number, the same on every architecture (libc names it only on some).
    const SYS_CACHESTAT: libc::c_long = 451;
    #[repr(C)]
    struct Range {
        off: u64,
        len: u64,
    }
    #[repr(C)]
    #[derive(Default)]
    struct Cachestat {
        nr_cache: u64,
        nr_dirty: u64,
        nr_writeback: u64,
        nr_evicted: u64,
        nr_recently_evicted: u64,
    }
    if len == 0 {
        return true;
    }
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |p| p as u64);
    let range = Range { off: 0, len };
    let mut stat = Cachestat::default();
    // SAFETY: the kernel reads `range` and writes `stat`, both live and of the layout
    // cachestat(2) defines; the descriptor is open for the call.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            &range as *const Range,
            &mut stat as *mut Cachestat,
            0u32,
        )
    };
    rc == 0 && stat.nr_cache >= len.div_ceil(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_people_write_them() {
        assert_eq!(parse_size("500G").unwrap(), 500 << 30);
        assert_eq!(parse_size("1.5T").unwrap(), 3 << 39);
        assert_eq!(parse_size("950M").unwrap(), 950 << 20);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("-1G").is_err());
        assert!(parse_size("5X").is_err());
    }

    #[test]
    fn sizes_no_disk_can_have_are_refused_not_clamped() {
        assert_eq!(parse_size("9007199254740993").unwrap(), 9007199254740993);
        assert_eq!(parse_size("7E").unwrap(), 7 << 60);
        assert_eq!(parse_size(&MAX_SIZE.to_string()).unwrap(), MAX_SIZE);
        assert_eq!(
            parse_size("7.99E").unwrap(),
            (7.99 * (1u64 << 60) as f64) as u64
        );
        for big in [
            "99999999999999999999T",
            "9223372036854775808",
            "18446744073709551616",
            "999999999999999999999999999999999999999999",
            "8E",
            "8.0E",
            "8192P",
            "16777216T",
        ] {
            let err = parse_size(big).unwrap_err().to_string();
            assert!(
                err.contains("too large") && err.contains("8 EiB"),
                "{big}: {err}"
            );
        }
        for junk in ["1e300", "inf", "NaN", ".", ""] {
            let err = parse_size(junk).unwrap_err().to_string();
            assert!(err.contains("not a size"), "{junk}: {err}");
        }
    }

    #[test]
    fn sizes_print_in_iec_units() {
        assert_eq!(format_size(800), "800 B");
        assert_eq!(format_size(12 << 10), "12.0 KiB");
        assert_eq!(format_size(950 << 20), "950 MiB");
        assert_eq!(format_size(3 << 29), "1.50 GiB");
        assert_eq!(format_size(2 << 40), "2.00 TiB");
        assert_eq!(format_size(parse_size("2T").unwrap()), "2.00 TiB");
        assert_eq!(format_size(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn counts_agree_with_their_number() {
        assert_eq!(count(1u64, "file"), "1 file");
        assert_eq!(count(0u64, "file"), "0 files");
        assert_eq!(count(2u64, "copy"), "2 copies");
        assert_eq!(count(1u64, "copy"), "1 copy");
        assert_eq!(count(3u64, "hard link"), "3 hard links");
        assert_eq!(count(2u64, "day"), "2 days");
        assert_eq!(count(2u64, "unknown file"), "2 unknown files");
    }

    #[test]
    fn vpaths_normalise_and_reject_dots() {
        assert_eq!(normalize_vpath(b"/a//b/").unwrap(), b"/a/b");
        assert_eq!(normalize_vpath(b"/").unwrap(), b"/");
        assert!(normalize_vpath(b"a/b").is_err());
        assert!(normalize_vpath(b"/a/../b").is_err());
        assert!(vpath_within(b"/a/b", b"/a"));
        assert!(!vpath_within(b"/ab", b"/a"));
        assert!(vpath_within(b"/x", b"/"));
    }

    #[test]
    fn hex_round_trips() {
        let h = [0xabu8; 32];
        assert_eq!(parse_hash(&hex(&h)), Some(h));
        assert_eq!(parse_hash("zz"), None);
    }

    #[test]
    fn a_file_just_written_is_in_the_page_cache_and_bytes_past_its_end_are_not() {
        use std::io::Write;
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&vec![1u8; 100_000]).unwrap();
        assert!(in_page_cache(&f, 100_000));
        assert!(in_page_cache(&f, 0));
        assert!(!in_page_cache(&f, 1 << 30));
    }
}
