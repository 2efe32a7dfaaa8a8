//! What reports count: files (or objects) and their bytes. Every `--json` document
//! writes such a count as `{"files": N, "bytes": B}` (or `{"objects": N, "bytes": B}`),
//! never as a bare pair.

use serde::{Deserialize, Serialize};

/// Files and their bytes (apparent sizes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Files {
    pub files: u64,
    pub bytes: u64,
}

impl Files {
    /// Counts one more file of `bytes` bytes.
    pub fn add(&mut self, bytes: u64) {
        self.files += 1;
        self.bytes += bytes;
    }
}

/// Objects (distinct contents) and their bytes (apparent sizes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Objects {
    pub objects: u64,
    pub bytes: u64,
}

impl Objects {
    /// Counts one more object of `bytes` bytes.
    pub fn add(&mut self, bytes: u64) {
        self.objects += 1;
        self.bytes += bytes;
    }
}
