//! The mount table (/proc/self/mountinfo): where filesystems are mounted, so disks can
//! be found wherever their drive is mounted today, and our own mounts skipped by scans.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_point: PathBuf,
    pub fstype: String,
    pub source: String,
}

/// Parses mountinfo text. Fields escape space, tab, newline and backslash as octal.
pub fn parse_mountinfo(text: &[u8]) -> Vec<MountEntry> {
    text.split(|&b| b == b'\n')
        .filter_map(|line| {
            let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
            let sep = fields.iter().position(|f| *f == b"-")?;
            Some(MountEntry {
                mount_point: PathBuf::from(OsString::from_vec(unescape(fields.get(4)?))),
                fstype: String::from_utf8_lossy(&unescape(fields.get(sep + 1)?)).into_owned(),
                source: String::from_utf8_lossy(&unescape(fields.get(sep + 2)?)).into_owned(),
            })
        })
        .collect()
}

fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\'
            && i + 3 < field.len()
            && field[i + 1..i + 4]
                .iter()
                .all(|c| (b'0'..=b'7').contains(c))
        {
            out.push(
                (field[i + 1] - b'0') * 64 + (field[i + 2] - b'0') * 8 + (field[i + 3] - b'0'),
            );
            i += 4;
        } else {
            out.push(field[i]);
            i += 1;
        }
    }
    out
}

/// The current mount table; empty when it cannot be read.
pub fn mounts() -> Vec<MountEntry> {
    std::fs::read("/proc/self/mountinfo")
        .map(|t| parse_mountinfo(&t))
        .unwrap_or_default()
}

/// The device number (major, minor) of the last filesystem mounted at `mount_point`,
/// read from mountinfo text (so without touching the filesystem itself).
pub fn device_of(text: &[u8], mount_point: &std::path::Path) -> Option<(u32, u32)> {
    use std::os::unix::ffi::OsStrExt;
    text.split(|&b| b == b'\n').rev().find_map(|line| {
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        if unescape(fields.get(4)?) != mount_point.as_os_str().as_bytes() {
            return None;
        }
        let dev = std::str::from_utf8(fields.get(2)?).ok()?;
        let (major, minor) = dev.split_once(':')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mount_points_with_escapes_and_optional_fields() {
        let text = b"36 35 98:0 / /mnt/my\\040disk rw,noatime master:1 - ext4 /dev/sdb1 rw\n\
                     40 35 0:41 / /mnt/backup ro,nosuid - fuse.dsbfs /var/cat.db ro,user_id=0\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, PathBuf::from("/mnt/my disk"));
        assert_eq!(m[0].fstype, "ext4");
        assert_eq!(m[0].source, "/dev/sdb1");
        assert_eq!(m[1].fstype, "fuse.dsbfs");
    }

    #[test]
    fn finds_the_device_of_the_top_mount() {
        let text = b"36 35 98:0 / /mnt/my\\040disk rw - ext4 /dev/sdb1 rw\n\
                     41 36 0:52 / /mnt/my\\040disk ro - fuse.dsbfs /c.db ro\n";
        assert_eq!(
            device_of(text, std::path::Path::new("/mnt/my disk")),
            Some((0, 52))
        );
        assert_eq!(device_of(text, std::path::Path::new("/mnt")), None);
    }
}
