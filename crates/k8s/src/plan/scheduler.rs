//! A model of kube-scheduler's default profile, enough to predict where the Redis pods land:
//! the filters that can reject a node for them and the scores that rank the rest.
//!
//! Filters: NodeUnschedulable, TaintToleration (NoSchedule/NoExecute), NodeAffinity (required),
//! NodeResourcesFit, InterPodAffinity (required anti-affinity, both directions).
//! Scores, with the default weights: TaintToleration ×3, NodeAffinity ×2, PodTopologySpread ×2
//! (the system default constraints: hostname maxSkew 3, zone maxSkew 5, counted per
//! StatefulSet), NodeResourcesFit (LeastAllocated) ×1, NodeResourcesBalancedAllocation ×1.
//! InterPodAffinity scores nothing for these pods (no preferred terms) and ImageLocality is
//! taken as equal on every node.
//!
//! Incremental, as the real scheduler's cache is: what depends on the pod template alone is
//! computed once per template ([`Template`]), and what depends on placed pods (requests per
//! node, pods per StatefulSet per node, closed anti-affinity domains) is updated as each pod is
//! bound, so that placing a pod is linear in the nodes, not in nodes × placed pods.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Affinity, Toleration};

use super::filters::{Conflicts, Domains, Placed, Requested, Template};
use super::nodes::Node;

const MAX_SCORE: i64 = 100;
const ZONE_KEY: &str = "topology.kubernetes.io/zone";
const HOSTNAME_KEY: &str = "kubernetes.io/hostname";

/// A pod to place, as its StatefulSet's template makes it.
#[derive(Clone, Debug)]
pub struct PendingPod {
    pub name: String,
    /// The owning StatefulSet: default topology spreading counts pods of the same owner.
    pub owner: String,
    pub labels: BTreeMap<String, String>,
    pub affinity: Option<Affinity>,
    /// `spec.nodeSelector`: only nodes with all these labels.
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
    pub cpu_millis: u128,
    pub memory_bytes: u128,
}

/// Where one pod goes, or why it cannot go anywhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Binding {
    Placed {
        node: usize,
        score: i64,
        /// Other nodes with the same top score: the scheduler picks among them at random.
        tied_with: Vec<usize>,
    },
    Unschedulable {
        /// Per node, why it was filtered out.
        reasons: Vec<(usize, String)>,
    },
}

#[derive(Clone, Copy)]
struct ResourceMemo {
    /// The pod's cpu and memory requests.
    request: (u128, u128),
    /// LeastAllocated, BalancedAllocation.
    scores: (i64, i64),
}

/// One template's per-node answers: the filters and scores that read only the node, and the
/// nodes its pods' anti-affinity has shut so far.
struct TemplateState<'a> {
    passes_static: Vec<bool>,
    /// Required node affinity holds: default spreading counts only these nodes.
    counted: Vec<bool>,
    preferred_weight: Vec<i64>,
    soft_taints: Vec<i64>,
    conflicts: Conflicts<'a>,
    shut: Vec<bool>,
}

pub struct Scheduler<'a> {
    nodes: &'a [Node],
    /// The node whose placed requests the resource filter weighs: the first of the same name.
    /// Node names are unique in a real list; a hand-written one may repeat a name, and the
    /// model has always looked nodes up by name there, so a repeat shares the first's load.
    fit_node: Vec<usize>,
    /// Each node's `topology.kubernetes.io/zone` domain for default spreading, numbered; an
    /// unlabelled node counts as the domain "" there, as the model always had it.
    zone: Vec<usize>,
    zones: usize,
    has_zone: Vec<bool>,
    has_hostname: Vec<bool>,
    domains: Domains<'a>,
    placed: Vec<Placed>,
    requested: Vec<Requested>,
    /// Per node, the resource scores last computed there and the pod requests they were for:
    /// they change only when a pod lands on the node or the requests differ, and recomputing
    /// them (u128 to float) for every node was a third of a plan's instructions.
    resource_memo: Vec<Option<ResourceMemo>>,
    owners: HashMap<String, usize>,
    /// Per owner, per node: its pods placed there.
    owner_pods_on: Vec<Vec<u32>>,
    /// Per owner: the node of each of its placed pods.
    owner_nodes: Vec<Vec<usize>>,
    templates: Vec<Template>,
    states: Vec<TemplateState<'a>>,
}

impl<'a> Scheduler<'a> {
    pub fn new(nodes: &'a [Node]) -> Self {
        let mut first_of: HashMap<&str, usize> = HashMap::new();
        let fit_node = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| *first_of.entry(n.name.as_str()).or_insert(i))
            .collect();
        let mut zone_ids: HashMap<&str, usize> = HashMap::new();
        let zone = nodes
            .iter()
            .map(|n| {
                let value = n.labels.get(ZONE_KEY).map_or("", String::as_str);
                let next = zone_ids.len();
                *zone_ids.entry(value).or_insert(next)
            })
            .collect();
        Self {
            nodes,
            fit_node,
            zone,
            zones: zone_ids.len(),
            has_zone: nodes
                .iter()
                .map(|n| n.labels.contains_key(ZONE_KEY))
                .collect(),
            has_hostname: nodes
                .iter()
                .map(|n| n.labels.contains_key(HOSTNAME_KEY))
                .collect(),
            domains: Domains::default(),
            placed: Vec::new(),
            requested: vec![Requested::default(); nodes.len()],
            resource_memo: vec![None; nodes.len()],
            owners: HashMap::new(),
            owner_pods_on: Vec::new(),
            owner_nodes: Vec::new(),
            templates: Vec::new(),
            states: Vec::new(),
        }
    }

    /// Schedule `pod` given every pod placed before it, and remember where it went.
    pub fn schedule(&mut self, pod: &PendingPod) -> Binding {
        let t = self.template_for(pod);
        let state = &self.states[t];
        let feasible: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| {
                state.passes_static[n]
                    && !state.shut[n]
                    && self.requested[self.fit_node[n]].fits(pod, &self.nodes[n])
            })
            .collect();
        if feasible.is_empty() {
            // Only now are the reasons worth their strings.
            let reasons = (0..self.nodes.len())
                .filter_map(|n| self.rejection(t, pod, n).map(|why| (n, why)))
                .collect();
            return Binding::Unschedulable { reasons };
        }
        let owner = self.owner_id(&pod.owner);
        let resources: Vec<(i64, i64)> = feasible
            .iter()
            .map(|n| self.resource_scores(pod, *n))
            .collect();
        let scores = self.score(t, owner, &feasible, &resources);
        let best = scores.iter().copied().max().unwrap_or(0);
        let mut top = feasible
            .iter()
            .zip(&scores)
            .filter(|(_, s)| **s == best)
            .map(|(n, _)| *n);
        // Deterministic stand-in for the scheduler's random pick among equals: first by name.
        let Some(node) = top.next() else {
            return Binding::Unschedulable {
                reasons: Vec::new(),
            };
        };
        let tied_with = top.collect();
        self.bind(pod, t, owner, node);
        Binding::Placed {
            node,
            score: best,
            tied_with,
        }
    }

    /// Whether node `n` passes every filter for `pod` given the pods placed so far. `&mut`
    /// because the pod's template is prepared once and kept, as for [`Self::schedule`].
    pub fn filter_node(&mut self, pod: &PendingPod, n: usize) -> Result<(), String> {
        if n >= self.nodes.len() {
            return Err(format!("no node #{n}"));
        }
        let t = self.template_for(pod);
        match self.rejection(t, pod, n) {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    /// Why node `n` cannot take `pod` (of template `t`), in the scheduler's filter order.
    fn rejection(&self, t: usize, pod: &PendingPod, n: usize) -> Option<String> {
        let node = &self.nodes[n];
        let template = &self.templates[t];
        template
            .static_rejection(node)
            .or_else(|| self.requested[self.fit_node[n]].rejection(pod, node))
            .or_else(|| {
                self.states[t]
                    .conflicts
                    .rejection(template, node, &self.placed, self.nodes)
            })
    }

    /// The template `pod` belongs to, prepared on first sight: its per-node answers, and the
    /// domains pods placed before it already shut.
    fn template_for(&mut self, pod: &PendingPod) -> usize {
        if let Some(t) = self.templates.iter().position(|t| t.is_for(pod)) {
            return t;
        }
        let template = Template::of(pod);
        let nodes = self.nodes;
        let state = TemplateState {
            passes_static: nodes.iter().map(|n| template.passes_static(n)).collect(),
            counted: nodes
                .iter()
                .map(|n| template.node_affinity_matches(n))
                .collect(),
            preferred_weight: nodes.iter().map(|n| template.preferred_weight(n)).collect(),
            soft_taints: nodes.iter().map(|n| template.soft_taints(n)).collect(),
            conflicts: Conflicts::new(&template),
            shut: vec![false; nodes.len()],
        };
        self.templates.push(template);
        self.states.push(state);
        let t = self.templates.len() - 1;
        for k in 0..self.placed.len() {
            self.learn(t, k);
        }
        t
    }

    fn owner_id(&mut self, owner: &str) -> usize {
        if let Some(id) = self.owners.get(owner) {
            return *id;
        }
        let id = self.owner_nodes.len();
        self.owners.insert(owner.to_owned(), id);
        self.owner_pods_on.push(vec![0; self.nodes.len()]);
        self.owner_nodes.push(Vec::new());
        id
    }

    fn bind(&mut self, pod: &PendingPod, t: usize, owner: usize, node: usize) {
        self.placed.push(Placed {
            name: pod.name.clone(),
            node,
            template: t,
        });
        self.requested[node].add(pod);
        self.resource_memo[node] = None;
        self.owner_pods_on[owner][node] += 1;
        self.owner_nodes[owner].push(node);
        let k = self.placed.len() - 1;
        for t in 0..self.templates.len() {
            self.learn(t, k);
        }
    }

    /// Tell template `t` about placed pod `k`, shutting the nodes of every domain that closes.
    fn learn(&mut self, t: usize, k: usize) {
        let nodes = self.nodes;
        let placed = &self.placed[k];
        let state = &mut self.states[t];
        let domains = &mut self.domains;
        let shut = &mut state.shut;
        state.conflicts.learn(
            &self.templates[t],
            k,
            &self.templates[placed.template],
            &nodes[placed.node],
            |key, value| {
                for &n in domains.nodes_with(nodes, key, value) {
                    shut[n] = true;
                }
            },
        );
    }

    /// Total weighted score of each feasible node, in the order of `feasible` (and of
    /// `resources`, its LeastAllocated and BalancedAllocation scores).
    fn score(
        &self,
        t: usize,
        owner: usize,
        feasible: &[usize],
        resources: &[(i64, i64)],
    ) -> Vec<i64> {
        let state = &self.states[t];
        let affinity = normalize(
            feasible
                .iter()
                .map(|n| state.preferred_weight[*n])
                .collect(),
            false,
        );
        let taints = normalize(
            feasible.iter().map(|n| state.soft_taints[*n]).collect(),
            true,
        );
        let spread = self.topology_spread(state, owner, feasible);
        resources
            .iter()
            .enumerate()
            .map(|(i, (least, balanced))| {
                3 * taints[i] + 2 * affinity[i] + 2 * spread[i] + least + balanced
            })
            .collect()
    }

    /// LeastAllocated and BalancedAllocation over cpu and memory, planned pods included.
    fn resource_scores(&mut self, pod: &PendingPod, n: usize) -> (i64, i64) {
        let request = (pod.cpu_millis, pod.memory_bytes);
        match self.resource_memo[n] {
            Some(memo) if memo.request == request => return memo.scores,
            _ => {}
        }
        let node = &self.nodes[n];
        let cpu = pod.cpu_millis + self.requested[n].cpu_millis;
        let mem = pod.memory_bytes + self.requested[n].memory_bytes;
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
        let scores = (least_allocated, balanced);
        self.resource_memo[n] = Some(ResourceMemo { request, scores });
        scores
    }

    /// PodTopologySpread with the system default constraints, normalized (fewer pods of the
    /// same StatefulSet in the node's zone and on the node score higher).
    fn topology_spread(
        &self,
        state: &TemplateState<'_>,
        owner: usize,
        feasible: &[usize],
    ) -> Vec<i64> {
        const HOSTNAME_MAX_SKEW: i64 = 3;
        const ZONE_MAX_SKEW: i64 = 5;
        // The zone domains are those of the feasible nodes; pods count towards them from every
        // node the pod's required node affinity admits (NodeInclusionPolicy Honor).
        let mut in_domain = vec![false; self.zones];
        let mut domain_count = 0usize;
        for n in feasible {
            if !in_domain[self.zone[*n]] {
                in_domain[self.zone[*n]] = true;
                domain_count += 1;
            }
        }
        let mut zone_pods = vec![0i64; self.zones];
        for &m in &self.owner_nodes[owner] {
            if state.counted[m] && in_domain[self.zone[m]] {
                zone_pods[self.zone[m]] += 1;
            }
        }
        let weight = |size: usize| ((size + 2) as f64).ln();
        let (host_weight, zone_weight) = (weight(feasible.len()), weight(domain_count));
        let on_node = &self.owner_pods_on[owner];
        let raw: Vec<i64> = feasible
            .iter()
            .map(|n| {
                let mut score = 0.0;
                if self.has_hostname[*n] {
                    score += f64::from(on_node[*n]) * host_weight + (HOSTNAME_MAX_SKEW - 1) as f64;
                }
                if self.has_zone[*n] {
                    score +=
                        zone_pods[self.zone[*n]] as f64 * zone_weight + (ZONE_MAX_SKEW - 1) as f64;
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
