//! Which pod is planned as which shard's master or replica, mapped to the zones the pods are
//! predicted to land in, as the survivability analysis takes it.
//!
//! SeedCompatible: `leader-i` starts as the master of shard i and `follower-j` as a replica of
//! shard `j mod shards`, as the seed pairs StatefulSet ordinals. ZoneAware: the topology
//! planner's layout over each zone's StatefulSet pods.

use std::collections::BTreeMap;

use redis_stretch_api::{PlacementMode, ValidatedCluster};
use redis_stretch_topology::{plan as place, Copy, ShardLayout};

use super::{PodPlacement, ShardPlacement};
use redis_stretch_k8s::names::Names;
use redis_stretch_k8s::Error;
use redis_stretch_k8s::Rendered;

pub fn pair(
    rendered: &Rendered,
    pods: &[PodPlacement],
) -> Result<(Vec<ShardPlacement>, Vec<ShardLayout>), Error> {
    let cluster = &rendered.cluster;
    let names = Names::new(cluster);
    let spec = cluster.spec();
    let shards: Vec<(u32, String, Vec<String>)> = match spec.placement.mode {
        PlacementMode::SeedCompatible => {
            let leader = names.leader_stateful_set()?;
            let follower = names.follower_stateful_set()?;
            let followers = spec.shards * spec.replicas_per_shard;
            (0..spec.shards)
                .map(|i| {
                    let replicas = (0..followers)
                        .filter(|j| j % spec.shards == i)
                        .map(|j| format!("{follower}-{j}"))
                        .collect();
                    (i, format!("{leader}-{i}"), replicas)
                })
                .collect()
        }
        PlacementMode::ZoneAware => {
            let mut hosts = BTreeMap::new();
            for sts in &rendered.stateful_sets {
                let name = sts.metadata.name.clone().unwrap_or_default();
                let count = sts
                    .spec
                    .as_ref()
                    .and_then(|s| s.replicas)
                    .unwrap_or(0)
                    .max(0);
                let zone = sts
                    .spec
                    .as_ref()
                    .and_then(|s| s.selector.match_labels.as_ref())
                    .and_then(|l| l.get(redis_stretch_k8s::names::LABEL_ZONE))
                    .cloned()
                    .unwrap_or_default();
                hosts.insert(
                    zone,
                    (0..count)
                        .map(|i| format!("{name}-{i}"))
                        .collect::<Vec<_>>(),
                );
            }
            place(cluster, &hosts)?
                .shards
                .into_iter()
                .map(|s| {
                    (
                        s.index,
                        s.master.host,
                        s.replicas.into_iter().map(|r| r.host).collect(),
                    )
                })
                .collect()
        }
    };
    let by_name: BTreeMap<&str, &PodPlacement> =
        pods.iter().map(|p| (p.name.as_str(), p)).collect();
    let zone_of = |pod: &str| {
        by_name
            .get(pod)
            .and_then(|p| p.node.as_ref().and(p.zone.clone()))
    };
    let copy = |pod: &str| match zone_of(pod) {
        Some(zone) => Copy {
            zone,
            healthy: true,
        },
        // Not running (or in no known zone): no copy to count on in any zone.
        None => Copy {
            zone: "(unscheduled)".to_owned(),
            healthy: false,
        },
    };
    let placements = shards
        .iter()
        .map(|(i, master, replicas)| ShardPlacement {
            index: *i,
            master: master.clone(),
            master_zone: zone_of(master),
            replicas: replicas.clone(),
            replica_zones: replicas.iter().map(|r| zone_of(r)).collect(),
        })
        .collect();
    let layouts = shards
        .iter()
        .map(|(i, master, replicas)| ShardLayout {
            name: format!("shard-{i}"),
            master: Some(copy(master)),
            replicas: replicas.iter().map(|r| copy(r)).collect(),
        })
        .collect();
    Ok((placements, layouts))
}

/// Shards that lose their cross-zone copy in this placement.
pub fn problems(shards: &[ShardPlacement]) -> Vec<String> {
    let mut out = Vec::new();
    for s in shards {
        let Some(mz) = &s.master_zone else {
            out.push(format!(
                "shard {}: master {} is not scheduled, so the shard starts without a master",
                s.index, s.master
            ));
            continue;
        };
        let elsewhere = s.replica_zones.iter().flatten().any(|z| z != mz);
        if !elsewhere {
            let placed: Vec<String> = s
                .replicas
                .iter()
                .zip(&s.replica_zones)
                .map(|(r, z)| format!("{r} in {}", z.as_deref().unwrap_or("no zone (unscheduled)")))
                .collect();
            out.push(format!(
                "shard {}: master {} is in {mz} and no replica is in the other zone ({}): losing {mz} loses the shard's slots",
                s.index,
                s.master,
                placed.join(", ")
            ));
        }
    }
    out
}

/// Whether the masters land where `preferredMasters` asks; the engine fails back to the
/// preferred layout, so a mismatch means a failover right after start.
pub fn master_balance(cluster: &ValidatedCluster, shards: &[ShardPlacement]) -> Vec<String> {
    let mut landed: BTreeMap<&str, u32> = BTreeMap::new();
    for s in shards {
        if let Some(z) = &s.master_zone {
            *landed.entry(z.as_str()).or_default() += 1;
        }
    }
    let off: Vec<String> = cluster
        .spec()
        .zones
        .iter()
        .filter(|z| landed.get(z.name.as_str()).copied().unwrap_or(0) != z.preferred_masters)
        .map(|z| {
            format!(
                "{} gets {} master(s), prefers {}",
                z.name,
                landed.get(z.name.as_str()).copied().unwrap_or(0),
                z.preferred_masters
            )
        })
        .collect();
    if off.is_empty() {
        vec![]
    } else {
        vec![format!(
            "the starting masters do not match spec.zones[].preferredMasters ({}); failback will move them",
            off.join(", ")
        )]
    }
}
