//! `dsbfs watch`: stay running; rescan now and then, and back up to each registered disk
//! as soon as it is connected. A disk is noticed through mount-table events (a drive
//! being mounted) and through a periodic look (folder-disks appear without a mount).

use crate::backup::BackupOptions;
use crate::catalog::Catalog;
use anyhow::Result;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::collections::HashSet;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

pub struct WatchOptions {
    pub scan_every: Duration,
    pub poll: Duration,
}

pub fn watch(catalog: &Path, opts: &WatchOptions) -> Result<()> {
    let mut mountinfo = std::fs::File::open("/proc/self/mountinfo")?;
    let mut seen: HashSet<i64> = HashSet::new();
    let mut last_scan: Option<Instant> = None;
    tracing::info!("watching for disks (catalog {})", catalog.display());
    loop {
        let cat = Catalog::open(catalog)?;
        if last_scan.is_none_or(|t| t.elapsed() >= opts.scan_every) && !cat.sources()?.is_empty() {
            match crate::scan::run(&cat, false) {
                Ok(s) => tracing::info!(
                    "scan {}: {} new, {} changed, {} deleted",
                    s.scan,
                    s.new.files,
                    s.changed.files,
                    s.deleted.files
                ),
                Err(e) => tracing::error!("scan failed: {e:#}"),
            }
            last_scan = Some(Instant::now());
            // A new scan may need every connected disk again.
            seen.clear();
        }
        let connected = crate::disks::connected(&cat)?;
        for disk in &connected {
            if !seen.insert(disk.record.id) {
                continue;
            }
            let opts = BackupOptions {
                dry_run: false,
                limit: None,
                max_copies: None,
                evict: true,
                progress: false,
            };
            match crate::backup::run(&cat, disk, &opts) {
                Ok(r) => tracing::info!(
                    "backup to {}: copied {} objects ({} bytes), deleted {}{}",
                    r.disk,
                    r.copied.0,
                    r.copied.1,
                    r.deleted.0,
                    r.stopped
                        .map(|s| format!("; stopped: {s}"))
                        .unwrap_or_default()
                ),
                Err(e) => tracing::error!("backup to {} failed: {e:#}", disk.record.name),
            }
        }
        // Forget unplugged disks, so plugging one in again backs it up again.
        seen.retain(|id| connected.iter().any(|c| c.record.id == *id));
        drop(cat);
        wait_for_mount_change(&mut mountinfo, opts.poll)?;
    }
}

/// Sleeps until the mount table changes or `timeout` passes.
fn wait_for_mount_change(mountinfo: &mut std::fs::File, timeout: Duration) -> Result<()> {
    use std::io::Seek;
    mountinfo.rewind()?;
    let mut sink = Vec::new();
    mountinfo.read_to_end(&mut sink)?;
    let mut fds = [PollFd::new(mountinfo.as_fd(), PollFlags::POLLPRI)];
    let ms = PollTimeout::try_from(timeout.as_millis().min(i32::MAX as u128) as i32)
        .unwrap_or(PollTimeout::MAX);
    match poll(&mut fds, ms) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
