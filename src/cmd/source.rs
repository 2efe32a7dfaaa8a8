//! `dsbfs source …`

use super::Ctx;
use crate::catalog::{Rule, Source};
use crate::cli::SourceCmd;
use crate::rules::Rules;
use crate::usage;
use crate::util::{display_bytes, path_bytes, vpath_within};
use anyhow::Result;
use std::path::Path;

pub fn run(ctx: &Ctx, cmd: SourceCmd) -> Result<u8> {
    let cat = ctx.open()?;
    match cmd {
        SourceCmd::Add {
            vpath,
            path,
            follow_symlinks,
        } => {
            let vpath = super::vpath_arg(&vpath)?;
            let path = std::fs::canonicalize(&path)
                .map_err(|e| usage(format!("source folder {}: {e}", path.display())))?;
            if !path.is_dir() {
                return Err(usage(format!("source {} is not a folder", path.display())));
            }
            let existing = cat.sources()?;
            check_new_source(&vpath, &path, &existing)?;
            for d in cat.disks()? {
                if path.starts_with(&d.path) || d.path.starts_with(&path) {
                    return Err(usage(format!(
                        "{} overlaps backup disk {} at {}; a disk cannot back itself up",
                        path.display(),
                        d.name,
                        d.path.display()
                    )));
                }
            }
            cat.add_source(&Source {
                vpath: vpath.clone(),
                path: path.clone(),
                follow_symlinks,
            })?;
            if !ctx.quiet {
                outln!("{} <- {}", display_bytes(&vpath), path.display());
            }
        }
        SourceCmd::List { json } => {
            let sources = cat.sources()?;
            let rules = cat.rules()?;
            if json {
                let doc = serde_json::json!({ "sources": sources, "rules": rules });
                outln!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                for s in &sources {
                    outln!(
                        "{} <- {}{}",
                        display_bytes(&s.vpath),
                        s.path.display(),
                        if s.follow_symlinks {
                            "  (follows symlinks)"
                        } else {
                            ""
                        }
                    );
                }
                for r in &rules {
                    outln!("rule {}: {}", display_bytes(&r.vpath), describe_rule(r));
                }
            }
        }
        SourceCmd::Remove { vpath } => {
            let vpath = super::vpath_arg(&vpath)?;
            if !cat.remove_source(&vpath)? {
                return Err(usage(format!(
                    "no source is mapped at {}; see `dsbfs source list`",
                    String::from_utf8_lossy(&vpath)
                )));
            }
        }
        SourceCmd::Set {
            vpath,
            exclude,
            clear_excludes,
            copies,
            priority,
        } => {
            let vpath = super::vpath_arg(&vpath)?;
            if !cat
                .sources()?
                .iter()
                .any(|s| vpath_within(&vpath, &s.vpath))
            {
                return Err(usage(format!(
                    "{} is not inside any source; see `dsbfs source list`",
                    display_bytes(&vpath)
                )));
            }
            let mut rule = cat.rule(&vpath)?.unwrap_or(Rule {
                vpath: vpath.clone(),
                ..Default::default()
            });
            if !exclude.is_empty() || clear_excludes {
                rule.excludes = exclude;
            }
            rule.copies = copies.or(rule.copies);
            rule.priority = priority.or(rule.priority);
            let mut all: Vec<Rule> = cat
                .rules()?
                .into_iter()
                .filter(|r| r.vpath != vpath)
                .collect();
            all.push(rule.clone());
            let rules = Rules::new(all).map_err(|e| usage(format!("{e:#}")))?;
            cat.set_rule(&rule)?;
            cat.reapply_rules(|p| rules.effective(p))?;
            if !ctx.quiet {
                outln!("rule {}: {}", display_bytes(&vpath), describe_rule(&rule));
            }
        }
    }
    Ok(crate::exit::OK)
}

/// Refuses a mapping that duplicates or overlaps an existing one in a way that would
/// back the same files up twice under different virtual paths.
fn check_new_source(vpath: &[u8], path: &Path, existing: &[Source]) -> Result<()> {
    for s in existing {
        if s.vpath == vpath {
            return Err(usage(format!(
                "{} is already mapped to {}; remove it first",
                display_bytes(vpath),
                s.path.display()
            )));
        }
        let (inner, outer, inner_v, outer_v) = if path.starts_with(&s.path) {
            (path, s.path.as_path(), vpath, s.vpath.as_slice())
        } else if s.path.starts_with(path) {
            (s.path.as_path(), path, s.vpath.as_slice(), vpath)
        } else {
            continue;
        };
        let rel = inner.strip_prefix(outer).unwrap_or(Path::new(""));
        let expected = if rel.as_os_str().is_empty() {
            outer_v.to_vec()
        } else {
            crate::util::vpath_join(outer_v, path_bytes(rel))
        };
        if expected != inner_v {
            return Err(usage(format!(
                "{} overlaps the source {} <- {}: the same files would be backed up twice",
                path.display(),
                display_bytes(&s.vpath),
                s.path.display()
            )));
        }
    }
    Ok(())
}

fn describe_rule(r: &Rule) -> String {
    let mut parts = Vec::new();
    if let Some(c) = r.copies {
        parts.push(format!("copies={c}"));
    }
    if let Some(p) = r.priority {
        parts.push(format!("priority={p}"));
    }
    for e in &r.excludes {
        parts.push(format!("exclude={e}"));
    }
    if parts.is_empty() {
        parts.push("(defaults)".into());
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn src(v: &str, p: &str) -> Source {
        Source {
            vpath: v.as_bytes().to_vec(),
            path: PathBuf::from(p),
            follow_symlinks: false,
        }
    }

    #[test]
    fn nested_mappings_of_separate_folders_are_fine() {
        let existing = [src("/", "/home/u/data")];
        assert!(check_new_source(b"/photos", Path::new("/media/photos"), &existing).is_ok());
    }

    #[test]
    fn the_same_vpath_twice_is_refused() {
        let existing = [src("/photos", "/a")];
        assert!(check_new_source(b"/photos", Path::new("/b"), &existing).is_err());
    }

    #[test]
    fn a_folder_inside_another_source_under_another_vpath_is_refused() {
        let existing = [src("/", "/home/u")];
        assert!(check_new_source(b"/pics", Path::new("/home/u/photos"), &existing).is_err());
        assert!(check_new_source(b"/photos", Path::new("/home/u/photos"), &existing).is_ok());
        assert!(check_new_source(b"/x", Path::new("/home"), &existing).is_err());
    }
}
