//! What a disk's object store holds, listed through the store's descriptors (never its
//! path, never following a symlink): objects under their final names, temporaries of
//! interrupted writes, and strays, which is anything else. A stray is skipped and
//! reported by its path (and moved to `quarantine/` by `verify`): one stray entry never
//! makes a whole disk unusable.

use super::{OBJECTS_DIR, Store, TMP_PREFIX};
use crate::util::open_beneath;
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The contents of a store.
#[derive(Debug, Default)]
pub struct Listing {
    /// Objects under their final names (regular files named by their hash), sorted.
    pub objects: Vec<[u8; 32]>,
    /// Files of writes that were interrupted: (fan-out folder, name).
    pub temporaries: Vec<(String, String)>,
    pub strays: Vec<Stray>,
}

/// An entry of the object store that is neither an object nor a temporary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stray {
    /// Its path below the disk's folder: `objects`, `objects/1a` or `objects/1a/name`.
    pub rel: PathBuf,
    /// What it is, for people.
    pub what: &'static str,
}

impl Stray {
    /// The hashes whose objects it is in the way of: `Fan(b)` for every hash starting
    /// with byte `b`, `Object(h)` for one, `All` when `objects` itself is not a folder.
    pub fn blocks(&self) -> Blocks {
        let mut parts = self.rel.iter().skip(1).map(|c| c.as_bytes());
        match (parts.next(), parts.next()) {
            (None, _) => Blocks::All,
            (Some(fan), None) => fan_byte(fan).map_or(Blocks::Nothing, Blocks::Fan),
            (Some(fan), Some(name)) => {
                object_hash(fan, name).map_or(Blocks::Nothing, Blocks::Object)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocks {
    Nothing,
    All,
    Fan(u8),
    Object([u8; 32]),
}

impl Blocks {
    pub fn covers(&self, hash: &[u8; 32]) -> bool {
        match self {
            Blocks::Nothing => false,
            Blocks::All => true,
            Blocks::Fan(b) => hash[0] == *b,
            Blocks::Object(h) => h == hash,
        }
    }
}

/// The kind of a directory entry, as far as the store cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink,
    Other,
}

/// What an entry of a fan-out folder is.
#[derive(Debug, PartialEq, Eq)]
enum Member {
    Object([u8; 32]),
    Temporary,
    Stray(&'static str),
}

/// The first hash byte a fan-out folder's name stands for (two lowercase hex digits).
fn fan_byte(name: &[u8]) -> Option<u8> {
    let s = std::str::from_utf8(name).ok()?;
    (s.len() == 2 && s.bytes().all(is_lower_hex))
        .then(|| u8::from_str_radix(s, 16).ok())
        .flatten()
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// The hash an object's name in fan-out folder `fan` stands for: 64 lowercase hex
/// digits starting with the folder's two, as `object_name` writes them.
fn object_hash(fan: &[u8], name: &[u8]) -> Option<[u8; 32]> {
    if name.len() != crate::util::HASH_HEX_LEN
        || !name.starts_with(fan)
        || !name.iter().all(|&b| is_lower_hex(b))
    {
        return None;
    }
    crate::util::parse_hash(std::str::from_utf8(name).ok()?)
}

/// Why an entry of `objects/` is not a fan-out folder, if it is not.
fn fan_entry(name: &[u8], kind: Kind) -> Option<&'static str> {
    match (fan_byte(name).is_some(), kind) {
        (true, Kind::Dir) => None,
        (true, Kind::Symlink) | (false, Kind::Symlink) => {
            Some("a symlink (not followed) where only folders of objects belong")
        }
        (true, _) => Some("a file where a folder of objects belongs"),
        (false, _) => Some("not a folder of objects (its name is not two hex digits)"),
    }
}

/// What an entry of fan-out folder `fan` is.
fn fan_member(fan: &[u8], name: &[u8], kind: Kind) -> Member {
    let hash = object_hash(fan, name);
    match kind {
        Kind::File if name.starts_with(TMP_PREFIX.as_bytes()) => Member::Temporary,
        Kind::File => hash.map_or(
            Member::Stray("not an object (its name is not a hash of this folder)"),
            Member::Object,
        ),
        Kind::Dir => Member::Stray("a folder where only objects belong"),
        Kind::Symlink => Member::Stray("a symlink (not followed) where only objects belong"),
        Kind::Other => Member::Stray("not a regular file (a FIFO, socket or device)"),
    }
}

/// The entries of the folder `dir` (not `.` and `..`), with their kinds.
fn entries(dir: &OwnedFd) -> nix::Result<Vec<(OsString, Kind)>> {
    let copy = dir
        .try_clone()
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let mut listing = nix::dir::Dir::from_fd(copy)?;
    let mut out = Vec::new();
    for e in listing.iter() {
        let e = e?;
        let name = e.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let name = OsStr::from_bytes(name).to_owned();
        let kind = match e.file_type() {
            Some(t) => kind_of(t),
            None => kind_at(dir, &name)?,
        };
        out.push((name, kind));
    }
    Ok(out)
}

fn kind_of(t: nix::dir::Type) -> Kind {
    match t {
        nix::dir::Type::Directory => Kind::Dir,
        nix::dir::Type::File => Kind::File,
        nix::dir::Type::Symlink => Kind::Symlink,
        _ => Kind::Other,
    }
}

/// The kind of `name` in `dir`, from `fstatat` (for filesystems that give no type).
fn kind_at(dir: impl AsFd, name: &OsStr) -> nix::Result<Kind> {
    let st = nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    Ok(match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFREG => Kind::File,
        libc::S_IFLNK => Kind::Symlink,
        _ => Kind::Other,
    })
}

impl Store {
    /// Lists the object store. An error means the disk could not be read at all.
    pub fn list(&self) -> Result<Listing> {
        let mut l = Listing::default();
        let dir = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
        let objects = match open_beneath(&self.root_fd, OBJECTS_DIR, dir, 0) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(l),
            Err(Errno::ENOTDIR | Errno::ELOOP) => {
                let symlink = kind_at(&self.root_fd, OsStr::new(OBJECTS_DIR))? == Kind::Symlink;
                l.strays.push(Stray {
                    rel: PathBuf::from(OBJECTS_DIR),
                    what: if symlink {
                        "a symlink (not followed) where the folder of objects belongs"
                    } else {
                        "a file where the folder of objects belongs"
                    },
                });
                return Ok(l);
            }
            Err(e) => return Err(self.list_error(Path::new(OBJECTS_DIR), e)),
        };
        let top = Path::new(OBJECTS_DIR);
        for (fan, kind) in entries(&objects).map_err(|e| self.list_error(top, e))? {
            let rel = top.join(&fan);
            if let Some(what) = fan_entry(fan.as_bytes(), kind) {
                l.strays.push(Stray { rel, what });
                continue;
            }
            let members =
                match open_beneath(&objects, fan.as_os_str(), dir, 0).and_then(|fd| entries(&fd)) {
                    Ok(m) => m,
                    // Removed since it was listed: nothing to see.
                    Err(Errno::ENOENT) => continue,
                    Err(e @ (Errno::EIO | Errno::ENXIO | Errno::ENODEV | Errno::ENOTCONN)) => {
                        return Err(self.list_error(&rel, e));
                    }
                    Err(_) => {
                        l.strays.push(Stray {
                            rel,
                            what: "a folder of objects that cannot be read",
                        });
                        continue;
                    }
                };
            let fan_name = fan.to_string_lossy().into_owned();
            for (name, kind) in members {
                match fan_member(fan.as_bytes(), name.as_bytes(), kind) {
                    Member::Object(h) => l.objects.push(h),
                    Member::Temporary => l
                        .temporaries
                        .push((fan_name.clone(), name.to_string_lossy().into_owned())),
                    Member::Stray(what) => l.strays.push(Stray {
                        rel: rel.join(name),
                        what,
                    }),
                }
            }
        }
        l.objects.sort_unstable();
        l.strays.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(l)
    }

    fn list_error(&self, rel: &Path, e: Errno) -> anyhow::Error {
        super::write_error(e.into())
            .context(format!("cannot list {}", self.root().join(rel).display()))
    }

    /// Removes the temporaries of interrupted writes; how many it removed.
    pub fn remove_temporaries(&self, temporaries: &[(String, String)]) -> usize {
        let dir = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
        temporaries
            .iter()
            .filter(|(fan, name)| {
                open_beneath(
                    &self.root_fd,
                    Path::new(OBJECTS_DIR).join(fan).as_path(),
                    dir,
                    0,
                )
                .and_then(|d| {
                    nix::unistd::unlinkat(
                        &d,
                        name.as_str(),
                        nix::unistd::UnlinkatFlags::NoRemoveDir,
                    )
                })
                .is_ok()
            })
            .count()
    }

    /// Moves a stray into `quarantine/` (the entry itself: a symlink is moved, never
    /// followed). Returns its name there.
    pub fn quarantine_stray(&self, stray: &Stray) -> Result<OsString> {
        let fail = || {
            format!(
                "cannot move {} to quarantine",
                self.root().join(&stray.rel).display()
            )
        };
        let name = stray.rel.file_name().with_context(fail)?;
        let parent = stray.rel.parent().filter(|p| !p.as_os_str().is_empty());
        let from = match parent {
            Some(p) => open_beneath(&self.root_fd, p, OFlag::O_RDONLY | OFlag::O_DIRECTORY, 0)
                .with_context(fail)?,
            None => self.root_fd.try_clone().with_context(fail)?,
        };
        // `objects/1a/x` is kept as `objects-1a-x.TIME`.
        let label: Vec<u8> = stray
            .rel
            .iter()
            .map(|c| c.as_bytes())
            .collect::<Vec<_>>()
            .join(&b'-');
        self.move_to_quarantine(&from, name, &label)
            .with_context(fail)
    }

    /// Moves `name` from `dir` into `quarantine/` as `LABEL.TIME` (never replacing
    /// anything there). Returns its name there.
    pub(super) fn move_to_quarantine(
        &self,
        dir: &OwnedFd,
        name: &OsStr,
        label: &[u8],
    ) -> Result<OsString> {
        let q = self.quarantine_dir()?;
        let mut base = label[..label.len().min(200)].to_vec();
        base.extend_from_slice(format!(".{}", crate::util::now()).as_bytes());
        for n in 0..100 {
            let mut to = base.clone();
            if n > 0 {
                to.extend_from_slice(format!(".{n}").as_bytes());
            }
            let to = OsString::from_vec(to);
            match rename_no_replace(dir, name, &q, &to) {
                Ok(()) => return Ok(to),
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        anyhow::bail!(
            "too many entries named {} in quarantine",
            String::from_utf8_lossy(&base)
        )
    }
}

/// `renameat` that never replaces what is at the target (a filesystem without
/// `RENAME_NOREPLACE` gets a check first: the disk is locked, nothing races it).
fn rename_no_replace(
    from: &OwnedFd,
    name: &OsStr,
    to_dir: &OwnedFd,
    to: &OsStr,
) -> nix::Result<()> {
    use nix::fcntl::{RenameFlags, renameat, renameat2};
    match renameat2(from, name, to_dir, to, RenameFlags::RENAME_NOREPLACE) {
        Err(Errno::EINVAL) => {
            match nix::sys::stat::fstatat(to_dir, to, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(_) => Err(Errno::EEXIST),
                Err(Errno::ENOENT) => renameat(from, name, to_dir, to),
                Err(e) => Err(e),
            }
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &[u8] = b"1a00000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn fan_out_folders_are_two_lowercase_hex_digits_and_real_folders() {
        assert_eq!(fan_entry(b"1a", Kind::Dir), None);
        for (name, kind) in [
            (&b"1a"[..], Kind::File),
            (b"1a", Kind::Symlink),
            (b"1A", Kind::Dir),
            (b"zz", Kind::Dir),
            (b"1a2", Kind::Dir),
            (b"notes.txt", Kind::File),
        ] {
            assert!(fan_entry(name, kind).is_some(), "{name:?} {kind:?}");
        }
    }

    #[test]
    fn objects_are_regular_files_named_by_a_hash_of_their_folder() {
        let mut h = [0u8; 32];
        h[0] = 0x1a;
        assert_eq!(fan_member(b"1a", H, Kind::File), Member::Object(h));
        assert_eq!(
            fan_member(b"1a", b".tmp-1a00-77", Kind::File),
            Member::Temporary
        );
        let upper = H.to_ascii_uppercase();
        for (fan, name, kind) in [
            (&b"1a"[..], H, Kind::Dir),
            (b"1a", H, Kind::Symlink),
            (b"1a", H, Kind::Other),
            (b"2b", H, Kind::File),
            (b"1a", &upper[..], Kind::File),
            (b"1a", &H[..63], Kind::File),
            (b"1a", b"junk", Kind::File),
            (b"1a", b".tmp-dir", Kind::Dir),
        ] {
            assert!(
                matches!(fan_member(fan, name, kind), Member::Stray(_)),
                "{:?} {kind:?}",
                String::from_utf8_lossy(name)
            );
        }
    }

    #[test]
    fn a_stray_blocks_only_the_objects_it_stands_in_the_way_of() {
        let stray = |rel: &str| Stray {
            rel: PathBuf::from(rel),
            what: "",
        };
        let mut h = [0u8; 32];
        h[0] = 0x1a;
        let mut other = h;
        other[31] = 1;
        assert_eq!(stray("objects").blocks(), Blocks::All);
        assert_eq!(stray("objects/1a").blocks(), Blocks::Fan(0x1a));
        assert_eq!(stray("objects/notes").blocks(), Blocks::Nothing);
        let one = stray(&format!("objects/1a/{}", crate::util::hex(&h))).blocks();
        assert!(one.covers(&h) && !one.covers(&other));
        assert_eq!(stray("objects/1a/junk").blocks(), Blocks::Nothing);
        assert!(Blocks::Fan(0x1a).covers(&other) && !Blocks::Fan(0x1b).covers(&h));
    }
}
