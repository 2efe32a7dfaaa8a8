//! The report as plain text: what a mail or a terminal shows.

use super::Report;
use crate::util::{format_size as sz, format_time};
use std::fmt::Write;

/// The whole report; lines end with `\n`.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = write_report(&mut o, r);
    o
}

fn write_report(o: &mut String, r: &Report) -> std::fmt::Result {
    writeln!(o, "dsbfs report for {}", r.machine)?;
    writeln!(
        o,
        "{} UTC, covering the last {} (catalog {})",
        format_time(Some(r.generated)),
        super::describe_period(r.generated - r.since),
        r.catalog
    )?;
    if let Some(why) = &r.reason {
        writeln!(o, "\n{why}")?;
    }
    let p = &r.protection;
    writeln!(o)?;
    if r.at_risk() {
        writeln!(o, "AT RISK: {}", r.risk_line())?;
    } else {
        writeln!(o, "{}", r.risk_line())?;
    }
    for a in &r.advice {
        writeln!(o, "next: {a}")?;
    }
    writeln!(o, "\nfiles by copies ({} files in all)", r.files)?;
    for (i, crate::tally::Files { files: n, bytes: b }) in p.by_copies.iter().enumerate() {
        let label = if i == 3 { "3+".into() } else { i.to_string() };
        writeln!(o, "  {label:>2} copies  {n:>9} files  {:>9}", sz(*b))?;
    }
    if let (Some(first), Some(now)) = (r.copies_over_time.first(), r.copies_over_time.last())
        && r.copies_over_time.len() > 1
    {
        writeln!(
            o,
            "  on no disk: {} files at {}, {} now",
            first.by_copies[0].files,
            format_time(Some(first.time)),
            now.by_copies[0].files
        )?;
    }
    if !r.disks.is_empty() {
        writeln!(o, "\ndisks")?;
        for d in &r.disks {
            let total = d.used + d.room;
            writeln!(
                o,
                "  {:<12} {:<9} {:>9} used, {:>9} free for dsbfs{}",
                d.name,
                if d.connected { "connected" } else { "offline" },
                sz(d.used),
                sz(d.room),
                (d.used * 100)
                    .checked_div(total)
                    .map(|pct| format!(" ({pct}% full)"))
                    .unwrap_or_default()
            )?;
            writeln!(
                o,
                "  {:<12} backup {}; verify {}",
                "",
                crate::runs::last_line(d.last_backup, d.last_backup_run.as_ref()),
                crate::runs::last_line(d.last_verify, d.last_verify_run.as_ref())
            )?;
        }
    }
    writeln!(o, "\nruns since {}", format_time(Some(r.since)))?;
    if r.runs.is_empty() {
        writeln!(o, "  none")?;
    }
    for c in &r.runs {
        let mut parts = vec![format!("{} ok", c.ok)];
        for (n, what) in [
            (c.attention, "need attention"),
            (c.failed, "failed"),
            (c.interrupted, "interrupted"),
            (c.unfinished, "unfinished"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        writeln!(o, "  {:<8} {}", c.kind.as_str(), parts.join(", "))?;
    }
    if !r.problems.is_empty() {
        writeln!(o, "\nproblems, newest first")?;
        for run in &r.problems {
            writeln!(o, "  {}", super::problem_line(run))?;
            for e in run.end.errors.iter().take(3) {
                writeln!(o, "      {e}")?;
            }
        }
        if r.more_problems > 0 {
            writeln!(o, "  and {} more: see `dsbfs log`", r.more_problems)?;
        }
    }
    if let Some(g) = r.growth_line() {
        writeln!(o, "\ngrowth {g}")?;
    }
    writeln!(o, "last scan: {}", format_time(r.last_scan))?;
    if let Some(m) = &r.mass_change {
        writeln!(o, "{}", m.describe())?;
    }
    Ok(())
}
