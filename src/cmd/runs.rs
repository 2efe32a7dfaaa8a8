//! `watch`, `log` and `report`: the daemon, the run history and the summary.

use super::Ctx;
use crate::cli::{LogArgs, ReportArgs, ReportFormat, WatchArgs};
use crate::runs::Run;
use crate::util::{format_size as sz, format_time};
use anyhow::Result;
use std::path::PathBuf;
use std::time::Duration;

pub fn watch(ctx: &Ctx, a: WatchArgs) -> Result<u8> {
    for (name, d, least) in [
        ("--scan-every", a.scan_every, Duration::from_secs(1)),
        ("--poll", a.poll, Duration::from_millis(10)),
        ("--debounce", a.debounce, Duration::ZERO),
        ("--report-every", a.report_every, Duration::from_secs(1)),
    ] {
        if d < least {
            return Err(crate::usage(format!(
                "{name} {} is too short",
                humantime::format_duration(d)
            )));
        }
    }
    crate::watch::watch(
        &ctx.catalog_path,
        &crate::watch::WatchOptions {
            scan_every: a.scan_every,
            poll: a.poll,
            debounce: a.debounce,
            notify: a.notify.filter(|c| !c.trim().is_empty()),
            report_every: a.report_every,
            forget: !a.no_forget,
        },
    )?;
    Ok(crate::exit::OK)
}

/// Unix seconds `d` before now.
fn before_now(d: Duration) -> i64 {
    crate::util::now().saturating_sub(d.as_secs().min(i64::MAX as u64) as i64)
}

pub fn log(ctx: &Ctx, a: LogArgs) -> Result<u8> {
    let cat = ctx.open_readonly()?;
    let runs = cat.runs_since(a.since.map_or(i64::MIN, before_now))?;
    if a.json {
        crate::outln!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(crate::exit::OK);
    }
    if runs.is_empty() {
        crate::outln!(
            "no runs recorded{}",
            if a.since.is_some() {
                " in that time"
            } else {
                " yet"
            }
        );
        return Ok(crate::exit::OK);
    }
    crate::outln!(
        "{:<19}  {:<7}  {:<5}  {:<12}  {:<11}  {:>7}  {:>9}  SUMMARY",
        "STARTED",
        "KIND",
        "BY",
        "DISK",
        "RESULT",
        "TOOK",
        "SIZE"
    );
    for r in &runs {
        print_run(r);
    }
    Ok(crate::exit::OK)
}

fn print_run(r: &Run) {
    let took = r
        .finished
        .map(|f| {
            humantime::format_duration(Duration::from_secs((f - r.started).max(0) as u64))
                .to_string()
        })
        .unwrap_or_else(|| "-".into());
    crate::outln!(
        "{:<19}  {:<7}  {:<5}  {:<12}  {:<11}  {:>7}  {:>9}  {}",
        format_time(Some(r.started)),
        r.kind.as_str(),
        r.origin.as_str(),
        r.disk.as_deref().unwrap_or("-"),
        r.end.result.as_str(),
        took,
        sz(r.end.bytes),
        r.end.summary
    );
    if r.end.result.is_problem() {
        for e in r.end.errors.iter().take(3) {
            crate::outln!("    {e}");
        }
    }
}

pub fn report(ctx: &Ctx, catalogs: &[PathBuf], a: ReportArgs) -> Result<u8> {
    let now = crate::util::now();
    let since = before_now(a.since);
    // One catalog file (ctx's: the first given, or the default): the full report.
    let single = match catalogs {
        [] => true,
        [one] => !one.is_dir(),
        _ => false,
    };
    if single {
        let cat = ctx.open_readonly()?;
        let r = crate::report::compute(&cat, since, now)?;
        match a.format {
            ReportFormat::Text => crate::out!("{}", crate::report::text::render(&r)),
            ReportFormat::Json => crate::outln!("{}", serde_json::to_string_pretty(&r)?),
            ReportFormat::Html => crate::out!("{}", crate::report::html::render(&r)),
        }
        return Ok(if r.at_risk() || !r.problems.is_empty() {
            crate::exit::ATTENTION
        } else {
            crate::exit::OK
        });
    }
    use crate::report::machines;
    let paths = machines::find(catalogs);
    if paths.is_empty() {
        return Err(crate::usage(format!(
            "no dsbfs catalog in {}: name catalog files or folders that hold them",
            catalogs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let list: Vec<machines::Machine> = paths.iter().map(|p| machines::machine(p, since)).collect();
    match a.format {
        ReportFormat::Text => crate::out!("{}", machines::render_text(&list, since, now)),
        ReportFormat::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "generated": now,
                "since": since,
                "machines": list,
            }))?
        ),
        ReportFormat::Html => crate::out!(
            "{}",
            crate::report::html::render_machines(&list, since, now)
        ),
    }
    Ok(if list.iter().any(|m| m.needs_attention()) {
        crate::exit::ATTENTION
    } else {
        crate::exit::OK
    })
}
