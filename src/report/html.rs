//! The report as one self-contained page: XHTML (well-formed XML, so it also opens as
//! HTML anywhere), inline CSS and inline SVG charts; no script, no image, no link to
//! anything, so it can be mailed and opened offline.

use super::machines::Machine;
use super::{CopiesAt, Report};
use crate::util::{format_size as sz, format_time};
use std::fmt::Write;

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:60em;color:#222}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.5em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse}td,th{padding:.2em .8em;text-align:left;border-bottom:1px solid #eee}\
td.n{text-align:right}.bad{color:#b00;font-weight:bold}.ok{color:#070}.meta{color:#666}\
.reason{background:#fee;padding:.5em;border-left:4px solid #b00}svg text{font-size:12px}";

/// Colours of 0, 1, 2 and 3+ copies.
const COPY_COLOURS: [&str; 4] = ["#d62728", "#ff7f0e", "#2ca02c", "#1f77b4"];
const COPY_LABELS: [&str; 4] = ["0 copies", "1 copy", "2 copies", "3+ copies"];

/// Escapes text for XML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Characters XML 1.0 forbids (names may hold any byte).
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n\
         <meta charset=\"utf-8\"/>\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        esc(title)
    )
}

/// The page of one catalog's report.
pub fn render(r: &Report) -> String {
    let mut b = String::new();
    let _ = body(&mut b, r);
    page(&format!("dsbfs report for {}", r.machine), &b)
}

fn body(o: &mut String, r: &Report) -> std::fmt::Result {
    writeln!(o, "<h1>dsbfs report for {}</h1>", esc(&r.machine))?;
    writeln!(
        o,
        "<p class=\"meta\">{} UTC, covering the last {}; catalog {}</p>",
        format_time(Some(r.generated)),
        super::describe_period(r.generated - r.since),
        esc(&r.catalog)
    )?;
    if let Some(why) = &r.reason {
        writeln!(o, "<p class=\"reason\">{}</p>", esc(why))?;
    }
    let p = &r.protection;
    writeln!(o, "<h2 id=\"risk\">At risk</h2>")?;
    writeln!(
        o,
        "<p class=\"{}\">{}.</p>",
        if r.at_risk() { "bad" } else { "ok" },
        esc(&r.risk_line())
    )?;
    if !r.advice.is_empty() {
        writeln!(o, "<ul>")?;
        for a in &r.advice {
            writeln!(o, "<li>{}</li>", esc(a))?;
        }
        writeln!(o, "</ul>")?;
    }

    writeln!(o, "<h2 id=\"copies\">Files by copies</h2>")?;
    writeln!(
        o,
        "<table><tr><th>copies</th><th>files</th><th>size</th></tr>"
    )?;
    for (i, crate::tally::Files { files: n, bytes }) in p.by_copies.iter().enumerate() {
        writeln!(
            o,
            "<tr><td>{}</td><td class=\"n\">{n}</td><td class=\"n\">{}</td></tr>",
            COPY_LABELS[i],
            sz(*bytes)
        )?;
    }
    writeln!(o, "</table>")?;
    o.push_str(&copies_chart(&r.copies_over_time));

    if !r.disks.is_empty() {
        writeln!(o, "<h2 id=\"disks\">Disks</h2>")?;
        o.push_str(&fill_chart(r));
        writeln!(
            o,
            "<table><tr><th>disk</th><th></th><th>used</th><th>free for dsbfs</th><th>last backup</th><th>last verify</th></tr>"
        )?;
        for d in &r.disks {
            writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&d.name),
                if d.connected { "connected" } else { "offline" },
                sz(d.used),
                sz(d.room),
                esc(&crate::runs::last_line(
                    d.last_backup,
                    d.last_backup_run.as_ref()
                )),
                esc(&crate::runs::last_line(
                    d.last_verify,
                    d.last_verify_run.as_ref()
                ))
            )?;
        }
        writeln!(o, "</table>")?;
    }

    writeln!(
        o,
        "<h2 id=\"runs\">Runs since {}</h2>",
        format_time(Some(r.since))
    )?;
    if r.runs.is_empty() {
        writeln!(o, "<p>None.</p>")?;
    } else {
        writeln!(
            o,
            "<table><tr><th>kind</th><th>ok</th><th>attention</th><th>failed</th><th>interrupted</th><th>unfinished</th></tr>"
        )?;
        for c in &r.runs {
            writeln!(
                o,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                c.kind.as_str(),
                c.ok,
                c.attention,
                c.failed,
                c.interrupted,
                c.unfinished
            )?;
        }
        writeln!(o, "</table>")?;
    }
    if !r.problems.is_empty() {
        writeln!(o, "<h2 id=\"problems\">Problems</h2>\n<ul>")?;
        for run in &r.problems {
            write!(
                o,
                "<li><span class=\"bad\">{}</span>",
                esc(&super::problem_line(run))
            )?;
            if !run.end.errors.is_empty() {
                write!(o, "<ul>")?;
                for e in run.end.errors.iter().take(3) {
                    write!(o, "<li>{}</li>", esc(e))?;
                }
                write!(o, "</ul>")?;
            }
            writeln!(o, "</li>")?;
        }
        if r.more_problems > 0 {
            writeln!(
                o,
                "<li>and {} more (see <code>dsbfs log</code>)</li>",
                r.more_problems
            )?;
        }
        writeln!(o, "</ul>")?;
    }
    writeln!(o, "<h2 id=\"growth\">Growth</h2>")?;
    match r.growth_line() {
        Some(g) => writeln!(o, "<p>Growth {}.</p>", esc(&g))?,
        None => writeln!(o, "<p>No snapshot yet.</p>")?,
    }
    writeln!(
        o,
        "<p class=\"meta\">Last scan: {}.</p>",
        format_time(r.last_scan)
    )?;
    if let Some(m) = &r.mass_change {
        writeln!(o, "<p class=\"bad\">{}</p>", esc(&m.describe()))?;
    }
    Ok(())
}

/// Stacked bars of files by copies, one per point in time.
pub fn copies_chart(points: &[CopiesAt]) -> String {
    const W: f64 = 640.0;
    const H: f64 = 160.0;
    const TOP: f64 = 10.0;
    const LEFT: f64 = 50.0;
    let mut o = String::new();
    let max = points
        .iter()
        .map(|p| p.by_copies.iter().map(|c| c.files).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let n = points.len().max(1) as f64;
    let slot = (W - LEFT) / n;
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"copies-chart\" width=\"{W}\" height=\"{}\" viewBox=\"0 0 {W} {}\" role=\"img\" aria-label=\"files by copies over time\">",
        H + 60.0,
        H + 60.0
    );
    let _ = writeln!(
        o,
        "<text x=\"0\" y=\"{}\">{max}</text><text x=\"0\" y=\"{}\">0</text>",
        TOP + 10.0,
        TOP + H
    );
    for (i, p) in points.iter().enumerate() {
        let x = LEFT + i as f64 * slot;
        let mut y = TOP + H;
        for (c, crate::tally::Files { files, .. }) in p.by_copies.iter().enumerate() {
            if *files == 0 {
                continue;
            }
            let h = *files as f64 / max as f64 * H;
            y -= h;
            let _ = writeln!(
                o,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{}: {files} files with {}</title></rect>",
                (slot * 0.8).max(1.0),
                COPY_COLOURS[c],
                format_time(Some(p.time)),
                COPY_LABELS[c]
            );
        }
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = writeln!(
            o,
            "<text x=\"{LEFT}\" y=\"{}\">{}</text><text x=\"{W}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            TOP + H + 15.0,
            format_time(Some(first.time)),
            TOP + H + 15.0,
            format_time(Some(last.time))
        );
    }
    for (c, label) in COPY_LABELS.iter().enumerate() {
        let x = LEFT + c as f64 * 120.0;
        let y = TOP + H + 30.0;
        let _ = writeln!(
            o,
            "<rect x=\"{x}\" y=\"{y}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{label}</text>",
            COPY_COLOURS[c],
            x + 16.0,
            y + 11.0
        );
    }
    o.push_str("</svg>\n");
    o
}

/// One bar per disk: what dsbfs uses of what it may use.
fn fill_chart(r: &Report) -> String {
    const W: f64 = 640.0;
    const ROW: f64 = 24.0;
    const LEFT: f64 = 120.0;
    const BAR: f64 = 360.0;
    let mut o = String::new();
    let h = ROW * r.disks.len() as f64 + 8.0;
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"fill-chart\" width=\"{W}\" height=\"{h}\" viewBox=\"0 0 {W} {h}\" role=\"img\" aria-label=\"disk fill\">"
    );
    for (i, d) in r.disks.iter().enumerate() {
        let y = 4.0 + i as f64 * ROW;
        let total = d.used + d.room;
        let part = if total == 0 {
            0.0
        } else {
            d.used as f64 / total as f64
        };
        let _ = writeln!(
            o,
            "<text x=\"0\" y=\"{}\">{}</text><rect x=\"{LEFT}\" y=\"{y}\" width=\"{BAR}\" height=\"16\" fill=\"#eee\"/><rect x=\"{LEFT}\" y=\"{y}\" width=\"{:.1}\" height=\"16\" fill=\"{}\"><title>{}: {} used, {} free for dsbfs</title></rect><text x=\"{}\" y=\"{}\">{}% of {}</text>",
            y + 13.0,
            esc(&d.name),
            part * BAR,
            if d.connected { "#1f77b4" } else { "#7f7f7f" },
            esc(&d.name),
            sz(d.used),
            sz(d.room),
            LEFT + BAR + 8.0,
            y + 13.0,
            (part * 100.0).round(),
            sz(total)
        );
    }
    o.push_str("</svg>\n");
    o
}

/// The page of several machines: one row each.
pub fn render_machines(machines: &[Machine], since: i64, now: i64) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "<h1>dsbfs: {} machines</h1>", machines.len());
    let _ = writeln!(
        o,
        "<p class=\"meta\">{} UTC, covering the last {}</p>",
        format_time(Some(now)),
        super::describe_period(now - since)
    );
    let _ = writeln!(
        o,
        "<table><tr><th>machine</th><th>last scan</th><th>last backup</th><th>at risk</th><th>on no disk</th><th>problems</th><th>first error</th></tr>"
    );
    for m in machines {
        let risk = if m.at_risk.files > 0 { "bad" } else { "ok" };
        let _ = writeln!(
            o,
            "<tr><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td class=\"n {risk}\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&m.catalog),
            esc(&m.machine),
            format_time(m.last_scan),
            esc(&m.last_backup_line()),
            sz(m.at_risk.bytes),
            sz(m.no_copy.bytes),
            m.problems,
            esc(m
                .error
                .as_deref()
                .or(m.first_error.as_deref())
                .unwrap_or(""))
        );
    }
    o.push_str("</table>\n");
    page("dsbfs: machines", &o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_names_and_errors_cannot_break_the_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'\u{1}"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;\u{FFFD}"
        );
    }

    fn files(n: [u64; 4]) -> crate::runs::ByCopies {
        n.map(|files| crate::tally::Files { files, bytes: 0 })
    }

    #[test]
    fn the_copies_chart_stacks_each_point_to_its_share_of_the_tallest() {
        let points = [
            CopiesAt {
                time: 0,
                by_copies: files([10, 0, 0, 0]),
            },
            CopiesAt {
                time: 86400,
                by_copies: files([2, 3, 15, 0]),
            },
        ];
        let svg = copies_chart(&points);
        // 20 files at most: 160 px of height. 10 files: 80 px; 2: 16; 3: 24; 15: 120.
        assert!(svg.contains("height=\"80.0\" fill=\"#d62728\""), "{svg}");
        assert!(svg.contains("height=\"16.0\" fill=\"#d62728\""));
        assert!(svg.contains("height=\"24.0\" fill=\"#ff7f0e\""));
        assert!(svg.contains("height=\"120.0\" fill=\"#2ca02c\""));
        assert!(
            !svg.contains("fill=\"#1f77b4\"><title>"),
            "no bar for 0 files"
        );
    }
}
