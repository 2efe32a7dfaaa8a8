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
    w.ok([
        "disk",
        "add",
        "--create",
        "red-usb",
        w.path("red").to_str().unwrap(),
    ]);
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

/// Types `line` and a TAB into an interactive `shell` (bash or zsh, on a pseudo-terminal)
/// that loaded `dsbfs completions SHELL`, and returns the line as the shell holds it
/// after the completion.
fn complete_in(shell: &str, w: &World, line: &str) -> String {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    let pty = nix::pty::openpty(None, None).unwrap();
    // Only the shell's standard streams may hold the terminal: the reader below sees
    // its end once the shell is gone.
    for fd in [&pty.master, &pty.slave] {
        use nix::fcntl::{FcntlArg, FdFlag, fcntl};
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).unwrap();
    }
    let home = w.path(&format!("home-{shell}"));
    std::fs::create_dir_all(&home).unwrap();
    let done = home.join("line");
    let _ = std::fs::remove_file(&done);
    let dump = format!("> {0}.tmp && mv {0}.tmp {0}", done.display());
    let (args, setup): (&[&str], String) = match shell {
        "bash" => (
            &["--norc", "--noprofile", "-i"],
            format!(
                "source <(dsbfs completions bash)\nbind -x '\"\\C-x\": printf %s \"$READLINE_LINE\" {dump}'\n"
            ),
        ),
        _ => (
            &["-f", "-i"],
            format!(
                "autoload -Uz compinit && compinit -u\nsource <(dsbfs completions zsh)\ndump() {{ print -rn -- \"$BUFFER\" {dump} }}; zle -N dump; bindkey '^X' dump\n"
            ),
        ),
    };
    let bin = std::path::Path::new(DSBFS).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let tty = || std::process::Stdio::from(pty.slave.try_clone().unwrap());
    let mut child = std::process::Command::new(shell)
        .args(args)
        .env("PATH", path)
        .env("HOME", &home)
        .env("TERM", "xterm")
        .env("DSBFS_CATALOG", &w.catalog)
        .stdin(tty())
        .stdout(tty())
        .stderr(tty())
        .spawn()
        .unwrap_or_else(|e| panic!("{shell} runs (scripts/test.sh installs it): {e}"));
    drop(pty.slave);
    let mut master = std::fs::File::from(pty.master);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let (mut master, seen) = (master.try_clone().unwrap(), seen.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = master.read(&mut buf) {
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let wait_for = |what: &str, ready: &dyn Fn() -> bool| {
        let started = std::time::Instant::now();
        while !ready() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "{shell} never {what}: {}",
                String::from_utf8_lossy(&seen.lock().unwrap())
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    master.write_all(setup.as_bytes()).unwrap();
    // Typed as $((40+2)), the marker shows only once the shell has run the setup.
    master.write_all(b"echo READY-$((40+2))\n").unwrap();
    let marker = b"READY-42";
    wait_for("got ready", &|| {
        seen.lock()
            .unwrap()
            .windows(marker.len())
            .any(|x| x == marker)
    });
    // The TAB completes before the shell reads the next key, which dumps the line.
    master
        .write_all(format!("{line}\t\x18").as_bytes())
        .unwrap();
    wait_for("completed the line", &|| done.exists());
    // ^U empties the line (^C would flush the input, exit included).
    master.write_all(b"\x15exit\n").unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(5) {
            child.kill().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(master);
    let _ = reader.join();
    std::fs::read_to_string(&done).unwrap()
}

/// The words of `line` as bash reads them (a quote left open, as zsh leaves it after
/// a folder, is closed).
fn words(line: &str) -> Vec<String> {
    let read = "eval \"set -- $1\" 2> /dev/null || eval \"set -- $1'\"; printf '%s\\0' \"$@\"";
    let out = std::process::Command::new("bash")
        .args(["-c", read, "-", line])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_terminator('\0')
        .map(String::from)
        .collect()
}

#[test]
fn bash_and_zsh_complete_names_with_spaces_quotes_and_accents_as_they_must_be_typed() {
    let w = World::new();
    write(w.path("src/photos/2020/Été à Paris/a.jpg"), "a");
    write(w.path("src/photos/2020/it's (1).jpg"), "b");
    write(w.path("src/photos/2019/plain.jpg"), "c");
    w.ok(["source", "add", "/", w.path("src").to_str().unwrap()]);
    w.ok(["scan", "-q"]);
    for shell in ["bash", "zsh"] {
        for (typed, path) in [
            ("dsbfs where /photos/2020/Ét", "/photos/2020/Été à Paris/"),
            (
                r"dsbfs where /photos/2020/Été\ à\ Paris/",
                "/photos/2020/Été à Paris/a.jpg",
            ),
            (
                "dsbfs where '/photos/2020/Été à P",
                "/photos/2020/Été à Paris/",
            ),
            ("dsbfs where /photos/2020/it", "/photos/2020/it's (1).jpg"),
            ("dsbfs where /photos/2019/p", "/photos/2019/plain.jpg"),
        ] {
            let line = complete_in(shell, &w, typed);
            assert_eq!(
                words(&line),
                ["dsbfs", "where", path],
                "{shell}: {typed} completed to {line}"
            );
        }
    }
    // What was completed names the file: Enter works.
    let line = complete_in("bash", &w, "dsbfs where /photos/2020/it");
    let out = w.ok(&words(&line)[1..]);
    assert!(
        out.starts_with("/photos/2020/it's (1).jpg: 1 B sha256"),
        "{out}"
    );
}
