//! What the loss of each zone means for a cluster, planned or observed.
//!
//! Redis facts this rests on (docs/REDIS-FACTS.md): only masters that serve slots
//! vote in a replica's election, and a replica needs votes from a majority of them
//! (size/2 + 1). A zone whose loss leaves fewer slot-owning masters than that leaves the
//! survivors in `cluster_state:fail` until someone runs `CLUSTER FAILOVER TAKEOVER`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One copy of a shard's data and where it lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Copy {
    pub zone: String,
    /// Reachable and, for a replica, with its master link up (an out-of-sync replica is not a
    /// copy you can fail over to without losing writes).
    pub healthy: bool,
}

/// A slot-owning shard as the analysis sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardLayout {
    pub name: String,
    /// `None` when the shard currently has no serving master.
    pub master: Option<Copy>,
    pub replicas: Vec<Copy>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Redis recovers on its own: the survivors hold a majority of masters and elect replicas.
    Automatic,
    /// The survivors hold no majority of masters: someone must take over (the engine, or
    /// `redis-stretch takeover`).
    NeedsTakeover,
    /// Some shard has no healthy copy outside the zone: its slots would be lost.
    DataLoss,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Automatic => "automatic",
            Verdict::NeedsTakeover => "needs takeover",
            Verdict::DataLoss => "data loss",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneVerdict {
    pub zone: String,
    pub verdict: Verdict,
    /// Slot-owning masters in this zone.
    pub masters_lost: usize,
    /// Slot-owning masters in the whole cluster.
    pub masters_total: usize,
    /// Shards with no healthy copy outside this zone.
    pub shards_lost: Vec<String>,
    pub reason: String,
}

/// Verdict for the loss of each zone in `zones`.
pub fn survivability(shards: &[ShardLayout], zones: &[&str]) -> Vec<ZoneVerdict> {
    let masters_total = shards.iter().filter(|s| is_live(s.master.as_ref())).count();
    let quorum = masters_total / 2 + 1;
    zones
        .iter()
        .map(|zone| {
            let masters_lost = shards
                .iter()
                .filter(|s| s.master.as_ref().is_some_and(|m| m.healthy && m.zone == *zone))
                .count();
            let shards_lost: Vec<String> = shards
                .iter()
                .filter(|s| {
                    !s.master.iter().chain(&s.replicas).any(|c| c.healthy && c.zone != *zone)
                })
                .map(|s| s.name.clone())
                .collect();
            let left = masters_total - masters_lost;
            let (verdict, reason) = if !shards_lost.is_empty() {
                (
                    Verdict::DataLoss,
                    format!(
                        "no healthy copy outside {zone} of {}",
                        shards_lost.join(", ")
                    ),
                )
            } else if masters_lost == 0 {
                (Verdict::Automatic, format!("no masters in {zone}"))
            } else if left >= quorum {
                (
                    Verdict::Automatic,
                    format!(
                        "survivors keep {left} of {masters_total} masters (quorum {quorum}) and elect replicas for the {masters_lost} lost"
                    ),
                )
            } else {
                (
                    Verdict::NeedsTakeover,
                    format!(
                        "survivors keep {left} of {masters_total} masters, below quorum {quorum}: Redis stays down until a takeover"
                    ),
                )
            };
            ZoneVerdict {
                zone: zone.to_string(),
                verdict,
                masters_lost,
                masters_total,
                shards_lost,
                reason,
            }
        })
        .collect()
}

fn is_live(c: Option<&Copy>) -> bool {
    c.is_some_and(|c| c.healthy)
}

/// `loss of dc-b: automatic; loss of dc-a: needs takeover`, mildest first.
pub fn summary_line(verdicts: &[ZoneVerdict]) -> String {
    let mut v: Vec<&ZoneVerdict> = verdicts.iter().collect();
    v.sort_by_key(|z| z.verdict);
    v.iter()
        .map(|z| format!("loss of {}: {}", z.zone, z.verdict))
        .collect::<Vec<_>>()
        .join("; ")
}
