//! Placement: which host runs which shard's master or replica.
//!
//! Rules (docs/REDIS-FACTS.md, "Layout"): one instance per host; each zone holds its preferred number of masters; the
//! first replica of every shard sits in the zone that does not hold its master, so each zone
//! keeps a full copy of the data and losing a zone never loses a slot. Further replicas
//! alternate zones (second in the master's zone for a local failover, third across again...).

use std::collections::BTreeMap;

use redis_stretch_api::ValidatedCluster;
use serde::{Deserialize, Serialize};

use crate::survivability::{Copy, ShardLayout};
use redis_stretch_model::{split_slots, Role, SlotRange};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedInstance {
    pub host: String,
    pub zone: String,
    pub shard: u32,
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardPlan {
    pub index: u32,
    pub slots: SlotRange,
    pub master: PlannedInstance,
    pub replicas: Vec<PlannedInstance>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub shards: Vec<ShardPlan>,
}

impl Plan {
    /// Every instance, masters first, in shard order.
    pub fn instances(&self) -> impl Iterator<Item = &PlannedInstance> {
        self.shards
            .iter()
            .map(|s| &s.master)
            .chain(self.shards.iter().flat_map(|s| s.replicas.iter()))
    }

    /// The plan as the survivability analysis sees it (every copy assumed healthy).
    pub fn layout(&self) -> Vec<ShardLayout> {
        self.shards
            .iter()
            .map(|s| ShardLayout {
                name: format!("shard-{}", s.index),
                master: Some(Copy {
                    zone: s.master.zone.clone(),
                    healthy: true,
                }),
                replicas: s
                    .replicas
                    .iter()
                    .map(|r| Copy {
                        zone: r.zone.clone(),
                        healthy: true,
                    })
                    .collect(),
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("zone `{zone}` has {have} host(s) but the plan needs {need} (one instance per host); add hosts to `{zone}` or lower spec.shards / spec.replicasPerShard")]
    NotEnoughHosts {
        zone: String,
        have: usize,
        need: usize,
    },
    #[error("host `{host}` is listed more than once; every host runs at most one instance")]
    DuplicateHost { host: String },
}

/// Zone of replica `k` (0-based) of a shard whose master is in `master_zone`.
fn replica_zone<'a>(master_zone: usize, k: u32, zones: &[&'a str]) -> &'a str {
    let flip = usize::from(k.is_multiple_of(2));
    zones[(master_zone + flip) % 2]
}

/// Master zone index of each shard: the first zone's preferred masters come first.
fn master_zones(cluster: &ValidatedCluster) -> Vec<usize> {
    cluster
        .spec()
        .zones
        .iter()
        .enumerate()
        .flat_map(|(zi, z)| std::iter::repeat_n(zi, z.preferred_masters as usize))
        .collect()
}

/// How many hosts each zone needs for `cluster`, in spec zone order.
pub fn hosts_needed(cluster: &ValidatedCluster) -> Vec<(String, usize)> {
    let zones = cluster.zone_names();
    let mut need: BTreeMap<&str, usize> = zones.iter().map(|z| (*z, 0)).collect();
    for mz in master_zones(cluster) {
        *need.entry(zones[mz]).or_default() += 1;
        for k in 0..cluster.spec().replicas_per_shard {
            *need.entry(replica_zone(mz, k, &zones)).or_default() += 1;
        }
    }
    zones
        .iter()
        .map(|z| (z.to_string(), need.get(z).copied().unwrap_or(0)))
        .collect()
}

/// Place `cluster` on `hosts` (zone name → host names, in order of preference).
pub fn plan(
    cluster: &ValidatedCluster,
    hosts: &BTreeMap<String, Vec<String>>,
) -> Result<Plan, PlanError> {
    let mut seen = std::collections::BTreeSet::new();
    for host in hosts.values().flatten() {
        if !seen.insert(host) {
            return Err(PlanError::DuplicateHost { host: host.clone() });
        }
    }
    for (zone, need) in hosts_needed(cluster) {
        let have = hosts.get(&zone).map_or(0, Vec::len);
        if have < need {
            return Err(PlanError::NotEnoughHosts { zone, have, need });
        }
    }
    let zones = cluster.zone_names();
    let mut free: BTreeMap<&str, std::slice::Iter<'_, String>> = zones
        .iter()
        .map(|z| (*z, hosts.get(*z).map(|h| h.iter()).unwrap_or_default()))
        .collect();
    let mut take = |zone: &str, shard: u32, role: Role| -> Result<PlannedInstance, PlanError> {
        let host = free.get_mut(zone).and_then(Iterator::next).ok_or_else(|| {
            // Unreachable after the hosts_needed check above; kept as an error, not a panic.
            let have = hosts.get(zone).map_or(0, Vec::len);
            PlanError::NotEnoughHosts {
                zone: zone.to_owned(),
                have,
                need: have + 1,
            }
        })?;
        Ok(PlannedInstance {
            host: host.clone(),
            zone: zone.to_owned(),
            shard,
            role,
        })
    };
    let mzones = master_zones(cluster);
    // Masters take the first hosts of each zone, then replicas in shard order.
    let masters = mzones
        .iter()
        .zip(0u32..)
        .map(|(mz, i)| take(zones[*mz], i, Role::Master))
        .collect::<Result<Vec<_>, _>>()?;
    let slots = split_slots(cluster.spec().shards);
    let mut shards = Vec::with_capacity(masters.len());
    for ((master, mz), range) in masters.into_iter().zip(&mzones).zip(slots) {
        let replicas = (0..cluster.spec().replicas_per_shard)
            .map(|k| take(replica_zone(*mz, k, &zones), master.shard, Role::Replica))
            .collect::<Result<Vec<_>, _>>()?;
        shards.push(ShardPlan {
            index: master.shard,
            slots: range,
            master,
            replicas,
        });
    }
    Ok(Plan { shards })
}
