//! Which snapshots a retention policy keeps: the rules of `restic forget`, as a pure
//! function of the snapshots' times, the time zone and the clock, so they can be tested
//! without waiting for days to pass.

use anyhow::{Result, bail};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, ZonedDateTime as Zoned};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A span of calendar time as `restic forget --keep-within` takes it: `2y5m7d3h`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarSpan {
    pub years: i64,
    pub months: i64,
    pub days: i64,
    pub hours: i64,
}

impl CalendarSpan {
    /// Parses `NyNmNdNh` (any subset, in any order, each unit at most once).
    pub fn parse(s: &str) -> Result<CalendarSpan> {
        let bad = || {
            anyhow::anyhow!(
                "`{s}` is not a duration: write years, months, days and hours like 1y6m, 30d or 12h"
            )
        };
        let mut span = CalendarSpan::default();
        let mut seen = String::new();
        let mut digits = String::new();
        for c in s.trim().chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let n: i64 = digits.parse().map_err(|_| bad())?;
            if seen.contains(c) || n > 100_000 {
                return Err(bad());
            }
            match c {
                'y' => span.years = n,
                'm' => span.months = n,
                'd' => span.days = n,
                'h' => span.hours = n,
                _ => return Err(bad()),
            }
            seen.push(c);
            digits.clear();
        }
        if !digits.is_empty() || seen.is_empty() {
            return Err(bad());
        }
        Ok(span)
    }

    fn is_zero(&self) -> bool {
        *self == CalendarSpan::default()
    }

    /// The moment this span before `t`, in calendar terms in `t`'s time zone.
    fn before(&self, t: &Zoned) -> Option<Zoned> {
        let span = Span::new()
            .try_years(self.years)
            .and_then(|s| s.try_months(self.months))
            .and_then(|s| s.try_days(self.days))
            .and_then(|s| s.try_hours(self.hours))
            .ok()?;
        t.checked_sub(span).ok()
    }
}

impl fmt::Display for CalendarSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, unit) in [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ] {
            if n != 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        if self.is_zero() {
            write!(f, "0h")?;
        }
        Ok(())
    }
}

/// Which snapshots to keep, and how many copies the history they hold wants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub keep_last: Option<u32>,
    pub keep_within: Option<CalendarSpan>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
    /// Copies wanted of content that only past snapshots hold.
    pub history_copies: u32,
}

impl Default for Policy {
    /// A handful of recent snapshots, then one a day for a month, a week for a quarter and a
    /// month for two years: `watch` may scan every few minutes, and "everything for 90 days"
    /// would keep thousands of snapshots.
    fn default() -> Policy {
        Policy {
            keep_last: Some(10),
            keep_within: None,
            keep_hourly: None,
            keep_daily: Some(30),
            keep_weekly: Some(13),
            keep_monthly: Some(24),
            keep_yearly: None,
            history_copies: 1,
        }
    }
}

impl Policy {
    /// True when no keep rule is set (only the latest snapshot would stay).
    pub fn keeps_nothing(&self) -> bool {
        self.keep_within.is_none_or(|w| w.is_zero())
            && [
                self.keep_last,
                self.keep_hourly,
                self.keep_daily,
                self.keep_weekly,
                self.keep_monthly,
                self.keep_yearly,
            ]
            .iter()
            .all(|n| n.unwrap_or(0) == 0)
    }

    /// The keep rules in words, as `dsbfs policy` prints them.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (n, what) in [
            (self.keep_last, "last"),
            (self.keep_hourly, "hourly"),
            (self.keep_daily, "daily"),
            (self.keep_weekly, "weekly"),
            (self.keep_monthly, "monthly"),
            (self.keep_yearly, "yearly"),
        ] {
            if let Some(n) = n.filter(|&n| n > 0) {
                parts.push(format!("--keep-{what} {n}"));
            }
        }
        if let Some(w) = self.keep_within.filter(|w| !w.is_zero()) {
            parts.push(format!("--keep-within {w}"));
        }
        if parts.is_empty() {
            parts.push("only the latest snapshot".into());
        }
        parts.push(format!("--history-copies {}", self.history_copies));
        parts.join(" ")
    }
}

/// A snapshot as retention sees it: its id and when it was taken (unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    pub id: i64,
    pub time: i64,
}

/// What the policy decided for one snapshot, and why it is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub id: i64,
    pub time: i64,
    pub keep: bool,
    pub reasons: Vec<String>,
}

/// Applies `policy` to `snapshots` as `restic forget` does, with periods in the local time
/// of `tz` and ISO weeks. The newest snapshot (not in the future of `now`) is always kept,
/// whatever the policy: it is what the mount and `restore` show by default. Returns one
/// decision per snapshot, newest first.
pub fn apply(snapshots: &[Taken], policy: &Policy, tz: &TimeZone, now: i64) -> Vec<Decision> {
    let mut list: Vec<Taken> = snapshots.to_vec();
    list.sort_by_key(|s| std::cmp::Reverse((s.time, s.id)));
    let zoned = |t: i64| {
        Timestamp::from_second(t)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned_datetime(tz.clone())
    };
    // Durations count back from the newest snapshot that is not in the future.
    let latest = list
        .iter()
        .find(|s| s.time <= now)
        .or(list.first())
        .map(|s| zoned(s.time));
    let within_from = policy
        .keep_within
        .filter(|w| !w.is_zero())
        .and_then(|w| latest.as_ref().and_then(|l| w.before(l)));

    struct Bucket {
        left: u32,
        last: Option<i64>,
        reason: &'static str,
        key: fn(&Zoned, usize) -> i64,
    }
    let mut buckets: Vec<Bucket> = [
        (
            policy.keep_last,
            "last",
            (|_, nr| nr as i64) as fn(&Zoned, usize) -> i64,
        ),
        (policy.keep_hourly, "hourly", |z, _| {
            ymd(z) * 100 + i64::from(z.hour())
        }),
        (policy.keep_daily, "daily", |z, _| ymd(z)),
        (policy.keep_weekly, "weekly", |z, _| {
            let w = z.date().iso_week_date();
            i64::from(w.year()) * 100 + i64::from(w.week())
        }),
        (policy.keep_monthly, "monthly", |z, _| {
            i64::from(z.year()) * 100 + i64::from(z.month())
        }),
        (policy.keep_yearly, "yearly", |z, _| i64::from(z.year())),
    ]
    .into_iter()
    .filter_map(|(n, reason, key)| {
        n.filter(|&n| n > 0).map(|left| Bucket {
            left,
            last: None,
            reason,
            key,
        })
    })
    .collect();

    let newest = list
        .iter()
        .find(|s| s.time <= now)
        .or(list.first())
        .map(|s| s.id);
    let oldest = list.len().saturating_sub(1);
    list.iter()
        .enumerate()
        .map(|(nr, s)| {
            let z = zoned(s.time);
            let mut reasons = Vec::new();
            if Some(s.id) == newest {
                reasons.push("latest".to_string());
            }
            if within_from.as_ref().is_some_and(|from| z > *from) {
                reasons.push(format!("within {}", policy.keep_within.unwrap_or_default()));
            }
            for b in buckets.iter_mut().filter(|b| b.left > 0) {
                let key = (b.key)(&z, nr);
                // Like restic: the oldest snapshot is kept too while a rule has periods to spare.
                if b.last != Some(key) || nr == oldest {
                    let oldest_extra = b.last == Some(key);
                    b.last = Some(key);
                    b.left -= 1;
                    reasons.push(if oldest_extra {
                        format!("oldest {}", b.reason)
                    } else {
                        b.reason.to_string()
                    });
                }
            }
            Decision {
                id: s.id,
                time: s.time,
                keep: !reasons.is_empty(),
                reasons,
            }
        })
        .collect()
}

fn ymd(z: &Zoned) -> i64 {
    i64::from(z.year()) * 10_000 + i64::from(z.month()) * 100 + i64::from(z.day())
}

/// Validates a policy given by the user.
pub fn check(policy: &Policy) -> Result<()> {
    if policy.history_copies == 0 {
        bail!("--history-copies must be at least 1: history with no copy is no history");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3600;
    const DAY: i64 = 24 * HOUR;

    /// One hour ahead of UTC (Paris in winter), fixed so the tests need no time zone data.
    fn tz() -> TimeZone {
        TimeZone::fixed(jiff::tz::offset(1))
    }

    /// Unix seconds of a local time in `tz()`.
    fn at(s: &str) -> i64 {
        s.parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned_datetime(tz())
            .unwrap()
            .timestamp()
            .as_second()
    }

    fn kept(snaps: &[Taken], p: &Policy, now: i64) -> Vec<i64> {
        let mut k: Vec<i64> = apply(snaps, p, &tz(), now)
            .into_iter()
            .filter(|d| d.keep)
            .map(|d| d.id)
            .collect();
        k.sort();
        k
    }

    fn none() -> Policy {
        Policy {
            keep_last: None,
            keep_within: None,
            keep_hourly: None,
            keep_daily: None,
            keep_weekly: None,
            keep_monthly: None,
            keep_yearly: None,
            history_copies: 1,
        }
    }

    /// One snapshot every `step` seconds from `start`, ids from 1.
    fn series(start: i64, step: i64, n: i64) -> Vec<Taken> {
        (0..n)
            .map(|i| Taken {
                id: i + 1,
                time: start + i * step,
            })
            .collect()
    }

    #[test]
    fn keep_last_keeps_the_newest_n() {
        let s = series(at("2026-01-01T10:00"), HOUR, 8);
        let p = Policy {
            keep_last: Some(3),
            ..none()
        };
        assert_eq!(kept(&s, &p, at("2027-01-01T00:00")), vec![6, 7, 8]);
    }

    #[test]
    fn no_rule_keeps_only_the_latest() {
        let s = series(at("2026-01-01T10:00"), HOUR, 5);
        assert!(none().keeps_nothing());
        assert_eq!(kept(&s, &none(), at("2027-01-01T00:00")), vec![5]);
    }

    #[test]
    fn keep_daily_keeps_the_newest_of_each_local_day_and_the_oldest_while_days_are_left() {
        // Three snapshots a day for three days, 08:00, 14:00, 23:30 Paris time.
        let mut s = Vec::new();
        for (d, day) in ["2026-03-02", "2026-03-03", "2026-03-04"]
            .iter()
            .enumerate()
        {
            for (i, t) in ["08:00", "14:00", "23:30"].iter().enumerate() {
                s.push(Taken {
                    id: (d * 3 + i + 1) as i64,
                    time: at(&format!("{day}T{t}")),
                });
            }
        }
        let now = at("2026-03-05T00:00");
        let p = Policy {
            keep_daily: Some(2),
            ..none()
        };
        // The newest of 03-04 and of 03-03; no days left for the oldest.
        assert_eq!(kept(&s, &p, now), vec![6, 9]);
        let p = Policy {
            keep_daily: Some(7),
            ..none()
        };
        // Days to spare: the newest of each day, and the oldest snapshot of all (restic 0.17).
        assert_eq!(kept(&s, &p, now), vec![1, 3, 6, 9]);
    }

    #[test]
    fn days_are_local_days() {
        // 23:30 and 00:30 local time are two local days, though one UTC day (22:30, 23:30).
        let s = vec![
            Taken {
                id: 1,
                time: at("2026-01-10T23:30"),
            },
            Taken {
                id: 2,
                time: at("2026-01-11T00:30"),
            },
            Taken {
                id: 3,
                time: at("2026-01-11T00:45"),
            },
        ];
        let p = Policy {
            keep_daily: Some(2),
            ..none()
        };
        assert_eq!(kept(&s, &p, at("2026-02-01T00:00")), vec![1, 3]);
        // In UTC all three fall on the 10th: the newest, and the oldest as the spare.
        let utc: Vec<i64> = apply(&s, &p, &TimeZone::UTC, at("2026-02-01T00:00"))
            .into_iter()
            .filter(|d| d.keep)
            .map(|d| d.id)
            .collect();
        assert_eq!(utc, vec![3, 1]);
    }

    #[test]
    fn weeks_are_iso_weeks() {
        // Sunday 2026-01-04 ends ISO week 1; Monday 2026-01-05 starts week 2.
        let s = vec![
            Taken {
                id: 1,
                time: at("2026-01-03T12:00"),
            },
            Taken {
                id: 2,
                time: at("2026-01-04T12:00"),
            },
            Taken {
                id: 3,
                time: at("2026-01-05T12:00"),
            },
            Taken {
                id: 4,
                time: at("2026-01-06T12:00"),
            },
        ];
        let p = Policy {
            keep_weekly: Some(2),
            ..none()
        };
        assert_eq!(kept(&s, &p, at("2026-02-01T00:00")), vec![2, 4]);
    }

    #[test]
    fn keep_within_counts_back_from_the_newest_snapshot_not_from_now() {
        let s = series(at("2026-01-01T00:00"), DAY, 10);
        let p = Policy {
            keep_within: Some(CalendarSpan::parse("3d").unwrap()),
            ..none()
        };
        // A year later, the last three days before the newest snapshot are still kept.
        assert_eq!(kept(&s, &p, at("2027-01-01T00:00")), vec![8, 9, 10]);
    }

    #[test]
    fn a_snapshot_in_the_future_does_not_move_the_window() {
        let mut s = series(at("2026-01-01T00:00"), DAY, 5);
        s.push(Taken {
            id: 6,
            time: at("2030-01-01T00:00"),
        });
        let p = Policy {
            keep_within: Some(CalendarSpan::parse("1d").unwrap()),
            ..none()
        };
        // The clock says 2026-01-05: the window is the day before snapshot 5.
        let k = kept(&s, &p, at("2026-01-05T12:00"));
        assert!(k.contains(&5) && !k.contains(&3), "{k:?}");
    }

    #[test]
    fn the_default_policy_thins_a_year_of_snapshots_every_hour() {
        let s = series(at("2025-12-01T00:00"), HOUR, 365 * 24);
        let now = at("2026-12-01T00:00");
        let k = kept(&s, &Policy::default(), now);
        // 10 last + 30 daily (overlapping the last) + weekly + monthly, never thousands.
        assert!(k.len() > 40 && k.len() < 80, "{}", k.len());
        assert!(k.contains(&(365 * 24)), "the newest");
        assert!(k.contains(&1), "the oldest, while monthly periods are left");
    }

    #[test]
    fn spans_parse_like_restic() {
        assert_eq!(
            CalendarSpan::parse("1y2m3d4h").unwrap(),
            CalendarSpan {
                years: 1,
                months: 2,
                days: 3,
                hours: 4
            }
        );
        assert_eq!(CalendarSpan::parse("90d").unwrap().to_string(), "90d");
        for bad in ["", "3", "d", "3x", "1d1d", "-1d", "1.5d"] {
            assert!(CalendarSpan::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn history_copies_must_be_positive() {
        let p = Policy {
            history_copies: 0,
            ..Policy::default()
        };
        assert!(check(&p).is_err());
        assert!(check(&Policy::default()).is_ok());
    }
}
