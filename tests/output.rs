//! Standard output that cannot be written: a reader that went away (`dsbfs ls | head`)
//! ends the output quietly, with the exit code the command would have had; any other
//! failure (a full disk) is one line on stderr and exit 1. Never a panic.

mod common;

use common::*;
use std::process::{Output, Stdio};

/// A world with everything the printing commands need: two snapshots, a disk holding
/// the files, a restore context on it.
fn world() -> World {
    let w = World::new();
    for i in 0..200 {
        write(w.path(&format!("src/dir/file{i}.txt")), format!("{i}"));
    }
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok(["scan", "-q"]);
    write(w.path("src/dir/file0.txt"), "changed");
    w.ok(["scan", "-q"]);
    w.ok([
        "disk",
        "add",
        "--create",
        "d",
        w.path("d").to_str().unwrap(),
        "-q",
    ]);
    w.ok(["backup", "d", "-q"]);
    w
}

/// Every command that prints, with arguments that make it print a lot.
fn printing_commands(w: &World) -> Vec<Vec<String>> {
    let dest = w.path("restored").to_str().unwrap().to_owned();
    let context = w.path("d/dsbfs-context.tsv").to_str().unwrap().to_owned();
    let lists: &[&[&str]] = &[
        &["--help"],
        &["ls"],
        &["ls", "--json"],
        &["ls", "-0"],
        &["status"],
        &["status", "--json"],
        &["scan"],
        &["scan", "--json"],
        &["source", "list"],
        &["source", "list", "--json"],
        &["disk", "list"],
        &["disk", "list", "--json"],
        &["where", "/dir/file1.txt"],
        &["where", "/dir/file1.txt", "--json"],
        &["backup", "d"],
        &["backup", "d", "--json"],
        &["backup", "d", "--dry-run", "-v"],
        &["verify", "d"],
        &["verify", "d", "--json"],
        &["restore", &dest],
        &["restore", &dest, "--json"],
        &["restore", &dest, "--plan"],
        &["snapshots"],
        &["snapshots", "--json"],
        &["policy"],
        &["policy", "--json"],
        &["forget", "--dry-run"],
        &["forget", "--dry-run", "--json"],
        &["versions", "/dir/file0.txt"],
        &["versions", "/dir/file0.txt", "--json"],
        &["diff", "1", "2"],
        &["diff", "1", "2", "--json"],
        &["context", "export", "-"],
        &["context", "import", &context, "--json"],
        &["completions", "bash"],
    ];
    lists
        .iter()
        .map(|args| args.iter().map(|a| a.to_string()).collect())
        .collect()
}

fn run_with_stdout(w: &World, args: &[String], stdout: Stdio) -> Output {
    w.command()
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .expect("dsbfs runs")
}

#[test]
fn a_closed_pipe_ends_the_output_quietly_and_a_full_disk_is_a_failure() {
    let w = world();
    for args in printing_commands(&w) {
        // What the command does with a reader that reads it all.
        let normal = run_with_stdout(&w, &args, Stdio::piped());
        let code = normal.status.code();
        assert!(
            matches!(code, Some(0 | 3)) && !normal.stdout.is_empty(),
            "dsbfs {args:?}: {code:?} {}",
            String::from_utf8_lossy(&normal.stderr)
        );

        let (reader, writer) = nix::unistd::pipe().unwrap();
        drop(reader);
        let closed = run_with_stdout(&w, &args, Stdio::from(writer));
        assert_eq!(
            closed.status.code(),
            code,
            "dsbfs {args:?} into a closed pipe: {}",
            String::from_utf8_lossy(&closed.stderr)
        );
        assert!(
            closed.stderr.is_empty(),
            "dsbfs {args:?} into a closed pipe says: {}",
            String::from_utf8_lossy(&closed.stderr)
        );

        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let failed = run_with_stdout(&w, &args, Stdio::from(full));
        let err = String::from_utf8_lossy(&failed.stderr);
        assert_eq!(
            failed.status.code(),
            Some(1),
            "dsbfs {args:?} > /dev/full: {err}"
        );
        assert_eq!(
            err.lines().last(),
            Some("dsbfs: cannot write the output: No space left on device (os error 28)"),
            "dsbfs {args:?} > /dev/full"
        );
        assert!(!err.contains("panicked"), "dsbfs {args:?}: {err}");
    }
}

#[test]
fn a_reader_that_leaves_early_stops_nothing_the_command_does() {
    let w = world();
    write(w.path("src/new.txt"), "new");
    // `dsbfs backup --scan d | head -c 1`: the reader is gone before the plan is printed.
    let (reader, writer) = nix::unistd::pipe().unwrap();
    drop(reader);
    let out = run_with_stdout(
        &w,
        &["backup".into(), "d".into(), "--scan".into()],
        Stdio::from(writer),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found = w.json(["where", "/new.txt", "--json"]);
    assert_eq!(found[0]["disks"][0]["disk"], "d", "{found}");
}
