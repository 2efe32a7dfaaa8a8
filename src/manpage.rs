//! `man/dsbfs.1`, generated from the clap definitions so it cannot drift from the code:
//! one page with every command and its options. (`man/mount.dsbfs.8` is written by hand.)

use clap::CommandFactory;
use clap_mangen::Man;
use std::io::Write;

/// The page's date: bump it when the commands change.
const MAN_DATE: &str = "2026-12-01";

/// Sections after the commands: what the clap definitions do not say.
const TRAILER: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
success
.TP
\fB1\fR
failure (one line on stderr says what and what to do)
.TP
\fB2\fR
usage error
.TP
\fB3\fR
finished, but something needs attention (files below their wanted copies, unreadable files, damaged objects, files still missing after a restore)
.SH ENVIRONMENT
.TP
\fBDSBFS_CATALOG\fR
the catalog file, as \fB\-\-catalog\fR
.TP
\fBRUST_LOG\fR
log filter, e.g. \fBdsbfs=debug\fR
.SH FILES
.TP
\fI$XDG_DATA_HOME/dsbfs/catalog.db\fR
the default catalog (\fI~/.local/share/dsbfs/catalog.db\fR)
.TP
\fIDISK/dsbfs\-disk.json\fR
a disk's identity: name, UUID, format
.TP
\fIDISK/objects/\fR
file contents named by SHA\-256
.TP
\fIDISK/dsbfs\-catalog.db\fR
the catalog copy left by every backup; mount it to browse the backup from this disk alone
.SH "SEE ALSO"
\fBmount.dsbfs\fR(8), \fBfusermount3\fR(1)
"#;

type RenderSection = fn(&Man, &mut dyn Write) -> std::io::Result<()>;

/// Renders the whole page.
pub fn render() -> Vec<u8> {
    let mut root = crate::cli::Cli::command();
    root.build();
    let man = Man::new(root.clone()).date(MAN_DATE);
    let mut out = Vec::new();
    let sections: [RenderSection; 5] = [
        Man::render_title,
        Man::render_name_section,
        Man::render_synopsis_section,
        Man::render_description_section,
        Man::render_options_section,
    ];
    for render in sections {
        render(&man, &mut out).expect("writing to memory");
    }
    out.extend_from_slice(b".SH COMMANDS\n");
    for sub in root.get_subcommands().filter(|s| !s.is_hide_set()) {
        command_section(sub, "dsbfs", &mut out);
    }
    out.extend_from_slice(TRAILER.as_bytes());
    let text = String::from_utf8_lossy(&out)
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    (text + "\n").into_bytes()
}

/// One `.SS` per leaf command: its synopsis, description and options.
fn command_section(cmd: &clap::Command, parent: &str, out: &mut Vec<u8>) {
    let full = format!("{parent} {}", cmd.get_name());
    if cmd.has_subcommands() {
        for sub in cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        {
            command_section(sub, &full, out);
        }
        return;
    }
    // Global options are described once, at the top of the page.
    let cmd = cmd
        .clone()
        .bin_name(&full)
        .display_name(&full)
        .mut_args(|a| {
            if a.is_global_set() || ["help", "version"].contains(&a.get_id().as_str()) {
                a.hide(true)
            } else {
                a
            }
        });
    let man = Man::new(cmd);
    let mut part = Vec::new();
    man.render_synopsis_section(&mut part)
        .expect("writing to memory");
    man.render_description_section(&mut part)
        .expect("writing to memory");
    man.render_options_section(&mut part)
        .expect("writing to memory");
    let text = String::from_utf8_lossy(&part)
        .replace(".SH SYNOPSIS\n", &format!(".SS \"{full}\"\n"))
        .replace(".SH DESCRIPTION\n", ".PP\n")
        .replace(".SH OPTIONS\n", "");
    out.extend_from_slice(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_and_option_is_on_the_page() {
        let page = String::from_utf8(render()).unwrap();
        let root = crate::cli::Cli::command();
        fn walk(cmd: &clap::Command, page: &str, path: &str) {
            for sub in cmd
                .get_subcommands()
                .filter(|s| !s.is_hide_set() && s.get_name() != "help")
            {
                let full = format!("{path} {}", sub.get_name());
                assert!(
                    page.contains(&format!(".SS \"{full}\"")) || sub.has_subcommands(),
                    "{full} missing"
                );
                for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
                    if let Some(long) = arg.get_long() {
                        assert!(
                            page.contains(&format!("\\-\\-{}", long.replace('-', "\\-"))),
                            "{full} --{long} missing"
                        );
                    }
                }
                walk(sub, page, &full);
            }
        }
        walk(&root, &page, "dsbfs");
    }
}
