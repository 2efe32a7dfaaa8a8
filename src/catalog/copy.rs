//! A consistent copy of the catalog, for the one each backup leaves on its disk.

use super::Catalog;
use anyhow::{Context, Result};
use std::path::Path;

impl Catalog {
    /// Writes a consistent copy of the catalog to `dest`, which must not exist or be
    /// empty. Not flushed: it is a temporary the caller copies onto a disk (through the
    /// disk's held folder, since SQLite opens paths and resolves symlinks, even
    /// `/proc/self/fd/N`, by name) and flushes there.
    pub fn copy_into(&self, dest: &Path) -> Result<()> {
        self.conn
            .execute("VACUUM INTO ?1", [dest.to_string_lossy()])
            .with_context(|| format!("cannot write a copy of the catalog to {}", dest.display()))?;
        Ok(())
    }
}
