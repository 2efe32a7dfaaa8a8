//! `man/dsbfs.1`: the commands and their options come from the clap definitions, so
//! they cannot drift from the code; what clap does not know (what dsbfs is for, the
//! JSON style, examples, exit status, files) is written here. (`man/mount.dsbfs.8` is
//! written by hand.)

use clap::CommandFactory;
use clap_mangen::Man;
use std::io::Write;

/// The page's date: bump it when the commands change.
const MAN_DATE: &str = "2026-12-01";

const SYNOPSIS: &str = r#".SH SYNOPSIS
\fBdsbfs\fR [\fB\-\-catalog\fR \fIPATH\fR] [\fB\-v\fR|\fB\-\-verbose\fR]... [\fB\-q\fR|\fB\-\-quiet\fR] \fICOMMAND\fR [\fIARGS\fR]
.br
\fBdsbfs\fR \fICOMMAND\fR \fB\-\-help\fR
"#;

const DESCRIPTION: &str = r#".SH DESCRIPTION
\fBdsbfs\fR backs up an archive that is larger than any one disk (photos, videos,
music, documents: terabytes, hundreds of thousands of files) onto a drawer of offline
disks of different sizes, plugged in one at a time, and gets it back.
.PP
\fBSources.\fR
\fBdsbfs source add\fR maps folders of this machine onto one virtual tree (\fB/\fR,
\fB/photos\fR, ...): the tree everything else names paths in.
\fBdsbfs source set\fR gives a path and everything below it rules: excludes
(gitignore patterns), the copies wanted (2 unless said otherwise) and a priority.
.PP
\fBScan.\fR
\fBdsbfs scan\fR brings the catalog (an SQLite file) up to date with the sources: it
hashes new and changed files with SHA\-256, on all cores, and can be interrupted and
resumed. A file's content is stored once however many files share it.
.PP
\fBDisks.\fR
A disk is a folder on a backup drive, made one by \fBdsbfs disk add\fR: it holds an
identity file, the contents as files named by their hash, and after every backup a
copy of the catalog and a plain\-text restore context, so that the disk alone is
enough to get its files back. A disk may be capped (\fB\-\-size\fR); sizes are in
binary units (\fB2T\fR is 2 TiB), as dsbfs prints them.
.PP
\fBPlacement and copies.\fR
\fBdsbfs backup NAME\fR fills the connected disk NAME following a plan: contents on
no disk first, then those with the fewest copies (then the higher priority, then the
larger), until every file has the copies it wants; a full disk gives up a copy only
where that never lowers the lowest copy count of anything. \fBdsbfs status\fR says
how many files have 0, 1, 2 or more copies, what is at risk, and which disk to plug
in next; \fBdsbfs where\fR and \fBdsbfs ls\fR say which disks hold what.
.PP
\fBMount.\fR
\fBdsbfs mount\fR shows the catalog as a read\-only filesystem, with the source's
names, sizes, times, owners and modes. Listing never touches a disk; opening a file
reads it from whichever connected disk holds it, or fails with "No medium found"
and logs which disk to plug in.
.PP
\fBHistory.\fR
dsbfs is a backup, not a mirror: every finished scan is a snapshot, and a file
deleted or changed at the source keeps its old content on the disks for as long as
the retention policy (\fBdsbfs policy\fR, with the keep rules of \fBrestic forget\fR)
keeps a snapshot that holds it. Only \fBdsbfs forget\fR releases history.
\fBdsbfs snapshots\fR, \fBdiff\fR and \fBversions\fR show it; \fBrestore
\-\-snapshot\fR, \fBwhere \-\-snapshot\fR and the mount options \fBsnapshot=\fR and
\fBhistory\fR read it.
.PP
\fBGetting files back.\fR
\fBdsbfs restore\fR copies files out of the connected disks, checking every byte;
\fB\-\-plan\fR names the fewest disks that hold a selection. With the main machine
gone, \fBdsbfs recover\fR makes the catalog again from whatever disks are plugged in.
"#;

/// Sections after the commands: what the clap definitions do not say.
const TRAILER: &str = r#".SH "JSON OUTPUT"
Every command that reports something takes \fB\-\-json\fR and then prints one JSON
document on standard output instead of its text (messages and errors still go to
standard error, and the exit status is the same). All documents follow one style:
.IP \(bu 2
a count with its size is an object: \fB{"files": N, "bytes": B}\fR for files (apparent
sizes, as \fBls \-l\fR shows them), \fB{"objects": N, "bytes": B}\fR for distinct
contents (what a disk stores); never a bare pair;
.IP \(bu 2
times are RFC 3339 strings in UTC (\fB"2026\-12\-01T06:25:59Z"\fR), never seconds since
1970; a time that never happened is \fBnull\fR;
.IP \(bu 2
lists of problems are lists of strings, the first 50 of each kind, then one
\fB"… and N more"\fR;
.IP \(bu 2
paths are strings; bytes that are not UTF\-8 are shown as U+FFFD (use \fBls \-0\fR for
exact names).
.PP
The main fields:
.TP
\fBstatus\fR
\fBprotection.by_copies\fR: four file counts, for 0, 1, 2, and 3 or more copies;
\fBprotection.below_wanted\fR: the files with fewer copies than wanted;
\fBdisks[].would_protect\fR: the at\-risk objects a backup to that disk would copy;
\fBdisks[].last_backup\fR, \fBlast_verify\fR: times; \fBsimulate_drop\fR:
\fB{"disk", "protection"}\fR.
.TP
\fBbackup\fR
\fBplanned_copy\fR, \fBplanned_delete\fR, \fBcopied\fR, \fBdeleted\fR: object counts;
\fBbefore\fR, \fBafter\fR: object counts by copies (0, 1, 2, 3 or more); \fBroom\fR:
bytes; \fBstopped\fR: why the backup stopped early, or null.
.TP
\fBrestore\fR
\fBrestored\fR: a file count; \fBconflicts\fR: the paths kept because DEST had them
otherwise; \fBmissing\fR: groups of files no connected disk could give, with the disks
that hold them. \fB\-\-plan\fR: \fBsteps[]\fR (\fBdisk\fR, \fBconnected\fR, \fBfiles\fR,
\fBbytes\fR); \fB\-\-dry\-run\fR: \fBwrite\fR, \fBreplace\fR, \fBconflicts\fR,
\fBmissing\fR (paths) and \fBcopy\fR (a file count).
.TP
\fBverify\fR
\fBchecked\fR: an object count; \fBdamaged\fR, \fBmissing\fR, \fBunknown\fR: problems,
each naming the files that use the object.
.TP
\fBscan\fR
\fBnew\fR, \fBchanged\fR, \fBdeleted\fR, \fBunchanged\fR, \fBhashed\fR: file counts.
.TP
\fBdisk list\fR
per disk: \fBname\fR, \fBuuid\fR, \fBpath\fR, \fBcap\fR (bytes or null),
\fBadded\fR, \fBlast_backup\fR, \fBlast_verify\fR (times), \fBconnected\fR,
\fBobjects\fR, \fBused\fR (bytes).
.TP
\fBsnapshots\fR, \fBforget\fR, \fBversions\fR
\fBtime\fR and \fBmtime\fR are times; \fBsnapshots\fR lists snapshot ids.
.SH EXAMPLES
The quick start: what to back up, one scan, two disks on USB drives (mounted at
\fI/media/usb\-red\fR and \fI/media/usb\-blue\fR), a backup to each, and what is left
at risk:
.PP
.nf
.RS 4
dsbfs source add / ~/archive
dsbfs source add /photos /media/photos/DCIM
dsbfs source set /photos \-\-copies 3
dsbfs scan
dsbfs disk add red /media/usb\-red/backup \-\-create
dsbfs disk add blue /media/usb\-blue/backup \-\-create \-\-size 1.5T
dsbfs backup red
dsbfs backup blue
dsbfs status
.RE
.fi
.PP
Which disk holds a file; a folder back out of whatever disks are connected, first
listing what it would write; the whole backup as a filesystem:
.PP
.nf
.RS 4
dsbfs where /photos/2019/IMG_0001.jpg
dsbfs restore /tmp/out /photos/2019 \-\-dry\-run
dsbfs restore /tmp/out /photos/2019
mkdir \-p ~/backup && dsbfs mount ~/backup
fusermount3 \-u ~/backup
.RE
.fi
.PP
The backup mounted at boot from \fI/etc/fstab\fR (\fBmount.dsbfs\fR(8) is the helper
\fBmount\fR(8) runs; name the catalog by an absolute path):
.PP
.nf
.RS 4
/var/lib/dsbfs/catalog.db  /mnt/backup  dsbfs  noauto,x\-systemd.automount,allow_other  0 0
.RE
.fi
.PP
A rescue from one surviving disk, on a new machine: plug it in, let \fBrecover\fR find
it (on every mounted filesystem, or in the folders named) and make the catalog again,
then see what it holds and copy it out:
.PP
.nf
.RS 4
dsbfs recover /media/usb\-red
dsbfs status
dsbfs restore \-\-plan /tmp/rescued
dsbfs restore /tmp/rescued
.RE
.fi
.PP
Without installing a catalog, the copy on the disk mounts as it is:
.PP
.nf
.RS 4
dsbfs mount /media/usb\-red/backup/dsbfs\-catalog.db /mnt/rescue
.RE
.fi
.SH "EXIT STATUS"
.TP
\fB0\fR
success
.TP
\fB1\fR
failure, one line on standard error saying what and what to do (a disk that left
mid\-backup, output that could not be written)
.TP
\fB2\fR
usage error: something asked for that cannot be (an unknown disk, a folder that does
not exist, a pattern that matches nothing)
.TP
\fB3\fR
finished, but something needs attention: files below their wanted copies
(\fBstatus\fR), unreadable files (\fBscan\fR), damaged objects (\fBverify\fR), files
still missing or kept because DEST had them otherwise (\fBrestore\fR)
.PP
A closed standard output (\fBdsbfs ls | head\fR) ends the output quietly; the exit
status is what it would have been.
.SH ENVIRONMENT
.TP
\fBDSBFS_CATALOG\fR
the catalog file, as \fB\-\-catalog\fR
.TP
\fBXDG_DATA_HOME\fR
where the default catalog lives (\fI~/.local/share\fR when unset)
.TP
\fBXDG_STATE_HOME\fR
where a background mount logs (\fI~/.local/state\fR when unset)
.TP
\fBRUST_LOG\fR
log filter, e.g. \fBdsbfs=debug\fR
.SH FILES
.TP
\fI$XDG_DATA_HOME/dsbfs/catalog.db\fR
the default catalog (\fI~/.local/share/dsbfs/catalog.db\fR)
.TP
\fI$XDG_STATE_HOME/dsbfs/mount.log\fR
the log of a background mount (\fI~/.local/state/dsbfs/mount.log\fR)
.TP
\fIDISK/dsbfs\-disk.json\fR
a disk's identity: name, UUID, format (\fIdsbfs\-disk.removed.json\fR once \fBdisk
remove\fR forgot the disk)
.TP
\fIDISK/objects/\fR
file contents, named by their SHA\-256
.TP
\fIDISK/dsbfs\-catalog.db\fR
the catalog copy left by every backup; mount it to browse the backup from this disk alone
.TP
\fIDISK/dsbfs\-context.tsv\fR
the restore context: the latest snapshot as plain text, one line per path; with
\fBsha256sum\fR it restores the disk's files without dsbfs (doc/DISK\-FORMAT.md)
.TP
\fIDISK/quarantine/\fR
damaged objects and entries that did not belong, moved aside by \fBverify\fR
.SH "SEE ALSO"
\fBmount.dsbfs\fR(8), \fBfusermount3\fR(1), \fBrestic\fR(1)
"#;

type RenderSection = fn(&Man, &mut dyn Write) -> std::io::Result<()>;

/// Renders the whole page.
pub fn render() -> Vec<u8> {
    let mut root = crate::cli::Cli::command();
    root.build();
    let man = Man::new(root.clone()).date(MAN_DATE);
    let mut out = Vec::new();
    let sections: [RenderSection; 2] = [Man::render_title, Man::render_name_section];
    for render in sections {
        render(&man, &mut out).expect("writing to memory");
    }
    out.extend_from_slice(SYNOPSIS.as_bytes());
    out.extend_from_slice(DESCRIPTION.as_bytes());
    man.render_options_section(&mut out)
        .expect("writing to memory");
    out.extend_from_slice(b".SH COMMANDS\n");
    for sub in visible(&root) {
        command_section(sub, "dsbfs", &mut out);
    }
    out.extend_from_slice(TRAILER.as_bytes());
    tidy(&String::from_utf8_lossy(&out)).into_bytes()
}

/// The subcommands a person uses: not the hidden ones, nor clap's `help`.
fn visible(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// clap_mangen defines the `Aq` string before every section: once is enough. Lines
/// lose trailing blanks.
fn tidy(page: &str) -> String {
    let mut seen_aq = false;
    let mut lines = Vec::new();
    let mut skip_next = false;
    for line in page.lines() {
        if skip_next {
            skip_next = false;
            continue;
        }
        if line.starts_with(r".ie \n(.g .ds Aq") {
            if seen_aq {
                skip_next = true;
                continue;
            }
            seen_aq = true;
        }
        lines.push(line.trim_end());
    }
    lines.join("\n") + "\n"
}

/// One `.SS` per leaf command: its synopsis, description, options and notes.
fn command_section(cmd: &clap::Command, parent: &str, out: &mut Vec<u8>) {
    let full = format!("{parent} {}", cmd.get_name());
    if cmd.has_subcommands() {
        for sub in visible(cmd) {
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
    let man = Man::new(cmd.clone());
    let _ = writeln!(out, ".SS \"{full}\"\n{}", synopsis(&cmd, &full));
    let mut part = Vec::new();
    man.render_description_section(&mut part)
        .expect("writing to memory");
    man.render_options_section(&mut part)
        .expect("writing to memory");
    let text = String::from_utf8_lossy(&part)
        .replace(".SH DESCRIPTION\n", ".PP\n")
        .replace(".SH OPTIONS\n", "");
    out.extend_from_slice(text.as_bytes());
    if let Some(notes) = cmd.get_after_long_help().or(cmd.get_after_help()) {
        notes_text(&notes.to_string(), out);
    }
}

/// A command's notes (its `after_help`): a paragraph with indented lines (a table) as
/// it is, the others filled.
fn notes_text(notes: &str, out: &mut Vec<u8>) {
    for paragraph in notes.split("\n\n") {
        let text = roff_text(paragraph);
        if paragraph.lines().any(|l| l.starts_with(' ')) {
            let _ = writeln!(out, ".PP\n.nf\n{text}\n.fi");
        } else {
            let _ = writeln!(out, ".PP\n{text}");
        }
    }
}

/// The command's synopsis line: its options with their values, then its arguments.
fn synopsis(cmd: &clap::Command, full: &str) -> String {
    let mut line = format!(r"\fB{}\fR", roff_text(full));
    let visible = cmd.get_arguments().filter(|a| !a.is_hide_set());
    let (positionals, options): (Vec<_>, Vec<_>) = visible.partition(|a| a.is_positional());
    for a in options {
        let mut names = Vec::new();
        if let Some(s) = a.get_short() {
            names.push(format!(r"\fB\-{s}\fR"));
        }
        if let Some(l) = a.get_long() {
            names.push(format!(r"\fB\-\-{}\fR", roff_text(l)));
        }
        let mut item = names.join("|");
        if a.get_action().takes_values() {
            item += &format!(r" \fI{}\fR", roff_text(&value_name(a)));
        }
        let repeats = matches!(
            a.get_action(),
            clap::ArgAction::Append | clap::ArgAction::Count
        );
        line += &format!(" [{item}]{}", if repeats { "..." } else { "" });
    }
    for a in positionals {
        let name = format!(r"\fI{}\fR", roff_text(&value_name(a)));
        // A value name of several words (`[CATALOG] MOUNTPOINT`) says it all.
        let many =
            a.get_num_args().is_some_and(|n| n.max_values() > 1) && !value_name(a).contains(' ');
        let many = if many { "..." } else { "" };
        if a.is_required_set() {
            line += &format!(" {name}{many}");
        } else {
            line += &format!(" [{name}]{many}");
        }
    }
    line
}

/// What an argument's value is called: its value name, or its id in capitals.
fn value_name(a: &clap::Arg) -> String {
    match a.get_value_names() {
        Some(names) => names
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        None => a.get_id().as_str().to_uppercase(),
    }
}

/// Text for roff: backslashes and hyphens escaped, no line taken for a request.
fn roff_text(s: &str) -> String {
    s.replace('\\', r"\e")
        .replace('-', r"\-")
        .lines()
        .map(|l| {
            if l.starts_with(['.', '\'']) {
                format!(r"\&{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_and_option_is_on_the_page() {
        let page = String::from_utf8(render()).unwrap();
        let root = crate::cli::Cli::command();
        fn walk(cmd: &clap::Command, page: &str, path: &str) {
            for sub in visible(cmd) {
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

    #[test]
    fn the_page_has_no_help_entries_and_every_option_s_value_is_named() {
        let page = String::from_utf8(render()).unwrap();
        assert!(
            !page.contains("dsbfs help"),
            "clap's help command is on the page"
        );
        assert!(
            page.contains(r"[\fB\-\-size\fR \fISIZE\fR]")
                && page.contains(r"[\fB\-o\fR \fIOPTIONS\fR]...")
                && page.contains(r"[\fB\-\-rewrite\fR \fIOLD=NEW\fR]..."),
            "synopses name their values"
        );
        // What `-o` says is below is below: the mount options follow the mount's options.
        let mount = &page[page.find(".SS \"dsbfs mount\"").unwrap()..];
        let mount = &mount[..mount[4..].find(".SS").unwrap()];
        assert!(mount.contains("allow_other") && mount.contains("snapshot=ID|DATE"));
        for section in [
            ".SH DESCRIPTION",
            ".SH EXAMPLES",
            ".SH \"EXIT STATUS\"",
            ".SH FILES",
            ".SH ENVIRONMENT",
            ".SH \"JSON OUTPUT\"",
        ] {
            assert_eq!(page.matches(section).count(), 1, "{section}");
        }
        let examples = &page[page.find(".SH EXAMPLES").unwrap()..];
        assert!(examples.contains("dsbfs recover") && examples.contains("/etc/fstab"));
        assert!(page.contains(r"\fBHistory.\fR"));
    }
}
