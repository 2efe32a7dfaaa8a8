//! The supervisor view: one line per machine (catalog), from catalogs named one by one
//! or found in folders (such as the catalog copies on a server's remote disks). A
//! catalog that cannot be read is a line that says why, never the end of the report.

use crate::catalog::Catalog;
use crate::runs::{Kind, Run};
use anyhow::Result;
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};

/// How deep a folder is searched for catalogs (a server's `disks/NAME/dsbfs-catalog.db`).
const DEPTH: usize = 3;

#[derive(Debug, Serialize)]
pub struct Machine {
    pub machine: String,
    pub catalog: String,
    /// Why the catalog could not be read; nothing else is known then.
    pub error: Option<String>,
    #[serde(serialize_with = "crate::util::ser_opt_time")]
    pub last_scan: Option<i64>,
    pub last_backup: Option<Run>,
    /// Files and bytes with fewer copies than wanted, and on no disk.
    pub at_risk: crate::tally::Files,
    pub no_copy: crate::tally::Files,
    /// Runs of the period that failed or need attention, and the newest one's first error.
    pub problems: u64,
    pub first_error: Option<String>,
}

impl Machine {
    pub fn last_backup_line(&self) -> String {
        match &self.last_backup {
            Some(r) => format!(
                "{} {}{}",
                crate::util::format_time(Some(r.finished.unwrap_or(r.started))),
                r.end.result.as_str(),
                r.disk
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
            None => "never".into(),
        }
    }

    /// Something for a person to look at.
    pub fn needs_attention(&self) -> bool {
        self.error.is_some() || self.at_risk.files > 0 || self.problems > 0
    }
}

/// The catalogs `paths` name: files as given, folders searched for dsbfs catalogs.
pub fn find(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            search(p, DEPTH, &mut out);
        } else {
            out.push(p.clone());
        }
    }
    out
}

fn search(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() && depth > 0 {
            search(&p, depth - 1, out);
        } else if m.is_file() && is_catalog(&p) {
            out.push(p);
        }
    }
}

/// An SQLite file with dsbfs's application id (header bytes 68..72), read without
/// opening it as a database.
fn is_catalog(path: &Path) -> bool {
    let mut head = [0u8; 72];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| {
            head.starts_with(b"SQLite format 3\0")
                && i32::from_be_bytes(head[68..72].try_into().expect("4 bytes"))
                    == crate::catalog::APPLICATION_ID
        })
}

/// One machine's line.
pub fn machine(path: &Path, since: i64) -> Machine {
    match read(path, since) {
        Ok(m) => m,
        Err(e) => Machine {
            machine: path.display().to_string(),
            catalog: path.display().to_string(),
            error: Some(format!("{e:#}").replace('\n', " ")),
            last_scan: None,
            last_backup: None,
            at_risk: Default::default(),
            no_copy: Default::default(),
            problems: 0,
            first_error: None,
        },
    }
}

fn read(path: &Path, since: i64) -> Result<Machine> {
    let cat = Catalog::open_readonly(path)?;
    let runs = cat.runs_since(since)?;
    let problems: Vec<&Run> = runs.iter().filter(|r| r.end.result.is_problem()).collect();
    let protection = cat.protection()?;
    Ok(Machine {
        machine: super::machine_name(&cat, &runs)?,
        catalog: path.display().to_string(),
        error: None,
        last_scan: cat.snapshots()?.last().map(|s| s.finished),
        last_backup: cat.last_run(Kind::Backup, None)?,
        at_risk: protection.below_wanted,
        no_copy: protection.by_copies[0],
        problems: problems.len() as u64,
        first_error: problems
            .last()
            .map(|r| r.end.errors.first().unwrap_or(&r.end.summary).clone()),
    })
}

/// The lines as text.
pub fn render_text(machines: &[Machine], since: i64, now: i64) -> String {
    use crate::util::{format_size as sz, format_time};
    let mut o = format!(
        "dsbfs: {} machines, {} UTC, covering the last {}\n",
        machines.len(),
        format_time(Some(now)),
        super::describe_period(now - since)
    );
    o += &format!(
        "{:<20} {:<19}  {:<32} {:>9} {:>9} {:>8}  {}\n",
        "MACHINE", "LAST SCAN", "LAST BACKUP", "AT RISK", "NO COPY", "PROBLEMS", "FIRST ERROR"
    );
    for m in machines {
        o += &format!(
            "{:<20} {:<19}  {:<32} {:>9} {:>9} {:>8}  {}\n",
            m.machine,
            format_time(m.last_scan),
            m.last_backup_line(),
            sz(m.at_risk.bytes),
            sz(m.no_copy.bytes),
            m.problems,
            m.error
                .as_deref()
                .map(|e| format!("cannot read {}: {e}", m.catalog))
                .or_else(|| m.first_error.clone())
                .unwrap_or_default()
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_searched_for_dsbfs_catalogs_only() {
        let d = tempfile::tempdir().unwrap();
        Catalog::open(&d.path().join("a.db")).unwrap();
        std::fs::create_dir_all(d.path().join("disks/red")).unwrap();
        Catalog::open(&d.path().join("disks/red/dsbfs-catalog.db")).unwrap();
        rusqlite::Connection::open(d.path().join("other.db"))
            .unwrap()
            .execute_batch("CREATE TABLE t(x)")
            .unwrap();
        std::fs::write(d.path().join("notes.txt"), "not a catalog").unwrap();
        let found = find(&[d.path().to_owned()]);
        assert_eq!(
            found,
            [
                d.path().join("a.db"),
                d.path().join("disks/red/dsbfs-catalog.db")
            ]
        );
        let named = d.path().join("notes.txt");
        assert_eq!(
            find(std::slice::from_ref(&named)),
            std::slice::from_ref(&named),
            "named files are taken as given"
        );
        let m = machine(&named, 0);
        assert!(
            m.error.as_deref().unwrap().contains("not a dsbfs catalog"),
            "{:?}",
            m.error
        );
        assert!(m.needs_attention());
    }
}
