//! The scheduler model's filters for one pod template, in two forms that must agree: a yes/no per
//! node, computed once per template (and for pod anti-affinity kept up to date as pods are
//! placed) so that placing a pod costs a few array reads per node; and the reason a node is
//! rejected, in the scheduler's own terms, built only when someone reads it (an unschedulable
//! pod, [`Scheduler::filter_node`](super::Scheduler::filter_node)).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Affinity, NodeSelectorTerm, PodAffinityTerm, Toleration};

use super::nodes::{Node, Taint};
use super::scheduler::PendingPod;
use super::selectors::{node_term_matches, selector_matches, tolerated};
use crate::quantity::{format_bytes, format_cpu};

/// What every pod of a StatefulSet shares, and so everything the filters and the node-only
/// scores read but the resource requests: the pods of one template get the same answers.
#[derive(Debug)]
pub struct Template {
    pub labels: BTreeMap<String, String>,
    affinity: Option<Affinity>,
    node_selector: BTreeMap<String, String>,
    tolerations: Vec<Toleration>,
    /// The pod's tolerations plus the two the DefaultTolerationSeconds admission plugin adds to
    /// every pod: what the filters see (PreferNoSchedule scoring sees the pod's own only).
    admitted: Vec<Toleration>,
    /// Whether the pod tolerates the taint a cordon stands for.
    cordon_tolerated: bool,
}

impl Template {
    pub fn of(pod: &PendingPod) -> Self {
        let admitted = with_default_tolerations(&pod.tolerations);
        // NodeUnschedulable treats `spec.unschedulable` as this taint.
        let cordon = Taint {
            key: "node.kubernetes.io/unschedulable".to_owned(),
            value: None,
            effect: "NoSchedule".to_owned(),
        };
        Self {
            labels: pod.labels.clone(),
            affinity: pod.affinity.clone(),
            node_selector: pod.node_selector.clone(),
            tolerations: pod.tolerations.clone(),
            cordon_tolerated: tolerated(&cordon, &admitted),
            admitted,
        }
    }

    pub fn is_for(&self, pod: &PendingPod) -> bool {
        self.labels == pod.labels
            && self.affinity == pod.affinity
            && self.node_selector == pod.node_selector
            && self.tolerations == pod.tolerations
    }

    pub fn required_node_terms(&self) -> Option<&[NodeSelectorTerm]> {
        self.affinity
            .as_ref()?
            .node_affinity
            .as_ref()?
            .required_during_scheduling_ignored_during_execution
            .as_ref()
            .map(|s| s.node_selector_terms.as_slice())
    }

    pub fn anti_terms(&self) -> &[PodAffinityTerm] {
        self.affinity
            .as_ref()
            .and_then(|a| a.pod_anti_affinity.as_ref())
            .and_then(|p| {
                p.required_during_scheduling_ignored_during_execution
                    .as_deref()
            })
            .unwrap_or_default()
    }

    /// The nodeSelector and the required node affinity (the NodeAffinity filter checks both);
    /// a pod without them matches every node. Default topology spreading counts only the nodes
    /// this is true of (NodeInclusionPolicy Honor).
    pub fn node_affinity_matches(&self, node: &Node) -> bool {
        self.node_selector_matches(node)
            && self
                .required_node_terms()
                .is_none_or(|terms| terms.iter().any(|t| node_term_matches(t, node)))
    }

    fn node_selector_matches(&self, node: &Node) -> bool {
        self.node_selector
            .iter()
            .all(|(k, v)| node.labels.get(k) == Some(v))
    }

    fn cordon_rejects(&self, node: &Node) -> bool {
        node.unschedulable && !self.cordon_tolerated
    }

    fn untolerated<'n>(&'n self, node: &'n Node) -> impl Iterator<Item = &'n Taint> + 'n {
        node.taints
            .iter()
            .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            .filter(|t| !tolerated(t, &self.admitted))
    }

    /// NodeUnschedulable, TaintToleration and NodeAffinity: the filters that depend on nothing
    /// placed. Must say yes exactly when [`Self::static_rejection`] says nothing.
    pub fn passes_static(&self, node: &Node) -> bool {
        !self.cordon_rejects(node)
            && self.untolerated(node).next().is_none()
            && self.node_affinity_matches(node)
    }

    /// Why [`Self::passes_static`] says no, checked in the scheduler's filter order.
    pub fn static_rejection(&self, node: &Node) -> Option<String> {
        if self.cordon_rejects(node) {
            return Some("cordoned (spec.unschedulable: true)".to_owned());
        }
        let untolerated: Vec<String> = self.untolerated(node).map(ToString::to_string).collect();
        if !untolerated.is_empty() {
            return Some(format!("untolerated taint {}", untolerated.join(", ")));
        }
        if !self.node_selector_matches(node) {
            let wanted: Vec<String> = self
                .node_selector
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            return Some(format!(
                "does not match the nodeSelector ({})",
                wanted.join(", ")
            ));
        }
        if let Some(terms) = self.required_node_terms() {
            if !terms.iter().any(|t| node_term_matches(t, node)) {
                return Some(format!(
                    "does not match the required node affinity ({})",
                    describe_node_terms(terms)
                ));
            }
        }
        None
    }

    /// NodeAffinity's raw score: the weights of the preferred terms the node matches.
    pub fn preferred_weight(&self, node: &Node) -> i64 {
        self.affinity
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

    /// TaintToleration's raw score: PreferNoSchedule taints the pod's own tolerations miss.
    pub fn soft_taints(&self, node: &Node) -> i64 {
        let count = node
            .taints
            .iter()
            .filter(|t| t.effect == "PreferNoSchedule" && !tolerated(t, &self.tolerations))
            .count();
        i64::try_from(count).unwrap_or(i64::MAX)
    }
}

/// Requests of the pods placed on one node.
#[derive(Clone, Copy, Debug, Default)]
pub struct Requested {
    pub cpu_millis: u128,
    pub memory_bytes: u128,
    pub pods: u128,
}

impl Requested {
    pub fn add(&mut self, pod: &PendingPod) {
        self.cpu_millis += pod.cpu_millis;
        self.memory_bytes += pod.memory_bytes;
        self.pods += 1;
    }

    /// NodeResourcesFit: which of cpu, memory and pod slots `pod` would overrun on `node`.
    fn shortfall(&self, pod: &PendingPod, node: &Node) -> [bool; 3] {
        [
            self.cpu_millis + pod.cpu_millis > node.cpu_millis,
            self.memory_bytes + pod.memory_bytes > node.memory_bytes,
            self.pods + 1 > node.pods,
        ]
    }

    pub fn fits(&self, pod: &PendingPod, node: &Node) -> bool {
        self.shortfall(pod, node) == [false; 3]
    }

    pub fn rejection(&self, pod: &PendingPod, node: &Node) -> Option<String> {
        let [cpu, memory, pods] = self.shortfall(pod, node);
        let mut short = Vec::new();
        if cpu {
            short.push(format!(
                "insufficient cpu: the pod requests {}, the node has {} allocatable with {} already requested by planned pods",
                format_cpu(pod.cpu_millis),
                format_cpu(node.cpu_millis),
                format_cpu(self.cpu_millis)
            ));
        }
        if memory {
            short.push(format!(
                "insufficient memory: the pod requests {}, the node has {} allocatable with {} already requested by planned pods",
                format_bytes(pod.memory_bytes),
                format_bytes(node.memory_bytes),
                format_bytes(self.memory_bytes)
            ));
        }
        if pods {
            short.push(format!(
                "too many pods: {} pod slot(s) allocatable",
                node.pods
            ));
        }
        (!short.is_empty()).then(|| short.join("; "))
    }
}

/// A pod already bound to a node.
#[derive(Debug)]
pub struct Placed {
    pub name: String,
    pub node: usize,
    pub template: usize,
}

/// Required pod anti-affinity for one template, by topology domain (a value of the term's
/// topology key), so that checking a node is a lookup rather than a scan of every placed pod.
/// Domains only ever close as pods are placed, so each is recorded once, with the first pod
/// that closed it: the one the reason names.
#[derive(Debug)]
pub struct Conflicts<'a> {
    /// Per required term of the template, in order: each domain holding a placed pod the term
    /// selects, with the first such pod.
    own: Vec<HashMap<&'a str, usize>>,
    /// Per topology key: each domain holding a placed pod one of whose own required terms
    /// selects this template's pods, with the first such (pod, term).
    theirs: HashMap<String, HashMap<&'a str, (usize, usize)>>,
}

impl<'a> Conflicts<'a> {
    pub fn new(template: &Template) -> Self {
        Self {
            own: vec![HashMap::new(); template.anti_terms().len()],
            theirs: HashMap::new(),
        }
    }

    /// Placed pod `k` (of template `other`) is on `node`; `closed` hears of every domain this
    /// newly closes to `template`'s pods, as (topology key, value).
    pub fn learn(
        &mut self,
        template: &Template,
        k: usize,
        other: &Template,
        node: &'a Node,
        mut closed: impl FnMut(&str, &'a str),
    ) {
        for (term, domains) in template.anti_terms().iter().zip(&mut self.own) {
            let Some(value) = node.labels.get(&term.topology_key) else {
                continue;
            };
            if selector_matches(term.label_selector.as_ref(), &other.labels) {
                if let Entry::Vacant(e) = domains.entry(value.as_str()) {
                    e.insert(k);
                    closed(&term.topology_key, value);
                }
            }
        }
        for (j, term) in other.anti_terms().iter().enumerate() {
            let Some(value) = node.labels.get(&term.topology_key) else {
                continue;
            };
            if !selector_matches(term.label_selector.as_ref(), &template.labels) {
                continue;
            }
            let domains = match self.theirs.get_mut(&term.topology_key) {
                Some(d) => d,
                None => self.theirs.entry(term.topology_key.clone()).or_default(),
            };
            if let Entry::Vacant(e) = domains.entry(value.as_str()) {
                e.insert((k, j));
                closed(&term.topology_key, value);
            }
        }
    }

    /// InterPodAffinity's required anti-affinity, both directions, as the scheduler reports it:
    /// the incoming pod's own terms first (term by term, the first placed pod), then the first
    /// placed pod whose terms reject it. A node without a term's topology key is outside every
    /// domain of that term and never conflicts.
    pub fn rejection(
        &self,
        template: &Template,
        node: &Node,
        placed: &[Placed],
        nodes: &[Node],
    ) -> Option<String> {
        for (term, domains) in template.anti_terms().iter().zip(&self.own) {
            let Some(value) = node.labels.get(&term.topology_key) else {
                continue;
            };
            if let Some(other) = domains.get(value.as_str()).and_then(|k| placed.get(*k)) {
                return Some(format!(
                    "pod anti-affinity: {} is on {} with the same {}={}",
                    other.name, nodes[other.node].name, term.topology_key, value
                ));
            }
        }
        // Each (pod, term) closes domains of one key only, so the first is unique.
        let ((k, _), key, mine) = self
            .theirs
            .iter()
            .filter_map(|(key, domains)| {
                let mine = node.labels.get(key)?;
                Some((*domains.get(mine.as_str())?, key, mine))
            })
            .min()?;
        let other = placed.get(k)?;
        Some(format!(
            "pod anti-affinity of {} (on {}) over {}={}",
            other.name, nodes[other.node].name, key, mine
        ))
    }
}

/// Nodes by label value, per topology key, built the first time a key is asked for: which
/// nodes a newly closed anti-affinity domain shuts.
#[derive(Debug, Default)]
pub struct Domains<'a> {
    by_key: HashMap<String, HashMap<&'a str, Vec<usize>>>,
}

impl<'a> Domains<'a> {
    pub fn nodes_with(&mut self, nodes: &'a [Node], key: &str, value: &str) -> &[usize] {
        if !self.by_key.contains_key(key) {
            let mut by_value: HashMap<&'a str, Vec<usize>> = HashMap::new();
            for (i, node) in nodes.iter().enumerate() {
                if let Some(v) = node.labels.get(key) {
                    by_value.entry(v.as_str()).or_default().push(i);
                }
            }
            self.by_key.insert(key.to_owned(), by_value);
        }
        self.by_key
            .get(key)
            .and_then(|d| d.get(value))
            .map_or(&[], Vec::as_slice)
    }
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

fn describe_node_terms(terms: &[NodeSelectorTerm]) -> String {
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
