//! Every command's `--json` is one JSON document in one style: counts as labelled
//! objects (`{"files": N, "bytes": B}`), never bare `[n, m]` pairs, and times as RFC 3339
//! strings, never epoch seconds.

mod common;

use clap::CommandFactory;
use common::*;
use serde_json::Value;
use std::str::FromStr;

/// Keys whose values are times (a disk's `added` is one too, but recover's `added` counts
/// objects: the range check below catches a time there).
const TIME_KEYS: [&str; 5] = ["time", "last_backup", "last_verify", "written", "mtime"];

/// What is wrong with `v` (found at `at`, under `key`) for the JSON style, if anything.
fn style_errors(v: &Value, key: &str, at: &str, errors: &mut Vec<String>) {
    match v {
        Value::Array(items) => {
            if !items.is_empty() && items.iter().all(Value::is_number) && key != "snapshots" {
                errors.push(format!("{at}: an array of bare numbers {v}"));
            }
            for (i, item) in items.iter().enumerate() {
                style_errors(item, key, &format!("{at}[{i}]"), errors);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                style_errors(item, k, &format!("{at}.{k}"), errors);
            }
        }
        Value::Number(n) => {
            if TIME_KEYS.contains(&key) {
                errors.push(format!("{at}: a time as a number ({n})"));
            }
            // Nothing in these small test trees counts to a billion: such a number is a
            // time in epoch seconds, whatever its key.
            if n.as_u64()
                .is_some_and(|n| (1_000_000_000..4_000_000_000).contains(&n))
            {
                errors.push(format!("{at}: looks like epoch seconds ({n})"));
            }
        }
        Value::String(s) => {
            if TIME_KEYS.contains(&key) {
                assert!(
                    jiff::Timestamp::from_str(s).is_ok(),
                    "{at}: {s:?} is not an RFC 3339 time"
                );
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// Every subcommand (by its words) that has a --json flag.
fn commands_with_json() -> Vec<String> {
    fn walk(cmd: &clap::Command, words: &str, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let words = format!("{words} {}", sub.get_name()).trim().to_string();
            if sub.get_arguments().any(|a| a.get_id() == "json") {
                out.push(words.clone());
            }
            walk(sub, &words, out);
        }
    }
    let mut out = Vec::new();
    walk(&dsbfs::cli::Cli::command(), "", &mut out);
    out
}

#[test]
fn every_command_s_json_is_labelled_counts_and_rfc3339_times() {
    let w = World::new();
    rich_tree(&w.path("src"));
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok(["source", "set", "/photos", "--copies", "3"]);
    w.ok(["scan", "-q"]);
    write(w.path("src/docs/new.txt"), "new");
    std::fs::remove_file(w.path("src/big.bin")).unwrap();
    w.ok(["scan", "-q"]);
    for d in ["a", "b"] {
        w.ok(["disk", "add", "--create", d, w.path(d).to_str().unwrap()]);
        w.ok(["backup", d, "-q"]);
    }
    w.ok(["verify", "a", "-q"]);
    tool_ok(
        "cp",
        &[
            "-a".as_ref(),
            w.path("src/photos").as_os_str(),
            w.path("a/older-backup").as_os_str(),
        ],
    );
    let path = |p: &str| w.path(p).to_str().unwrap().to_owned();
    let runs: Vec<(&str, Vec<String>)> = vec![
        ("source list", vec![]),
        ("scan", vec![]),
        ("ls", vec![]),
        ("where", vec!["/docs/private.txt".into(), "/photos".into()]),
        ("status", vec![]),
        ("status", vec!["--simulate-drop".into(), "a".into()]),
        ("disk list", vec![]),
        ("backup", vec!["a".into()]),
        ("backup", vec!["b".into(), "--dry-run".into()]),
        ("restore", vec![path("out")]),
        ("restore", vec![path("out"), "--plan".into()]),
        ("restore", vec![path("out"), "--dry-run".into()]),
        ("verify", vec!["b".into()]),
        ("snapshots", vec![]),
        ("policy", vec![]),
        ("forget", vec!["--dry-run".into()]),
        ("versions", vec!["/big.bin".into()]),
        ("diff", vec![]),
        ("log", vec![]),
        ("disk discover", vec!["a".into(), path("a/older-backup")]),
        ("context import", vec![path("a/dsbfs-context.tsv")]),
        (
            "recover",
            vec![path("."), "--catalog".into(), path("recovered.db")],
        ),
    ];
    let mut errors = Vec::new();
    for (command, args) in &runs {
        let mut all: Vec<String> = command.split(' ').map(String::from).collect();
        all.extend(args.iter().cloned());
        all.push("--json".into());
        let doc = w.json(&all);
        style_errors(&doc, "", &format!("dsbfs {}", all.join(" ")), &mut errors);
    }
    // The report's JSON comes through --format, not --json: held to the same style.
    let report = w.json(["report", "--format", "json"]);
    style_errors(&report, "", "dsbfs report --format json", &mut errors);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    for command in commands_with_json() {
        assert!(
            runs.iter().any(|(c, _)| *c == command),
            "dsbfs {command} --json is not tested"
        );
    }
}

#[test]
fn counts_read_the_same_in_every_document() {
    let w = World::new();
    write(w.path("src/a.txt"), "aaaa");
    write(w.path("src/b.txt"), "bbbbbbbb");
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok(["scan", "-q"]);
    w.ok([
        "disk",
        "add",
        "--create",
        "d",
        w.path("d").to_str().unwrap(),
    ]);
    let files = serde_json::json!({ "files": 2, "bytes": 12 });
    let objects = serde_json::json!({ "objects": 2, "bytes": 12 });
    let s = w.json(["status", "--json"]);
    assert_eq!(s["protection"]["by_copies"][0], files, "{s}");
    assert_eq!(s["protection"]["below_wanted"], files, "{s}");
    assert_eq!(s["disks"][0]["would_protect"], objects, "{s}");
    let b = w.json(["backup", "d", "--json"]);
    assert_eq!(b["planned_copy"], objects, "{b}");
    assert_eq!(b["copied"], objects, "{b}");
    assert_eq!(b["before"][0], objects, "{b}");
    assert_eq!(b["after"][1], objects, "{b}");
    let v = w.json(["verify", "d", "--json"]);
    assert_eq!(v["checked"], objects, "{v}");
    let r = w.json(["restore", w.path("out").to_str().unwrap(), "--json"]);
    assert_eq!(r["restored"], files, "{r}");
    let list = w.json(["disk", "list", "--json"]);
    let backed_up = list[0]["last_backup"].as_str().unwrap();
    assert!(
        backed_up.ends_with('Z') && backed_up.contains('T'),
        "{list}"
    );
}
