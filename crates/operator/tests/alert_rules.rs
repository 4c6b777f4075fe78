//! The chart's PrometheusRule names only metrics the operator exports: every `expr` of
//! `templates/prometheusrule.yaml` is read, its metric names extracted, and each looked up in
//! what a populated `Metrics` registry encodes. An alert on a metric that does not exist never
//! fires, and nothing else would tell.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use redis_stretch_operator::metrics::{
    ActionLabels, ClusterLabels, ErrorLabels, Metrics, ZoneLabels,
};

fn template() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/helm/redis-stretch/templates/prometheusrule.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Template actions (`{{ .Values.x }}`, `{{- $leader -}}`) become `0`: a number in a
/// comparison, and inside a label matcher `{...}` it is dropped with the matcher.
fn without_actions(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .map_or(rest.len(), |e| start + e + 2);
        out.push('0');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Every `expr:` of the template: a one-line value, or a `|` block (the more-indented lines
/// that follow).
fn exprs(template: &str) -> Vec<String> {
    let lines: Vec<&str> = template.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(value) = trimmed.strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if value == "|" || value == ">" {
            let indent = line.len() - trimmed.len();
            let block: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
                .map(|l| l.trim())
                .collect();
            out.push(without_actions(&block.join(" ")));
        } else {
            out.push(without_actions(value));
        }
    }
    out
}

/// What is between `open` and its matching `close` goes (label matchers, ranges, `by (...)`).
fn drop_between(s: &str, open: char, close: char) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in s.chars() {
        if open == close && c == open {
            // Quotes: the same character opens and closes.
            depth = 1 - depth;
            out.push(' ');
        } else if c == open {
            depth += 1;
            out.push(' ');
        } else if c == close && depth > 0 {
            depth -= 1;
        } else if depth == 0 {
            out.push(c);
        }
    }
    out
}

/// PromQL's keywords and aggregation operators (`max by (x) (m)`: not followed by `(`).
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
];

/// The metric names of a PromQL expression: identifiers that are not functions or
/// aggregations (followed by `(`), keywords, or grouping labels.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let no_strings = drop_between(expr, '"', '"');
    let no_matchers = drop_between(&no_strings, '{', '}');
    let no_ranges = drop_between(&no_matchers, '[', ']');
    // Grouping label lists: `by (a, b)`, `on (a)`, ...
    let mut s = String::new();
    let mut words = no_ranges.split_inclusive(['(', ')']);
    let mut skip = false;
    for part in words.by_ref() {
        if skip {
            skip = !part.ends_with(')');
            continue;
        }
        s.push_str(part);
        let head = part.trim_end_matches('(').trim_end();
        let last = head.rsplit(|c: char| !is_ident(c)).next().unwrap_or("");
        if part.ends_with('(')
            && [
                "by",
                "without",
                "on",
                "ignoring",
                "group_left",
                "group_right",
            ]
            .contains(&last)
        {
            skip = true;
        }
    }
    let chars: Vec<char> = s.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        if is_ident_start(chars[i]) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            let is_call = next == Some(&'(');
            if !is_call && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else if chars[i].is_ascii_digit() {
            // A number or a duration (`5m`, `1.5`): its letters are no metric.
            while i < chars.len() && (is_ident(chars[i]) || chars[i] == '.') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    names
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// A registry with a series in every family, encoded: the sample names it exports
/// (`_total` of counters, `_bucket`/`_sum`/`_count` of histograms, gauges as they are).
fn exported() -> BTreeSet<String> {
    let m = Metrics::default();
    let cluster = ClusterLabels {
        namespace: "redis".into(),
        cluster: "seed".into(),
    };
    m.reconciles.get_or_create(&cluster).inc();
    m.reconcile_errors
        .get_or_create(&ErrorLabels {
            category: "apply".into(),
        })
        .inc();
    m.reconcile_seconds.observe(0.01);
    m.engine_actions
        .get_or_create(&ActionLabels {
            namespace: "redis".into(),
            cluster: "seed".into(),
            action: "takeover".into(),
            ok: "true".into(),
        })
        .inc();
    m.zone_dark
        .get_or_create(&ZoneLabels {
            namespace: "redis".into(),
            cluster: "seed".into(),
            zone: "dc-a".into(),
        })
        .set(1);
    for family in [
        &m.slots_served,
        &m.fenced_masters,
        &m.write_blocked_masters,
        &m.engine_heartbeat,
        &m.engine_waiting_for_human,
        &m.partition,
        &m.rollout_in_progress,
        &m.rollout_restart_started,
    ] {
        family.get_or_create(&cluster).set(1);
    }
    m.leader.set(1);
    let text = m.render();
    let samples: BTreeSet<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .collect();
    // Every family this registry has shows a sample: a family added without a series here
    // would make an alert on it look missing.
    for family in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let name = family.split_whitespace().next().unwrap();
        assert!(
            samples.iter().any(|s| s.starts_with(name)),
            "{name} has no series in this test's registry: populate it above\n{text}"
        );
    }
    samples
}

#[test]
fn every_alert_names_only_metrics_the_operator_exports() {
    let exported = exported();
    let exprs = exprs(&template());
    assert!(exprs.len() >= 5, "too few alert expressions: {exprs:?}");
    let mut missing = Vec::new();
    for expr in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "no metric in {expr:?}");
        for name in names {
            if !exported.contains(&name) {
                missing.push(format!("{name} (in {expr})"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "alerts name metrics the operator does not export:\n{}\nexported: {exported:?}",
        missing.join("\n")
    );
}

#[test]
fn the_extraction_finds_metrics_and_skips_functions_keywords_and_labels() {
    let names = metric_names(
        "sum by (namespace, cluster) (rate(redis_stretch_reconcile_errors_total{category=\"x\"}[10m])) > 0 \
         unless on (namespace) max(redis_stretch_zone_dark) > 0 or absent(redis_stretch_leader{job=\"a\"}) \
         and time() - max by (zone) (up offset 5m) > 0",
    );
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "redis_stretch_leader",
            "redis_stretch_reconcile_errors_total",
            "redis_stretch_zone_dark",
            "up"
        ]
    );
}

/// The check is not vacuous: a misspelt metric is caught.
#[test]
fn a_metric_the_operator_does_not_export_is_caught() {
    let exported = exported();
    let expr = &exprs("        - alert: X\n          expr: max(redis_stretch_zones_lost) > 0\n")[0];
    let names = metric_names(expr);
    assert!(names.iter().any(|n| !exported.contains(n)), "{names:?}");
}
