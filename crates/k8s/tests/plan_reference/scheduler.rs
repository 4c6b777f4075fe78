//! The scheduler before the incremental rewrite, verbatim but for paths (it rescans every placed
//! pod for every node). A model of kube-scheduler's default profile, enough to predict where the
//! Redis pods land: the filters that can reject a node for them and the scores that rank the rest.
//!
//! Filters: NodeUnschedulable, TaintToleration (NoSchedule/NoExecute), NodeAffinity (required),
//! NodeResourcesFit, InterPodAffinity (required anti-affinity, both directions).
//! Scores, with the default weights: TaintToleration ×3, NodeAffinity ×2, PodTopologySpread ×2
//! (the system default constraints: hostname maxSkew 3, zone maxSkew 5, counted per
//! StatefulSet), NodeResourcesFit (LeastAllocated) ×1, NodeResourcesBalancedAllocation ×1.
//! InterPodAffinity scores nothing for these pods (no preferred terms) and ImageLocality is
//! taken as equal on every node.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{PodAffinityTerm, Toleration};

use super::selectors::{node_term_matches, selector_matches, tolerated};
use redis_stretch_k8s::plan::{Binding, Node, PendingPod, Taint};
use redis_stretch_k8s::quantity::{format_bytes, format_cpu};

const MAX_SCORE: i64 = 100;
const ZONE_KEY: &str = "topology.kubernetes.io/zone";
const HOSTNAME_KEY: &str = "kubernetes.io/hostname";

pub struct Scheduler<'a> {
    nodes: &'a [Node],
    placed: Vec<(PendingPod, usize)>,
}

impl<'a> Scheduler<'a> {
    pub fn new(nodes: &'a [Node]) -> Self {
        Self {
            nodes,
            placed: Vec::new(),
        }
    }

    /// Schedule `pod` given every pod placed before it, and remember where it went.
    pub fn schedule(&mut self, pod: &PendingPod) -> Binding {
        let mut feasible = Vec::new();
        let mut reasons = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            match self.filter(pod, node) {
                Ok(()) => feasible.push(i),
                Err(why) => reasons.push((i, why)),
            }
        }
        if feasible.is_empty() {
            return Binding::Unschedulable { reasons };
        }
        let scores = self.score(pod, &feasible);
        let best = scores.iter().map(|(_, s)| *s).max().unwrap_or(0);
        let mut top = scores.iter().filter(|(_, s)| *s == best).map(|(n, _)| *n);
        // Deterministic stand-in for the scheduler's random pick among equals: first by name.
        let Some(node) = top.next() else {
            return Binding::Unschedulable { reasons };
        };
        let tied_with = top.collect();
        self.placed.push((pod.clone(), node));
        Binding::Placed {
            node,
            score: best,
            tied_with,
        }
    }

    /// Whether node `n` passes every filter for `pod` given the pods placed so far.
    pub fn filter_node(&self, pod: &PendingPod, n: usize) -> Result<(), String> {
        match self.nodes.get(n) {
            Some(node) => self.filter(pod, node),
            None => Err(format!("no node #{n}")),
        }
    }

    fn pods_on(&self, node: usize) -> impl Iterator<Item = &PendingPod> {
        self.placed
            .iter()
            .filter(move |(_, n)| *n == node)
            .map(|(p, _)| p)
    }

    /// Why `node` cannot take `pod`, in the scheduler's own terms.
    fn filter(&self, pod: &PendingPod, node: &Node) -> Result<(), String> {
        let tolerations = with_default_tolerations(&pod.tolerations);
        if node.unschedulable {
            let cordon = Taint {
                key: "node.kubernetes.io/unschedulable".to_owned(),
                value: None,
                effect: "NoSchedule".to_owned(),
            };
            if !tolerated(&cordon, &tolerations) {
                return Err("cordoned (spec.unschedulable: true)".to_owned());
            }
        }
        let untolerated: Vec<String> = node
            .taints
            .iter()
            .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            .filter(|t| !tolerated(t, &tolerations))
            .map(ToString::to_string)
            .collect();
        if !untolerated.is_empty() {
            return Err(format!("untolerated taint {}", untolerated.join(", ")));
        }
        if let Some(terms) = required_node_terms(pod) {
            if !terms.iter().any(|t| node_term_matches(t, node)) {
                return Err(format!(
                    "does not match the required node affinity ({})",
                    describe_node_terms(terms)
                ));
            }
        }
        self.fits(pod, node)?;
        self.anti_affinity_allows(pod, node)
    }

    fn fits(&self, pod: &PendingPod, node: &Node) -> Result<(), String> {
        let idx = self.index_of(node);
        let (cpu, mem, count) = self
            .pods_on(idx)
            .fold((0u128, 0u128, 0u128), |(c, m, n), p| {
                (c + p.cpu_millis, m + p.memory_bytes, n + 1)
            });
        let mut short = Vec::new();
        if cpu + pod.cpu_millis > node.cpu_millis {
            short.push(format!(
                "insufficient cpu: the pod requests {}, the node has {} allocatable with {} already requested by planned pods",
                format_cpu(pod.cpu_millis),
                format_cpu(node.cpu_millis),
                format_cpu(cpu)
            ));
        }
        if mem + pod.memory_bytes > node.memory_bytes {
            short.push(format!(
                "insufficient memory: the pod requests {}, the node has {} allocatable with {} already requested by planned pods",
                format_bytes(pod.memory_bytes),
                format_bytes(node.memory_bytes),
                format_bytes(mem)
            ));
        }
        if count + 1 > node.pods {
            short.push(format!(
                "too many pods: {} pod slot(s) allocatable",
                node.pods
            ));
        }
        if short.is_empty() {
            Ok(())
        } else {
            Err(short.join("; "))
        }
    }

    fn index_of(&self, node: &Node) -> usize {
        self.nodes
            .iter()
            .position(|n| n.name == node.name)
            .unwrap_or(usize::MAX)
    }

    /// Required anti-affinity of the incoming pod against placed pods, and of placed pods
    /// against the incoming one (the scheduler checks both). A node without the term's
    /// topology key is outside every domain of it and never conflicts.
    fn anti_affinity_allows(&self, pod: &PendingPod, node: &Node) -> Result<(), String> {
        for term in required_anti_terms(pod) {
            let Some(value) = node.labels.get(&term.topology_key) else {
                continue;
            };
            for (other, at) in &self.placed {
                let other_node = &self.nodes[*at];
                if other_node.labels.get(&term.topology_key) == Some(value)
                    && selector_matches(term.label_selector.as_ref(), &other.labels)
                {
                    return Err(format!(
                        "pod anti-affinity: {} is on {} with the same {}={}",
                        other.name, other_node.name, term.topology_key, value
                    ));
                }
            }
        }
        for (other, at) in &self.placed {
            let other_node = &self.nodes[*at];
            for term in required_anti_terms(other) {
                let (Some(mine), Some(theirs)) = (
                    node.labels.get(&term.topology_key),
                    other_node.labels.get(&term.topology_key),
                ) else {
                    continue;
                };
                if mine == theirs && selector_matches(term.label_selector.as_ref(), &pod.labels) {
                    return Err(format!(
                        "pod anti-affinity of {} (on {}) over {}={}",
                        other.name, other_node.name, term.topology_key, mine
                    ));
                }
            }
        }
        Ok(())
    }

    /// Total weighted score of each feasible node, in node order.
    fn score(&self, pod: &PendingPod, feasible: &[usize]) -> Vec<(usize, i64)> {
        let affinity = normalize(
            feasible
                .iter()
                .map(|n| self.node_affinity_raw(pod, *n))
                .collect(),
            false,
        );
        let taints = normalize(
            feasible
                .iter()
                .map(|n| self.prefer_no_schedule_raw(pod, *n))
                .collect(),
            true,
        );
        let spread = self.topology_spread(pod, feasible);
        feasible
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let (least, balanced) = self.resource_scores(pod, *n);
                let total = 3 * taints[i] + 2 * affinity[i] + 2 * spread[i] + least + balanced;
                (*n, total)
            })
            .collect()
    }

    fn node_affinity_raw(&self, pod: &PendingPod, n: usize) -> i64 {
        let node = &self.nodes[n];
        pod.affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| {
                na.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .into_iter()
            .flatten()
            .filter(|t| node_term_matches(&t.preference, node))
            .map(|t| i64::from(t.weight))
            .sum()
    }

    fn prefer_no_schedule_raw(&self, pod: &PendingPod, n: usize) -> i64 {
        let tolerations = &pod.tolerations;
        let count = self.nodes[n]
            .taints
            .iter()
            .filter(|t| t.effect == "PreferNoSchedule" && !tolerated(t, tolerations))
            .count();
        i64::try_from(count).unwrap_or(i64::MAX)
    }

    /// LeastAllocated and BalancedAllocation over cpu and memory, planned pods included.
    fn resource_scores(&self, pod: &PendingPod, n: usize) -> (i64, i64) {
        let node = &self.nodes[n];
        let (cpu, mem) = self
            .pods_on(n)
            .fold((pod.cpu_millis, pod.memory_bytes), |(c, m), p| {
                (c + p.cpu_millis, m + p.memory_bytes)
            });
        let least = |req: u128, alloc: u128| -> i64 {
            if alloc == 0 || req > alloc {
                0
            } else {
                i64::try_from((alloc - req) * 100 / alloc).unwrap_or(0)
            }
        };
        let fraction = |req: u128, alloc: u128| -> f64 {
            if alloc == 0 {
                1.0
            } else {
                (req as f64 / alloc as f64).min(1.0)
            }
        };
        let least_allocated = (least(cpu, node.cpu_millis) + least(mem, node.memory_bytes)) / 2;
        let std = ((fraction(cpu, node.cpu_millis) - fraction(mem, node.memory_bytes)) / 2.0).abs();
        let balanced = ((1.0 - std) * MAX_SCORE as f64) as i64;
        (least_allocated, balanced)
    }

    /// PodTopologySpread with the system default constraints, normalized (fewer pods of the
    /// same StatefulSet in the node's zone and on the node score higher).
    fn topology_spread(&self, pod: &PendingPod, feasible: &[usize]) -> Vec<i64> {
        const CONSTRAINTS: [(&str, i64); 2] = [(HOSTNAME_KEY, 3), (ZONE_KEY, 5)];
        let required_terms = required_node_terms(pod);
        // NodeInclusionPolicy Honor: only nodes the pod could be placed on by its required
        // node affinity count towards a domain.
        let counted = |n: usize| {
            required_terms
                .is_none_or(|terms| terms.iter().any(|t| node_term_matches(t, &self.nodes[n])))
        };
        let same_owner_on =
            |n: usize| self.pods_on(n).filter(|p| p.owner == pod.owner).count() as i64;
        let zone_of = |n: usize| {
            self.nodes[n]
                .labels
                .get(ZONE_KEY)
                .cloned()
                .unwrap_or_default()
        };
        let zone_domains: BTreeSet<String> = feasible.iter().map(|n| zone_of(*n)).collect();
        let mut zone_counts: BTreeMap<String, i64> =
            zone_domains.iter().map(|z| (z.clone(), 0)).collect();
        for n in (0..self.nodes.len()).filter(|n| counted(*n)) {
            if let Some(c) = zone_counts.get_mut(&zone_of(n)) {
                *c += same_owner_on(n);
            }
        }
        let weight = |size: usize| ((size + 2) as f64).ln();
        let raw: Vec<i64> = feasible
            .iter()
            .map(|n| {
                let node = &self.nodes[*n];
                let mut score = 0.0;
                for (key, max_skew) in CONSTRAINTS {
                    let Some(value) = node.labels.get(key) else {
                        continue;
                    };
                    let (count, size) = if key == HOSTNAME_KEY {
                        (same_owner_on(*n), feasible.len())
                    } else {
                        (
                            zone_counts.get(value).copied().unwrap_or(0),
                            zone_domains.len(),
                        )
                    };
                    score += count as f64 * weight(size) + (max_skew - 1) as f64;
                }
                score.round() as i64
            })
            .collect();
        let (min, max) = (
            raw.iter().copied().min().unwrap_or(0),
            raw.iter().copied().max().unwrap_or(0),
        );
        raw.iter()
            .map(|s| {
                if max == 0 {
                    MAX_SCORE
                } else {
                    MAX_SCORE * (max + min - s) / max
                }
            })
            .collect()
    }
}

/// The scheduler's DefaultNormalizeScore: scale to 0..=100 by the maximum, optionally reversed.
fn normalize(raw: Vec<i64>, reverse: bool) -> Vec<i64> {
    let max = raw.iter().copied().max().unwrap_or(0);
    raw.into_iter()
        .map(|s| {
            if max == 0 {
                if reverse {
                    MAX_SCORE
                } else {
                    0
                }
            } else {
                let v = MAX_SCORE * s / max;
                if reverse {
                    MAX_SCORE - v
                } else {
                    v
                }
            }
        })
        .collect()
}

/// The DefaultTolerationSeconds admission plugin gives every pod these two.
fn with_default_tolerations(own: &[Toleration]) -> Vec<Toleration> {
    let mut all = own.to_vec();
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        all.push(Toleration {
            key: Some(key.to_owned()),
            operator: Some("Exists".to_owned()),
            effect: Some("NoExecute".to_owned()),
            toleration_seconds: Some(300),
            ..Default::default()
        });
    }
    all
}

fn required_node_terms(
    pod: &PendingPod,
) -> Option<&[k8s_openapi::api::core::v1::NodeSelectorTerm]> {
    pod.affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()
        .map(|s| s.node_selector_terms.as_slice())
}

fn required_anti_terms(pod: &PendingPod) -> &[PodAffinityTerm] {
    pod.affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|p| {
            p.required_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or_default()
}

fn describe_node_terms(terms: &[k8s_openapi::api::core::v1::NodeSelectorTerm]) -> String {
    terms
        .iter()
        .map(|t| {
            t.match_expressions
                .iter()
                .flatten()
                .map(|r| {
                    let values = r.values.as_deref().unwrap_or_default().join(",");
                    format!("{} {} [{}]", r.key, r.operator, values)
                })
                .collect::<Vec<_>>()
                .join(" and ")
        })
        .collect::<Vec<_>>()
        .join(" or ")
}
