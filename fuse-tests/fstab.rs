//! Mounting the way people mount everything else: `mount -t dsbfs`, an fstab line
//! (`mount -T FSTAB DIR`), `type fuse.dsbfs` through mount.fuse3, then `umount`.

use crate::common::*;
use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Links that make this build the one mount(8) and mount.fuse3 run; whatever was there
/// before is put back on drop.
struct Installed(Vec<(PathBuf, Option<PathBuf>)>);

impl Installed {
    fn new(links: &[&str]) -> Installed {
        let mut done = Vec::new();
        for link in links {
            let link = PathBuf::from(link);
            let saved = link.with_extension("dsbfs-test-saved");
            let had = std::fs::symlink_metadata(&link).is_ok();
            if had {
                std::fs::rename(&link, &saved).unwrap();
            }
            std::os::unix::fs::symlink(DSBFS, &link).unwrap();
            done.push((link, had.then_some(saved)));
        }
        Installed(done)
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        for (link, saved) in &self.0 {
            let _ = std::fs::remove_file(link);
            if let Some(s) = saved {
                let _ = std::fs::rename(s, link);
            }
        }
    }
}

/// Unmounts `dir` on drop, whatever happened.
struct Undo(PathBuf);

impl Drop for Undo {
    fn drop(&mut self) {
        unmount(&self.0);
    }
}

fn mount_cmd(args: &[&str]) {
    let out = Command::new("mount").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "mount {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check_and_umount(w: &World, dir: &Path) {
    assert!(
        is_dsbfs_mount(dir),
        "{} is not a dsbfs mount",
        dir.display()
    );
    assert_eq!(
        files_under(dir),
        files_under(&w.path("src")),
        "the mount shows the source"
    );
    // A program elsewhere on the machine may glance into the new mount (a desktop's
    // indexer, another test's walk of every mount point): umount says "busy" for that
    // moment, as it would to a user, who tries again.
    let mut last = String::new();
    let unmounted = wait_until(Duration::from_secs(5), || {
        let out = Command::new("umount").arg(dir).output().unwrap();
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        out.status.success()
    });
    assert!(
        unmounted,
        "umount: {last}\nusing it: {}",
        processes_using(dir)
    );
    assert!(wait_until(Duration::from_secs(10), || !is_mounted(dir)));
}

#[test]
fn mount_t_dsbfs_an_fstab_line_and_type_fuse_dsbfs_mount_and_umount() {
    assert!(
        is_root(),
        "mount(8) helpers are installed in /sbin: run as root"
    );
    let w = backed_up("1G");
    let _links = Installed::new(&["/sbin/mount.dsbfs", "/usr/local/bin/dsbfs"]);
    let cat = w.catalog.to_str().unwrap().to_string();
    let log = w.path("mount.log");
    let log = log.to_str().unwrap();

    let dir = w.path("mnt-t");
    std::fs::create_dir_all(&dir).unwrap();
    let _undo = Undo(dir.clone());
    mount_cmd(&[
        "-t",
        "dsbfs",
        &cat,
        dir.to_str().unwrap(),
        "-o",
        &format!("ro,allow_other,log={log}"),
    ]);
    check_and_umount(&w, &dir);

    // The fstab line of the manual: no `ro`, so mount(8) passes `rw`; still read-only.
    let dir = w.path("mnt-fstab");
    std::fs::create_dir_all(&dir).unwrap();
    let _undo2 = Undo(dir.clone());
    let fstab = w.path("fstab");
    std::fs::write(
        &fstab,
        format!(
            "{cat} {} dsbfs noauto,x-systemd.automount,allow_other,log={log} 0 0\n",
            dir.display()
        ),
    )
    .unwrap();
    mount_cmd(&["-T", fstab.to_str().unwrap(), dir.to_str().unwrap()]);
    let write = std::fs::write(dir.join("new-file"), "x");
    assert_eq!(
        write.unwrap_err().raw_os_error(),
        Some(libc::EROFS),
        "read-only even when mount(8) said rw"
    );
    check_and_umount(&w, &dir);

    // type fuse.dsbfs: mount.fuse3 runs `dsbfs SRC DIR -o OPTS` from PATH.
    let dir = w.path("mnt-fuse");
    std::fs::create_dir_all(&dir).unwrap();
    let _undo3 = Undo(dir.clone());
    std::fs::write(
        &fstab,
        format!(
            "{cat} {} fuse.dsbfs ro,allow_other,log={log} 0 0\n",
            dir.display()
        ),
    )
    .unwrap();
    mount_cmd(&["-T", fstab.to_str().unwrap(), dir.to_str().unwrap()]);
    check_and_umount(&w, &dir);

    // A bad option is one clear line and no mount.
    let dir = w.path("mnt-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new("mount")
        .args(["-t", "dsbfs", &cat, dir.to_str().unwrap(), "-o", "bogus"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown mount option"));
    assert!(!is_mounted(&dir));
}
