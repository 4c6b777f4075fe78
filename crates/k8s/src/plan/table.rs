//! The plan as a human reads it in a terminal.

use std::fmt::{self, Write as _};

use super::PlanReport;

impl fmt::Display for PlanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render_table(self))
    }
}

/// Columns padded to their widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let _ = writeln!(out, "{}", line(header.to_vec()));
    for row in rows {
        let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
    }
    out
}

pub fn render_table(r: &PlanReport) -> String {
    let mut out = format!(
        "Plan for {} ({:?}, zone label {})\n\n",
        r.cluster, r.mode, r.zone_label
    );
    let pods: Vec<Vec<String>> = r
        .pods
        .iter()
        .map(|p| {
            let note = if !p.tie.is_empty() {
                format!("tie: {}", p.tie.join(", "))
            } else if p.node.is_none() {
                "UNSCHEDULABLE".to_owned()
            } else {
                String::new()
            };
            vec![
                p.name.clone(),
                p.node.clone().unwrap_or_else(|| "-".to_owned()),
                p.zone.clone().unwrap_or_else(|| "-".to_owned()),
                p.score.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                note,
            ]
        })
        .collect();
    out.push_str(&table(&["POD", "NODE", "ZONE", "SCORE", "NOTE"], &pods));
    out.push('\n');
    let shards: Vec<Vec<String>> = r
        .shards
        .iter()
        .map(|s| {
            let zone = |z: &Option<String>| z.clone().unwrap_or_else(|| "-".to_owned());
            vec![
                s.index.to_string(),
                format!("{} ({})", s.master, zone(&s.master_zone)),
                s.replicas
                    .iter()
                    .zip(&s.replica_zones)
                    .map(|(p, z)| format!("{p} ({})", zone(z)))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    out.push_str(&table(&["SHARD", "MASTER", "REPLICAS"], &shards));
    out.push('\n');
    let zones: Vec<Vec<String>> = r
        .zones
        .iter()
        .map(|z| {
            vec![
                z.zone.clone(),
                z.needed.to_string(),
                format!(
                    "{} ({})",
                    z.eligible_nodes.len(),
                    z.eligible_nodes.join(", ")
                ),
            ]
        })
        .collect();
    out.push_str(&table(&["ZONE", "PODS", "ELIGIBLE NODES"], &zones));
    out.push('\n');
    let _ = writeln!(out, "Verdict: {}", r.verdict);
    for v in &r.verdicts {
        let _ = writeln!(out, "  loss of {}: {} ({})", v.zone, v.verdict, v.reason);
    }
    if !r.problems.is_empty() {
        out.push_str("\nProblems:\n");
        for p in &r.problems {
            let _ = writeln!(out, "  - {p}");
        }
    }
    if !r.notes.is_empty() {
        out.push_str("\nNotes:\n");
        for n in &r.notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    out.push_str("\nAssumptions:\n");
    for a in &r.assumptions {
        let _ = writeln!(out, "  - {a}");
    }
    out
}
