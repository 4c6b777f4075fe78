//! The lab drill's timeline as a self-contained SVG: one row per side and shard, green while
//! that side's writer had its writes to that shard acknowledged, red across each gap (the
//! first error in its tooltip), the fault shaded. Both sides of a cut on one page.

use std::fmt::Write as _;

use super::figures::LabFigures;

const WIDTH: f64 = 1100.0;
const LEFT: f64 = 170.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 56.0;
const ROW: f64 = 22.0;
const OK: &str = "#2f9e62";
const DOWN: &str = "#d9434b";
const FAULT: &str = "#f6d5d7";
const INK: &str = "#1f2933";
const MUTED: &str = "#6b7785";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `title` on top; `before_ms` of load shown before the fault.
pub fn render(title: &str, f: &LabFigures, before_ms: u64) -> String {
    let start = -(before_ms as f64);
    let end = f.run_end_ms.max(f.fault_len_ms) as f64;
    let span = (end - start).max(1.0);
    let x = |ms: f64| LEFT + (ms - start) / span * (WIDTH - LEFT - RIGHT);
    let rows = f.sides.len();
    let height = TOP + rows as f64 * ROW + 70.0;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        o,
        r#"<text x="{LEFT}" y="22" font-size="15" fill="{INK}">{}</text>"#,
        esc(title)
    );
    let _ = writeln!(
        o,
        r#"<rect x="{:.1}" y="{}" width="{:.1}" height="{:.1}" fill="{FAULT}"><title>the fault</title></rect>"#,
        x(0.0),
        TOP - 8.0,
        x(f.fault_len_ms as f64) - x(0.0),
        rows as f64 * ROW + 8.0
    );
    for (i, s) in f.sides.iter().enumerate() {
        let y = TOP + i as f64 * ROW;
        let _ = writeln!(
            o,
            r#"<text x="8" y="{:.1}" fill="{INK}">{} · {}</text>"#,
            y + 11.0,
            esc(&s.side),
            esc(&s.shard)
        );
        let _ = writeln!(
            o,
            r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{OK}"/>"#,
            x(start),
            x(end) - x(start),
            ROW - 6.0
        );
        for g in &s.gaps {
            let _ = writeln!(
                o,
                r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{DOWN}"><title>{:.1}-{:.1} s: {}</title></rect>"#,
                x(g.from_ms as f64),
                (x(g.to_ms as f64) - x(g.from_ms as f64)).max(1.0),
                ROW - 6.0,
                g.from_ms as f64 / 1000.0,
                g.to_ms as f64 / 1000.0,
                esc(if g.error.is_empty() { "slow" } else { &g.error })
            );
        }
    }
    // Time axis, a tick every 5 s from the fault's start.
    let axis = TOP + rows as f64 * ROW + 8.0;
    let mut t = (start / 5000.0).ceil() * 5000.0;
    while t <= end {
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{:.1}" fill="{MUTED}" text-anchor="middle">{:+.0} s</text>"#,
            x(t),
            axis + 12.0,
            t / 1000.0
        );
        t += 5000.0;
    }
    let notes: Vec<String> = f
        .shards
        .iter()
        .map(|s| {
            format!(
                "{}: dual writes {:.1} s, master changes {}",
                s.shard,
                s.dual_write_ms as f64 / 1000.0,
                s.master_changes
            )
        })
        .collect();
    let _ = writeln!(
        o,
        r#"<text x="{LEFT}" y="{:.1}" fill="{INK}">green: writes acknowledged · red: none for 250 ms or more · shaded: the fault · {}</text>"#,
        axis + 34.0,
        esc(&notes.join(" · "))
    );
    o.push_str("</svg>\n");
    o
}
