//! Shell completion that knows the catalog: disk names and virtual paths are offered
//! live (the shell calls `dsbfs` back through `COMPLETE=$SHELL`, clap_complete's
//! dynamic completion), so they never go stale.
//!
//! Names may hold spaces, quotes and accents. The shells hand over the word being
//! completed as it was typed (`/photos/Été\ à`, `'/photos/Été à`), so it is unquoted
//! before it is looked up; the names offered are plain, and the shell quotes what it
//! inserts: zsh always does, bash once told the candidates are file names
//! (`compopt -o filenames`, set by the registration script below).

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
    let typed = unquote(current.as_bytes());
    let typed = if typed.is_empty() { b"/" } else { &typed[..] };
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

/// A word as the shell would read it: backslash escapes, '…', "…" and $'…' removed
/// (an unclosed quote runs to the end: the user is still typing inside it).
pub fn unquote(word: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(word.len());
    let mut i = 0;
    while i < word.len() {
        match word[i] {
            b'\\' if i + 1 < word.len() => {
                out.push(word[i + 1]);
                i += 2;
            }
            b'\'' => {
                let end = find(word, i + 1, b'\'');
                out.extend_from_slice(&word[i + 1..end]);
                i = end + 1;
            }
            b'"' => {
                i += 1;
                while i < word.len() && word[i] != b'"' {
                    if word[i] == b'\\' && i + 1 < word.len() && b"\"\\$`".contains(&word[i + 1]) {
                        i += 1;
                    }
                    out.push(word[i]);
                    i += 1;
                }
                i += 1;
            }
            b'$' if word.get(i + 1) == Some(&b'\'') => i = ansi_c(word, i + 2, &mut out),
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The index of the first `b` in `word` from `from`, or its length.
fn find(word: &[u8], from: usize, b: u8) -> usize {
    word[from.min(word.len())..]
        .iter()
        .position(|&c| c == b)
        .map_or(word.len(), |p| from + p)
}

/// Reads the body of a $'…' word from `i` into `out`; returns the index after it.
fn ansi_c(word: &[u8], mut i: usize, out: &mut Vec<u8>) -> usize {
    while i < word.len() && word[i] != b'\'' {
        if word[i] != b'\\' || i + 1 >= word.len() {
            out.push(word[i]);
            i += 1;
            continue;
        }
        let (byte, used) = match word[i + 1] {
            b'n' => (b'\n', 2),
            b't' => (b'\t', 2),
            b'r' => (b'\r', 2),
            b'e' | b'E' => (0x1b, 2),
            b'x' => {
                let hex: Vec<u8> = word[i + 2..]
                    .iter()
                    .take(2)
                    .take_while(|c| c.is_ascii_hexdigit())
                    .copied()
                    .collect();
                let v = u8::from_str_radix(std::str::from_utf8(&hex).unwrap_or("0"), 16);
                (v.unwrap_or(b'x'), 2 + hex.len())
            }
            b'0'..=b'7' => {
                let oct: Vec<u8> = word[i + 1..]
                    .iter()
                    .take(3)
                    .take_while(|c| (b'0'..=b'7').contains(c))
                    .copied()
                    .collect();
                let v = oct.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
                (v as u8, 1 + oct.len())
            }
            c => (c, 2),
        };
        out.push(byte);
        i += used;
    }
    i + 1
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Registered after clap_complete's function for bash: readline quotes what it inserts
/// (and reads what was typed inside quotes) only when told the candidates are file names.
const BASH_QUOTING: &str = r#"_dsbfs_complete() {
    _clap_complete_dsbfs "$@"
    local status=$?
    compopt -o filenames 2> /dev/null
    return $status
}
complete -o nospace -o bashdefault -F _dsbfs_complete dsbfs
compopt -o nosort dsbfs 2> /dev/null
"#;

/// The script a shell sources to get completions.
pub fn registration(shell: Shell, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use clap_complete::env::EnvCompleter;
    let (var, name, bin, completer) = ("COMPLETE", "dsbfs", "dsbfs", "dsbfs");
    match shell {
        Shell::Bash => {
            clap_complete::env::Bash.write_registration(var, name, bin, completer, out)?;
            out.write_all(BASH_QUOTING.as_bytes())
        }
        Shell::Zsh => clap_complete::env::Zsh.write_registration(var, name, bin, completer, out),
        Shell::Fish => clap_complete::env::Fish.write_registration(var, name, bin, completer, out),
    }
}

#[cfg(test)]
mod tests {
    use super::unquote;

    #[test]
    fn words_are_read_as_the_shell_reads_them() {
        let cases: [(&str, &[u8]); 9] = [
            ("/photos/2020/", b"/photos/2020/"),
            (r"/photos/Été\ à\ Paris/", "/photos/Été à Paris/".as_bytes()),
            ("'/photos/Été à P", "/photos/Été à P".as_bytes()),
            ("'/photos/it'\\''s'", b"/photos/it's"),
            (r#""/a \"b\" \x""#, br#"/a "b" \x"#),
            (r"/it\'s\ \(1\).jpg", b"/it's (1).jpg"),
            (r"/caf$'\351'.txt", b"/caf\xe9.txt"),
            (r"/new$'\n'line", b"/new\nline"),
            (r"/trailing\", br"/trailing\"),
        ];
        for (typed, read) in cases {
            assert_eq!(unquote(typed.as_bytes()), read, "{typed}");
        }
    }
}
