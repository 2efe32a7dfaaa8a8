//! The command line, as clap definitions (also the source of the man pages and completions).

use clap::{Args, Parser, Subcommand};
use clap_complete::engine::{ArgValueCandidates, ArgValueCompleter};
use std::path::PathBuf;

/// Back up an archive larger than any disk onto a drawer of offline disks, and browse it as a read-only filesystem.
#[derive(Parser, Debug)]
#[command(
    name = "dsbfs",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The catalog file [default: $XDG_DATA_HOME/dsbfs/catalog.db]; `report` takes several, and folders of catalogs
    #[arg(long, global = true, env = "DSBFS_CATALOG", value_name = "PATH", action = clap::ArgAction::Append)]
    pub catalog: Vec<PathBuf>,
    /// Say more (repeat for debug output)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Say only what went wrong
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Map source folders onto the virtual backup tree, and set per-path rules
    #[command(subcommand)]
    Source(SourceCmd),
    /// Bring the catalog up to date with the sources (incremental, resumable)
    Scan(ScanArgs),
    /// Register, list and change backup disks
    #[command(subcommand)]
    Disk(DiskCmd),
    /// Update the connected disk NAME following the placement plan
    Backup(BackupArgs),
    /// List files in the catalog
    Ls(LsArgs),
    /// Which disks hold each file, and whether they are connected
    Where(WhereArgs),
    /// Copy files out of the connected disks into DEST
    Restore(RestoreArgs),
    /// Re-hash every object on the connected disk NAME; quarantine bad ones, fix the catalog, record missing block hashes
    Verify(VerifyArgs),
    /// Stay running: mirror changes to the connected disks, back up each disk as it is connected, report
    #[command(long_about = WATCH_ABOUT)]
    Watch(WatchArgs),
    /// The runs of scan, backup, verify, restore and forget, by hand or by watch, oldest first
    Log(LogArgs),
    /// The summary to read once a week: what is at risk, disks, runs and errors, growth
    #[command(long_about = REPORT_ABOUT)]
    Report(ReportArgs),
    /// Print the shell code that completes dsbfs commands, disk names and paths
    Completions {
        /// bash, zsh or fish. bash: `source <(dsbfs completions bash)`; zsh likewise; fish: `dsbfs completions fish | source`
        #[arg(hide_possible_values = true)]
        shell: crate::complete::Shell,
    },
    /// Write the man pages into DIR
    #[command(hide = true)]
    GenMan { dir: PathBuf },
    /// Totals, files by number of copies, disks, what is at risk, and damaged copies met since a verify
    Status(StatusArgs),
    /// Mount the catalog read-only at MOUNTPOINT; returns once the mount is ready
    Mount(MountArgs),
    /// Every snapshot (finished scan): when, files, bytes, and what changed since the one before
    Snapshots(JsonArgs),
    /// Show the retention policy, or change it with the flags given
    Policy(PolicyArgs),
    /// Drop the snapshots the policy does not keep; later backups delete what only they held
    Forget(ForgetArgs),
    /// Every version of PATH the catalog keeps: snapshots, size, hash, disks
    Versions(VersionsArgs),
    /// Paths added (+), removed (-) and changed (M) between two snapshots (default: the last two)
    Diff(DiffArgs),
    /// Write a snapshot's tree as a restore context, or read one into the catalog
    #[command(subcommand)]
    Context(ContextCmd),
    /// Make a catalog again from the disks alone (on a new machine, or after losing it)
    #[command(after_help = RECOVER_HELP)]
    Recover(RecoverArgs),
}

const WATCH_ABOUT: &str = "\
Stay running: mirror changes to the connected disks, back up each disk as it is connected, report.

The sources are watched with inotify: a folder that changed is rescanned once it has been quiet \
for --debounce (a file still being written waits), and every connected disk is backed up, so a \
second drive that stays connected receives a change within seconds. A full rescan runs every \
--scan-every, and whenever inotify loses events or runs out of watches (raise \
fs.inotify.max_user_watches with sysctl). A disk is backed up as soon as it appears (a mount, \
or a folder-disk within --poll). Once a day, after a scan or backup, snapshots are forgotten by \
the retention policy (`dsbfs policy`), unless the mass-change guard is raised or the snapshots \
since the last forget together changed or removed over 30% of the files (then it raises it).

Every scan, backup and forget is a run in `dsbfs log`; scans and backups never overlap with \
each other or with ones started by hand (they wait). It logs one line per event to stderr \
(INFO; -q for errors only), and SIGTERM or SIGINT stop it within seconds (exit 0).

--notify CMD runs `sh -c CMD` after a run that failed or needs attention, when files are on no \
disk after a backup (the same problem once per --report-every), and every --report-every with \
the report: the text report on stdin, the JSON report in DSBFS_REPORT_JSON, one line saying why \
in DSBFS_SUBJECT. For example: --notify 'mail -s \"$DSBFS_SUBJECT\" me@example.org'.

systemd units: scripts/dsbfs-watch.service (system, as root) and scripts/dsbfs-watch-user.service \
(systemctl --user).";

const REPORT_ABOUT: &str = "\
The summary to read once a week: what is at risk and which disk to plug in, files by copies, \
each disk's fill and last backup and verify, the runs of the period and their errors, and how \
the archive grew.

With several --catalog (or a folder, searched for dsbfs catalogs such as the copies on a \
server's disks): one line per machine with its last scan, last backup, bytes at risk and \
errors. Exit 3 when anything is at risk, failed or cannot be read.

--format html writes one self-contained page (inline SVG charts of disk fill and of files by \
copies over time; no scripts, nothing fetched).";

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// How often to rescan every source in full (e.g. 10m, 1h); changes are seen at once
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub scan_every: std::time::Duration,
    /// How often to look for disks that appear without a mount event (e.g. 30s)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub poll: std::time::Duration,
    /// Quiet time before a changed folder is rescanned and copied (e.g. 2s, 500ms)
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = humantime::parse_duration)]
    pub debounce: std::time::Duration,
    /// Run CMD (sh -c) after a run that failed or needs attention, and with each report
    #[arg(long, value_name = "CMD")]
    pub notify: Option<String>,
    /// How often the report goes to --notify, and how often one problem is told
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration)]
    pub report_every: std::time::Duration,
    /// Never forget snapshots automatically
    #[arg(long)]
    pub no_forget: bool,
}

#[derive(Args, Debug)]
pub struct LogArgs {
    /// Only runs started within DURATION before now (e.g. 7d, 12h)
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub since: Option<std::time::Duration>,
    /// Print one JSON document
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Html,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The period the report covers, back from now (e.g. 7d, 24h)
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = humantime::parse_duration)]
    pub since: std::time::Duration,
    /// text, json, or html (one self-contained page)
    #[arg(long, value_enum, default_value_t = ReportFormat::Text, hide_possible_values = true)]
    pub format: ReportFormat,
}

#[derive(Subcommand, Debug)]
pub enum SourceCmd {
    /// Map the physical folder PATH to the virtual path VPATH (e.g. /photos)
    Add {
        /// Where the folder appears in the backup tree: / or a path like /photos
        vpath: PathBuf,
        /// The folder to back up
        path: PathBuf,
        /// Follow symlinks inside this source (with loop detection)
        #[arg(long)]
        follow_symlinks: bool,
    },
    /// List source mappings and rules
    List {
        /// Print one JSON document instead (see JSON OUTPUT in dsbfs(1))
        #[arg(long)]
        json: bool,
    },
    /// Remove the mapping at VPATH (its files leave the catalog's current tree at the next scan)
    Remove {
        /// The virtual path of the mapping (see `dsbfs source list`)
        #[arg(add = ArgValueCompleter::new(crate::complete::vpaths))]
        vpath: PathBuf,
    },
    /// Set rules for VPATH and everything below it
    Set {
        /// The virtual path the rules apply to (and everything below it)
        #[arg(add = ArgValueCompleter::new(crate::complete::vpaths))]
        vpath: PathBuf,
        /// Gitignore-style pattern to leave out (repeat; replaces the list)
        #[arg(long, value_name = "GLOB")]
        exclude: Vec<String>,
        /// Remove every exclude pattern of VPATH
        #[arg(long, conflicts_with = "exclude")]
        clear_excludes: bool,
        /// Wanted number of copies (default 2)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::rules::MAX_COPIES)))]
        copies: Option<u32>,
        /// Higher priority is copied first when copy counts are equal (default 0)
        #[arg(long, value_name = "N", allow_hyphen_values = true)]
        priority: Option<i32>,
    },
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Print one JSON document instead (see JSON OUTPUT in dsbfs(1))
    #[arg(long)]
    pub json: bool,
}

/// `-h` is --human-readable, as in ls(1): help is --help only.
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct LsArgs {
    /// A virtual path (lists it and everything below) or a glob such as '/photos/**/*.jpg'
    #[arg(add = ArgValueCompleter::new(crate::complete::vpaths))]
    pub pattern: Option<PathBuf>,
    /// Print only the paths, each ended by a NUL byte (for xargs -0)
    #[arg(short = '0', long)]
    pub print0: bool,
    /// Only files with exactly N copies
    #[arg(long, value_name = "N")]
    pub copies: Option<u32>,
    /// Only files with at least N copies
    #[arg(long, value_name = "N")]
    pub min_copies: Option<u32>,
    /// Only files with at most N copies
    #[arg(long, value_name = "N")]
    pub max_copies: Option<u32>,
    /// Only files with fewer copies than wanted
    #[arg(long)]
    pub at_risk: bool,
    /// Only files with a copy on DISK
    #[arg(long, value_name = "DISK", add = ArgValueCandidates::new(crate::complete::disk_names))]
    pub on: Option<String>,
    /// Only files with no copy on DISK
    #[arg(long, value_name = "DISK", add = ArgValueCandidates::new(crate::complete::disk_names))]
    pub not_on: Option<String>,
    /// Sizes in KiB, MiB, GiB… instead of bytes
    #[arg(short = 'h', long)]
    pub human_readable: bool,
    /// Print one JSON document instead (see JSON OUTPUT in dsbfs(1))
    #[arg(long)]
    pub json: bool,
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

#[derive(Args, Debug)]
pub struct WhereArgs {
    /// Virtual paths of files (as `dsbfs ls` shows them)
    #[arg(required = true, value_name = "PATH", add = ArgValueCompleter::new(crate::complete::vpaths))]
    pub paths: Vec<PathBuf>,
    /// Look in this snapshot: an id, `latest`, or a date or time [default: the current tree]
    #[arg(long, value_name = "ID|DATE")]
    pub snapshot: Option<String>,
    /// Print one JSON document instead (see JSON OUTPUT in dsbfs(1))
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Show what would fall below its wanted copies if DISK died
    #[arg(long, value_name = "DISK", add = ArgValueCandidates::new(crate::complete::disk_names))]
    pub simulate_drop: Option<String>,
    /// Print one JSON document instead (see JSON OUTPUT in dsbfs(1))
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum DiskCmd {
    /// Make PATH (a folder on a backup drive) a dsbfs disk called NAME
    Add {
        /// What to call the disk: letters, digits and - _ . + @ (e.g. red-usb)
        name: String,
        /// The folder on the mounted backup drive (its root, or a folder on it)
        path: PathBuf,
        /// Most bytes dsbfs may use there, in binary units (500G, 1.5T; 2T = 2 TiB = 2^41
        /// bytes); default: the free space less a reserve
        #[arg(long, value_name = "SIZE")]
        size: Option<String>,
        /// Create PATH if it does not exist (without it, a missing PATH is refused: the
        /// drive may not be mounted)
        #[arg(long)]
        create: bool,
        /// Accept a folder that already holds other files
        #[arg(long)]
        force: bool,
    },
    /// Disks, connected or not, where, used and size, last backup and verify
    List {
        /// Print one JSON document instead (see JSON OUTPUT in dsbfs(1))
        #[arg(long)]
        json: bool,
    },
    /// Change a disk's size cap or where it is
    Set {
        /// The disk (see `dsbfs disk list`)
        #[arg(add = ArgValueCandidates::new(crate::complete::disk_names))]
        name: String,
        /// New cap in binary units (500G, 1.5T; 2T = 2 TiB), or "auto" to follow the free space
        #[arg(long, value_name = "SIZE|auto")]
        size: Option<String>,
        /// The folder where the disk is now (it must hold the disk's identity)
        #[arg(long)]
        path: Option<PathBuf>,
    },
    /// Rename a disk
    Rename {
        /// The disk's name now
        #[arg(add = ArgValueCandidates::new(crate::complete::disk_names))]
        old: String,
        /// Its new name
        new: String,
    },
    /// The disk is lost: forget it and every copy it held
    Drop {
        /// The lost disk
        #[arg(add = ArgValueCandidates::new(crate::complete::disk_names))]
        name: String,
    },
    /// Forget a disk that holds nothing (a connected one's folder stops being a disk)
    Remove {
        /// The disk to forget
        #[arg(add = ArgValueCandidates::new(crate::complete::disk_names))]
        name: String,
    },
    /// Adopt files of an older backup in PATH (on disk NAME) into its store, without copying
    Discover {
        /// The connected disk that holds the older backup
        #[arg(add = ArgValueCandidates::new(crate::complete::disk_names))]
        name: String,
        /// The older backup's folder, on the same filesystem as the disk
        path: PathBuf,
        /// Move the files into the store instead of hard-linking them (frees their old names)
        #[arg(long)]
        r#move: bool,
        /// Print one JSON document instead (see JSON OUTPUT in dsbfs(1))
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// The disk to fill (it must be connected)
    #[arg(add = ArgValueCandidates::new(crate::complete::disk_names))]
    pub name: String,
    /// Scan the sources first
    #[arg(long)]
    pub scan: bool,
    /// Print the plan and change nothing (with -v: every file it would copy and delete)
    #[arg(long)]
    pub dry_run: bool,
    /// Copy at most this much in this run, in binary units (500G, 20M; 1G = 1 GiB)
    #[arg(long, value_name = "SIZE")]
    pub limit: Option<String>,
    /// Also add extra copies up to N while room remains
    #[arg(long, value_name = "N")]
    pub max_copies: Option<u32>,
    /// Never remove needed objects from the disk to make room
    #[arg(long)]
    pub no_evict: bool,
    /// Print one JSON document instead (see JSON OUTPUT in dsbfs(1))
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The folder to restore into (created if missing)
    pub dest: PathBuf,
    /// Virtual paths or globs to restore (default: everything)
    #[arg(value_name = "PATTERN", add = ArgValueCompleter::new(crate::complete::vpaths))]
    pub patterns: Vec<PathBuf>,
    /// Read only from this disk
    #[arg(long, value_name = "NAME", add = ArgValueCandidates::new(crate::complete::disk_names))]
    pub from: Option<String>,
    /// Print the smallest set of disks that holds the selection, in the order to plug them
    #[arg(long)]
    pub plan: bool,
    /// Replace files in DEST that differ from the backup (without it they are kept, and
    /// named as conflicts: exit 3)
    #[arg(long)]
    pub overwrite: bool,
    /// List what would be written, replaced or kept; write nothing
    #[arg(long, conflicts_with = "plan")]
    pub dry_run: bool,
    /// Restore the tree of this snapshot: an id, `latest`, or a date or time (the last
    /// snapshot at or before it) [default: the current tree]
    #[arg(long, value_name = "ID|DATE")]
    pub snapshot: Option<String>,
    /// Print one JSON document instead (see JSON OUTPUT in dsbfs(1))
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The disk to check (it must be connected)
    #[arg(add = ArgValueCandidates::new(crate::complete::disk_names))]
    pub name: String,
    /// Only report: move nothing, change no record
    #[arg(long)]
    pub check: bool,
    /// Print one JSON document instead (see JSON OUTPUT in dsbfs(1))
    #[arg(long)]
    pub json: bool,
}

const MOUNT_HELP: &str = "\
Mount options (-o, comma-separated):
  allow_other         let other users in (the kernel still checks each file's mode and owner)
  allow_root          let root in
  auto_unmount        unmount when the dsbfs process dies
  noexec, sync, dirsync, max_read=N, fsname=NAME
                      passed to the kernel
  xattr / noxattr     serve user.dsbfs.sha256, user.dsbfs.disks and user.dsbfs.copies by name
                      (default: noxattr, since serving any xattr makes `ls -l` ask twice per file)
  log=PATH | log=none where a background mount logs [default: $XDG_STATE_HOME/dsbfs/mount.log,
                      else ~/.local/state/dsbfs/mount.log; without a home, root logs to
                      /var/log/dsbfs-mount.log]; with -f the log is stderr unless log= is given
  snapshot=ID|DATE    show a past snapshot (see `dsbfs snapshots`): its id, `latest`, or a date
                      or local time (2026-12-01, 2026-12-01T06:25) for the last one at or before it
  history             show a folder per snapshot, named by its local time, and `latest`
  threads=N           threads that open and read files on disks (default 8)
  nopassthrough       always read through dsbfs, never let the kernel read disks directly
  ro, defaults, nofail, _netdev, noauto, user, x-*, ...
                      accepted and ignored (fstab); rw is refused

The tree is the catalog's last finished scan (unless snapshot= or history says otherwise), fixed while mounted. Listing and stat never touch a
disk; opening a file reads it from any connected disk holding it, and fails with \"No medium
found\" (the log names the disks to plug in) when none is. Unmount with `fusermount3 -u
MOUNTPOINT`, `umount MOUNTPOINT`, or by stopping the process (SIGTERM, or Ctrl-C with -f).";

#[derive(Args, Debug)]
#[command(after_help = MOUNT_HELP)]
pub struct MountArgs {
    /// The catalog (default: --catalog) and the folder to mount it on
    #[arg(value_name = "[CATALOG] MOUNTPOINT", num_args = 1..=2, required = true)]
    pub paths: Vec<PathBuf>,
    /// Mount options, comma-separated (see below)
    #[arg(short = 'o', value_name = "OPTIONS")]
    pub options: Vec<String>,
    /// Stay in the foreground and log to stderr; Ctrl-C or SIGTERM unmounts
    #[arg(short = 'f', long)]
    pub foreground: bool,
}

#[derive(Args, Debug)]
pub struct JsonArgs {
    /// Print one JSON document instead (see JSON OUTPUT in dsbfs(1))
    #[arg(long)]
    pub json: bool,
}

/// The keep rules of `restic forget`: a snapshot kept by any rule stays.
#[derive(Args, Debug, Default)]
pub struct KeepArgs {
    /// Keep the N newest snapshots
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep every snapshot taken within DURATION of the newest (e.g. 90d, 1y6m, 12h)
    #[arg(long, value_name = "DURATION", value_parser = crate::history::retention::CalendarSpan::parse)]
    pub keep_within: Option<crate::history::retention::CalendarSpan>,
    /// Keep the newest snapshot of each of the last N hours that have one
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the last N days that have one
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the last N ISO weeks that have one
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the last N months that have one
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the last N years that have one
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u32>,
}

impl KeepArgs {
    /// Whether any keep rule was given.
    pub fn any(&self) -> bool {
        self.keep_last.is_some()
            || self.keep_within.is_some()
            || self.keep_hourly.is_some()
            || self.keep_daily.is_some()
            || self.keep_weekly.is_some()
            || self.keep_monthly.is_some()
            || self.keep_yearly.is_some()
    }

    /// `policy` with its keep rules replaced by these (its history copies stay).
    pub fn applied_to(
        &self,
        policy: &crate::history::retention::Policy,
    ) -> crate::history::retention::Policy {
        crate::history::retention::Policy {
            keep_last: self.keep_last,
            keep_within: self.keep_within,
            keep_hourly: self.keep_hourly,
            keep_daily: self.keep_daily,
            keep_weekly: self.keep_weekly,
            keep_monthly: self.keep_monthly,
            keep_yearly: self.keep_yearly,
            history_copies: policy.history_copies,
        }
    }
}

#[derive(Args, Debug)]
pub struct PolicyArgs {
    /// Keep rules: given ones replace all the stored keep rules
    #[command(flatten)]
    pub keep: KeepArgs,
    /// Copies wanted of content only past snapshots hold (default 1)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::rules::MAX_COPIES)))]
    pub history_copies: Option<u32>,
    /// Go back to the default policy
    #[arg(long, conflicts_with_all = ["keep_last", "keep_within", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly", "history_copies"])]
    pub reset: bool,
    /// Print one JSON document instead (see JSON OUTPUT in dsbfs(1))
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ForgetArgs {
    /// Keep rules for this run only: given ones replace the stored policy's keep rules
    #[command(flatten)]
    pub keep: KeepArgs,
    /// Say what would be dropped and freed; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document instead (see JSON OUTPUT in dsbfs(1))
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct VersionsArgs {
    /// A virtual path, current or deleted (as `dsbfs ls` or `dsbfs diff` shows it)
    #[arg(add = ArgValueCompleter::new(crate::complete::vpaths))]
    pub path: PathBuf,
    /// Print one JSON document instead (see JSON OUTPUT in dsbfs(1))
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The older snapshot: an id, `latest`, or a date or time (default: the one before TO)
    #[arg(value_name = "FROM")]
    pub from: Option<String>,
    /// The newer snapshot (default: the latest)
    #[arg(value_name = "TO")]
    pub to: Option<String>,
    /// Also list paths whose mode, owner or mtime alone changed (U)
    #[arg(long)]
    pub metadata: bool,
    /// Print one JSON document instead (see JSON OUTPUT in dsbfs(1))
    #[arg(long)]
    pub json: bool,
}

const CONTEXT_HELP: &str = "\
A restore context is plain text: one line per path, eleven fields separated by tabs
(kind mode uid gid mtime size sha256 link object target path), names escaped so any bytes
survive (a backslash as \\\\, other odd bytes as \\ and three octal digits). Every backup leaves
one in the disk's folder (dsbfs-context.tsv); doc/DISK-FORMAT.md describes it in full.";

#[derive(Subcommand, Debug)]
#[command(after_help = CONTEXT_HELP)]
pub enum ContextCmd {
    /// Write the tree of a snapshot to FILE (`-`: standard output)
    #[command(after_help = CONTEXT_HELP)]
    Export {
        /// Where to write the context (`-`: standard output)
        file: PathBuf,
        /// The snapshot: an id, `latest`, or a date or time [default: latest]
        #[arg(long, value_name = "ID|DATE")]
        snapshot: Option<String>,
        /// Name in the object column the objects this disk holds, as its backup does
        #[arg(long, value_name = "NAME", add = ArgValueCandidates::new(crate::complete::disk_names))]
        disk: Option<String>,
    },
    /// Read FILE (`-`: standard input) into the catalog as a new snapshot; creates the catalog if needed
    #[command(after_help = CONTEXT_HELP)]
    Import {
        /// The context to read, such as DISK/dsbfs-context.tsv (`-`: standard input)
        file: PathBuf,
        /// Move paths at or below OLD to NEW (repeat; the longest matching OLD applies), e.g. /=/old-laptop
        #[arg(long, value_name = "OLD=NEW")]
        rewrite: Vec<String>,
        /// The folder of the disk the context describes, when FILE is not in it; its
        /// objects are then recorded as copies on that disk
        #[arg(long, value_name = "PATH")]
        disk: Option<PathBuf>,
        /// Print one JSON document instead (see JSON OUTPUT in dsbfs(1))
        #[arg(long)]
        json: bool,
    },
}

const RECOVER_HELP: &str = "\
Without PATH, every mounted filesystem is searched (each mount point and two folders below
it). The newest catalog copy found is taken; each found disk's records are then set from a
listing of its objects (names and sizes), so disks whose catalog copies are older still
count with all they hold. Disks not found keep the records the copy had. Sources still name
the old machine's folders: check them with `dsbfs source list`.";

#[derive(Args, Debug)]
pub struct RecoverArgs {
    /// Folders holding dsbfs disks, or folders up to two levels above them [default: every mounted filesystem]
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Re-hash every object of the disks found (damaged ones go to their quarantine)
    #[arg(long)]
    pub verify: bool,
    /// Replace an existing catalog (it is kept beside, renamed)
    #[arg(long)]
    pub force: bool,
    /// Print one JSON document instead (see JSON OUTPUT in dsbfs(1))
    #[arg(long)]
    pub json: bool,
}
