//! The restore context on every disk, `context export`/`import`, `recover`, and the
//! shell recipe of doc/DISK-FORMAT.md: getting the archive back without the catalog.

mod common;

use common::*;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const CONTEXT: &str = "dsbfs-context.tsv";

/// The rich tree at `src`, scanned as the archive's root; its total bytes.
fn setup(w: &World) -> u64 {
    rich_tree(&w.path("src"));
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok(["scan", "-q"]);
    w.total_bytes()
}

fn add_disk(w: &World, name: &str, size: u64) {
    let size = size.to_string();
    w.ok([
        "disk",
        "add",
        "--create",
        name,
        w.path(name).to_str().unwrap(),
        "--size",
        &size,
    ]);
}

fn context_lines(disk: &Path) -> Vec<String> {
    let text = std::fs::read(disk.join(CONTEXT)).unwrap();
    String::from_utf8(text)
        .expect("the context is UTF-8 text")
        .lines()
        .map(str::to_string)
        .collect()
}

/// The `dsbfs ls --print0` paths with a copy on `disk`, without their leading '/'.
fn files_on(w: &World, disk: &str) -> Vec<Vec<u8>> {
    let out = w.run(["ls", "--on", disk, "--print0"]);
    assert!(out.status.success());
    out.stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| p[1..].to_vec())
        .collect()
}

/// Runs a system tool, insisting on success; returns stdout.
fn tool(prog: &str, args: &[&OsStr]) -> String {
    String::from_utf8_lossy(&tool_ok(prog, args)).into_owned()
}

fn o(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// `rsync -a -n -i -c` from `src` to `dest`, limited to `files` (relative paths) when given:
/// what it would change.
fn rsync_differences(src: &Path, dest: &Path, files: Option<&[Vec<u8>]>) -> String {
    let mut args: Vec<std::ffi::OsString> = ["-a", "-n", "-i", "-c"].map(Into::into).to_vec();
    let list = dest.with_extension("files");
    if let Some(files) = files {
        std::fs::write(&list, files.join(&0u8)).unwrap();
        args.push("--from0".into());
        args.push(format!("--files-from={}", list.display()).into());
        args.push("--no-implied-dirs".into());
    }
    args.push(format!("{}/", src.display()).into());
    args.push(format!("{}/", dest.display()).into());
    let refs: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    tool("rsync", &refs)
}

#[test]
fn every_backup_leaves_a_restore_context_that_grep_and_awk_read() {
    let w = World::new();
    let total = setup(&w);
    add_disk(&w, "a", total * 6 / 10);
    w.ok(["backup", "a", "-q"]);
    let lines = context_lines(&w.path("a"));
    assert!(
        lines.iter().any(|l| l.starts_with("#disk\ta\t")),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l.starts_with("#snapshot\t1\t")));
    let rows: Vec<Vec<&str>> = lines
        .iter()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
        .collect();
    assert!(rows.iter().all(|r| r.len() == 11), "eleven fields per line");
    // One line per path of the snapshot: files, folders and symlinks alike.
    let files = w.json(["status", "--json"])["files"].as_u64().unwrap() as usize;
    assert_eq!(rows.iter().filter(|r| r[0] == "f").count(), files);
    assert_eq!(rows.len(), files + 2 + 11, "and 2 symlinks, 11 folders");
    assert!(
        rows.iter()
            .any(|r| r[0] == "l" && r[9] == "/nonexistent/dangling")
    );
    assert!(
        rows.iter()
            .any(|r| r[0] == "d" && r[10] == "/empty/nested/deeper")
    );
    // The object column names exactly what the disk holds, by its path on the disk.
    let on_disk: Vec<&Vec<&str>> = rows.iter().filter(|r| r[8] != "-").collect();
    assert_eq!(on_disk.len(), files_on(&w, "a").len());
    assert!(
        on_disk.len() < files,
        "the disk holds only part of the archive"
    );
    for r in &on_disk {
        assert_eq!(r[8], format!("objects/{}/{}", &r[6][..2], r[6]));
        assert!(w.path("a").join(r[8]).is_file());
    }
    // What people type works on it.
    let awk = tool(
        "awk",
        &[
            o("-F\t"),
            o("$1 == \"f\" && $9 != \"-\" { n++ } END { print n }"),
            w.path("a").join(CONTEXT).as_os_str(),
        ],
    );
    assert_eq!(awk.trim(), on_disk.len().to_string());
    let grep = tool(
        "grep",
        &[
            o("-c"),
            o("/photos/2001/"),
            w.path("a").join(CONTEXT).as_os_str(),
        ],
    );
    assert_eq!(
        grep.trim(),
        "10",
        "plain text: grep counts, not \"binary file matches\""
    );
    let odd = tool(
        "grep",
        &[o("-F"), o("写真"), w.path("a").join(CONTEXT).as_os_str()],
    );
    assert!(odd.contains("/odd/ünïcödé 写真.jpg"), "{odd}");

    // The next backup writes the context of the newest snapshot, and leaves no temporary.
    write(w.path("src/photos/new.jpg"), "new");
    std::fs::remove_file(w.path("src/docs/private.txt")).unwrap();
    w.ok(["scan", "-q"]);
    w.ok(["backup", "a", "-q"]);
    let lines = context_lines(&w.path("a"));
    assert!(lines.iter().any(|l| l.starts_with("#snapshot\t2\t")));
    assert!(lines.iter().any(|l| l.ends_with("\t/photos/new.jpg")));
    assert!(!lines.iter().any(|l| l.ends_with("\t/docs/private.txt")));
    let names: Vec<_> = std::fs::read_dir(w.path("a"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
}

/// The shell recipe of doc/DISK-FORMAT.md, between its markers.
fn recipe() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/DISK-FORMAT.md"))
        .unwrap();
    let block = doc
        .split("<!-- recipe: begin")
        .nth(1)
        .and_then(|rest| rest.split("<!-- recipe: end").next())
        .expect("DISK-FORMAT.md has the recipe between its markers");
    let code = block
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    assert!(code.lines().count() <= 10, "a ten-line recipe:\n{code}");
    code.to_string()
}

/// Runs the recipe with a PATH holding only the tools it names (no dsbfs): stderr.
fn run_recipe(w: &World, context: &Path, disk: &Path, dest: &Path) -> String {
    let bin = w.path("recipe-bin");
    if !bin.exists() {
        std::fs::create_dir(&bin).unwrap();
        for t in [
            "sh",
            "sha256sum",
            "mkdir",
            "cp",
            "mv",
            "chown",
            "chmod",
            "touch",
        ] {
            let found = tool("sh", &[o("-c"), o(&format!("command -v {t}"))]);
            std::os::unix::fs::symlink(found.trim(), bin.join(t)).unwrap();
        }
    }
    let script = w.path("restore.sh");
    std::fs::write(&script, recipe()).unwrap();
    let out = Command::new(bin.join("sh"))
        .env_clear()
        .env("PATH", &bin)
        .arg(&script)
        .args([context, disk, dest])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the recipe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let which = Command::new(bin.join("sh"))
        .env_clear()
        .env("PATH", &bin)
        .args(["-c", "command -v dsbfs"])
        .output()
        .unwrap();
    assert!(!which.status.success(), "no dsbfs in the recipe's PATH");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_shell_recipe_restores_what_one_disk_holds_byte_for_byte() {
    let w = World::new();
    let total = setup(&w);
    // Disk b holds about half, the odd names first.
    w.ok(["source", "set", "/odd", "--priority", "5"]);
    add_disk(&w, "a", 1 << 30);
    add_disk(&w, "b", total / 2);
    w.ok(["backup", "a", "-q"]);
    w.ok(["backup", "b", "-q"]);
    let held = files_on(&w, "b");
    let all = w.json(["status", "--json"])["files"].as_u64().unwrap() as usize;
    assert!(
        held.len() > 10 && held.len() < all,
        "b holds part: {} of {all}",
        held.len()
    );
    assert_eq!(
        held.iter().filter(|p| p.starts_with(b"odd/")).count(),
        odd_names().len(),
        "the odd names are on b"
    );

    let dest = w.path("by-hand");
    let b = w.path("b");
    let stderr = run_recipe(&w, &b.join(CONTEXT), &b, &dest);
    assert!(stderr.is_empty(), "{stderr}");
    let diff = rsync_differences(&w.path("src"), &dest, Some(&held));
    assert!(diff.is_empty(), "rsync finds differences:\n{diff}");
    let mut restored: Vec<Vec<u8>> = files_below(&dest)
        .iter()
        .map(|p| {
            p.strip_prefix(&dest)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec()
        })
        .collect();
    let mut expected = held.clone();
    restored.sort();
    expected.sort();
    assert_eq!(restored, expected, "exactly the disk's files, nothing more");

    // A damaged object is reported and not restored under its name; the rest is.
    let line = context_lines(&b)
        .into_iter()
        .find(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            f[0] == "f" && f[7] == "-" && f[8] != "-"
        })
        .unwrap();
    let f: Vec<&str> = line.split('\t').collect();
    let object = b.join(f[8]);
    let mut bytes = std::fs::read(&object).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&object, bytes).unwrap();
    let dest2 = w.path("by-hand-2");
    let stderr = run_recipe(&w, &b.join(CONTEXT), &b, &dest2);
    assert!(
        stderr.contains("damaged") && stderr.contains(f[8]),
        "{stderr}"
    );
    let damaged = dest2.join(OsStr::from_bytes(
        &dsbfs::context::escape::unescape(f[10]).unwrap()[1..],
    ));
    assert!(
        !damaged.exists(),
        "a damaged copy never gets the file's name"
    );
    assert_eq!(files_below(&dest2).len(), held.len() - 1);
}

#[test]
fn export_then_import_with_a_rewrite_then_restore_gives_the_tree_under_the_new_prefix() {
    let w = World::new();
    setup(&w);
    add_disk(&w, "a", 1 << 30);
    w.ok(["backup", "a", "-q"]);
    let file = w.path("exported.tsv");
    w.ok(["context", "export", file.to_str().unwrap()]);
    let out = w.ok([
        "context",
        "import",
        file.to_str().unwrap(),
        "--rewrite",
        "/=/again",
    ]);
    assert!(out.contains("snapshot 2"), "{out}");
    // The old tree stays, the same tree appears under /again, with its content's copies.
    let paths = w.ls_paths();
    assert!(paths.iter().any(|p| p.as_slice() == b"/big.bin"));
    assert!(paths.iter().any(|p| p.as_slice() == b"/again/big.bin"));
    assert!(
        paths
            .iter()
            .any(|p| p.as_slice() == b"/again/odd/new\nline.txt")
    );
    let dest = w.path("restored");
    w.ok(["restore", dest.to_str().unwrap(), "/again"]);
    assert_eq!(
        tree_signature(&w.path("src")),
        tree_signature(&dest.join("again"))
    );
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &str| std::fs::metadata(dest.join(p)).unwrap().ino();
    assert_eq!(
        ino("again/photos/hardlinked.jpg"),
        ino("again/photos/2000/img000.jpg"),
        "hard links come back as hard links"
    );
    // Importing it again changes nothing but adds a snapshot.
    let again = w.json([
        "context",
        "import",
        file.to_str().unwrap(),
        "--rewrite",
        "/=/again",
        "--json",
    ]);
    assert_eq!(again["replaced"], 0, "{again}");
    assert_eq!(again["unchanged"], again["paths"], "{again}");
}

#[test]
fn exporting_to_a_pipe_or_device_writes_through_it_and_leaves_it_in_place() {
    let w = World::new();
    setup(&w);
    let fifo = w.path("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    w.ok(["context", "export", fifo.to_str().unwrap()]);
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo(),
        "the pipe is still a pipe, not a file renamed over it"
    );
    let through = String::from_utf8(reader.join().unwrap()).unwrap();
    let file = w.path("exported.tsv");
    w.ok(["context", "export", file.to_str().unwrap()]);
    assert_eq!(through, std::fs::read_to_string(&file).unwrap());
    assert!(!w.path("pipe.tmp").exists());
}

#[test]
fn a_disks_context_and_its_objects_are_enough_to_restore_with_a_new_catalog() {
    let w = World::new();
    setup(&w);
    add_disk(&w, "a", 1 << 30);
    w.ok(["backup", "a", "-q"]);
    let context = w.path("a").join(CONTEXT);

    // A machine with nothing: a fresh catalog, the context read from the disk.
    let fresh = World::new();
    let out = fresh.ok([
        "context",
        "import",
        context.to_str().unwrap(),
        "--rewrite",
        "/=/old-laptop",
    ]);
    assert!(
        out.contains("disk a at") && out.contains("0 objects not on it"),
        "{out}"
    );
    let dest = fresh.path("restored");
    fresh.ok(["restore", dest.to_str().unwrap()]);
    assert_eq!(
        tree_signature(&w.path("src")),
        tree_signature(&dest.join("old-laptop"))
    );
    let diff = rsync_differences(&w.path("src"), &dest.join("old-laptop"), None);
    assert!(diff.is_empty(), "{diff}");

    // A context copied away from its disk: the disk is found with --disk, not guessed.
    let elsewhere = World::new();
    let copied = elsewhere.path("context.tsv");
    std::fs::copy(&context, &copied).unwrap();
    let out = elsewhere.expect(3, ["context", "import", copied.to_str().unwrap()]);
    assert!(out.contains("was not found"), "{out}");
    let other = World::new();
    let out = other.ok([
        "context",
        "import",
        copied.to_str().unwrap(),
        "--disk",
        w.path("a").to_str().unwrap(),
    ]);
    assert!(out.contains("disk a at"), "{out}");
    other.ok(["restore", other.path("r").to_str().unwrap()]);
    assert_eq!(
        tree_signature(&w.path("src")),
        tree_signature(&other.path("r"))
    );
}

#[test]
fn a_bad_context_is_a_usage_error_that_names_the_line_and_imports_nothing() {
    let w = World::new();
    setup(&w);
    let file = w.path("ctx.tsv");
    w.ok(["context", "export", file.to_str().unwrap()]);
    let good = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
    let n = lines.len();
    lines[n - 1] = lines[n - 1].replacen('\t', "\tx", 1);
    std::fs::write(&file, lines.join("\n")).unwrap();
    let before = w.ok(["snapshots"]);
    let out = w.run(["context", "import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("line {n}")) && err.contains("mode"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(w.ok(["snapshots"]), before, "nothing imported");
    let out = w.run([
        "context",
        "import",
        file.to_str().unwrap(),
        "--rewrite",
        "old",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("OLD=NEW"));
}

/// The status JSON without what moves by itself.
/// `status --json` without each disk's last runs: the run history in a catalog copy
/// ends before the backup that wrote the copy had ended, so a recovered catalog knows
/// that run only as begun.
fn status(w: &World) -> serde_json::Value {
    let mut s = w.json(["status", "--json"]);
    for d in s["disks"].as_array_mut().unwrap() {
        let d = d.as_object_mut().unwrap();
        d.remove("last_backup_run");
        d.remove("last_verify_run");
    }
    s
}

fn remove_catalog(w: &World) {
    for tail in ["", "-wal", "-shm"] {
        let mut p = w.catalog.clone().into_os_string();
        p.push(tail);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// Three disks filled one after another (each one's catalog copy knows the backups
/// before it), then a second round after the tree changed.
fn three_disks(w: &World) {
    let total = setup(w);
    for d in ["d1", "d2", "d3"] {
        add_disk(w, d, total * 3 / 4);
    }
    for d in ["d1", "d2", "d3"] {
        w.ok(["backup", d, "-q"]);
    }
    write(w.path("src/photos/added-later.jpg"), vec![7u8; 20_000]);
    w.ok(["scan", "-q"]);
    w.ok(["backup", "d2", "-q"]);
}

#[test]
fn recover_from_three_disks_gives_back_the_status_and_the_restore_plan() {
    let w = World::new();
    three_disks(&w);
    let ages: Vec<u64> = ["d1", "d2", "d3"]
        .iter()
        .map(|d| {
            std::fs::metadata(w.path(d).join("dsbfs-catalog.db"))
                .unwrap()
                .len()
        })
        .collect();
    assert!(ages.iter().all(|&s| s > 0));
    let before = status(&w);
    let plan = w.ok(["restore", w.path("x").to_str().unwrap(), "--plan"]);
    let files = w.ls_paths();
    remove_catalog(&w);

    let out = w.ok([
        "recover",
        w.path("d1").to_str().unwrap(),
        w.path("d2").to_str().unwrap(),
        w.path("d3").to_str().unwrap(),
    ]);
    for d in ["d1", "d2", "d3"] {
        assert!(out.contains(&format!("found disk {d} at")), "{out}");
    }
    assert!(
        out.contains("took the catalog copy of d2"),
        "the newest: {out}"
    );
    assert!(w.catalog.is_file());
    assert_eq!(status(&w), before);
    assert_eq!(
        w.ok(["restore", w.path("x").to_str().unwrap(), "--plan"]),
        plan
    );
    assert_eq!(w.ls_paths(), files);
    let dest = w.path("restored");
    w.ok(["restore", dest.to_str().unwrap()]);
    assert_eq!(tree_signature(&w.path("src")), tree_signature(&dest));
}

#[test]
fn copies_the_newest_catalog_copy_does_not_know_are_found_by_listing_the_disks() {
    let w = World::new();
    let total = setup(&w);
    add_disk(&w, "d1", total * 3 / 4);
    add_disk(&w, "d2", total * 3 / 4);
    w.ok(["backup", "d1", "-q"]);
    let old_copy = std::fs::read(w.path("d1/dsbfs-catalog.db")).unwrap();
    w.ok(["backup", "d2", "-q"]);
    let mut before = status(&w);
    // d2's backup recorded its copies but never wrote its catalog copy (killed at the
    // end, before it recorded its own time too): both disks carry a copy that knows only
    // d1's objects.
    before["disks"][1]["last_backup"] = serde_json::Value::Null;
    std::fs::write(w.path("d2/dsbfs-catalog.db"), &old_copy).unwrap();
    remove_catalog(&w);

    // One folder above both disks is enough.
    let out = w.ok(["recover", w.dir.path().to_str().unwrap()]);
    assert!(
        out.contains("d2: holds") && !out.contains("d2: holds 0 objects"),
        "{out}"
    );
    assert_eq!(status(&w), before);
}

#[test]
fn recover_replaces_a_catalog_only_when_forced_and_keeps_the_old_one() {
    let w = World::new();
    setup(&w);
    add_disk(&w, "a", 1 << 30);
    w.ok(["backup", "a", "-q"]);
    let old = std::fs::read(&w.catalog).unwrap();
    let out = w.run(["recover", w.path("a").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("found 1 disks (a)") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(&w.catalog).unwrap(), old, "left alone");

    w.ok(["recover", w.path("a").to_str().unwrap(), "--force"]);
    let kept: Vec<_> = std::fs::read_dir(w.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| {
            n.starts_with("catalog.db.replaced-") && !n.ends_with("-wal") && !n.ends_with("-shm")
        })
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(w.json(["status", "--json"])["files"], 40);

    let nothing = World::new();
    std::fs::create_dir(nothing.path("empty")).unwrap();
    let out = nothing.run(["recover", nothing.path("empty").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no dsbfs disk"));
    assert!(!nothing.catalog.exists());
}

#[test]
fn recover_verify_rehashes_and_records_only_sound_copies() {
    let w = World::new();
    setup(&w);
    add_disk(&w, "a", 1 << 30);
    w.ok(["backup", "a", "-q"]);
    let line = context_lines(&w.path("a"))
        .into_iter()
        .find(|l| l.ends_with("\t/big.bin"))
        .unwrap();
    let object = w.path("a").join(line.split('\t').nth(8).unwrap());
    let mut bytes = std::fs::read(&object).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&object, bytes).unwrap();
    remove_catalog(&w);

    // A listing sees the right size; the re-hash sees the damage.
    let out = w.expect(3, ["recover", w.path("a").to_str().unwrap(), "--verify"]);
    assert!(out.contains("verified: 1 damaged"), "{out}");
    assert!(!object.exists(), "moved to the quarantine");
    let r = w.json(["where", "/big.bin", "--json"]);
    assert!(r.to_string().contains("\"disks\":[]"), "{r}");
}

#[test]
fn without_paths_recover_looks_at_every_mounted_filesystem() {
    let w = World::new();
    setup(&w);
    let ld = LoopDisk::new(&w, 64 << 20);
    let usb = ld.dir.join("backup");
    w.ok(["disk", "add", "--create", "usb", usb.to_str().unwrap()]);
    w.ok(["backup", "usb", "-q"]);
    remove_catalog(&w);
    // Other disks may be mounted on this machine too: only ours is looked for.
    let r = w.json(["recover", "--json"]);
    let ours: Vec<&serde_json::Value> = r["disks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["path"] == usb.to_str().unwrap())
        .collect();
    assert_eq!(ours.len(), 1, "{r}");
    assert!(ours[0]["catalog_copy"].is_object(), "{r}");
    assert!(ours[0]["lost"].is_null(), "{r}");
    assert!(w.catalog.is_file());
}
