//! Tests that mount for real and use the real tools (ls, find, cp, rsync, diff,
//! getfattr). They fail, never skip, on a machine that cannot mount, and always undo
//! their mounts.

#[path = "../tests/common/mod.rs"]
mod common;
mod harness;

mod caching;
mod cli;
mod disks;
mod fstab;
mod history;
mod reading;
mod recover;
mod rot;
mod security;
mod tree;
