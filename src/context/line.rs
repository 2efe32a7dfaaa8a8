//! One line of a restore context, and its header: pure text in, values out.
//!
//! A line holds eleven fields separated by tabs, none ever empty (`-` means none):
//! `kind mode uid gid mtime size sha256 link object target path`. See doc/DISK-FORMAT.md.

use super::escape::{escape, escape_into, unescape};
use crate::catalog::Kind;
use crate::util::{hex, parse_hash};
use anyhow::{Context, Result, bail};

/// The format this build writes and reads.
pub const FORMAT: u32 = 1;

pub const COLUMNS: [&str; 11] = [
    "kind", "mode", "uid", "gid", "mtime", "size", "sha256", "link", "object", "target", "path",
];

/// What a context says about one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The virtual path, `/` or `/a/b`.
    pub path: Vec<u8>,
    pub kind: Kind,
    /// Permission bits (`st_mode & 07777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime_ns: i64,
    pub size: u64,
    /// The content's SHA-256 (files only).
    pub hash: Option<[u8; 32]>,
    /// (device, inode) shared by the names of one hard-linked file.
    pub link: Option<(u64, u64)>,
    /// The object is on the disk the context describes.
    pub on_disk: bool,
    /// A symlink's target.
    pub target: Option<Vec<u8>>,
}

/// The object's path below a disk's folder: `objects/ab/abcdef…`.
pub fn object_path(hash: &[u8; 32]) -> String {
    let (fan, name) = crate::store::object_name(hash);
    format!("{}/{fan}/{name}", crate::store::OBJECTS_DIR)
}

fn kind_letter(kind: Kind) -> char {
    match kind {
        Kind::Dir => 'd',
        Kind::File => 'f',
        Kind::Symlink => 'l',
    }
}

/// `seconds.nanoseconds`, signed as a whole (`-1.500000000` is 1.5 s before 1970), as
/// `touch -d @…` reads it.
pub fn format_mtime(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let abs = ns.unsigned_abs();
    format!("{sign}{}.{:09}", abs / 1_000_000_000, abs % 1_000_000_000)
}

fn parse_mtime(s: &str) -> Option<i64> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (secs, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if secs.is_empty()
        || frac.len() > 9
        || !(secs.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let nanos: i64 = format!("{frac:0<9}").parse().ok()?;
    let total = secs
        .parse::<i64>()
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(nanos)?;
    Some(if negative { -total } else { total })
}

/// The line for `e`, without its newline.
pub fn format(e: &Entry) -> String {
    let mut out = String::new();
    format_into(&mut out, e);
    out
}

/// Appends the line for `e`, without its newline, to `out` (one buffer for a whole
/// context of millions of lines).
pub fn format_into(out: &mut String, e: &Entry) {
    use std::fmt::Write;
    let dash = |out: &mut String, present: bool| {
        if !present {
            out.push('-');
        }
    };
    let _ = write!(
        out,
        "{}\t{:04o}\t{}\t{}\t{}\t{}\t",
        kind_letter(e.kind),
        e.mode,
        e.uid,
        e.gid,
        format_mtime(e.mtime_ns),
        e.size
    );
    if let Some(h) = &e.hash {
        out.push_str(&hex(h));
    }
    dash(out, e.hash.is_some());
    out.push('\t');
    if let Some((dev, ino)) = e.link {
        let _ = write!(out, "{dev}:{ino}");
    }
    dash(out, e.link.is_some());
    out.push('\t');
    let object = e.hash.filter(|_| e.on_disk);
    if let Some(h) = &object {
        out.push_str(&object_path(h));
    }
    dash(out, object.is_some());
    out.push('\t');
    match &e.target {
        Some(t) => escape_into(out, t),
        None => out.push('-'),
    }
    out.push('\t');
    escape_into(out, &e.path);
}

/// Reads one line (not a comment) back.
pub fn parse(line: &str) -> Result<Entry> {
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() != COLUMNS.len() {
        bail!(
            "{} fields instead of {} ({})",
            f.len(),
            COLUMNS.len(),
            COLUMNS.join(" ")
        );
    }
    let field = |i: usize| (f[i] != "-").then_some(f[i]);
    let number = |i: usize| -> Result<u64> {
        f[i].parse()
            .with_context(|| format!("{} {:?} is not a number", COLUMNS[i], f[i]))
    };
    let kind = match f[0] {
        "d" => Kind::Dir,
        "f" => Kind::File,
        "l" => Kind::Symlink,
        other => bail!("kind {other:?} is none of d, f, l"),
    };
    let mode = u32::from_str_radix(f[1], 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .with_context(|| format!("mode {:?} is not octal permission bits", f[1]))?;
    let hash = field(6)
        .map(|h| parse_hash(h).with_context(|| format!("sha256 {h:?} is not 64 hex digits")))
        .transpose()?;
    let link = field(7)
        .map(|l| {
            l.split_once(':')
                .and_then(|(d, i)| Some((d.parse().ok()?, i.parse().ok()?)))
                .with_context(|| format!("link {l:?} is not DEVICE:INODE"))
        })
        .transpose()?;
    let on_disk = match (field(8), hash) {
        (None, _) => false,
        (Some(o), Some(h)) if o == object_path(&h) => true,
        (Some(o), _) => bail!("object {o:?} is not the name of the sha256 given"),
    };
    let path = unescape(f[10])?;
    if path.first() != Some(&b'/') {
        bail!("path {:?} does not start with /", f[10]);
    }
    if kind != Kind::File && (hash.is_some() || link.is_some()) {
        bail!("only files have a sha256 or a link");
    }
    Ok(Entry {
        path,
        kind,
        mode,
        uid: u32::try_from(number(2)?).context("uid out of range")?,
        gid: u32::try_from(number(3)?).context("gid out of range")?,
        mtime_ns: parse_mtime(f[4])
            .with_context(|| format!("mtime {:?} is not SECONDS.NANOSECONDS", f[4]))?,
        size: number(5)?,
        hash,
        link,
        on_disk,
        target: field(9).map(unescape).transpose()?,
    })
}

/// What the header says: the snapshot the lines describe and the disk whose objects
/// the `object` column names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub snapshot: Option<(i64, i64)>,
    /// (name, uuid)
    pub disk: Option<(String, String)>,
}

/// The header lines, each starting with `#`.
pub fn format_header(h: &Header) -> String {
    let mut out = format!(
        "# dsbfs restore context: one line per path, fields separated by tabs; see DISK-FORMAT.md\n#format\t{FORMAT}\n"
    );
    if let Some((id, time)) = h.snapshot {
        out += &format!(
            "#snapshot\t{id}\t{time}\t{}\n",
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(time.max(0) as u64)
            )
        );
    }
    if let Some((name, uuid)) = &h.disk {
        out += &format!(
            "#disk\t{}\t{}\n",
            escape(name.as_bytes()),
            escape(uuid.as_bytes())
        );
    }
    out + "#" + &COLUMNS.join("\t") + "\n"
}

/// Takes a comment line into `h`: `#format`, `#snapshot` and `#disk` are read, other
/// comments skipped.
pub fn parse_header_line(line: &str, h: &mut Header) -> Result<()> {
    let f: Vec<&str> = line.split('\t').collect();
    let text = |s: &str| -> Result<String> { String::from_utf8(unescape(s)?).context("not UTF-8") };
    match f.as_slice() {
        ["#format", v] => {
            let v: u32 = v.parse().context("the format is not a number")?;
            if v > FORMAT {
                bail!(
                    "the context is in format {v}; this dsbfs reads up to {FORMAT}: upgrade dsbfs"
                );
            }
        }
        ["#snapshot", id, time, ..] => {
            h.snapshot = Some((
                id.parse().context("bad snapshot id")?,
                time.parse().context("bad snapshot time")?,
            ));
        }
        ["#disk", name, uuid] => h.disk = Some((text(name)?, text(uuid)?)),
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Entry {
        Entry {
            path: b"/photos/new\nline \\ 100%.jpg".to_vec(),
            kind: Kind::File,
            mode: 0o4755,
            uid: 1000,
            gid: 100,
            mtime_ns: 1_500_000_000_123_456_789,
            size: 5000,
            hash: Some([0xab; 32]),
            link: Some((2049, 1234567)),
            on_disk: true,
            target: None,
        }
    }

    #[test]
    fn a_line_is_eleven_tab_separated_fields_and_reads_back() {
        let e = file();
        let line = format(&e);
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 11);
        assert_eq!(
            &fields[..6],
            ["f", "4755", "1000", "100", "1500000000.123456789", "5000"]
        );
        assert_eq!(fields[8], format!("objects/ab/{}", "ab".repeat(32)));
        assert_eq!(fields[10], "/photos/new\\012line \\\\ 100\\045.jpg");
        assert_eq!(parse(&line).unwrap(), e);
        let off_disk = Entry {
            on_disk: false,
            link: None,
            ..file()
        };
        assert_eq!(format(&off_disk).split('\t').nth(8), Some("-"));
        assert_eq!(parse(&format(&off_disk)).unwrap(), off_disk);
        let link = Entry {
            kind: Kind::Symlink,
            hash: None,
            link: None,
            on_disk: false,
            mode: 0o777,
            target: Some(b"-".to_vec()),
            ..file()
        };
        assert_eq!(parse(&format(&link)).unwrap(), link);
    }

    #[test]
    fn times_before_1970_and_partial_fractions_read_as_people_write_them() {
        for ns in [
            0,
            1,
            -1,
            -1_500_000_000,
            i64::MAX,
            i64::MIN + 1,
            999_999_999,
        ] {
            assert_eq!(parse_mtime(&format_mtime(ns)), Some(ns), "{ns}");
        }
        assert_eq!(format_mtime(-1_500_000_000), "-1.500000000");
        assert_eq!(parse_mtime("12.5"), Some(12_500_000_000));
        assert_eq!(parse_mtime("12"), Some(12_000_000_000));
        for bad in ["", ".5", "1.2.3", "1e9", "1.0000000001", "+1"] {
            assert_eq!(parse_mtime(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let good = format(&file());
        let with = |i: usize, v: &str| {
            let mut f: Vec<&str> = good.split('\t').collect();
            f[i] = v;
            parse(&f.join("\t")).unwrap_err().to_string()
        };
        assert!(with(0, "x").contains("kind"));
        assert!(with(1, "0999").contains("mode"));
        assert!(with(4, "yesterday").contains("mtime"));
        assert!(with(6, "abc").contains("sha256"));
        assert!(with(8, "objects/00/00").contains("not the name"));
        assert!(with(10, "relative").contains("start with /"));
        assert!(parse("f\t0644").unwrap_err().to_string().contains("fields"));
    }

    #[test]
    fn the_header_names_snapshot_and_disk() {
        let h = Header {
            snapshot: Some((7, 1_764_000_000)),
            disk: Some(("red".into(), "6f1c".into())),
        };
        let text = format_header(&h);
        let mut back = Header::default();
        for line in text.lines() {
            assert!(line.starts_with('#'));
            parse_header_line(line, &mut back).unwrap();
        }
        assert_eq!(back, h);
        assert!(parse_header_line("#format\t99", &mut back).is_err());
    }
}
