//! Mounting and serving: checks that give one clear error, the fork that lets
//! `dsbfs mount` return only once the mount is ready, signals, and the log.
//!
//! Without `-f` the process forks before any thread exists; the child starts a new
//! session, sends its output to the log, closes every other descriptor it inherited,
//! mounts, and reports "OK" or the error through a pipe; the parent waits for that
//! report and exits 0 or 1. With `-f` the same steps
//! run in the foreground and the log is stderr. Either way SIGINT, SIGTERM and SIGHUP
//! unmount (lazily when the mount is busy), as do `fusermount3 -u` and `umount`.

use super::disks::Disks;
use super::filesystem::{Filesystem, Settings};
use super::fuse::DsbFs;
use super::options::{LogTarget, MountOptions, default_log_path};
use super::view::View;
use anyhow::{Context, Result, anyhow, bail};
use nix::sys::signal::{SigSet, Signal};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

pub struct MountRequest {
    pub catalog: PathBuf,
    pub mountpoint: PathBuf,
    pub options: MountOptions,
    pub foreground: bool,
    /// Say where the mount and its log are once it is ready.
    pub verbose: bool,
}

/// Mounts and serves. In the foreground this returns after the unmount; otherwise the
/// calling process returns as soon as the background mount is ready.
pub fn mount(req: MountRequest) -> Result<()> {
    let mountpoint = check_mountpoint(&req.mountpoint)?;
    let catalog = std::fs::canonicalize(&req.catalog).map_err(|_| {
        anyhow!(
            "no catalog at {}: give the path of a dsbfs catalog",
            req.catalog.display()
        )
    })?;
    check_fuse()?;
    // Open once here for a direct error; the serving process opens its own connections
    // (a SQLite connection must not cross a fork).
    drop(View::open(&catalog, &req.options.show)?);
    let log = open_log(&req.options.log, req.foreground)?;
    let job = Job {
        catalog,
        mountpoint,
        options: req.options,
    };
    if req.foreground {
        let session = job.mount()?;
        if let Some((f, _)) = &log {
            nix::unistd::dup2_stderr(f).context("cannot send the log to stderr")?;
        }
        return job.serve(session);
    }
    daemonize(job, log, req.verbose)
}

struct Job {
    catalog: PathBuf,
    mountpoint: PathBuf,
    options: MountOptions,
}

impl Job {
    fn label(&self) -> String {
        self.mountpoint.display().to_string()
    }

    /// Mounts; the mount is usable when this returns.
    fn mount(&self) -> Result<fuser::Session<DsbFs>> {
        // Blocked before mounting, so a signal arriving before `serve` waits for it
        // instead of killing the process and leaving a dead mount; request threads
        // inherit the mask.
        stop_signals().thread_block()?;
        let view = View::open(&self.catalog, &self.options.show)?;
        let shown = view.describe();
        // The catalog's own folder is where a disk holding a catalog copy is found,
        // wherever that disk is mounted now (disaster recovery).
        let extra = self
            .catalog
            .parent()
            .map(|p| vec![p.to_owned()])
            .unwrap_or_default();
        let settings = Settings {
            xattr: self.options.xattr.unwrap_or(super::XATTR_DEFAULT),
            passthrough: self.options.passthrough,
            label: self.label(),
        };
        let fs = Filesystem::new(view, Disks::new(extra), settings, self.options.threads);
        let fs = DsbFs::new(fs);
        let fsname = self.options.fsname.clone().unwrap_or_else(|| {
            let p = self.catalog.display().to_string();
            // Commas would split the fusermount3 option string.
            if p.contains(',') { "dsbfs".into() } else { p }
        });
        let cfg = self.options.fuser_config(&fsname);
        let session = fuser::Session::new(fs, &self.mountpoint, &cfg)
            .map_err(|e| mount_error(&self.mountpoint, e))?;
        raise_readahead(&self.mountpoint);
        super::view::warm_up(&self.catalog);
        tracing::info!(
            "{}: mounted {} ({shown}), pid {}",
            self.label(),
            self.catalog.display(),
            std::process::id()
        );
        Ok(session)
    }

    /// Serves until unmounted by a signal, `fusermount3 -u` or `umount`.
    fn serve(&self, mut session: fuser::Session<DsbFs>) -> Result<()> {
        let signals = stop_signals();
        let mut unmounter = session.unmount_callable();
        let mountpoint = self.mountpoint.clone();
        let label = self.label();
        std::thread::Builder::new()
            .name("dsbfs-signals".into())
            .spawn(move || {
                if let Ok(sig) = signals.wait() {
                    tracing::info!("{label}: {sig}: unmounting");
                    if let Err(e) = unmounter.unmount() {
                        tracing::warn!("{label}: busy ({e}); detaching it now, it goes away when the last user leaves");
                        lazy_unmount(&mountpoint);
                    }
                }
            })?;
        session
            .run()
            .with_context(|| format!("serving the mount at {}", self.mountpoint.display()))
    }
}

/// The signals that unmount.
fn stop_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    set
}

/// The mountpoint, absolute, after the checks that give a clear error.
fn check_mountpoint(mp: &Path) -> Result<PathBuf> {
    match std::fs::metadata(mp) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => bail!("the mountpoint {} is not a folder", mp.display()),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => bail!(
            "{} is a dead mount (its process is gone): unmount it with `fusermount3 -u {}` first",
            mp.display(),
            mp.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "the mountpoint {} does not exist: create it with `mkdir -p {}`",
            mp.display(),
            mp.display()
        ),
        Err(e) => bail!("cannot use the mountpoint {}: {e}", mp.display()),
    }
    let abs = std::fs::canonicalize(mp)?;
    if crate::mounts::mounts()
        .iter()
        .any(|m| m.mount_point == abs && m.fstype.starts_with("fuse.dsbfs"))
    {
        // Its attributes and listing may be cached for long; statfs always asks the
        // process behind it.
        if nix::sys::statfs::statfs(&abs).is_err_and(|e| e == nix::errno::Errno::ENOTCONN) {
            bail!(
                "{} is a dead mount (its process is gone): unmount it with `fusermount3 -u {}` first",
                abs.display(),
                abs.display()
            );
        }
        bail!(
            "{} is busy: a dsbfs catalog is mounted there already (unmount it with `fusermount3 -u {}`)",
            abs.display(),
            abs.display()
        );
    }
    Ok(abs)
}

fn check_fuse() -> Result<()> {
    if !Path::new("/dev/fuse").exists() {
        bail!(
            "this machine cannot mount FUSE filesystems: /dev/fuse is missing (load the fuse kernel module; in a container, pass the /dev/fuse device)"
        );
    }
    if nix::unistd::access(
        "/dev/fuse",
        nix::unistd::AccessFlags::R_OK | nix::unistd::AccessFlags::W_OK,
    )
    .is_err()
    {
        bail!(
            "cannot open /dev/fuse: permission denied (mount as root, or let users mount: fuse3 installs /dev/fuse with mode 0666)"
        );
    }
    Ok(())
}

fn mount_error(mp: &Path, e: std::io::Error) -> anyhow::Error {
    let why = match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => {
            "permission denied (mount as root, or install fuse3 so fusermount3 can mount for you)"
                .to_string()
        }
        Some(libc::ENOENT) if !nix::unistd::geteuid().is_root() => {
            "fusermount3 was not found: install fuse3".to_string()
        }
        _ => e.to_string(),
    };
    anyhow!("cannot mount at {}: {why}", mp.display())
}

/// Opens the log: stderr in the foreground unless `log=` names a file; in the
/// background `log=` or the default path, or nowhere with `log=none`.
fn open_log(target: &LogTarget, foreground: bool) -> Result<Option<(File, PathBuf)>> {
    let path = match target {
        LogTarget::Off => return Ok(None),
        LogTarget::Path(p) => p.clone(),
        LogTarget::Default if foreground => return Ok(None),
        LogTarget::Default => {
            let env = |k| std::env::var(k).ok();
            match default_log_path(
                env("XDG_STATE_HOME").as_deref(),
                env("HOME").as_deref(),
                nix::unistd::geteuid().is_root(),
            ) {
                Some(p) => p,
                None => return Ok(None),
            }
        }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the log folder {}", dir.display()))?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| {
            format!(
                "cannot open the log {} (choose another with -o log=PATH)",
                path.display()
            )
        })?;
    Ok(Some((f, path)))
}

/// Forks; the child mounts and serves, the parent waits for the report.
fn daemonize(job: Job, log: Option<(File, PathBuf)>, verbose: bool) -> Result<()> {
    let log_path = log.as_ref().map(|(_, p)| p.clone());
    safe_to_fork(thread_count())?;
    let (rx, tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: the process has a single thread (checked above), so the child may do anything.
    #[allow(unsafe_code)]
    let forked = unsafe { nix::unistd::fork() }?;
    match forked {
        nix::unistd::ForkResult::Child => {
            drop(rx);
            let code = match child(&job, log, tx) {
                Ok(()) => 0,
                Err(e) => {
                    tracing::error!("{}: {e:#}", job.label());
                    1
                }
            };
            std::process::exit(code);
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(tx);
            let mut report = String::new();
            File::from(rx).read_to_string(&mut report)?;
            let report = report.trim_end();
            let log_name = log_path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "none".into());
            if report == "OK" || report.starts_with("OK ") {
                if verbose {
                    errln!(
                        "dsbfs: mounted {} at {} (pid {child}, log {log_name})",
                        job.catalog.display(),
                        job.mountpoint.display(),
                    );
                }
                Ok(())
            } else if let Some(msg) = report.strip_prefix("ERR ") {
                Err(anyhow!("{msg}"))
            } else {
                Err(anyhow!(
                    "the mount process (pid {child}) ended before the mount was ready (log: {log_name})"
                ))
            }
        }
    }
}

/// The background process: new session, output to the log, mount, report, serve.
fn child(job: &Job, log: Option<(File, PathBuf)>, tx: OwnedFd) -> Result<()> {
    let mut tx = File::from(tx);
    let _ = nix::unistd::setsid();
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let redirected = nix::unistd::dup2_stdin(&devnull)
        .and_then(|()| nix::unistd::dup2_stdout(&devnull))
        .and_then(|()| match &log {
            Some((f, _)) => nix::unistd::dup2_stderr(f),
            None => nix::unistd::dup2_stderr(&devnull),
        });
    redirected.context("cannot redirect output")?;
    drop((log, devnull));
    let _ = std::env::set_current_dir("/");
    let session = match close_inherited(&[tx.as_raw_fd()]).and_then(|()| job.mount()) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(tx, "ERR {}", format!("{e:#}").replace('\n', " "));
            return Err(e);
        }
    };
    writeln!(tx, "OK {}", std::process::id())?;
    drop(tx);
    job.serve(session)
}

/// Closes every descriptor above stderr but those in `keep`. Called in the background
/// process before it opens anything of its own, so what it closes is what it inherited:
/// a daemon holds nothing of its parent (not the lock of `flock LOCK dsbfs mount …`, not
/// a pipe someone reads to its end), whether it was started from a shell, fstab or systemd.
fn close_inherited(keep: &[RawFd]) -> Result<()> {
    let open: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .context("cannot list the descriptors to close (/proc/self/fd)")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open.into_iter().filter(|fd| *fd > 2 && !keep.contains(fd)) {
        // SAFETY: no object of this process owns `fd`: the only descriptors it opened
        // are stdin, stdout, stderr and those in `keep`, and the listing's own was closed
        // when it ended (closing it again fails with EBADF, which changes nothing).
        #[allow(unsafe_code)]
        unsafe {
            libc::close(fd);
        }
    }
    Ok(())
}

/// Whether a process with `threads` may fork and let the child run on: only with a
/// single thread (another could hold a lock the child would wait for forever), and a
/// count that cannot be read is no count of one.
fn safe_to_fork(threads: std::io::Result<usize>) -> Result<()> {
    match threads {
        Ok(1) => Ok(()),
        Ok(n) => bail!("internal error: dsbfs must fork before it starts threads ({n} run)"),
        Err(e) => bail!("cannot tell whether it is safe to fork (/proc/self/task: {e})"),
    }
}

/// The threads of this process. Forking is only safe with one, so a count that cannot
/// be read is an error, never taken for one.
fn thread_count() -> std::io::Result<usize> {
    let mut n = 0;
    for task in std::fs::read_dir("/proc/self/task")? {
        task?;
        n += 1;
    }
    Ok(n)
}

/// Detaches the mount now; the kernel finishes it when the last user leaves.
fn lazy_unmount(mp: &Path) {
    if nix::unistd::geteuid().is_root() {
        let _ = nix::mount::umount2(mp, nix::mount::MntFlags::MNT_DETACH);
    } else {
        let _ = std::process::Command::new("fusermount3")
            .arg("-u")
            .arg("-z")
            .arg(mp)
            .status();
    }
}

/// The mount's readahead, in KiB (see [`raise_readahead`]).
const READ_AHEAD_KB: &str = "1024";

/// Reads through dsbfs come in readahead-sized requests, 128 KiB by default; 1 MiB
/// needs a quarter of the round trips. Only root may change it; no harm otherwise.
fn raise_readahead(mp: &Path) {
    let Ok(text) = std::fs::read("/proc/self/mountinfo") else {
        return;
    };
    if let Some((major, minor)) = crate::mounts::device_of(&text, mp) {
        let _ = std::fs::write(
            format!("/sys/class/bdi/{major}:{minor}/read_ahead_kb"),
            READ_AHEAD_KB,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forking_needs_a_known_single_thread() {
        assert!(safe_to_fork(Ok(1)).is_ok());
        assert!(safe_to_fork(Ok(2)).is_err());
        let unreadable = std::io::Error::from_raw_os_error(libc::ENOENT);
        let e = safe_to_fork(Err(unreadable)).unwrap_err().to_string();
        assert!(e.contains("cannot tell whether it is safe to fork"), "{e}");
        assert!(thread_count().unwrap() >= 1);
    }
}
