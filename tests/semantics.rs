//! doc/SEMANTICS.md keeps its word: every claim names the tests that prove it, and
//! every test it names exists in the source tree.

use std::path::Path;

/// A claim of the document: the line it starts on, and the tests it names.
#[derive(Debug)]
struct Claim {
    line: usize,
    tests: Vec<String>,
}

/// The claims of a SEMANTICS document: each list item (a line starting with "- ",
/// continued by lines indented two spaces), with the `FILE::FUNCTION` names in
/// backticks after its "Tests:".
fn claims(doc: &str) -> Vec<Claim> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut open = false;
    for (i, line) in doc.lines().enumerate() {
        if let Some(rest) = line.strip_prefix("- ") {
            out.push((i + 1, rest.to_string()));
            open = true;
        } else if open && line.starts_with("  ") {
            let (_, text) = out.last_mut().unwrap();
            text.push(' ');
            text.push_str(line.trim());
        } else {
            open = false;
        }
    }
    out.into_iter()
        .map(|(line, text)| {
            let tests = match text.split_once("Tests:") {
                Some((_, names)) => names
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_string)
                    .collect(),
                None => Vec::new(),
            };
            Claim { line, tests }
        })
        .collect()
}

/// Whether `file` (under `root`) holds a test function `name`: a `fn name(` with
/// `#[test]` among the attributes and comments right above it.
fn is_test(root: &Path, file: &str, name: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(root.join(file)) else {
        return false;
    };
    let lines: Vec<&str> = text.lines().collect();
    lines.iter().enumerate().any(|(i, l)| {
        l.trim_start().starts_with(&format!("fn {name}("))
            && lines[..i]
                .iter()
                .rev()
                .map(|l| l.trim())
                .take_while(|l| l.starts_with("#[") || l.starts_with("//"))
                .any(|l| l == "#[test]")
    })
}

/// What is wrong with `doc`, one line per problem.
fn problems(doc: &str, root: &Path) -> Vec<String> {
    let claims = claims(doc);
    if claims.is_empty() {
        return vec!["no claims".into()];
    }
    let mut out = Vec::new();
    for c in claims {
        if c.tests.is_empty() {
            out.push(format!("line {}: the claim names no test", c.line));
        }
        for t in &c.tests {
            let found = t
                .rsplit_once("::")
                .is_some_and(|(file, name)| is_test(root, file, name));
            if !found {
                out.push(format!(
                    "line {}: {t} is not a test in the source tree",
                    c.line
                ));
            }
        }
    }
    out
}

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn every_claim_of_semantics_md_names_tests_that_exist() {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("doc/SEMANTICS.md")).unwrap();
    assert!(claims(&doc).len() >= 20, "{:?}", claims(&doc));
    let problems = problems(&doc, Path::new(ROOT));
    assert!(
        problems.is_empty(),
        "doc/SEMANTICS.md:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_claim_without_tests_or_naming_no_test_is_reported() {
    let doc = "# Promises\n\nSome prose.\n\n\
        - **Proved.** It holds.\n  Tests: `tests/semantics.rs::a_claim_without_tests_or_naming_no_test_is_reported`\n\n\
        - **Unproved.** It holds,\n  they say.\n\n\
        - **Missing.** Tests: `tests/semantics.rs::no_such_test`,\n  `tests/nowhere.rs::a`\n\
        - **Not a test.** Tests: `tests/semantics.rs::is_test`\n";
    assert_eq!(
        problems(doc, Path::new(ROOT)),
        [
            "line 8: the claim names no test",
            "line 11: tests/semantics.rs::no_such_test is not a test in the source tree",
            "line 11: tests/nowhere.rs::a is not a test in the source tree",
            "line 13: tests/semantics.rs::is_test is not a test in the source tree",
        ]
    );
    assert_eq!(
        problems("# Nothing to promise\n", Path::new(ROOT)),
        ["no claims"]
    );
}
