//! `watch --notify CMD`: runs CMD with `sh -c`, the text report on its stdin, the same
//! report as JSON in `DSBFS_REPORT_JSON` and one line saying why in `DSBFS_SUBJECT`.
//! CMD runs beside the daemon (it never holds up a backup) and is stopped after
//! `TIMEOUT`. The same problem told again and again (a full disk, at every change) is
//! told once per report period.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long CMD may run.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Environment strings above this are refused by the kernel (128 KiB each).
const MAX_ENV: usize = 120 << 10;

pub struct Notifier {
    cmd: String,
    /// The same problem is told again only after this long.
    repeat_after: Duration,
    /// Problems told: what they said and when.
    told: HashMap<String, (String, Instant)>,
}

impl Notifier {
    pub fn new(cmd: String, repeat_after: Duration) -> Notifier {
        Notifier {
            cmd,
            repeat_after,
            told: HashMap::new(),
        }
    }

    /// Whether a problem of `key` (a run of a kind on a disk, files on no disk) saying
    /// `what` should be told at `now`: a new problem is, the same one again only once
    /// `repeat_after` has passed.
    pub fn worth_telling(&mut self, key: &str, what: &str, now: Instant) -> bool {
        match self.told.get(key) {
            Some((said, at)) if said == what && now.duration_since(*at) < self.repeat_after => {
                false
            }
            _ => {
                self.told.insert(key.to_string(), (what.to_string(), now));
                true
            }
        }
    }

    /// The problem of `key` is over: the next one is told at once.
    pub fn resolved(&mut self, key: &str) {
        self.told.remove(key);
    }

    /// Runs CMD with the report; does not wait for it.
    pub fn send(&self, subject: &str, text: String, json: String) {
        let json = if json.len() > MAX_ENV {
            r#"{"error":"the report is too large for an environment variable: run `dsbfs report --format json`"}"#.to_string()
        } else {
            json
        };
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&self.cmd)
            .env("DSBFS_SUBJECT", subject)
            .env("DSBFS_REPORT_JSON", json)
            .stdin(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("cannot run the notify command {:?}: {e}", self.cmd);
                return;
            }
        };
        tracing::info!("notify: {subject}");
        let cmd = self.cmd.clone();
        std::thread::spawn(move || {
            if let Some(mut stdin) = child.stdin.take() {
                // A command that does not read its input is fine.
                let _ = stdin.write_all(text.as_bytes());
            }
            let started = Instant::now();
            loop {
                match child.try_wait() {
                    Ok(Some(status)) if status.success() => return,
                    Ok(Some(status)) => {
                        tracing::error!("the notify command {cmd:?} failed ({status})");
                        return;
                    }
                    Ok(None) if started.elapsed() > TIMEOUT => {
                        tracing::error!(
                            "the notify command {cmd:?} ran for {} s: stopped",
                            TIMEOUT.as_secs()
                        );
                        let _ = child.kill();
                        let _ = child.wait();
                        return;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(100)),
                    Err(e) => {
                        tracing::error!("cannot wait for the notify command {cmd:?}: {e}");
                        return;
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_problem_is_told_once_per_period_and_a_new_one_at_once() {
        let t0 = Instant::now();
        let day = Duration::from_secs(86400);
        let mut n = Notifier::new("true".into(), day);
        assert!(n.worth_telling("backup red", "disk red is full", t0));
        assert!(!n.worth_telling("backup red", "disk red is full", t0 + day / 2));
        assert!(n.worth_telling("backup red", "disk red went away", t0 + day / 2));
        assert!(n.worth_telling("backup blue", "disk blue went away", t0 + day / 2));
        assert!(n.worth_telling("backup red", "disk red went away", t0 + day * 2));
        n.resolved("backup red");
        assert!(n.worth_telling("backup red", "disk red went away", t0 + day * 2));
    }
}
