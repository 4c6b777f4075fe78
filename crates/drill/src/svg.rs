//! A self-contained SVG timeline of a drill: writes/s per writer (stacked: acknowledged,
//! not acknowledged, failed), per-shard writability from the probe, phase markers, the shaded
//! failure window and the RTO. Plain SVG text, no scripts, no external fonts or files.

use std::fmt::Write as _;

use crate::report::DrillReport;
use crate::workload::PhaseKind;
use crate::WriterKind;

const WIDTH: f64 = 1100.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 24.0;
const PANEL_H: f64 = 130.0;
const PANEL_GAP: f64 = 34.0;
const SHARD_ROW: f64 = 16.0;
const OK: &str = "#2f9e62";
const NOT_ACKED: &str = "#e6a23c";
const FAILED: &str = "#d9434b";
const UNKNOWN: &str = "#d5d8dc";
const INK: &str = "#1f2933";
const MUTED: &str = "#6b7785";
const GRID: &str = "#e4e7eb";
const FAULT: &str = "#b4232c";
const MILESTONE: &str = "#3c5a99";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A round step for about `target` ticks over `span`.
fn nice_step(span: f64, target: f64) -> f64 {
    let raw = (span / target).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let n = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    n * mag
}

fn fmt_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

/// Which count of a bucket a stacked layer shows.
type Pick = fn(&crate::report::Counts) -> u32;

pub fn render(report: &DrillReport) -> String {
    let bucket_s = report.bucket_ms as f64 / 1000.0;
    let t_end = (report.duration_ms / 1000.0).max(0.1);
    let plot_w = WIDTH - LEFT - RIGHT;
    let x = |t_s: f64| LEFT + (t_s / t_end).clamp(0.0, 1.0) * plot_w;

    // Header: title, subtitle, staggered phase labels, RTO bracket.
    let label_rows = 3usize;
    let title_h = 62.0;
    let labels_top = title_h;
    let labels_h = label_rows as f64 * 15.0 + 8.0;
    let rto_y = labels_top + labels_h + 6.0;
    let plots_top = rto_y + 18.0;
    let writers = WriterKind::ALL;
    let shards_top = plots_top + writers.len() as f64 * (PANEL_H + PANEL_GAP);
    let shards_h = report.shards.len() as f64 * SHARD_ROW;
    let plots_bottom = shards_top + shards_h;
    let axis_y = plots_bottom + 4.0;
    let height = axis_y + 58.0;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r#"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="white"/>"#
    );

    // Title and one-line verdict.
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="26" font-size="18" font-weight="bold" fill="{INK}">redis-stretch drill {}</text>"#,
        esc(&report.run)
    );
    let rto = report.rto_ms.map_or_else(
        || "not reached".to_owned(),
        |r| format!("{:.2} s", r / 1000.0),
    );
    let checks = if report.cluster_check.is_empty() {
        String::new()
    } else if report.cluster_check.iter().all(|c| c.1) {
        " · cluster check clean".to_owned()
    } else {
        " · cluster check NOT clean".to_owned()
    };
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="46" fill="{MUTED}">RTO {} · acknowledged writes lost (WAIT) {} · plain writes lost {} · not acknowledged {}{}</text>"#,
        esc(&rto),
        report.acked_writes_lost,
        report.plain_writes_lost,
        report.not_acknowledged,
        esc(&checks)
    );
    // Legend, top right, on the title line.
    let legend = [
        (OK, "acknowledged", 1.0),
        (NOT_ACKED, "not acknowledged", 1.0),
        (FAILED, "failed", 1.0),
        (FAILED, "failure window", 0.12),
    ];
    let legend_w: f64 = legend
        .iter()
        .map(|(_, l, _)| 15.0 + l.len() as f64 * 6.4 + 14.0)
        .sum();
    let mut lx = WIDTH - RIGHT - legend_w;
    for (color, label, opacity) in legend {
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.1}" y="16" width="11" height="11" fill="{color}" fill-opacity="{opacity}" stroke="{color}" stroke-opacity="{opacity}"/><text x="{:.1}" y="26" fill="{INK}">{label}</text>"#,
            lx + 15.0
        );
        lx += 15.0 + label.len() as f64 * 6.4 + 14.0;
    }

    // Failure shading behind everything in the plot area.
    for (from_ms, to_ms) in report.failure_spans() {
        let (a, b) = (x(from_ms / 1000.0), x(to_ms / 1000.0));
        let _ = writeln!(
            s,
            r#"<rect x="{a:.1}" y="{plots_top:.1}" width="{:.1}" height="{:.1}" fill="{FAILED}" fill-opacity="0.08"/>"#,
            (b - a).max(1.5),
            plots_bottom - plots_top
        );
    }

    // One stacked panel per writer.
    // The last bucket is usually cut short by the end of the drill: divide by what it covers.
    let width_of = |i: usize| (t_end - i as f64 * bucket_s).clamp(0.0, bucket_s);
    let rate_at = |i: usize, n: u32| {
        let w = width_of(i);
        if w < bucket_s * 0.2 {
            0.0
        } else {
            f64::from(n) / w
        }
    };
    let max_rate = report
        .buckets
        .iter()
        .enumerate()
        .flat_map(|(i, b)| b.writers.iter().map(move |c| (i, c)))
        .map(|(i, c)| rate_at(i, c.ok + c.not_acknowledged + c.failed))
        .fold(0.0, f64::max)
        .max(f64::from(report.settings.rate_per_writer))
        .max(1.0);
    let y_step = nice_step(max_rate, 4.0);
    // The epsilon keeps float noise (10 writes / 0.0999… s) from adding an empty grid step.
    let y_max = (max_rate / y_step - 1e-6).ceil().max(1.0) * y_step;
    for (wi, kind) in writers.iter().enumerate() {
        let top = plots_top + wi as f64 * (PANEL_H + PANEL_GAP);
        let bottom = top + PANEL_H;
        let y = |v: f64| bottom - (v / y_max).clamp(0.0, 1.0) * PANEL_H;
        let name = match kind {
            WriterKind::Plain => "plain writer (SET)".to_owned(),
            WriterKind::Wait => format!(
                "WAIT writer (SET + WAIT 1 {} ms)",
                report.settings.wait_timeout_ms
            ),
        };
        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="{:.1}" font-weight="bold" fill="{INK}">{}</text>"#,
            top - 8.0,
            esc(&name)
        );
        // Grid and y axis.
        let mut v = 0.0;
        while v <= y_max + 1e-9 {
            let yy = y(v);
            let _ = writeln!(
                s,
                r#"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="{GRID}"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="10" fill="{MUTED}">{}</text>"#,
                LEFT + plot_w,
                LEFT - 6.0,
                yy + 3.5,
                fmt_num(v)
            );
            v += y_step;
        }
        let _ = writeln!(
            s,
            r#"<text transform="translate({:.1},{:.1}) rotate(-90)" text-anchor="middle" font-size="11" fill="{MUTED}">writes/s</text>"#,
            LEFT - 46.0,
            (top + bottom) / 2.0
        );
        // Stacked step areas: ok at the bottom, then not acknowledged, then failed.
        let layers: [(&str, Pick); 3] = [
            (OK, |c| c.ok),
            (NOT_ACKED, |c| c.not_acknowledged),
            (FAILED, |c| c.failed),
        ];
        let mut base = vec![0.0f64; report.buckets.len()];
        for (color, pick) in layers {
            let tops: Vec<f64> = report
                .buckets
                .iter()
                .zip(&base)
                .enumerate()
                .map(|(i, (b, lo))| lo + b.writers.get(wi).map_or(0.0, |c| rate_at(i, pick(c))))
                .collect();
            if tops.iter().zip(&base).all(|(t, b)| (t - b).abs() < 1e-9) {
                base = tops;
                continue;
            }
            let mut d = String::new();
            for (i, t) in tops.iter().enumerate() {
                let (x0, x1) = (x(i as f64 * bucket_s), x((i + 1) as f64 * bucket_s));
                let cmd = if i == 0 { 'M' } else { 'L' };
                let _ = write!(d, "{cmd}{x0:.1},{:.1} L{x1:.1},{:.1} ", y(*t), y(*t));
            }
            for (i, b) in base.iter().enumerate().rev() {
                let (x0, x1) = (x(i as f64 * bucket_s), x((i + 1) as f64 * bucket_s));
                let _ = write!(d, "L{x1:.1},{:.1} L{x0:.1},{:.1} ", y(*b), y(*b));
            }
            let _ = writeln!(s, r#"<path d="{}Z" fill="{color}"/>"#, d.trim_end());
            base = tops;
        }
        let _ = writeln!(
            s,
            r#"<line x1="{LEFT}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" stroke="{MUTED}"/>"#,
            LEFT + plot_w
        );
    }

    // Probe strip: one row per shard, merged runs of equal state.
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{:.1}" font-weight="bold" fill="{INK}">shards writable (probe every {} ms)</text>"#,
        shards_top - 8.0,
        report.settings.probe_interval_ms
    );
    for (si, shard) in report.shards.iter().enumerate() {
        let row_y = shards_top + si as f64 * SHARD_ROW;
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="10" fill="{MUTED}">{}</text>"#,
            LEFT - 6.0,
            row_y + SHARD_ROW - 4.5,
            esc(&shard.name)
        );
        let states: Vec<Option<bool>> = report
            .buckets
            .iter()
            .map(|b| b.shards_writable.get(si).copied().flatten())
            .collect();
        let mut i = 0;
        while i < states.len() {
            let mut j = i + 1;
            while j < states.len() && states[j] == states[i] {
                j += 1;
            }
            let color = match states[i] {
                Some(true) => OK,
                Some(false) => FAILED,
                None => UNKNOWN,
            };
            let (x0, x1) = (x(i as f64 * bucket_s), x(j as f64 * bucket_s));
            let _ = writeln!(
                s,
                r#"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"/>"#,
                row_y + 1.0,
                (x1 - x0).max(0.5),
                SHARD_ROW - 3.0
            );
            i = j;
        }
    }

    // Time axis.
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{axis_y:.1}" x2="{:.1}" y2="{axis_y:.1}" stroke="{INK}"/>"#,
        LEFT + plot_w
    );
    let t_step = nice_step(t_end, 12.0);
    let mut t = 0.0;
    while t <= t_end + 1e-9 {
        let xx = x(t);
        let _ = writeln!(
            s,
            r#"<line x1="{xx:.1}" y1="{axis_y:.1}" x2="{xx:.1}" y2="{:.1}" stroke="{INK}"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle" font-size="10" fill="{INK}">{}</text>"#,
            axis_y + 5.0,
            axis_y + 18.0,
            fmt_num(t)
        );
        t += t_step;
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11" fill="{MUTED}">time since the drill started (s) · writes bucketed by start time, {} ms buckets</text>"#,
        LEFT + plot_w / 2.0,
        axis_y + 38.0,
        report.bucket_ms
    );

    // Phase markers over everything, labels staggered in the header so close phases stay legible.
    for (pi, p) in report.phases.iter().enumerate() {
        let xx = x(p.at_ms / 1000.0);
        let color = match p.kind {
            PhaseKind::Fault => FAULT,
            PhaseKind::Milestone => MILESTONE,
        };
        let ly = labels_top + (pi % label_rows) as f64 * 15.0 + 12.0;
        let anchor = if xx > LEFT + plot_w * 0.8 {
            "end"
        } else {
            "start"
        };
        let dx = if anchor == "end" { -4.0 } else { 4.0 };
        let _ = writeln!(
            s,
            r#"<line x1="{xx:.1}" y1="{:.1}" x2="{xx:.1}" y2="{plots_bottom:.1}" stroke="{color}" stroke-width="1.2" stroke-dasharray="4 3"/>"#,
            ly - 10.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{ly:.1}" text-anchor="{anchor}" font-size="11" fill="{color}">{} (+{:.2} s)</text>"#,
            xx + dx,
            esc(&p.name),
            p.at_ms / 1000.0
        );
    }

    // RTO brackets: from each fault to the moment all slots were writable again.
    for f in &report.faults {
        let Some(r) = f.rto_ms else {
            let xx = x(f.at_ms / 1000.0);
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="11" font-weight="bold" fill="{FAILED}">not all slots writable again</text>"#,
                xx + 4.0,
                rto_y + 4.0
            );
            continue;
        };
        let (a, b) = (x(f.at_ms / 1000.0), x((f.at_ms + r) / 1000.0));
        let _ = writeln!(
            s,
            r#"<path d="M{a:.1},{:.1} L{a:.1},{:.1} L{b:.1},{:.1} L{b:.1},{:.1}" fill="none" stroke="{INK}" stroke-width="1.4"/>"#,
            rto_y - 5.0,
            rto_y,
            rto_y,
            rto_y - 5.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" font-weight="bold" fill="{INK}">RTO {:.2} s</text>"#,
            b + 5.0,
            rto_y + 4.0,
            r / 1000.0
        );
    }
    s.push_str("</svg>\n");
    s
}
