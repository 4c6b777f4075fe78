//! The engine's view of Kubernetes: instances are the cluster's pods, a pod's zone is its node's
//! zone label, and a zone's node health is its nodes' `Ready` conditions. Read from the
//! reflector caches only, so a pass costs no API call and works while the API server is slow.
//!
//! Roles are not read from pods: a pod is whatever Redis says it is now (labels only *show* the
//! current role, written back by the reconciler).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::ResourceExt;
use redis_stretch_admin::NodeAddr;
use redis_stretch_engine::{Instance, Memory, Platform};
use redis_stretch_k8s::names::{
    LABEL_COMPONENT, LABEL_INSTANCE, LABEL_NAME, LABEL_SEED_APP, LABEL_ZONE, REDIS_PORT,
};

/// One zone's nodes, as the status reports them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeHealth {
    pub ready: u32,
    pub total: u32,
}

/// A pod of the cluster that cannot be an instance yet, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unplaced {
    pub pod: String,
    pub why: String,
}

/// Where each pod of a cluster runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodPlacement {
    pub instances: Vec<Instance>,
    /// Pod name → node name, for the status's shard table.
    pub nodes: BTreeMap<String, String>,
    pub unplaced: Vec<Unplaced>,
}

/// The pods of cluster `name` in `namespace`.
pub fn cluster_pods(pods: &Store<Pod>, namespace: &str, name: &str) -> Vec<Arc<Pod>> {
    let mut v: Vec<Arc<Pod>> = pods
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(namespace))
        .filter(|p| {
            // `component=redis` too: the operator's own pods carry the same name label, and an
            // instance label equal to the Helm release name.
            let l = p.labels();
            l.get(LABEL_NAME).map(String::as_str) == Some(redis_stretch_k8s::names::APP)
                && l.get(LABEL_COMPONENT).map(String::as_str) == Some("redis")
                && l.get(LABEL_INSTANCE).map(String::as_str) == Some(name)
        })
        .collect();
    // Seed-compatible clusters list leaders first: the planner gives each zone's first hosts
    // the masters, so a fresh seed cluster starts with its leaders as masters, as the recipe
    // expects (roles are dynamic afterwards).
    v.sort_by_key(|p| {
        let follower = p.labels().get(LABEL_SEED_APP).map(String::as_str) == Some("redis-follower");
        (follower, ordinal(&p.name_any()), p.name_any())
    });
    v
}

fn ordinal(pod: &str) -> u32 {
    pod.rsplit('-')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u32::MAX)
}

/// Zone of a node by `zone_label`.
pub fn node_zone(node: &Node, zone_label: &str) -> Option<String> {
    node.labels().get(zone_label).cloned()
}

pub fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Instances from pods: a pod counts once it has an IP and its zone is known (its node's zone
/// label; for a zone-aware pod not yet bound to a known node, its StatefulSet's zone).
pub fn placement(pods: &[Arc<Pod>], nodes: &Store<Node>, zone_label: &str) -> PodPlacement {
    let mut out = PodPlacement::default();
    for pod in pods {
        let name = pod.name_any();
        let node_name = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            out.unplaced.push(Unplaced {
                pod: name,
                why: format!("pod phase {}", phase.unwrap_or_default()),
            });
            continue;
        }
        let node = node_name
            .as_deref()
            .and_then(|n| nodes.get(&ObjectRef::new(n)));
        let zone = node
            .as_deref()
            .and_then(|n| node_zone(n, zone_label))
            .or_else(|| pod.labels().get(LABEL_ZONE).cloned());
        let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone());
        if let Some(n) = &node_name {
            out.nodes.insert(name.clone(), n.clone());
        }
        match (ip, zone) {
            (Some(ip), Some(zone)) => out.instances.push(Instance {
                name,
                zone,
                addr: NodeAddr::new(ip, u16::try_from(REDIS_PORT).unwrap_or(6379)),
                server_name: None,
            }),
            (None, _) => out.unplaced.push(Unplaced {
                pod: name,
                why: "no pod IP yet (not scheduled or not started)".to_owned(),
            }),
            (Some(_), None) => out.unplaced.push(Unplaced {
                pod: name,
                why: format!(
                    "node `{}` has no `{zone_label}` label: the pod's zone is unknown",
                    node_name.unwrap_or_default()
                ),
            }),
        }
    }
    out
}

/// Ready and total nodes per zone, over every node that carries the zone label.
pub fn node_health(nodes: &Store<Node>, zone_label: &str) -> BTreeMap<String, NodeHealth> {
    let mut out: BTreeMap<String, NodeHealth> = BTreeMap::new();
    for n in nodes.state() {
        if let Some(z) = node_zone(&n, zone_label) {
            let h = out.entry(z).or_default();
            h.total += 1;
            if node_ready(&n) {
                h.ready += 1;
            }
        }
    }
    out
}

/// The engine's [`Platform`] for one cluster.
pub struct KubePlatform {
    pub pods: Store<Pod>,
    pub nodes: Store<Node>,
    pub namespace: String,
    pub name: String,
    pub zone_label: String,
    /// A zone under `evacuate` (the CR's hold annotation), kept current by the reconciler.
    pub held_zone: Arc<RwLock<Option<String>>>,
    pub leadership: crate::lease::Leadership,
    /// With TLS: `<headless service>.<namespace>.svc`, so that each instance is reached under
    /// the DNS name its certificate carries (`<pod>.<that>`).
    pub tls_domain: Option<String>,
    /// The engine's memory: what the previous engine of this cluster left (in this process, or
    /// in the custom resource's status for a new leader), then what this one saves. The
    /// reconciler writes it into the status, so saving never waits on the API server.
    pub memory: Arc<RwLock<Option<Memory>>>,
}

impl KubePlatform {
    pub fn placement(&self) -> PodPlacement {
        let pods = cluster_pods(&self.pods, &self.namespace, &self.name);
        let mut p = placement(&pods, &self.nodes, &self.zone_label);
        if let Some(domain) = &self.tls_domain {
            with_server_names(&mut p.instances, domain);
        }
        p
    }
}

/// Name each instance as its certificate does: `<pod>.<domain>`.
pub fn with_server_names(instances: &mut [Instance], domain: &str) {
    for i in instances {
        i.server_name = Some(format!("{}.{domain}", i.name));
    }
}

impl Platform for KubePlatform {
    fn instances(&self) -> Result<Vec<Instance>, String> {
        Ok(self.placement().instances)
    }

    fn held_zone(&self) -> Option<String> {
        self.held_zone
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn may_act(&self) -> bool {
        self.leadership.may_act()
    }

    fn load_memory(&self) -> Result<Option<Memory>, String> {
        Ok(self
            .memory
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone())
    }

    fn save_memory(&self, memory: &Memory) -> Result<(), String> {
        *self
            .memory
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(memory.clone());
        Ok(())
    }
}
