//! Scheduling rules of the Redis pods, per placement mode.
//!
//! Both modes end with the same required term: no two Redis pods of a cluster on one node
//! (`kubernetes.io/hostname`), because a node failure must never take two copies of a shard.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    PodAffinityTerm, PodAntiAffinity, PreferredSchedulingTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use crate::names::HOSTNAME_KEY;

/// One Redis pod per node: required anti-affinity on the hostname against every pod that
/// `selector` matches (all Redis pods of the cluster).
fn one_per_node(selector: &BTreeMap<String, String>) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_labels: Some(selector.clone()),
            ..Default::default()
        }),
        topology_key: HOSTNAME_KEY.to_owned(),
        ..Default::default()
    }
}

/// ZoneAware: required to the zone, one Redis pod per node.
pub fn zone_aware(zone_label: &str, zone: &str, selector: &BTreeMap<String, String>) -> Affinity {
    Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Some(vec![NodeSelectorRequirement {
                        key: zone_label.to_owned(),
                        operator: "In".to_owned(),
                        values: Some(vec![zone.to_owned()]),
                    }]),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        }),
        pod_anti_affinity: Some(PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![one_per_node(selector)]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The seed's two scheduling pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedPool {
    /// `app: redis-leader`, topology key `az1`.
    Leader,
    /// `app: redis-follower`, topology key `az2`.
    Follower,
}

impl SeedPool {
    pub fn app_label(self) -> &'static str {
        match self {
            SeedPool::Leader => "redis-leader",
            SeedPool::Follower => "redis-follower",
        }
    }
    pub fn topology_key(self) -> &'static str {
        match self {
            SeedPool::Leader => "az1",
            SeedPool::Follower => "az2",
        }
    }
}

/// The seed's node preferences, in its order: value of the pool's key, weight.
const SEED_PREFERENCES: [(&str, i32); 3] = [("node01", 100), ("node02", 90), ("node03", 80)];

/// SeedCompatible: the seed recipe's stanzas exactly (the recipe users migrate from, kept
/// verbatim in `crates/k8s/tests/fixtures/seed-affinity.md`),
/// plus the one-pod-per-node term its own terms cannot provide (they separate leaders from
/// leaders and followers from followers, never a leader from a follower).
pub fn seed(pool: SeedPool, selector: &BTreeMap<String, String>) -> Affinity {
    let key = pool.topology_key();
    let seed_term = PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "app".to_owned(),
                operator: "In".to_owned(),
                values: Some(vec![pool.app_label().to_owned()]),
            }]),
            ..Default::default()
        }),
        topology_key: key.to_owned(),
        ..Default::default()
    };
    let preferences = SEED_PREFERENCES
        .iter()
        .map(|(value, weight)| PreferredSchedulingTerm {
            weight: *weight,
            preference: NodeSelectorTerm {
                match_expressions: Some(vec![NodeSelectorRequirement {
                    key: key.to_owned(),
                    operator: "In".to_owned(),
                    values: Some(vec![(*value).to_owned()]),
                }]),
                ..Default::default()
            },
        })
        .collect();
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![
                seed_term,
                one_per_node(selector),
            ]),
            ..Default::default()
        }),
        node_affinity: Some(NodeAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(preferences),
            ..Default::default()
        }),
        ..Default::default()
    }
}
