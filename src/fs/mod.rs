//! The FUSE driver: `dsbfs mount` shows one finished scan of the catalog as a
//! read-only tree, and reads each file from whichever connected disk holds its object.
//!
//! - `options`: `-o` parsing (pure; shared with the `mount.dsbfs` helper)
//! - `filesystem`: what the mount shows and serves, as values and `error::FsError`s;
//!   tested without a kernel (tests/fs_core.rs)
//! - `fuse`: the adapter that alone answers the kernel: requests to `filesystem` calls,
//!   results to replies, disk work to the disk threads, errors to the log
//! - `attr`: catalog nodes as kernel attributes (for `fuse`)
//! - `access`: which names are shown and who may read what
//! - `view`: the scan being shown, connection pool and node cache
//! - `read_ahead`: which folders to list ahead of a walk, and when to stop
//! - `disks`: finding a connected copy of an object, and noticing disks come and go
//! - `handles`: open files, reads served from checked blocks, and reads that detect a
//!   failing copy
//! - `checks`: block hashes computed and copies checked whole in this mount (which
//!   the kernel may then read itself)
//! - `work`: the disk threads, requests first and work ahead capped
//! - `ahead`: opening the next files of a folder ahead of a reader that walks it
//! - `idle`: closing what the mount opened on a disk once unused, so it can be unmounted
//! - `run`: mounting, the background process, signals and the log

pub mod access;
pub mod ahead;
pub mod attr;
pub mod checks;
pub mod disks;
pub mod error;
pub mod filesystem;
pub mod fuse;
pub mod handles;
pub mod idle;
pub mod options;
pub mod read_ahead;
pub mod run;
pub mod view;
pub mod work;

pub use options::{MountOptions, parse as parse_options};
pub use run::{MountRequest, mount};

/// Whether `user.dsbfs.*` attributes are served when neither `-o xattr` nor `-o noxattr`
/// is given: no. Serving any attribute means answering every `getxattr` the kernel
/// sends, and `ls -l` sends two per file (security.selinux, system.posix_acl_access)
/// whose ENODATA answers the kernel does not cache, which makes a listing several times
/// slower (README, "Performance"); without xattrs the first ENOSYS makes the kernel
/// stop asking. `-o xattr` turns them on; `dsbfs ls` answers the same questions
/// without a mount.
pub const XATTR_DEFAULT: bool = false;
