//! A small archive for unit tests: a catalog in a temporary folder, source files of
//! chosen sizes scanned into it, and disks that are folders beside it.

use crate::catalog::{Catalog, DiskRecord, DiskUpdate, Source};
use std::path::PathBuf;

pub struct Archive {
    pub dir: tempfile::TempDir,
    pub cat: Catalog,
}

impl Archive {
    /// An empty catalog.
    pub fn new() -> Archive {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(&dir.path().join("catalog.db")).unwrap();
        Archive { dir, cat }
    }

    /// A catalog that has scanned `files` (path below the source, size in bytes), with
    /// the source mapped at `/`.
    pub fn scanned(files: &[(&str, usize)]) -> Archive {
        let a = Archive::new();
        for (rel, size) in files {
            let path = a.path(&format!("src/{rel}"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, vec![b'x'; *size]).unwrap();
        }
        std::fs::create_dir_all(a.path("src")).unwrap();
        a.cat
            .add_source(&Source {
                vpath: b"/".to_vec(),
                path: a.path("src"),
                follow_symlinks: false,
            })
            .unwrap();
        crate::scan::run(&a.cat, false).unwrap();
        a
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Adds the disk `name` in the folder of that name, with an optional cap.
    pub fn disk(&self, name: &str, cap: Option<u64>) -> DiskRecord {
        crate::disks::admin::add(
            &self.cat,
            name,
            &self.path(name),
            crate::disks::admin::AddOptions {
                cap,
                create: true,
                force: false,
            },
        )
        .unwrap()
        .record
    }

    /// Takes a disk away: its folder moves where it is not looked for.
    pub fn unplug(&self, name: &str) {
        std::fs::rename(self.path(name), self.path(&format!("{name}.away"))).unwrap();
    }

    /// Records a copy of the source file `rel` on `disk`.
    pub fn copy(&self, rel: &str, disk: &DiskRecord) {
        let data = std::fs::read(self.path(&format!("src/{rel}"))).unwrap();
        let hash = crate::scan::hash::sha256(&data);
        let (object, _) = self.cat.object_by_hash(&hash).unwrap().unwrap();
        self.cat.add_copy(object, disk.id).unwrap();
    }

    pub fn update(&self, disk: &DiskRecord, u: DiskUpdate) {
        self.cat.update_disk(disk.id, &u).unwrap();
    }
}
