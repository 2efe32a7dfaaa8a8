//! `dsbfs watch` backs up to a disk as soon as it is connected.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// Ends the watch process we started, even when the test fails.
struct Stop(std::process::Child);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_disk_plugged_in_while_watching_gets_backed_up() {
    let w = World::new();
    write(w.path("src/a.txt"), "family photo 1");
    write(w.path("src/b.txt"), "family photo 2");
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok(["disk", "add", "usb", w.path("usb").to_str().unwrap()]);
    std::fs::rename(w.path("usb"), w.path("drawer")).unwrap();
    let _watch = Stop(
        w.command()
            .args(["watch", "--poll", "200ms"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        w.json(["ls", "--json", "--on", "usb"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    std::fs::rename(w.path("drawer"), w.path("usb")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let on = w
            .json(["ls", "--json", "--on", "usb"])
            .as_array()
            .unwrap()
            .len();
        if on == 2 && w.path("usb/dsbfs-catalog.db").is_file() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the watch never backed up the disk ({on} files on it)"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let copy = dsbfs::catalog::Catalog::open_readonly(&w.path("usb/dsbfs-catalog.db")).unwrap();
    assert_eq!(copy.disks().unwrap()[0].name, "usb");
}
