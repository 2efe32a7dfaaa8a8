//! What commands print goes through here, so that one place decides what a failed write
//! means. A reader that went away (a closed pipe: `dsbfs ls | head`) ends the output
//! quietly; any other failure (`> /dev/full`) makes the command exit 1 with one line
//! saying so. Either way the command's work goes on: a backup whose reader left is
//! still a whole backup, and output is never lost without a word.
//!
//! Commands print with [`outln!`](crate::outln) and [`out!`](crate::out) (`println!` and
//! `print!` are refused by clippy.toml), or write raw bytes to [`Stdout`].

use std::io::{self, Write};
use std::sync::Mutex;

/// How the output went so far.
enum State {
    Open,
    /// The reader went away: the rest is dropped, quietly.
    Closed,
    /// A write failed otherwise: the rest is dropped, and the command fails.
    Failed(io::Error),
}

static STATE: Mutex<State> = Mutex::new(State::Open);

/// Standard output for commands. Its writes never fail: a failure is kept for [`finish`]
/// and whatever follows it is dropped.
pub struct Stdout;

impl Stdout {
    fn attempt(f: impl FnOnce(&mut io::StdoutLock) -> io::Result<()>) {
        let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
        if let State::Open = *state
            && let Err(e) = f(&mut io::stdout().lock())
        {
            *state = if e.kind() == io::ErrorKind::BrokenPipe {
                State::Closed
            } else {
                State::Failed(e)
            };
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Self::attempt(|out| out.write_all(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Self::attempt(|out| out.flush());
        Ok(())
    }
}

/// Writes formatted text to [`Stdout`] (what `out!` and `outln!` expand to).
pub fn write_fmt(args: std::fmt::Arguments) {
    let _ = Stdout.write_fmt(args);
}

/// Writes a line to standard error. A failure cannot be reported anywhere, so it is
/// ignored (where `eprintln!` would panic).
pub fn error_line(args: std::fmt::Arguments) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}

/// Flushes standard output and says how it went: an error only when a write failed
/// for another reason than the reader leaving.
pub fn finish() -> anyhow::Result<()> {
    Stdout.flush()?;
    let state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    match &*state {
        State::Failed(e) => Err(anyhow::anyhow!("cannot write the output: {e}")),
        State::Open | State::Closed => Ok(()),
    }
}

/// `print!` through [`Stdout`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_fmt(format_args!($($arg)*))
    };
}

/// `println!` through [`Stdout`].
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::write_fmt(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics (see [`error_line`]).
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::error_line(format_args!($($arg)*))
    };
}
