//! `mount.dsbfs`: what mount(8) runs for `type dsbfs` fstab lines and `mount -t dsbfs`
//! (`/sbin/mount.dsbfs` is a link to `dsbfs`), and what mount.fuse3 runs for
//! `type fuse.dsbfs` (`dsbfs SRC DIR -o OPTS`, found in PATH).
//!
//! mount(8) passes `SRC DIR [-sfnv] [-N NS] [-o OPTS]`, adding `rw` whenever `ro` is not
//! given; fstab lines rarely say `ro`, so the helper takes that `rw` as mount(8)'s
//! default and mounts read-only as always (`dsbfs mount -o rw` itself is refused).

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, PartialEq, Eq)]
pub struct HelperArgs {
    pub source: PathBuf,
    pub dir: PathBuf,
    pub options: Vec<String>,
    /// `-f`: mount(8)'s "fake" mode; do everything but mount.
    pub fake: bool,
    pub verbose: bool,
}

/// True when dsbfs was started as a mount helper: by the name `mount.dsbfs` (or
/// `mount.fuse.dsbfs`), or, through mount.fuse3, with a path as first argument (no
/// command name starts with `/`).
pub fn invoked_as_helper(argv: &[OsString]) -> bool {
    let name = argv
        .first()
        .map(|a| Path::new(a).file_name().unwrap_or_default().to_owned());
    let by_name = name.is_some_and(|n| n == "mount.dsbfs" || n == "mount.fuse.dsbfs");
    by_name
        || argv
            .get(1)
            .is_some_and(|a| a.as_bytes().first() == Some(&b'/'))
}

/// Parses the arguments after the program name.
pub fn parse(args: &[OsString]) -> Result<HelperArgs, String> {
    let mut positional: Vec<PathBuf> = Vec::new();
    let mut options = Vec::new();
    let (mut fake, mut verbose) = (false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let bytes = a.as_bytes();
        if bytes.first() != Some(&b'-') || bytes.len() == 1 {
            positional.push(PathBuf::from(a));
            continue;
        }
        let text = a.to_str().ok_or("options must be text")?;
        if let Some(rest) = text.strip_prefix("-o") {
            let opts = if rest.is_empty() {
                it.next()
                    .and_then(|o| o.to_str())
                    .ok_or("-o needs the options")?
            } else {
                rest
            };
            options.push(opts.to_string());
            continue;
        }
        for flag in text[1..].chars() {
            match flag {
                's' | 'n' => {}
                'f' => fake = true,
                'v' => verbose = true,
                'N' => return Err("mount namespaces (-N) are not supported by mount.dsbfs".into()),
                'h' => return Err(usage()),
                other => return Err(format!("unknown flag -{other}; {}", usage())),
            }
        }
    }
    let [source, dir] = <[PathBuf; 2]>::try_from(positional).map_err(|_| usage())?;
    // mount(8)'s default when `ro` is not given; the mount is read-only either way.
    let options = options
        .iter()
        .map(|o| {
            o.split(',')
                .filter(|x| *x != "rw")
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    Ok(HelperArgs {
        source,
        dir,
        options,
        fake,
        verbose,
    })
}

fn usage() -> String {
    "usage: mount.dsbfs CATALOG DIR [-sfnv] [-o OPTIONS]".into()
}

/// Runs the helper; returns the exit code.
pub fn run(args: &[OsString]) -> anyhow::Result<u8> {
    let h = parse(args).map_err(crate::usage)?;
    let options = crate::fs::parse_options(&h.options).map_err(crate::usage)?;
    let catalog = options.catalog.clone().unwrap_or(h.source);
    if h.fake {
        return Ok(crate::exit::OK);
    }
    crate::fs::mount(crate::fs::MountRequest {
        catalog,
        mountpoint: h.dir,
        options,
        foreground: false,
        verbose: h.verbose,
    })?;
    Ok(crate::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn takes_the_forms_mount_passes() {
        let h = parse(&args(&["/var/cat.db", "/mnt/b", "-o", "rw,allow_other"])).unwrap();
        assert_eq!(h.source, PathBuf::from("/var/cat.db"));
        assert_eq!(h.dir, PathBuf::from("/mnt/b"));
        assert_eq!(h.options, vec!["allow_other"]);
        let h = parse(&args(&[
            "/c",
            "/m",
            "-s",
            "-n",
            "-v",
            "-o",
            "ro,noatime,nosuid,nodev,_netdev,nofail,user",
        ]))
        .unwrap();
        assert!(h.verbose && !h.fake);
        assert!(crate::fs::parse_options(&h.options).is_ok());
        let h = parse(&args(&["/c", "/m", "-fv", "-oro"])).unwrap();
        assert!(h.fake && h.verbose);
        assert_eq!(h.options, vec!["ro"]);
    }

    #[test]
    fn mount_fuse3_appends_dev_suid_and_they_are_harmless() {
        let h = parse(&args(&["/c", "/m", "-o", "ro,allow_other,dev,suid"])).unwrap();
        let o = crate::fs::parse_options(&h.options).unwrap();
        assert_eq!(o.access, crate::fs::options::Access::All);
    }

    #[test]
    fn systemd_and_desktop_options_are_dropped_and_bad_input_is_refused() {
        let h = parse(&args(&[
            "/c",
            "/m",
            "-o",
            "defaults,noauto,auto,users,x-systemd.automount,x-gvfs-show",
        ]))
        .unwrap();
        assert!(crate::fs::parse_options(&h.options).is_ok());
        assert!(parse(&args(&["/c"])).is_err());
        assert!(parse(&args(&["/c", "/m", "-N", "42"])).is_err());
        assert!(parse(&args(&["/c", "/m", "-o"])).is_err());
        let h = parse(&args(&["/c", "/m", "-o", "bogus"])).unwrap();
        assert!(crate::fs::parse_options(&h.options).is_err());
    }

    #[test]
    fn helper_mode_is_recognised_by_name_or_by_a_path_argument() {
        assert!(invoked_as_helper(&args(&["/sbin/mount.dsbfs", "/c", "/m"])));
        assert!(invoked_as_helper(&args(&["dsbfs", "/c", "/m", "-o", "ro"])));
        assert!(!invoked_as_helper(&args(&["dsbfs", "mount", "/m"])));
        assert!(!invoked_as_helper(&args(&["dsbfs"])));
    }
}
