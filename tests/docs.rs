//! The man pages match the code and render cleanly; completions are offered.

mod common;

use common::*;

#[test]
fn the_checked_in_man_page_is_what_the_code_generates() {
    let w = World::new();
    w.ok(["gen-man", w.path("man").to_str().unwrap()]);
    let fresh = std::fs::read(w.path("man/dsbfs.1")).unwrap();
    let checked_in = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/man/dsbfs.1")).unwrap();
    assert!(
        fresh == checked_in,
        "man/dsbfs.1 is out of date: run `cargo run -- gen-man man` and commit it"
    );
}

#[test]
fn man_pages_render_without_warnings() {
    for page in ["dsbfs.1", "mount.dsbfs.8"] {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/man/").to_string() + page;
        let out = std::process::Command::new("mandoc")
            .args(["-T", "lint", "-W", "warning", &path])
            .output()
            .expect("mandoc is installed (scripts/test.sh installs it)");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(text.trim().is_empty(), "{page}: {text}");
        let rendered = std::process::Command::new("mandoc")
            .args(["-T", "utf8", &path])
            .output()
            .unwrap();
        assert!(
            rendered.status.success() && rendered.stdout.len() > 1000,
            "{page} renders"
        );
    }
}

#[test]
fn completions_offer_disk_names_and_virtual_paths_from_the_catalog() {
    let w = World::new();
    write(w.path("src/photos/2024/a.jpg"), "a");
    write(w.path("src/papers.txt"), "p");
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok(["scan", "-q"]);
    w.ok(["disk", "add", "red-usb", w.path("red").to_str().unwrap()]);
    let script = w.ok(["completions", "bash"]);
    assert!(
        script.contains("COMPLETE") && script.contains("dsbfs"),
        "{script}"
    );
    // What bash asks when completing `dsbfs backup <TAB>` and `dsbfs where /p<TAB>`.
    let complete = |words: &[&str], index: usize| {
        let out = w
            .command()
            .env("COMPLETE", "bash")
            .env("_CLAP_COMPLETE_INDEX", index.to_string())
            .env("_CLAP_COMPLETE_COMP_TYPE", "9")
            .env("_CLAP_COMPLETE_SPACE", "true")
            .env("_CLAP_IFS", "\n")
            .arg("--")
            .args(words)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(complete(&["dsbfs", "backup", ""], 2).contains("red-usb"));
    let paths = complete(&["dsbfs", "where", "/p"], 2);
    assert!(
        paths.contains("/photos/") && paths.contains("/papers.txt"),
        "{paths}"
    );
}
