//! The drill's result: a timeline, per-fault recovery figures, per-writer totals and losses.
//! `Serialize` for `--output json`; `Display` for the table a person reads.
//!
//! All times are milliseconds since the workload's epoch (`*_ms`), except the ones named
//! "after the fault", which are relative to that fault's mark.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Serialize;

use crate::probe::recoveries;
use crate::verify::Readback;
use crate::workload::PhaseKind;
use crate::{DrillConfig, Recorded, ShardInfo, WriteOutcome, WriterKind};

/// Width of a timeline bucket.
pub const BUCKET_MS: u64 = 100;

#[derive(Clone, Debug, Serialize)]
pub struct DrillReport {
    pub run: String,
    pub duration_ms: f64,
    pub settings: Settings,
    pub phases: Vec<PhaseAt>,
    pub shards: Vec<ShardInfo>,
    /// RTO of the first fault, in ms: see [`crate::probe`] for the exact definition.
    pub rto_ms: Option<f64>,
    /// One entry per fault mark, in order.
    pub faults: Vec<FaultReport>,
    /// Writes that failed before the first fault (a healthy cluster should have none).
    pub failed_before_first_fault: u64,
    pub writers: Vec<WriterReport>,
    /// Acknowledged writes of the WAIT writer that readback did not find. Must be 0.
    pub acked_writes_lost: u64,
    /// Acknowledged (`SET` OK) writes of the plain writer that readback did not find.
    pub plain_writes_lost: u64,
    /// WAIT writes whose `WAIT 1` reached no replica.
    pub not_acknowledged: u64,
    pub bucket_ms: u64,
    pub buckets: Vec<Bucket>,
    pub topology_refreshes: u64,
    /// `(when, clean, summary)` of cluster checks ([`crate::cluster_check`]); filled by the caller
    /// (see [`crate::cluster_check`]).
    pub cluster_check: Vec<(String, bool, String)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    pub rate_per_writer: u32,
    pub retry_window_ms: u64,
    pub attempt_timeout_ms: u64,
    pub wait_timeout_ms: u64,
    pub wait_connections: usize,
    pub probe_interval_ms: u64,
    pub probe_timeout_ms: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct PhaseAt {
    pub name: String,
    pub kind: PhaseKind,
    pub at_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct FaultReport {
    pub phase: String,
    pub at_ms: f64,
    /// The window ends at the next fault mark or the end of the drill.
    pub until_ms: f64,
    /// All slots writable again, ms after the fault; `None` if not within the window.
    pub rto_ms: Option<f64>,
    pub shards: Vec<ShardOutage>,
    pub writers: Vec<WriterWindow>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ShardOutage {
    pub shard: String,
    /// First failed probe, ms after the fault.
    pub first_failure_ms: Option<f64>,
    /// Writable for good, ms after the fault.
    pub writable_again_ms: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct WriterWindow {
    pub writer: WriterKind,
    /// Writes started in the window.
    pub started: u64,
    pub acked: u64,
    pub not_acknowledged: u64,
    pub failed: u64,
    /// Start times (ms after the fault) of the first and the last write that failed.
    pub failed_window: Option<Window>,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Window {
    pub from_ms: f64,
    pub to_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct WriterReport {
    pub writer: WriterKind,
    pub writes: u64,
    pub acked: u64,
    pub not_acknowledged: u64,
    pub failed: u64,
    pub failed_by_class: BTreeMap<String, u64>,
    /// Writes that needed more than one try.
    pub retried: u64,
    pub skipped_ticks: u64,
    pub readback_checked: u64,
    /// Acked writes missing or changed at readback.
    pub acked_lost: u64,
    pub lost_sample: Vec<String>,
    /// Not-acknowledged writes missing at readback (allowed; for information).
    pub not_acknowledged_lost: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    pub ok: u32,
    pub not_acknowledged: u32,
    pub failed: u32,
}

/// Writes bucketed by *start* time: each bucket says what became of the writes issued then, so
/// the stack height is the issued rate and the colours are the cluster's state at issue time.
#[derive(Clone, Debug, Serialize)]
pub struct Bucket {
    pub t_ms: u64,
    /// In [`WriterKind::ALL`] order.
    pub writers: Vec<Counts>,
    /// Per shard: `Some(true)` if every probe started in the bucket succeeded, `Some(false)` if
    /// one failed, `None` if none started.
    pub shards_writable: Vec<Option<bool>>,
}

fn ms(us: u64) -> f64 {
    (us as f64 / 100.0).round() / 10.0
}

fn ms_between(from_us: u64, to_us: u64) -> f64 {
    ms(to_us.saturating_sub(from_us))
}

impl DrillReport {
    /// The report for `rec`, given what readback found (see [`crate::verify`], which calls this).
    pub fn build(
        rec: &Recorded,
        cfg: &DrillConfig,
        readback: &HashMap<WriterKind, Readback>,
    ) -> Self {
        let as_ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let settings = Settings {
            rate_per_writer: cfg.rate_per_writer,
            retry_window_ms: as_ms(cfg.retry_window),
            attempt_timeout_ms: as_ms(cfg.attempt_timeout),
            wait_timeout_ms: cfg.wait_timeout_ms,
            wait_connections: cfg.wait_connections,
            probe_interval_ms: as_ms(cfg.probe_interval),
            probe_timeout_ms: as_ms(cfg.probe_timeout),
        };
        let faults = fault_reports(rec);
        let first_fault_us = rec
            .phases
            .iter()
            .find(|p| p.kind == PhaseKind::Fault)
            .map(|p| p.at_us);
        let failed_before_first_fault = rec
            .writes
            .iter()
            .filter(|w| w.outcome.is_failed() && first_fault_us.is_none_or(|f| w.start_us < f))
            .count() as u64;
        let writers: Vec<WriterReport> = WriterKind::ALL
            .iter()
            .map(|&k| writer_report(rec, k, readback.get(&k)))
            .collect();
        let lost = |k: WriterKind| {
            writers
                .iter()
                .find(|w| w.writer == k)
                .map_or(0, |w| w.acked_lost)
        };
        Self {
            run: rec.run.clone(),
            duration_ms: ms(rec.duration_us),
            settings,
            phases: rec
                .phases
                .iter()
                .map(|p| PhaseAt {
                    name: p.name.clone(),
                    kind: p.kind,
                    at_ms: ms(p.at_us),
                })
                .collect(),
            shards: rec.shards.clone(),
            rto_ms: faults.first().and_then(|f| f.rto_ms),
            faults,
            failed_before_first_fault,
            acked_writes_lost: lost(WriterKind::Wait),
            plain_writes_lost: lost(WriterKind::Plain),
            not_acknowledged: writers.iter().map(|w| w.not_acknowledged).sum(),
            writers,
            bucket_ms: BUCKET_MS,
            buckets: buckets(rec),
            topology_refreshes: rec.topology_refreshes,
            cluster_check: Vec::new(),
        }
    }

    /// The time span the failures of all faults cover, in ms since the epoch (for shading).
    pub fn failure_spans(&self) -> Vec<(f64, f64)> {
        self.faults
            .iter()
            .filter_map(|f| {
                let from = f
                    .writers
                    .iter()
                    .filter_map(|w| w.failed_window.map(|x| x.from_ms))
                    .chain(f.shards.iter().filter_map(|s| s.first_failure_ms))
                    .reduce(f64::min)?;
                let to = f
                    .writers
                    .iter()
                    .filter_map(|w| w.failed_window.map(|x| x.to_ms))
                    .chain(f.rto_ms)
                    .reduce(f64::max)
                    .unwrap_or(from);
                Some((f.at_ms + from, f.at_ms + to.max(from)))
            })
            .collect()
    }
}

fn fault_reports(rec: &Recorded) -> Vec<FaultReport> {
    let faults: Vec<_> = rec
        .phases
        .iter()
        .filter(|p| p.kind == PhaseKind::Fault)
        .collect();
    faults
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let from = f.at_us;
            let to = faults
                .get(i + 1)
                .map_or(rec.duration_us.saturating_add(1), |n| n.at_us);
            let rs = recoveries(&rec.probes, rec.shards.len(), from, to);
            let all = crate::probe::all_writable_at(&rs);
            let shards = rs
                .iter()
                .map(|r| ShardOutage {
                    shard: rec
                        .shards
                        .get(r.shard)
                        .map_or_else(String::new, |s| s.name.clone()),
                    first_failure_ms: r.first_failure_us.map(|t| ms_between(from, t)),
                    writable_again_ms: r.recovered_us.map(|t| ms_between(from, t)),
                })
                .collect();
            let writers = WriterKind::ALL
                .iter()
                .map(|&k| {
                    let mine: Vec<_> = rec
                        .writes
                        .iter()
                        .filter(|w| w.writer == k && w.start_us >= from && w.start_us < to)
                        .collect();
                    let failed: Vec<u64> = mine
                        .iter()
                        .filter(|w| w.outcome.is_failed())
                        .map(|w| w.start_us)
                        .collect();
                    WriterWindow {
                        writer: k,
                        started: mine.len() as u64,
                        acked: mine
                            .iter()
                            .filter(|w| w.outcome == WriteOutcome::Acked)
                            .count() as u64,
                        not_acknowledged: mine
                            .iter()
                            .filter(|w| w.outcome == WriteOutcome::NotAcknowledged)
                            .count() as u64,
                        failed: failed.len() as u64,
                        failed_window: match (failed.iter().min(), failed.iter().max()) {
                            (Some(&a), Some(&b)) => Some(Window {
                                from_ms: ms_between(from, a),
                                to_ms: ms_between(from, b),
                            }),
                            _ => None,
                        },
                    }
                })
                .collect();
            FaultReport {
                phase: f.name.clone(),
                at_ms: ms(from),
                until_ms: ms(to.min(rec.duration_us)),
                rto_ms: all.map(|t| ms_between(from, t)),
                shards,
                writers,
            }
        })
        .collect()
}

fn writer_report(rec: &Recorded, kind: WriterKind, rb: Option<&Readback>) -> WriterReport {
    let mine: Vec<_> = rec.writes.iter().filter(|w| w.writer == kind).collect();
    let mut failed_by_class = BTreeMap::new();
    for w in &mine {
        if let WriteOutcome::Failed { class } = w.outcome {
            *failed_by_class.entry(class.label().to_owned()).or_insert(0) += 1;
        }
    }
    let rb = rb.cloned().unwrap_or_default();
    WriterReport {
        writer: kind,
        writes: mine.len() as u64,
        acked: mine
            .iter()
            .filter(|w| w.outcome == WriteOutcome::Acked)
            .count() as u64,
        not_acknowledged: mine
            .iter()
            .filter(|w| w.outcome == WriteOutcome::NotAcknowledged)
            .count() as u64,
        failed: mine.iter().filter(|w| w.outcome.is_failed()).count() as u64,
        failed_by_class,
        retried: mine.iter().filter(|w| w.tries > 1).count() as u64,
        skipped_ticks: rec
            .skipped_ticks
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n),
        readback_checked: rb.checked,
        acked_lost: rb.lost,
        lost_sample: rb.lost_sample,
        not_acknowledged_lost: rb.not_acknowledged_lost,
    }
}

fn buckets(rec: &Recorded) -> Vec<Bucket> {
    let width = BUCKET_MS * 1000;
    let n = usize::try_from(rec.duration_us / width + 1).unwrap_or(0);
    let mut out: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            t_ms: i as u64 * BUCKET_MS,
            writers: vec![Counts::default(); WriterKind::ALL.len()],
            shards_writable: vec![None; rec.shards.len()],
        })
        .collect();
    for w in &rec.writes {
        let Some(b) = usize::try_from(w.start_us / width)
            .ok()
            .and_then(|i| out.get_mut(i))
        else {
            continue;
        };
        let Some(wi) = WriterKind::ALL.iter().position(|k| *k == w.writer) else {
            continue;
        };
        let c = &mut b.writers[wi];
        match w.outcome {
            WriteOutcome::Acked => c.ok += 1,
            WriteOutcome::NotAcknowledged => c.not_acknowledged += 1,
            WriteOutcome::Failed { .. } => c.failed += 1,
        }
    }
    for p in &rec.probes {
        let Some(b) = usize::try_from(p.start_us / width)
            .ok()
            .and_then(|i| out.get_mut(i))
        else {
            continue;
        };
        if let Some(s) = b.shards_writable.get_mut(p.shard) {
            *s = Some(s.unwrap_or(true) && p.ok());
        }
    }
    out
}

fn secs(ms: f64) -> String {
    format!("{:.3} s", ms / 1000.0)
}

fn opt_secs(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".to_owned(), |m| format!("+{}", secs(m)))
}

impl fmt::Display for DrillReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        writeln!(
            f,
            "drill {}: {} recorded; plain and WAIT-1 ({} ms) writers at {} writes/s each; \
             a write fails after {} ms of retries; probe every {} ms per shard",
            self.run,
            secs(self.duration_ms),
            s.wait_timeout_ms,
            s.rate_per_writer,
            s.retry_window_ms,
            s.probe_interval_ms
        )?;
        writeln!(f)?;
        writeln!(f, "phases")?;
        for p in &self.phases {
            let kind = match p.kind {
                PhaseKind::Fault => "  (fault)",
                PhaseKind::Milestone => "",
            };
            writeln!(
                f,
                "  {:>10}  {}{kind}",
                format!("+{}", secs(p.at_ms)),
                p.name
            )?;
        }
        for fault in &self.faults {
            writeln!(f)?;
            writeln!(f, "{} at +{}", fault.phase, secs(fault.at_ms))?;
            match fault.rto_ms {
                Some(r) => writeln!(f, "  all slots writable {} after the fault (RTO)", secs(r))?,
                None => writeln!(
                    f,
                    "  NOT all slots writable again before +{}",
                    secs(fault.until_ms)
                )?,
            }
            writeln!(
                f,
                "  {:<9} {:<18} {:>14} {:>15}",
                "shard", "slots", "first failure", "writable again"
            )?;
            for (o, info) in fault.shards.iter().zip(&self.shards) {
                writeln!(
                    f,
                    "  {:<9} {:<18} {:>14} {:>15}",
                    o.shard,
                    info.ranges_label(),
                    opt_secs(o.first_failure_ms),
                    opt_secs(o.writable_again_ms)
                )?;
            }
            writeln!(
                f,
                "  {:<9} {:>8} {:>8} {:>10} {:>7}  failed writes issued between",
                "writer", "started", "acked", "not-acked", "failed"
            )?;
            for w in &fault.writers {
                let window = w.failed_window.map_or_else(
                    || "-".to_owned(),
                    |x| {
                        format!(
                            "+{} .. +{} ({})",
                            secs(x.from_ms),
                            secs(x.to_ms),
                            secs(x.to_ms - x.from_ms)
                        )
                    },
                );
                writeln!(
                    f,
                    "  {:<9} {:>8} {:>8} {:>10} {:>7}  {window}",
                    w.writer.label(),
                    w.started,
                    w.acked,
                    w.not_acknowledged,
                    w.failed
                )?;
            }
        }
        writeln!(f)?;
        writeln!(f, "writers")?;
        writeln!(
            f,
            "  {:<7} {:>7} {:>7} {:>10} {:>7} {:>8} {:>8} {:>9} {:>6}  failed by class",
            "writer",
            "writes",
            "acked",
            "not-acked",
            "failed",
            "retried",
            "skipped",
            "readback",
            "lost"
        )?;
        for w in &self.writers {
            let classes = w
                .failed_by_class
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            writeln!(
                f,
                "  {:<7} {:>7} {:>7} {:>10} {:>7} {:>8} {:>8} {:>9} {:>6}  {}",
                w.writer.label(),
                w.writes,
                w.acked,
                w.not_acknowledged,
                w.failed,
                w.retried,
                w.skipped_ticks,
                w.readback_checked,
                w.acked_lost,
                if classes.is_empty() { "-" } else { &classes }
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "acknowledged writes lost (WAIT writer): {}",
            self.acked_writes_lost
        )?;
        writeln!(
            f,
            "plain writes lost:                      {}",
            self.plain_writes_lost
        )?;
        writeln!(
            f,
            "not acknowledged (WAIT reached no replica): {}",
            self.not_acknowledged
        )?;
        if self.failed_before_first_fault > 0 {
            writeln!(
                f,
                "failed before the first fault:          {}",
                self.failed_before_first_fault
            )?;
        }
        if !self.cluster_check.is_empty() {
            writeln!(f)?;
            writeln!(f, "cluster check (slots, owners, roles, replica links)")?;
            for (when, clean, summary) in &self.cluster_check {
                let verdict = if *clean { "clean" } else { "NOT CLEAN" };
                writeln!(f, "  {when:<16} {verdict:<9} {summary}")?;
            }
        }
        Ok(())
    }
}
