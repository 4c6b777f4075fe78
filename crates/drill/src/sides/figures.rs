//! The lab's numbers, from the side writers' records and the readback.
//!
//! - *accepted*: the fraction of the fault not inside a *gap* — a span of at least 250 ms in
//!   which a side's writer had no write to a shard acknowledged (a writer sends every 20 ms,
//!   and a write that waits for `WAIT 1 100` takes about 100 ms, so shorter spans are its own
//!   rhythm, not the cluster's);
//! - *lost*: acknowledged writes whose value is not there after the heal (plain, and those a
//!   `WAIT 1` confirmed);
//! - *dual-write window*: 100 ms buckets, from the fault to the end of the run, in which
//!   instances of *both* zones acknowledged writes for the same shard — whichever writer sent
//!   them. After a heal at most one of them keeps its writes;
//! - *master changes*: how often the instance acknowledging a shard's writes changed, in the
//!   order the third-site writer saw it (failovers and failbacks).

use std::collections::BTreeSet;

use redis_stretch_admin::NodeAddr;
use serde::Serialize;

use super::writer::{LabShard, Side, SideWrite, WriteResult};

const BUCKET_MS: u64 = 100;

#[derive(Clone, Debug, Serialize)]
pub struct SideFigures {
    pub side: String,
    pub shard: String,
    pub attempts: usize,
    pub acked: usize,
    /// Fraction (0..=1) of the fault during which this side could write to this shard.
    pub accepted: f64,
    pub lost: usize,
    pub wait_acked: usize,
    pub wait_lost: usize,
    /// `WAIT`-confirmed writes sent before the fault and after it ended: a `WAIT 1` writer that
    /// was live on both sides of the fault (0 lost means nothing when nothing was confirmed).
    pub wait_acked_before: usize,
    pub wait_acked_after: usize,
    /// The zones whose instance acknowledged this side's writes to this shard, in order
    /// (repeats folded), from the start of the load until the fault ended: where the side
    /// found the shard before the fault, and whether it found it elsewhere during it.
    pub zones_until_fault_end: Vec<String>,
    /// When the first and the last lost write were sent, in ms from the fault's start (negative
    /// values clamp to 0): which part of the fault the losses come from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_sent_ms: Option<(u64, u64)>,
    /// Spans of at least 250 ms without an acknowledged write, from the fault's start to the
    /// end of the run (an outage may outlast the fault), in ms from the fault's start, with the
    /// first error seen in each.
    pub gaps: Vec<Gap>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Gap {
    pub from_ms: u64,
    pub to_ms: u64,
    pub error: String,
}

const GAP_MS: u64 = 250;

/// Spans from `from` to `end` of at least [`GAP_MS`] without an acknowledgement (counted when
/// the reply arrived), each labelled with the first error of a write sent inside it.
fn gaps(mine: &[(usize, &SideWrite)], from: u64, end: u64) -> Vec<Gap> {
    let mut acks: Vec<u64> = mine
        .iter()
        .filter(|(_, w)| w.acked_by().is_some() && w.done_ms >= from && w.done_ms <= end)
        .map(|(_, w)| w.done_ms)
        .collect();
    acks.sort_unstable();
    acks.push(end);
    let first_error = |a: u64, b: u64| {
        mine.iter()
            .filter(|(_, w)| w.at_ms >= a && w.at_ms < b)
            .find_map(|(_, w)| match &w.result {
                WriteResult::Acked { .. } => None,
                WriteResult::Refused { error } => Some(error.clone()),
                WriteResult::NoAnswer => Some("no answer".to_owned()),
            })
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    let mut last = from;
    for t in acks {
        if t.saturating_sub(last) >= GAP_MS {
            out.push(Gap {
                from_ms: last - from,
                to_ms: t - from,
                error: first_error(last, t),
            });
        }
        last = last.max(t);
    }
    out
}

/// How much of [0, span) (ms from the fault's start) the gaps cover.
fn covered(gaps: &[Gap], span: u64) -> u64 {
    gaps.iter()
        .map(|g| g.to_ms.min(span).saturating_sub(g.from_ms.min(span)))
        .sum()
}

#[derive(Clone, Debug, Serialize)]
pub struct ShardFigures {
    pub shard: String,
    pub dual_write_ms: u64,
    pub master_changes: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct LabFigures {
    pub sides: Vec<SideFigures>,
    pub shards: Vec<ShardFigures>,
    /// The fault's length and the end of the run, in ms from the fault's start.
    pub fault_len_ms: u64,
    pub run_end_ms: u64,
}

impl LabFigures {
    pub fn lost(&self) -> usize {
        self.sides.iter().map(|s| s.lost).sum()
    }
    pub fn wait_lost(&self) -> usize {
        self.sides.iter().map(|s| s.wait_lost).sum()
    }
    pub fn dual_write_ms(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.dual_write_ms)
            .max()
            .unwrap_or(0)
    }
    pub fn master_changes(&self) -> usize {
        self.shards.iter().map(|s| s.master_changes).sum()
    }
    /// The lowest accepted fraction over the shards, for one side.
    pub fn worst_accepted(&self, side: &str) -> Option<f64> {
        self.sides
            .iter()
            .filter(|s| s.side == side)
            .map(|s| s.accepted)
            .reduce(f64::min)
    }
}

/// `zone_of`: the zone of the instance at an address (the dual-write window needs it).
/// `fault`: [start, end) in ms of the load's clock; `found`: the readback, per write.
pub fn figures(
    sides: &[Side],
    shards: &[LabShard],
    writes: &[SideWrite],
    found: &[bool],
    fault: (u64, u64),
    zone_of: impl Fn(&NodeAddr) -> Option<String>,
) -> LabFigures {
    let (from, to) = fault;
    // Outages are followed past the fault's end: what clients see until writes go through.
    let end = writes.iter().map(|w| w.done_ms).max().unwrap_or(to).max(to);
    let mut out = LabFigures {
        sides: Vec::new(),
        shards: Vec::new(),
        fault_len_ms: to.saturating_sub(from),
        run_end_ms: end.saturating_sub(from),
    };
    for (si, side) in sides.iter().enumerate() {
        for (hi, shard) in shards.iter().enumerate() {
            let mine: Vec<(usize, &SideWrite)> = writes
                .iter()
                .enumerate()
                .filter(|(_, w)| w.side == si && w.shard == hi)
                .collect();
            let gaps = gaps(&mine, from, end);
            let span = to.saturating_sub(from).max(1);
            let down = covered(&gaps, span);
            let lost = |wait: bool| {
                mine.iter()
                    .filter(|(_, w)| w.acked_by().is_some() && (!wait || w.wait_acked()))
                    .filter(|(i, _)| !found.get(*i).copied().unwrap_or(false))
                    .count()
            };
            let lost_at: Vec<u64> = mine
                .iter()
                .filter(|(i, w)| w.acked_by().is_some() && !found.get(*i).copied().unwrap_or(false))
                .map(|(_, w)| w.at_ms.saturating_sub(from))
                .collect();
            let lost_sent_ms = lost_at
                .iter()
                .min()
                .zip(lost_at.iter().max())
                .map(|(a, b)| (*a, *b));
            let mut zones: Vec<String> = Vec::new();
            for z in mine
                .iter()
                .filter(|(_, w)| w.at_ms < to)
                .filter_map(|(_, w)| w.acked_by().and_then(&zone_of))
            {
                if zones.last() != Some(&z) {
                    zones.push(z);
                }
            }
            out.sides.push(SideFigures {
                zones_until_fault_end: zones,
                lost_sent_ms,
                side: side.name.clone(),
                shard: shard.name.clone(),
                attempts: mine.len(),
                acked: mine.iter().filter(|(_, w)| w.acked_by().is_some()).count(),
                accepted: 1.0 - down.min(span) as f64 / span as f64,
                lost: lost(false),
                wait_acked: mine.iter().filter(|(_, w)| w.wait_acked()).count(),
                wait_lost: lost(true),
                wait_acked_before: mine
                    .iter()
                    .filter(|(_, w)| w.wait_acked() && w.at_ms < from)
                    .count(),
                wait_acked_after: mine
                    .iter()
                    .filter(|(_, w)| w.wait_acked() && w.at_ms >= to)
                    .count(),
                gaps,
            });
        }
    }
    let third = sides.len().checked_sub(1);
    for (hi, shard) in shards.iter().enumerate() {
        let mut by_zone: Vec<(String, BTreeSet<u64>)> = Vec::new();
        for w in writes.iter().filter(|w| w.shard == hi && w.done_ms >= from) {
            let Some(zone) = w.acked_by().and_then(&zone_of) else {
                continue;
            };
            let b = (w.done_ms - from) / BUCKET_MS;
            match by_zone.iter_mut().find(|(z, _)| *z == zone) {
                Some((_, set)) => {
                    set.insert(b);
                }
                None => by_zone.push((zone, BTreeSet::from([b]))),
            }
        }
        let dual = match by_zone.as_slice() {
            [(_, a), (_, b)] => a.intersection(b).count() as u64 * BUCKET_MS,
            _ => 0,
        };
        let mut seen: Vec<&NodeAddr> = Vec::new();
        for w in writes
            .iter()
            .filter(|w| w.shard == hi && Some(w.side) == third)
        {
            if let Some(n) = w.acked_by() {
                if seen.last() != Some(&n) {
                    seen.push(n);
                }
            }
        }
        out.shards.push(ShardFigures {
            shard: shard.name.clone(),
            dual_write_ms: dual,
            master_changes: seen.len().saturating_sub(1),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(side: usize, at_ms: u64, node: Option<&str>, replicas: Option<i64>) -> SideWrite {
        SideWrite {
            side,
            shard: 0,
            seq: at_ms,
            key: format!("k{side}:{at_ms}"),
            at_ms,
            done_ms: at_ms,
            result: match node {
                Some(n) => WriteResult::Acked {
                    node: NodeAddr::new(n, 7000),
                    replicas,
                },
                None => WriteResult::Refused {
                    error: "NOREPLICAS".into(),
                },
            },
        }
    }

    #[test]
    fn acceptance_loss_and_dual_writes_are_counted_per_side_and_shard() {
        let sides = vec![
            Side {
                name: "dc-a".into(),
                source: std::net::Ipv4Addr::new(127, 0, 1, 250).into(),
            },
            Side {
                name: "third site".into(),
                source: std::net::Ipv4Addr::LOCALHOST.into(),
            },
        ];
        let shards = vec![LabShard {
            name: "shard 1".into(),
            slot: 0,
            first_master: NodeAddr::new("127.0.1.1", 7000),
        }];
        // Fault from 1000 to 2000 ms: dc-a's instance acknowledges in two buckets, dc-b's (to
        // the third site) in all ten: two buckets of dual writes.
        let mut writes = vec![
            w(0, 1000, Some("127.0.1.1"), Some(1)),
            w(0, 1400, Some("127.0.1.1"), None),
            w(0, 1600, None, None),
            w(1, 1000, Some("127.0.1.1"), None),
        ];
        for t in (1000..2000).step_by(100) {
            writes.push(w(1, t, Some("127.0.2.1"), Some(1)));
        }
        // Readback: dc-a's WAIT-acknowledged write is gone, everything else is there.
        let found: Vec<bool> = (0..writes.len()).map(|i| i != 0).collect();
        let zone = |a: &NodeAddr| {
            Some(if a.host.starts_with("127.0.1.") {
                "dc-a".to_owned()
            } else {
                "dc-b".to_owned()
            })
        };
        let f = figures(&sides, &shards, &writes, &found, (1000, 2000), zone);
        let a = &f.sides[0];
        assert_eq!(
            (a.attempts, a.acked, a.lost, a.wait_acked, a.wait_lost),
            (3, 2, 1, 1, 1)
        );
        // No acknowledgement from 1000 to 1400 and from 1400 to the end: never accepted.
        assert!(a.accepted.abs() < 1e-9, "{}", a.accepted);
        assert_eq!(a.gaps.len(), 2);
        assert_eq!(a.gaps[1].error, "NOREPLICAS");
        assert!((f.sides[1].accepted - 1.0).abs() < 1e-9);
        assert_eq!(f.shards[0].dual_write_ms, 200);
        // The third site saw 127.0.1.1 then 127.0.2.1: one change, from dc-a to dc-b.
        assert_eq!(f.shards[0].master_changes, 1);
        assert_eq!(f.sides[1].zones_until_fault_end, ["dc-a", "dc-b"]);
        assert_eq!(a.zones_until_fault_end, ["dc-a"]);
        // dc-a's one WAIT-confirmed write was sent at the fault's start, none before or after.
        assert_eq!((a.wait_acked_before, a.wait_acked_after), (0, 0));
        assert_eq!(f.worst_accepted("dc-a"), Some(0.0));
        // The timeline draws every side and shard, each gap with its error.
        let svg = crate::sides::svg::render("cut", &f, 1000);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("dc-a · shard 1").count(), 1);
        assert!(svg.contains("0.4-1.0 s: NOREPLICAS"), "{svg}");
    }
}
