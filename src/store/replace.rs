//! Files a disk keeps about itself beside its objects (the restore context), replaced
//! atomically through the disk's folder descriptor, so a disk swapped at the same path
//! mid-run is never written to.

use super::{Store, write_error};
use crate::util::open_beneath;
use anyhow::{Context, Result};
use nix::fcntl::OFlag;
use std::fs::File;
use std::io::{BufWriter, Write};

impl Store {
    /// Replaces `name` in the disk's folder with what `fill` writes: under a temporary
    /// name first, flushed, renamed over `name`, and the folder flushed. A crash leaves
    /// the old file or the new one, never a part.
    pub fn replace_file(
        &self,
        name: &str,
        fill: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<()> {
        let tmp = format!("{name}.tmp");
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC;
        let file = File::from(
            open_beneath(&self.root_fd, tmp.as_str(), flags, 0o644)
                .map_err(|e| write_error(e.into()))
                .with_context(|| format!("cannot write {tmp} on {}", self.root.display()))?,
        );
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let written = fill(&mut out)
            .and_then(|()| out.into_inner().map_err(|e| write_error(e.into_error())))
            .and_then(|f| f.sync_all().map_err(write_error));
        if let Err(e) = written {
            let _ = nix::unistd::unlinkat(
                &self.root_fd,
                tmp.as_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
            return Err(e)
                .with_context(|| format!("cannot write {name} on {}", self.root.display()));
        }
        nix::fcntl::renameat(&self.root_fd, tmp.as_str(), &self.root_fd, name)
            .map_err(|e| write_error(e.into()))?;
        nix::unistd::fsync(&self.root_fd).map_err(|e| write_error(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_file_is_the_old_one_or_the_new_one_never_a_part() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        store
            .replace_file("list.txt", |out| Ok(out.write_all(b"first")?))
            .unwrap();
        let failed = store.replace_file("list.txt", |out| {
            out.write_all(b"half of the sec")?;
            anyhow::bail!("the catalog could not be read")
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(d.path().join("list.txt")).unwrap(), b"first");
        assert!(!d.path().join("list.txt.tmp").exists(), "no temporary left");
        store
            .replace_file("list.txt", |out| Ok(out.write_all(b"second")?))
            .unwrap();
        assert_eq!(std::fs::read(d.path().join("list.txt")).unwrap(), b"second");
    }
}
