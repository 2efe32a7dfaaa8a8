//! Shell completion that knows the catalog: disk names and virtual paths are offered
//! live (the shell calls `dsbfs` back through `COMPLETE=$SHELL`, clap_complete's
//! dynamic completion), so they never go stale.

use crate::catalog::Catalog;
use crate::catalog::tree::At;
use clap_complete::engine::CompletionCandidate;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// The catalog a completion reads: DSBFS_CATALOG or the default (flags are not parsed yet).
fn catalog() -> Option<Catalog> {
    let path = std::env::var_os("DSBFS_CATALOG")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(crate::catalog::default_path);
    Catalog::open_readonly(&path).ok()
}

pub fn disk_names() -> Vec<CompletionCandidate> {
    catalog()
        .and_then(|c| c.disks().ok())
        .unwrap_or_default()
        .into_iter()
        .map(|d| CompletionCandidate::new(d.name))
        .collect()
}

/// Children of the folder named by what was typed so far ("/pho" → "/photos/").
pub fn vpaths(current: &OsStr) -> Vec<CompletionCandidate> {
    let typed = current.as_bytes();
    let typed = if typed.is_empty() { b"/" } else { typed };
    let split = typed.iter().rposition(|&b| b == b'/').unwrap_or(0);
    let (dir, prefix) = (&typed[..=split], &typed[split + 1..]);
    let Some(cat) = catalog() else {
        return Vec::new();
    };
    let Ok(Some(node)) = cat.resolve(dir, At::Current) else {
        return Vec::new();
    };
    let Ok(children) = cat.list_dir(node.entry, At::Current, 0, 10_000) else {
        return Vec::new();
    };
    children
        .into_iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(name, v)| {
            let mut full = dir.to_vec();
            full.extend_from_slice(&name);
            if v.attr.kind == crate::catalog::Kind::Dir {
                full.push(b'/');
            }
            CompletionCandidate::new(OsStr::from_bytes(&full))
        })
        .collect()
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The script a shell sources to get completions.
pub fn registration(shell: Shell, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap_complete::env::EnvCompleter;
    let (var, name, bin, completer) = ("COMPLETE", "dsbfs", "dsbfs", "dsbfs");
    match shell {
        Shell::Bash => clap_complete::env::Bash.write_registration(var, name, bin, completer, out),
        Shell::Zsh => clap_complete::env::Zsh.write_registration(var, name, bin, completer, out),
        Shell::Fish => clap_complete::env::Fish.write_registration(var, name, bin, completer, out),
    }
}
