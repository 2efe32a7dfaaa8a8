//! Run history (`log`, `status`) and reports (`report`, for one machine or several).

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A source of three files backed up to `usb`.
fn backed_up() -> World {
    let w = World::new();
    write(w.path("src/photos/a.jpg"), "photo a");
    write(w.path("src/photos/b.jpg"), "photo b");
    write(w.path("src/notes.txt"), "notes");
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok([
        "disk",
        "add",
        "--create",
        "usb",
        w.path("usb").to_str().unwrap(),
    ]);
    w.ok(["scan", "-q"]);
    w.expect(0, ["backup", "usb", "-q"]);
    w
}

fn runs(w: &World) -> Vec<serde_json::Value> {
    w.json(["log", "--json"]).as_array().unwrap().clone()
}

#[test]
fn every_run_by_hand_is_recorded_and_status_shows_each_disks_last_backup_and_verify() {
    let w = backed_up();
    w.ok(["verify", "usb", "-q"]);
    w.ok(["restore", w.path("out").to_str().unwrap(), "-q"]);
    w.ok(["forget", "-q"]);
    w.ok(["backup", "usb", "--dry-run", "-q"]);
    w.ok(["forget", "--dry-run", "-q"]);
    let list = runs(&w);
    let kinds: Vec<&str> = list.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["scan", "backup", "verify", "restore", "forget"],
        "dry runs change nothing and are not runs"
    );
    for r in &list {
        assert_eq!(r["origin"], "hand");
        assert_eq!(r["result"], "ok", "{r:#}");
        // RFC 3339 in UTC, one width: comparing the text compares the times.
        assert!(r["finished"].as_str().unwrap() >= r["started"].as_str().unwrap());
    }
    assert_eq!(list[0]["files"], 3, "a scan counts what it hashed");
    assert_eq!(list[1]["disk"], "usb");
    assert_eq!(list[1]["bytes"], 19);
    assert_eq!(
        list[1]["copies"][1]["files"], 3,
        "after the backup: 3 files with 1 copy"
    );
    assert_eq!(
        list[2]["summary"],
        "checked 3 objects (19 B): 0 damaged, 0 missing, 0 unknown"
    );
    assert_eq!(list[3]["files"], 3);

    let text = w.ok(["log"]);
    assert!(text.starts_with("STARTED"), "{text}");
    assert_eq!(text.lines().count(), 6, "{text}");
    assert!(
        text.lines().nth(2).unwrap().contains("backup   hand   usb"),
        "{text}"
    );
    assert_eq!(
        w.json(["log", "--json", "--since", "1h"])
            .as_array()
            .unwrap()
            .len(),
        5
    );

    let st = w.json(["status", "--json"]);
    let disk = &st["disks"][0];
    assert_eq!(disk["last_backup_run"]["result"], "ok");
    assert_eq!(disk["last_verify_run"]["result"], "ok");
    let text = w.run(["status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    let line = text.lines().find(|l| l.contains("usb")).unwrap();
    assert!(line.contains(" ok  verify "), "{line}");
    assert!(line.ends_with(" ok"), "{line}");

    // A damaged object: the verify needs attention, and status says so.
    let obj = std::fs::read_dir(w.path("usb/objects"))
        .unwrap()
        .flat_map(|f| std::fs::read_dir(f.unwrap().path()).unwrap())
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&obj, "rot").unwrap();
    w.expect(3, ["verify", "usb", "-q"]);
    let last = runs(&w).pop().unwrap();
    assert_eq!(
        (&last["kind"], &last["result"]),
        (&"verify".into(), &"attention".into())
    );
    assert!(
        last["errors"][0].as_str().unwrap().starts_with("damaged: "),
        "{last:#}"
    );
    let text = String::from_utf8_lossy(&w.run(["status"]).stdout).to_string();
    let line = text.lines().find(|l| l.contains("usb")).unwrap();
    assert!(
        line.contains("verify ") && line.ends_with(" attention"),
        "{line}"
    );
    let log = w.ok(["log"]);
    assert!(
        log.contains("    damaged: "),
        "the first errors are shown: {log}"
    );
}

#[test]
fn a_failed_backup_is_recorded_with_its_error() {
    let w = backed_up();
    write(w.path("src/new.txt"), "new");
    w.ok(["scan", "-q"]);
    std::fs::remove_file(w.path("usb/dsbfs-catalog.db")).unwrap();
    std::fs::create_dir_all(w.path("usb/dsbfs-catalog.db/in-the-way")).unwrap();
    w.expect(1, ["backup", "usb", "-q"]);
    let last = runs(&w).pop().unwrap();
    assert_eq!(
        (&last["kind"], &last["result"]),
        (&"backup".into(), &"failed".into())
    );
    assert_eq!(
        last["errors"][0], "the catalog copy could not be written",
        "{last:#}"
    );
    // `disk` errors (not connected) fail before anything runs: no run.
    std::fs::rename(w.path("usb"), w.path("away")).unwrap();
    let before = runs(&w).len();
    w.expect(1, ["backup", "usb", "-q"]);
    assert_eq!(runs(&w).len(), before);
}

#[test]
fn the_report_says_what_is_at_risk_what_failed_and_how_the_archive_grew() {
    let w = backed_up();
    write(w.path("src/photos/c.jpg"), "photo c, new");
    w.ok(["scan", "-q"]);
    std::fs::create_dir_all(w.path("usb/dsbfs-catalog.db.tmp/in-the-way")).unwrap();
    w.expect(1, ["backup", "usb", "-q"]);
    let out = w.run(["report"]);
    assert_eq!(out.status.code(), Some(3), "files are at risk");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("dsbfs report for {}\n", dsbfs::runs::host())),
        "{text}"
    );
    assert!(text.contains("covering the last 7 days"), "{text}");
    assert!(
        text.contains("AT RISK: 4 files (31 B) have fewer copies than wanted"),
        "{text}"
    );
    assert!(text.contains("\nnext: "), "advice: {text}");
    assert!(text.contains("  backup   1 ok, 1 failed"), "{text}");
    assert!(text.contains("backup of usb failed: copied"), "{text}");
    assert!(text.contains("growth since"), "{text}");
    assert!(text.contains("+1 files (3 → 4)"), "{text}");

    let json = w.json(["report", "--format", "json"]);
    assert_eq!(json["protection"]["below_wanted"]["files"], 4);
    assert_eq!(json["problems"][0]["kind"], "backup");
    assert_eq!(json["growth"]["files_now"], 4);
    assert_eq!(json["disks"][0]["name"], "usb");
    let points = json["copies_over_time"].as_array().unwrap();
    assert!(points.len() >= 2, "after the backups, and now: {points:?}");
}

/// Loads `file` in headless Chromium and returns the DOM it built.
fn chromium_dom(file: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium is installed (scripts/test.sh installs it)");
    let reader = {
        let mut out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut out, &mut s).unwrap();
            s
        })
    };
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium: {status}");
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not load the page within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

#[test]
fn the_html_report_loads_in_a_headless_browser_as_html_and_as_xhtml() {
    let w = backed_up();
    // A failure to list, and a catalog whose name must be escaped.
    w.ok([
        "disk",
        "add",
        "--create",
        "blue",
        w.path("blue").to_str().unwrap(),
    ]);
    std::fs::create_dir_all(w.path("blue/dsbfs-catalog.db/in-the-way")).unwrap();
    w.expect(1, ["backup", "blue", "-q"]);
    let odd = w.path("<b>&'odd\".db");
    std::fs::copy(&w.catalog, &odd).unwrap();
    let out = w.run([
        "report",
        "--format",
        "html",
        "--catalog",
        odd.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    let page = String::from_utf8(out.stdout).unwrap();
    for outside in ["<script", "src=", "href=", "<img", "<link", "url("] {
        assert!(!page.contains(outside), "self-contained: {outside}");
    }
    for ext in ["html", "xhtml"] {
        let file = w.path(&format!("report.{ext}"));
        std::fs::write(&file, &page).unwrap();
        let dom = chromium_dom(&file);
        assert!(
            !dom.contains("parsererror"),
            "{ext}: not well-formed: {dom}"
        );
        assert!(
            dom.contains(&format!("dsbfs report for {}", dsbfs::runs::host())),
            "{ext}: {dom}"
        );
        assert!(
            dom.contains("id=\"copies-chart\""),
            "{ext}: the copies chart"
        );
        assert!(dom.contains("id=\"fill-chart\""), "{ext}: the fill chart");
        assert!(dom.matches("<rect").count() >= 6, "{ext}: bars drawn");
        assert!(
            dom.contains("&lt;b&gt;&amp;'odd\".db"),
            "{ext}: the name as text: {dom}"
        );
        assert!(dom.contains("failed"), "{ext}");
    }
}

#[test]
fn a_report_of_several_machines_has_a_line_each_and_names_what_cannot_be_read() {
    let a = backed_up();
    let b = backed_up();
    write(b.path("src/unsaved.txt"), "not on any disk");
    b.ok(["scan", "-q"]);
    let folder = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(folder.path().join("server/disk1")).unwrap();
    std::fs::copy(
        a.path("usb/dsbfs-catalog.db"),
        folder.path().join("server/disk1/dsbfs-catalog.db"),
    )
    .unwrap();
    std::fs::write(folder.path().join("junk.db"), "not sqlite").unwrap();
    let broken = folder.path().join("broken.txt");
    std::fs::write(&broken, "not a catalog").unwrap();
    let out = a.run([
        "report",
        "--catalog",
        a.catalog.to_str().unwrap(),
        "--catalog",
        b.catalog.to_str().unwrap(),
        "--catalog",
        folder.path().to_str().unwrap(),
        "--catalog",
        broken.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "b has a file on no disk");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("dsbfs: 4 machines"), "{text}");
    assert!(lines[1].starts_with("MACHINE"), "{text}");
    assert_eq!(lines.len(), 6, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("cannot read") && l.contains("broken.txt")),
        "{text}"
    );
    let json = a.json([
        "report",
        "--format",
        "json",
        "--catalog",
        a.catalog.to_str().unwrap(),
        "--catalog",
        b.catalog.to_str().unwrap(),
    ]);
    let m = json["machines"].as_array().unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m[0]["machine"], dsbfs::runs::host());
    assert_eq!(m[0]["last_backup"]["result"], "ok");
    assert_eq!(m[1]["no_copy"]["files"], 1);
    assert!(m[1]["at_risk"]["bytes"].as_u64().unwrap() > 0);
    assert!(m[0]["last_scan"].as_str().is_some_and(|t| t.ends_with('Z')));
    let html = a.run([
        "report",
        "--format",
        "html",
        "--catalog",
        folder.path().to_str().unwrap(),
    ]);
    let html = String::from_utf8(html.stdout).unwrap();
    assert!(
        html.contains("<td>") && html.contains("disk1/dsbfs-catalog.db"),
        "{html}"
    );

    let out = a.run([
        "report",
        "--catalog",
        folder.path().join("server/none").to_str().unwrap(),
        "--catalog",
        broken.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    let e = a.run(["status", "--catalog", "x", "--catalog", "y"]);
    assert_eq!(e.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&e.stderr).contains("only `dsbfs report` reads several catalogs")
    );
}
