//! `redis-stretch plan`: where each pod of a cluster will land on a given set of nodes, which
//! master pairs with which replica there, and what the loss of each zone would then mean —
//! before anything is deployed.
//!
//! The prediction schedules exactly the rendered pod templates through a model of the default
//! kube-scheduler ([`scheduler`]); where the real scheduler would pick at random among equal
//! nodes, the report says so.

mod filters;
mod nodes;
mod pairing;
mod scheduler;
mod selectors;
mod table;

use std::collections::{BTreeMap, HashMap};

use redis_stretch_api::{PlacementMode, RedisStretchCluster};
use redis_stretch_topology::{hosts_needed, summary_line, survivability, ZoneVerdict};
use serde::Serialize;

pub use nodes::{parse_nodes, Node, Taint};
pub use scheduler::{Binding, PendingPod, Scheduler};

use crate::error::Error;
use crate::names::LABEL_ZONE;
use crate::quantity;
use crate::render::{render, Rendered};

/// What `plan` predicts, for `--output json` and the table.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanReport {
    pub cluster: String,
    pub mode: PlacementMode,
    pub zone_label: String,
    pub pods: Vec<PodPlacement>,
    pub shards: Vec<ShardPlacement>,
    pub zones: Vec<ZoneCapacity>,
    pub verdicts: Vec<ZoneVerdict>,
    /// e.g. `loss of dc-b: automatic; loss of dc-a: needs takeover`.
    pub verdict: String,
    /// Everything that goes wrong, each with its reason.
    pub problems: Vec<String>,
    /// Worth knowing but harmless, e.g. a random choice among nodes of one zone.
    pub notes: Vec<String>,
    /// What the prediction takes for granted.
    pub assumptions: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodPlacement {
    pub name: String,
    pub stateful_set: String,
    pub labels: BTreeMap<String, String>,
    /// The predicted node; `None` when no node can take the pod.
    pub node: Option<String>,
    /// The node's zone label value.
    pub zone: Option<String>,
    /// The scheduler's total score on the chosen node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<i64>,
    /// Nodes with the same top score, the chosen one included: the real scheduler picks one of
    /// them at random, so `node` is only one possibility.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tie: Vec<String>,
    /// Why the pod cannot be scheduled (per node), or what is off about where it lands.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardPlacement {
    pub index: u32,
    pub master: String,
    pub master_zone: Option<String>,
    pub replicas: Vec<String>,
    pub replica_zones: Vec<Option<String>>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneCapacity {
    pub zone: String,
    /// Redis pods the layout puts in this zone (one per node).
    pub needed: usize,
    /// Nodes of the zone a Redis pod could run on when nothing else is placed.
    pub eligible_nodes: Vec<String>,
    /// Nodes of the zone that cannot take a Redis pod, with the reason.
    pub ineligible_nodes: Vec<String>,
}

/// Plan `cr` on the nodes of `nodes_json` (`kubectl get nodes -o json`).
pub fn predict(cr: &RedisStretchCluster, nodes_json: &str) -> Result<PlanReport, Error> {
    let rendered = render(cr)?;
    let nodes = parse_nodes(nodes_json)?;
    plan_rendered(&rendered, &nodes)
}

pub fn plan_rendered(rendered: &Rendered, nodes: &[Node]) -> Result<PlanReport, Error> {
    let cluster = &rendered.cluster;
    let spec = cluster.spec();
    let zone_label = spec.placement.zone_label.clone();
    let pending = pending_pods(rendered)?;
    let mut scheduler = Scheduler::new(nodes);
    let mut problems = Vec::new();
    let zone_of = |n: usize| nodes[n].labels.get(&zone_label).cloned();
    let pods: Vec<PodPlacement> = pending
        .iter()
        .map(|pod| {
            let mut placement = PodPlacement {
                name: pod.name.clone(),
                stateful_set: pod.owner.clone(),
                labels: pod.labels.clone(),
                node: None,
                zone: None,
                score: None,
                tie: Vec::new(),
                problems: Vec::new(),
            };
            match scheduler.schedule(pod) {
                Binding::Placed {
                    node,
                    score,
                    tied_with,
                } => {
                    placement.node = Some(nodes[node].name.clone());
                    placement.zone = zone_of(node);
                    placement.score = Some(score);
                    if !tied_with.is_empty() {
                        placement.tie = std::iter::once(node)
                            .chain(tied_with)
                            .map(|n| nodes[n].name.clone())
                            .collect();
                    }
                    if placement.zone.is_none() {
                        placement.problems.push(format!(
                            "node {} has no `{zone_label}` label: its zone, and so this pod's pairing, is unknown",
                            nodes[node].name
                        ));
                    }
                }
                Binding::Unschedulable { reasons } => {
                    placement.problems = reasons
                        .into_iter()
                        .map(|(n, why)| format!("{}: {why}", nodes[n].name))
                        .collect();
                    problems.push(format!(
                        "{} cannot be scheduled: no node passes the filters ({})",
                        pod.name,
                        placement.problems.join("; ")
                    ));
                }
            }
            placement
        })
        .collect();

    let (shards, layouts) = pairing::pair(rendered, &pods)?;
    let zone_names = cluster.zone_names();
    let verdicts = survivability(&layouts, &zone_names);
    let verdict = summary_line(&verdicts);
    problems.extend(pairing::problems(&shards));
    problems.extend(pairing::master_balance(cluster, &shards));

    let zones = capacity(rendered, nodes, &pending, &zone_label);
    for z in &zones {
        if z.eligible_nodes.len() < z.needed {
            problems.push(format!(
                "zone {} has {} eligible node(s) for Redis pods but the layout needs {} (one Redis pod per node){}",
                z.zone,
                z.eligible_nodes.len(),
                z.needed,
                if z.ineligible_nodes.is_empty() {
                    String::new()
                } else {
                    format!(": {}", z.ineligible_nodes.join("; "))
                }
            ));
        }
    }
    // A random pick inside one zone changes nothing about pairing; across zones it can.
    let mut notes = Vec::new();
    // By name, the first node of each: a tie can name hundreds of nodes on a large cluster.
    let mut by_name: HashMap<&str, &Node> = HashMap::new();
    for n in nodes {
        by_name.entry(n.name.as_str()).or_insert(n);
    }
    for p in &pods {
        if p.tie.is_empty() {
            continue;
        }
        let mut tie_zones = p.tie.iter().map(|t| {
            by_name
                .get(t.as_str())
                .and_then(|n| n.labels.get(&zone_label))
        });
        let first_zone = tie_zones.next();
        let across_zones = tie_zones.any(|z| Some(z) != first_zone);
        let line = format!(
            "{}: the scheduler picks at random among {} (equal scores); the plan shows {}",
            p.name,
            p.tie.join(", "),
            p.node.as_deref().unwrap_or("-")
        );
        if across_zones {
            problems.push(format!("{line}, but the candidates are in different zones, so the pairing above is a guess"));
        } else {
            notes.push(line);
        }
    }
    Ok(PlanReport {
        cluster: cluster.name().to_owned(),
        mode: spec.placement.mode,
        zone_label,
        pods,
        shards,
        zones,
        verdicts,
        verdict,
        problems,
        notes,
        assumptions: assumptions(spec.placement.mode),
    })
}

fn assumptions(mode: PlacementMode) -> Vec<String> {
    let mut a = vec![
        "nodes are otherwise empty: requests of pods already running there (DaemonSets, other workloads) are not in a node list, so a node can be fuller than shown".to_owned(),
        "the default kube-scheduler profile (default plugin weights, system default topology spreading); image locality is taken as equal on every node".to_owned(),
    ];
    if mode == PlacementMode::SeedCompatible {
        a.push("the leader StatefulSet is scheduled before the follower StatefulSet; Kubernetes runs them concurrently, so pods can interleave".to_owned());
    }
    a
}

/// Every pod of the rendered StatefulSets, in the order their controllers create them.
fn pending_pods(rendered: &Rendered) -> Result<Vec<PendingPod>, Error> {
    let mut pods = Vec::new();
    for sts in &rendered.stateful_sets {
        let name = sts.metadata.name.clone().unwrap_or_default();
        let Some(spec) = &sts.spec else { continue };
        let template = &spec.template;
        let labels = template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        let pod_spec = template.spec.clone().unwrap_or_default();
        let (mut cpu, mut mem) = (0u128, 0u128);
        for c in &pod_spec.containers {
            let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
            for (key, q) in requests.into_iter().flatten() {
                let bad = |why| Error::Quantity {
                    field: format!("{name}: container {} request {key}", c.name),
                    value: q.0.clone(),
                    why,
                };
                match key.as_str() {
                    "cpu" => cpu += quantity::cpu_millis(&q.0).map_err(bad)?,
                    "memory" => mem += quantity::bytes(&q.0).map_err(bad)?,
                    _ => {}
                }
            }
        }
        for ordinal in 0..spec.replicas.unwrap_or(1).max(0) {
            pods.push(PendingPod {
                name: format!("{name}-{ordinal}"),
                owner: name.clone(),
                labels: labels.clone(),
                affinity: pod_spec.affinity.clone(),
                node_selector: pod_spec.node_selector.clone().unwrap_or_default(),
                tolerations: pod_spec.tolerations.clone().unwrap_or_default(),
                cpu_millis: cpu,
                memory_bytes: mem,
            });
        }
    }
    Ok(pods)
}

/// Per zone: how many Redis pods it needs and which of its nodes could take one at all.
fn capacity(
    rendered: &Rendered,
    nodes: &[Node],
    pending: &[PendingPod],
    zone_label: &str,
) -> Vec<ZoneCapacity> {
    let mut empty = Scheduler::new(nodes);
    hosts_needed(&rendered.cluster)
        .into_iter()
        .map(|(zone, needed)| {
            // The zone's own StatefulSet's pod in ZoneAware mode; in seed mode every template
            // asks for the same resources.
            let probe = pending
                .iter()
                .find(|p| p.labels.get(LABEL_ZONE) == Some(&zone))
                .or_else(|| pending.first());
            let mut eligible = Vec::new();
            let mut ineligible = Vec::new();
            for (i, node) in nodes.iter().enumerate() {
                if node.labels.get(zone_label) != Some(&zone) {
                    continue;
                }
                match probe.map(|p| empty.filter_node(p, i)) {
                    Some(Err(why)) => ineligible.push(format!("{}: {why}", node.name)),
                    _ => eligible.push(node.name.clone()),
                }
            }
            ZoneCapacity {
                zone,
                needed,
                eligible_nodes: eligible,
                ineligible_nodes: ineligible,
            }
        })
        .collect()
}

pub use table::render_table;
