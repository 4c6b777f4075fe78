//! Scheduling rules of the Redis pods, per placement mode.
//!
//! Both modes end with the same required term: no two Redis pods of a cluster on one node
//! (`kubernetes.io/hostname`), because a node failure must never take two copies of a shard;
//! only `spec.kubernetes.pod.onePodPerNode: false` drops it. The user's additions
//! (`spec.kubernetes.pod.affinity`) are merged in by [`with_additions`].

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodAffinity,
    PodAffinityTerm, PodAntiAffinity, PreferredSchedulingTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use crate::names::HOSTNAME_KEY;

/// One Redis pod per node: required anti-affinity on the hostname against every pod that
/// `selector` matches (all Redis pods of the cluster).
fn hostname_term(selector: &BTreeMap<String, String>) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_labels: Some(selector.clone()),
            ..Default::default()
        }),
        topology_key: HOSTNAME_KEY.to_owned(),
        ..Default::default()
    }
}

/// ZoneAware: required to the zone, one Redis pod per node (unless `one_per_node` is off).
pub fn zone_aware(
    zone_label: &str,
    zone: &str,
    selector: &BTreeMap<String, String>,
    one_per_node: bool,
) -> Affinity {
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
        pod_anti_affinity: one_per_node.then(|| PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![hostname_term(
                selector,
            )]),
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
pub fn seed(pool: SeedPool, selector: &BTreeMap<String, String>, one_per_node: bool) -> Affinity {
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
            required_during_scheduling_ignored_during_execution: Some(
                std::iter::once(seed_term)
                    .chain(one_per_node.then(|| hostname_term(selector)))
                    .collect(),
            ),
            ..Default::default()
        }),
        node_affinity: Some(NodeAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(preferences),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Ours with the user's additions (`spec.kubernetes.pod.affinity`), so that ours still hold.
/// Required node terms are alternatives (ORed), so each of the user's is combined (ANDed)
/// with each of ours: a pod may go where both allow, never out of its zone. Everything else is
/// a list of terms that all apply (required) or all weigh (preferred): the user's are added
/// beside ours.
pub fn with_additions(ours: Affinity, theirs: Option<&Affinity>) -> Affinity {
    let Some(theirs) = theirs else {
        return ours;
    };
    Affinity {
        node_affinity: merge_node(ours.node_affinity, theirs.node_affinity.as_ref()),
        pod_affinity: merge_pod(ours.pod_affinity, theirs.pod_affinity.as_ref()),
        pod_anti_affinity: merge_anti(ours.pod_anti_affinity, theirs.pod_anti_affinity.as_ref()),
    }
}

fn concat<T: Clone>(ours: Option<Vec<T>>, theirs: Option<&Vec<T>>) -> Option<Vec<T>> {
    match (ours, theirs) {
        (None, None) => None,
        (ours, theirs) => {
            let mut all = ours.unwrap_or_default();
            all.extend(theirs.into_iter().flatten().cloned());
            Some(all)
        }
    }
}

fn merge_node(ours: Option<NodeAffinity>, theirs: Option<&NodeAffinity>) -> Option<NodeAffinity> {
    let Some(theirs) = theirs else {
        return ours;
    };
    let ours = ours.unwrap_or_default();
    let required = match (
        ours.required_during_scheduling_ignored_during_execution,
        theirs
            .required_during_scheduling_ignored_during_execution
            .as_ref(),
    ) {
        (Some(o), Some(t)) => Some(NodeSelector {
            node_selector_terms: o
                .node_selector_terms
                .iter()
                .flat_map(|ot| t.node_selector_terms.iter().map(move |tt| both(ot, tt)))
                .collect(),
        }),
        (o, t) => o.or_else(|| t.cloned()),
    };
    Some(NodeAffinity {
        required_during_scheduling_ignored_during_execution: required,
        preferred_during_scheduling_ignored_during_execution: concat(
            ours.preferred_during_scheduling_ignored_during_execution,
            theirs
                .preferred_during_scheduling_ignored_during_execution
                .as_ref(),
        ),
    })
}

/// A node matches the result iff it matches both terms (a term's requirements are ANDed).
fn both(a: &NodeSelectorTerm, b: &NodeSelectorTerm) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: concat(a.match_expressions.clone(), b.match_expressions.as_ref()),
        match_fields: concat(a.match_fields.clone(), b.match_fields.as_ref()),
    }
}

/// Ours with theirs added, required and preferred terms alike (the scheduler ANDs required
/// terms, so ours still hold). Pod affinity and anti-affinity have this shape but no common
/// type, hence a macro.
macro_rules! added_terms {
    ($kind:ident, $ours:expr, $theirs:expr) => {{
        match $theirs {
            None => $ours,
            Some(theirs) => {
                let ours = $ours.unwrap_or_default();
                Some($kind {
                    required_during_scheduling_ignored_during_execution: concat(
                        ours.required_during_scheduling_ignored_during_execution,
                        theirs
                            .required_during_scheduling_ignored_during_execution
                            .as_ref(),
                    ),
                    preferred_during_scheduling_ignored_during_execution: concat(
                        ours.preferred_during_scheduling_ignored_during_execution,
                        theirs
                            .preferred_during_scheduling_ignored_during_execution
                            .as_ref(),
                    ),
                })
            }
        }
    }};
}

fn merge_pod(ours: Option<PodAffinity>, theirs: Option<&PodAffinity>) -> Option<PodAffinity> {
    added_terms!(PodAffinity, ours, theirs)
}

fn merge_anti(
    ours: Option<PodAntiAffinity>,
    theirs: Option<&PodAntiAffinity>,
) -> Option<PodAntiAffinity> {
    added_terms!(PodAntiAffinity, ours, theirs)
}
