//! The block hashes of objects (`store::checked`): what the mount and restore check
//! each block of a copy against.

use super::Catalog;
use crate::store::checked::{BLOCK, Hash};
use anyhow::Result;
use rusqlite::{OptionalExtension, params};
use std::collections::HashSet;

impl Catalog {
    /// The recorded block hashes of an object: None when not recorded (or recorded
    /// for another block size, or not a whole number of hashes).
    pub fn block_hashes(&self, object: i64) -> Result<Option<Vec<Hash>>> {
        let row: Option<(i64, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT block_size, hashes FROM object_blocks WHERE object = ?1")?
            .query_row([object], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(row
            .filter(|(size, hashes)| *size == BLOCK as i64 && hashes.len() % 32 == 0)
            .map(|(_, hashes)| {
                hashes
                    .chunks_exact(32)
                    .map(|h| h.try_into().expect("32 bytes"))
                    .collect()
            }))
    }

    /// Records the block hashes of an object (of more than one block).
    pub fn set_block_hashes(&self, object: i64, hashes: &[Hash]) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO object_blocks(object, block_size, hashes) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![object, BLOCK as i64, hashes.concat()])?;
        Ok(())
    }

    /// The objects whose block hashes are recorded.
    pub fn objects_with_block_hashes(&self) -> Result<HashSet<i64>> {
        let mut st = self
            .conn
            .prepare("SELECT object FROM object_blocks WHERE block_size = ?1")?;
        let rows = st.query_map([BLOCK as i64], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
