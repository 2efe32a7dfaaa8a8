//! `-o` mount options: a pure parser, shared by `dsbfs mount` and the `mount.dsbfs`
//! helper. It sorts each option into what the kernel gets, what dsbfs itself uses,
//! and what only fstab/mount(8)/systemd care about (dropped). Anything unknown is an
//! error here, because an unknown option reaching the kernel fails the mount with EINVAL.

use std::path::PathBuf;

/// Who may use the mount besides its owner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Access {
    #[default]
    Owner,
    /// `allow_root`
    RootAndOwner,
    /// `allow_other`
    All,
}

/// Where a background mount writes its log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LogTarget {
    /// `$XDG_STATE_HOME/dsbfs/mount.log` (see `default_log_path`).
    #[default]
    Default,
    /// `log=none`: nowhere.
    Off,
    Path(PathBuf),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountOptions {
    /// Which snapshots the mount shows.
    pub show: Show,
    pub access: Access,
    pub auto_unmount: bool,
    pub noexec: bool,
    pub sync: bool,
    pub dirsync: bool,
    /// `fsname=`: the source shown by `mount` and `df` (default: the catalog's path).
    pub fsname: Option<String>,
    /// `max_read=N`, passed to the kernel.
    pub max_read: Option<u32>,
    pub log: LogTarget,
    /// `xattr` / `noxattr`; `None`: the default (see `fs::XATTR_DEFAULT`).
    pub xattr: Option<bool>,
    /// `nopassthrough` forces reads through the daemon even where the kernel could
    /// read the disk directly (for benchmarks and tests).
    pub passthrough: bool,
    /// `threads=N`: threads that open and read files on the disks (catalog requests
    /// are answered by one thread of their own).
    pub threads: usize,
    /// `catalog=PATH`, for fstab lines whose source field is not the catalog.
    pub catalog: Option<PathBuf>,
}

/// Which snapshots a mount shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Show {
    /// The newest snapshot (the last finished scan).
    #[default]
    Latest,
    /// `snapshot=ID|DATE`: that snapshot, or the last one taken at or before DATE.
    Snapshot(String),
    /// `history`: a folder per snapshot, named by its local time, and `latest`.
    History,
}

pub const DEFAULT_THREADS: usize = 8;
const MAX_THREADS: usize = 64;
/// The smallest `max_read`: one page.
const MAX_READ_MIN: u32 = 4096;

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            show: Show::Latest,
            access: Access::Owner,
            auto_unmount: false,
            noexec: false,
            sync: false,
            dirsync: false,
            fsname: None,
            max_read: None,
            log: LogTarget::Default,
            xattr: None,
            passthrough: true,
            threads: DEFAULT_THREADS,
            catalog: None,
        }
    }
}

/// Parses `-o` arguments (each may hold several comma-separated options; later ones win).
pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<MountOptions, String> {
    let mut o = MountOptions::default();
    for arg in args {
        for opt in arg.as_ref().split(',').map(str::trim) {
            apply(&mut o, opt)?;
        }
    }
    if o.auto_unmount && o.access == Access::Owner {
        return Err(
            "auto_unmount needs allow_other or allow_root (fusermount3 requires it)".into(),
        );
    }
    Ok(o)
}

fn apply(o: &mut MountOptions, opt: &str) -> Result<(), String> {
    let (key, value) = match opt.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (opt, None),
    };
    let need = |what: &str| {
        value
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("mount option {key} needs a value: {key}={what}"))
    };
    let flag = || match value {
        None => Ok(()),
        Some(_) => Err(format!("mount option {key} takes no value")),
    };
    match key {
        // Always read-only, with the kernel checking permissions, without devices or
        // setuid: these are accepted and change nothing.
        "ro"
        | "default_permissions"
        | "nosuid"
        | "nodev"
        | "suid"
        | "dev"
        | "exec"
        | "atime"
        | "noatime"
        | "relatime"
        | "strictatime"
        | "async" => flag()?,
        "rw" => {
            return Err(
                "dsbfs mounts are read-only: remove the rw option (use ro or nothing)".into(),
            );
        }
        "allow_other" => {
            flag()?;
            o.access = Access::All;
        }
        "allow_root" => {
            flag()?;
            o.access = Access::RootAndOwner;
        }
        "auto_unmount" => {
            flag()?;
            o.auto_unmount = true;
        }
        "noexec" => {
            flag()?;
            o.noexec = true;
        }
        "sync" => {
            flag()?;
            o.sync = true;
        }
        "dirsync" => {
            flag()?;
            o.dirsync = true;
        }
        "fsname" => {
            let v = need("NAME")?;
            if v.contains(['\n', '\0']) {
                return Err("fsname may not contain a newline".into());
            }
            o.fsname = Some(v.to_string());
        }
        "subtype" => {
            if need("dsbfs")? != "dsbfs" {
                return Err("the subtype of a dsbfs mount is always dsbfs".into());
            }
        }
        "max_read" => {
            let v = need("BYTES")?;
            o.max_read = Some(
                v.parse::<u32>()
                    .ok()
                    .filter(|&n| n >= MAX_READ_MIN)
                    .ok_or_else(|| {
                        format!("max_read={v}: give a number of bytes, at least {MAX_READ_MIN}")
                    })?,
            );
        }
        "log" => {
            let v = need("PATH")?;
            o.log = match v {
                "none" | "off" => LogTarget::Off,
                p if p.starts_with('/') => LogTarget::Path(PathBuf::from(p)),
                p => return Err(format!("log={p}: give an absolute path, or log=none")),
            };
        }
        "snapshot" => {
            let v = need("ID|DATE")?;
            if o.show == Show::History {
                return Err("mount options history and snapshot= exclude each other".into());
            }
            o.show = Show::Snapshot(v.to_string());
        }
        "history" => {
            flag()?;
            if matches!(o.show, Show::Snapshot(_)) {
                return Err("mount options history and snapshot= exclude each other".into());
            }
            o.show = Show::History;
        }
        "xattr" => {
            flag()?;
            o.xattr = Some(true);
        }
        "noxattr" => {
            flag()?;
            o.xattr = Some(false);
        }
        "passthrough" => {
            flag()?;
            o.passthrough = true;
        }
        "nopassthrough" => {
            flag()?;
            o.passthrough = false;
        }
        "threads" => {
            let v = need("N")?;
            o.threads = v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_THREADS).contains(n))
                .ok_or_else(|| format!("threads={v}: give a number from 1 to {MAX_THREADS}"))?;
        }
        "catalog" => {
            let v = need("PATH")?;
            if !v.starts_with('/') {
                return Err(format!("catalog={v}: give an absolute path"));
            }
            o.catalog = Some(PathBuf::from(v));
        }
        // What fstab, mount(8), mount.fuse3 and systemd use for themselves.
        "" | "defaults" | "auto" | "noauto" | "user" | "users" | "nouser" | "owner" | "group"
        | "nofail" | "_netdev" | "comment" => {}
        k if k.starts_with("x-") => {}
        // Set by the FUSE mount itself; giving them would confuse the kernel.
        "fd" | "rootmode" | "user_id" | "group_id" | "blksize" => {
            return Err(format!(
                "mount option {key} is set by dsbfs itself; remove it"
            ));
        }
        _ => {
            return Err(format!(
                "unknown mount option {opt:?} (see `dsbfs mount --help` for the options dsbfs knows)"
            ));
        }
    }
    Ok(())
}

impl MountOptions {
    /// The fuser configuration: always read-only, `default_permissions` (so `allow_other`
    /// never shows a file to someone its owner did not let read it), nosuid, nodev, and
    /// the `fuse.dsbfs` type. Only kernel options are ever passed on.
    pub fn fuser_config(&self, fsname: &str) -> fuser::Config {
        use fuser::MountOption as M;
        let mut opts = vec![
            M::RO,
            M::FSName(fsname.to_string()),
            // `Subtype` is ignored by fuser's direct mount; CUSTOM reaches the kernel.
            M::CUSTOM("subtype=dsbfs".into()),
            M::DefaultPermissions,
            M::NoSuid,
            M::NoDev,
            M::NoAtime,
        ];
        if self.noexec {
            opts.push(M::NoExec);
        }
        if self.sync {
            opts.push(M::Sync);
        }
        if self.dirsync {
            opts.push(M::DirSync);
        }
        if self.auto_unmount {
            opts.push(M::AutoUnmount);
        }
        if let Some(n) = self.max_read {
            opts.push(M::CUSTOM(format!("max_read={n}")));
        }
        let mut cfg = fuser::Config::default();
        cfg.mount_options = opts;
        cfg.acl = match self.access {
            Access::Owner => fuser::SessionACL::Owner,
            Access::RootAndOwner => fuser::SessionACL::RootAndOwner,
            Access::All => fuser::SessionACL::All,
        };
        // One thread reads requests from the kernel: for the catalog requests it
        // answers itself that is faster than several (the kernel keeps waking the same
        // thread); disk work goes to `threads` others.
        cfg.n_threads = Some(1);
        cfg
    }
}

/// Where a background mount logs unless `log=` says: `$XDG_STATE_HOME/dsbfs/mount.log`,
/// else `~/.local/state/dsbfs/mount.log`; without a home (fstab, systemd), root logs to
/// `/var/log/dsbfs-mount.log` and anyone else nowhere.
pub fn default_log_path(
    xdg_state_home: Option<&str>,
    home: Option<&str>,
    is_root: bool,
) -> Option<PathBuf> {
    if let Some(x) = xdg_state_home.filter(|x| x.starts_with('/')) {
        return Some(PathBuf::from(x).join("dsbfs/mount.log"));
    }
    if let Some(h) = home.filter(|h| h.starts_with('/') && *h != "/") {
        return Some(PathBuf::from(h).join(".local/state/dsbfs/mount.log"));
    }
    is_root.then(|| PathBuf::from("/var/log/dsbfs-mount.log"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuser::MountOption as M;

    #[test]
    fn nothing_gives_a_private_read_only_mount() {
        let o = parse::<&str>(&[]).unwrap();
        assert_eq!(o, MountOptions::default());
        let cfg = o.fuser_config("/cat.db");
        assert!(cfg.mount_options.contains(&M::RO));
        assert!(cfg.mount_options.contains(&M::DefaultPermissions));
        assert!(
            cfg.mount_options
                .contains(&M::CUSTOM("subtype=dsbfs".into()))
        );
        assert!(cfg.mount_options.contains(&M::FSName("/cat.db".into())));
        assert_eq!(cfg.acl, fuser::SessionACL::Owner);
        assert_eq!(cfg.n_threads, Some(1));
    }

    #[test]
    fn allow_other_keeps_default_permissions() {
        let o = parse(&["allow_other,noexec"]).unwrap();
        let cfg = o.fuser_config("x");
        assert_eq!(cfg.acl, fuser::SessionACL::All);
        assert!(cfg.mount_options.contains(&M::DefaultPermissions));
        assert!(cfg.mount_options.contains(&M::NoExec));
        assert_eq!(parse(&["allow_root"]).unwrap().access, Access::RootAndOwner);
    }

    #[test]
    fn dsbfs_options_never_reach_the_kernel() {
        let o = parse(&[
            "log=/var/log/x.log,xattr,nopassthrough",
            "threads=3,catalog=/c.db",
        ])
        .unwrap();
        assert_eq!(o.log, LogTarget::Path("/var/log/x.log".into()));
        assert_eq!(o.xattr, Some(true));
        assert!(!o.passthrough);
        assert_eq!(o.threads, 3);
        assert_eq!(o.catalog, Some(PathBuf::from("/c.db")));
        let cfg = o.fuser_config("x");
        for m in &cfg.mount_options {
            if let M::CUSTOM(s) = m {
                assert!(s == "subtype=dsbfs", "{s} reached the kernel");
            }
        }
        assert_eq!(parse(&["noxattr"]).unwrap().xattr, Some(false));
        assert_eq!(parse(&["log=none"]).unwrap().log, LogTarget::Off);
    }

    #[test]
    fn fstab_only_options_are_dropped() {
        let o = parse(&[
            "defaults,noauto,auto,user,users,nofail,_netdev,x-systemd.automount,x-gvfs-show,comment=x,ro,nodev,nosuid,dev,suid",
        ])
        .unwrap();
        assert_eq!(o, MountOptions::default());
    }

    #[test]
    fn rw_and_unknown_options_are_refused() {
        assert!(parse(&["rw"]).unwrap_err().contains("read-only"));
        assert!(parse(&["ro,bogus_opt"]).unwrap_err().contains("bogus_opt"));
        assert!(parse(&["fd=3"]).is_err());
        assert!(parse(&["threads=0"]).is_err());
        assert!(parse(&["threads=x"]).is_err());
        assert!(parse(&["log=relative.log"]).is_err());
        assert!(parse(&["log="]).is_err());
        assert!(parse(&["xattr=1"]).is_err());
        assert!(parse(&["subtype=other"]).is_err());
        assert!(parse(&["max_read=12"]).is_err());
        assert!(
            parse(&["auto_unmount"])
                .unwrap_err()
                .contains("allow_other")
        );
    }

    #[test]
    fn kernel_options_pass_through() {
        let cfg = parse(&["max_read=65536,auto_unmount,allow_other,sync,dirsync"])
            .unwrap()
            .fuser_config("x");
        assert!(
            cfg.mount_options
                .contains(&M::CUSTOM("max_read=65536".into()))
        );
        assert!(cfg.mount_options.contains(&M::AutoUnmount));
        assert!(cfg.mount_options.contains(&M::Sync));
        assert!(cfg.mount_options.contains(&M::DirSync));
        assert_eq!(
            parse(&["fsname=backup"]).unwrap().fsname.as_deref(),
            Some("backup")
        );
    }

    #[test]
    fn later_options_win() {
        assert_eq!(parse(&["xattr", "noxattr"]).unwrap().xattr, Some(false));
        assert!(parse(&["nopassthrough,passthrough"]).unwrap().passthrough);
    }

    #[test]
    fn the_default_log_follows_xdg_then_home_then_root() {
        assert_eq!(
            default_log_path(Some("/s"), Some("/home/a"), false),
            Some(PathBuf::from("/s/dsbfs/mount.log"))
        );
        assert_eq!(
            default_log_path(None, Some("/home/a"), false),
            Some(PathBuf::from("/home/a/.local/state/dsbfs/mount.log"))
        );
        assert_eq!(
            default_log_path(Some("rel"), Some(""), true),
            Some(PathBuf::from("/var/log/dsbfs-mount.log"))
        );
        assert_eq!(default_log_path(None, None, false), None);
    }
}
