//! The engine's view of Kubernetes: instances are the cluster's pods, a pod's zone is its node's
//! zone label, and a zone's node health is its nodes' `Ready` conditions. Read from the
//! reflector caches only, so a pass costs no API call and works while the API server is slow.
//!
//! Roles are not read from pods: a pod is whatever Redis says it is now (labels only *show* the
//! current role, written back by the reconciler).
//!
//! A pod whose revision is not its StatefulSet's `updateRevision` is outdated
//! ([`restart_for`]); the engine's rollout restarts it by deleting it ([`KubePlatform`]'s
//! `restart`), and the StatefulSet (`OnDelete`) recreates it at the new revision.
//!
//! A pod whose ordinal is at or above what the spec needs of its StatefulSet (a scale-in) is
//! `leaving` ([`leaving`]): the engine moves its slots away, re-pairs the replicas, makes the
//! cluster forget it, and then asks to retire it ([`KubePlatform`]'s `retire`), which lowers
//! the StatefulSet's replicas to the pod's ordinal — only for its highest ordinal, so the
//! StatefulSet controller deletes that pod and no other. The apply never lowers replicas
//! (`reconcile/apply.rs`): only this does, one emptied pod at a time.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Container, Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, ResourceExt};
use redis_stretch_admin::NodeAddr;
use redis_stretch_engine::{BoxFuture, Instance, Memory, Platform};
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
                restart_for: None,
                leaving: false,
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
    /// The cluster's StatefulSets (cache): their `updateRevision` tells outdated pods.
    pub stateful_sets: Store<StatefulSet>,
    /// Deletes pods for the rollout's restarts and lowers StatefulSets' replicas for the
    /// scale-in's retires; `None` (unit tests): both fail.
    pub client: Option<Client>,
    /// StatefulSet name → the replicas the spec needs of it
    /// ([`redis_stretch_k8s::render::replicas_needed`]): pods from that ordinal on are leaving.
    pub replicas_needed: BTreeMap<String, i32>,
}

impl KubePlatform {
    pub fn placement(&self) -> PodPlacement {
        let pods = cluster_pods(&self.pods, &self.namespace, &self.name);
        let mut p = placement(&pods, &self.nodes, &self.zone_label);
        let mut retired = Vec::new();
        for i in &mut p.instances {
            let pod = pods.iter().find(|pod| pod.name_any() == i.name);
            let set = pod.and_then(|pod| owning_set(pod, &self.stateful_sets));
            i.restart_for = pod
                .zip(set.as_deref())
                .and_then(|(pod, set)| restart_for(pod, set));
            i.leaving = pod.is_some_and(|pod| leaving(pod, &self.replicas_needed));
            if i.leaving && pod.zip(set.as_deref()).is_some_and(|(p, s)| beyond(p, s)) {
                retired.push(i.name.clone());
            }
        }
        // Retired: the cluster forgot it and its StatefulSet no longer counts it; it is no
        // instance any more while its controller deletes it.
        p.instances.retain(|i| !retired.contains(&i.name));
        if let Some(domain) = &self.tls_domain {
            with_server_names(&mut p.instances, domain);
        }
        p
    }

    /// Delete pod `name`, only the one the cache shows (its uid as a precondition: a pod the
    /// StatefulSet already recreated is never deleted by mistake).
    async fn delete_pod(&self, name: &str) -> Result<String, String> {
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| "no Kubernetes API client to delete the pod with".to_owned())?;
        let pod = self
            .pods
            .get(&ObjectRef::new(name).within(&self.namespace))
            .ok_or_else(|| format!("pod {}/{name} is not in the cache", self.namespace))?;
        if pod.metadata.deletion_timestamp.is_some() {
            return Ok(format!("pod {name} is already being deleted"));
        }
        let uid = pod
            .metadata
            .uid
            .clone()
            .ok_or_else(|| format!("pod {name} has no uid in the cache"))?;
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        let api: Api<Pod> = Api::namespaced(client.clone(), &self.namespace);
        // Retried within the bound: the engine's memory says this pod is restarting as soon
        // as the action starts, so a delete lost to a passing API error would leave the
        // rollout waiting for a pod that was never deleted.
        let deadline = tokio::time::Instant::now() + RESTART_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let last = match tokio::time::timeout(left, api.delete(name, &params)).await {
                Err(_) => format!("no answer from the API server within {RESTART_TIMEOUT:?}"),
                Ok(Ok(_)) => {
                    return Ok(format!(
                        "pod {name} (uid {uid}) deleted; its StatefulSet recreates it at the new revision"
                    ))
                }
                Ok(Err(kube::Error::Api(e))) if e.code == 404 => {
                    return Ok(format!("pod {name} was already gone"))
                }
                // The uid precondition failed: the pod is a newer one than the engine decided on.
                Ok(Err(kube::Error::Api(e))) if e.code == 409 => {
                    return Err(format!(
                        "pod {name} is no longer uid {uid} (recreated meanwhile): not deleted"
                    ))
                }
                Ok(Err(e)) => e.to_string(),
            };
            if tokio::time::Instant::now() + RESTART_RETRY >= deadline {
                return Err(format!("deleting pod {name}: {last}"));
            }
            tokio::time::sleep(RESTART_RETRY).await;
        }
    }
}

impl KubePlatform {
    /// Lower the StatefulSet of pod `name` to the pod's ordinal, so that its controller deletes
    /// that pod (and only it): the engine has emptied it and made the cluster forget it. Only
    /// for the StatefulSet's highest ordinal; pods above it that the same step retires go
    /// first (waited for within [`RETIRE_TIMEOUT`]), else the answer says which remain and the
    /// engine asks again next pass.
    async fn retire_pod(&self, name: &str) -> Result<String, String> {
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| "no Kubernetes API client to resize the StatefulSet with".to_owned())?;
        let Some(pod) = self.pods.get(&ObjectRef::new(name).within(&self.namespace)) else {
            return Ok(format!("pod {name} is already gone"));
        };
        let (set, ordinal) = set_and_ordinal(&pod)
            .ok_or_else(|| format!("pod {name} belongs to no StatefulSet: not retired"))?;
        let need = self.replicas_needed.get(&set).copied().ok_or_else(|| {
            format!("StatefulSet {set} of pod {name} is not one the spec renders: not retired")
        })?;
        if ordinal < need {
            return Err(format!(
                "pod {name} is one the spec needs (StatefulSet {set} keeps {need} pods): not retired"
            ));
        }
        let api: Api<StatefulSet> = Api::namespaced(client.clone(), &self.namespace);
        let deadline = tokio::time::Instant::now() + RETIRE_TIMEOUT;
        loop {
            let now = self
                .stateful_sets
                .get(&ObjectRef::new(&set).within(&self.namespace))
                .ok_or_else(|| format!("StatefulSet {set} is not in the cache"))?;
            let replicas = now
                .spec
                .as_ref()
                .and_then(|s| s.replicas)
                .ok_or_else(|| format!("StatefulSet {set} shows no replicas in the cache"))?;
            if replicas <= ordinal {
                return Ok(format!(
                    "StatefulSet {set} is at {replicas} replicas already: pod {name} goes"
                ));
            }
            let above = self.running_above(&set, ordinal, replicas);
            let last = if above.is_empty() {
                // Only from the count we read: a concurrent change (the apply raising it for a
                // scale-out, another retire) makes the test fail, and we read again.
                let patch = Patch::<()>::Json(json_patch::Patch(vec![
                    json_patch::PatchOperation::Test(json_patch::TestOperation {
                        path: json_patch::jsonptr::PointerBuf::parse("/spec/replicas")
                            .map_err(|e| e.to_string())?,
                        value: serde_json::json!(replicas),
                    }),
                    json_patch::PatchOperation::Replace(json_patch::ReplaceOperation {
                        path: json_patch::jsonptr::PointerBuf::parse("/spec/replicas")
                            .map_err(|e| e.to_string())?,
                        value: serde_json::json!(ordinal),
                    }),
                ]));
                let params = PatchParams {
                    field_manager: Some(RETIRE_MANAGER.to_owned()),
                    ..PatchParams::default()
                };
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                match tokio::time::timeout(left, api.patch(&set, &params, &patch)).await {
                    Ok(Ok(_)) => {
                        // Until the cache shows it (bounded): the next pass must not take
                        // the pod for one still to retire, nor a pod below it for one
                        // whose turn has not come.
                        self.cached_at_most(&set, ordinal, deadline).await;
                        return Ok(format!(
                            "StatefulSet {set} lowered from {replicas} to {ordinal} replicas: its controller deletes pod {name}"
                        ));
                    }
                    Ok(Err(e)) => format!("lowering StatefulSet {set} to {ordinal}: {e}"),
                    Err(_) => format!("no answer from the API server within {RETIRE_TIMEOUT:?}"),
                }
            } else {
                format!(
                    "pod {name} is not StatefulSet {set}'s highest ordinal ({replicas} replicas): {} leave first",
                    above.join(", ")
                )
            };
            if tokio::time::Instant::now() + RETIRE_RETRY >= deadline {
                return Err(last);
            }
            tokio::time::sleep(RETIRE_RETRY).await;
        }
    }

    /// Wait until the cache shows StatefulSet `set` at `replicas` or fewer, until `deadline`.
    async fn cached_at_most(&self, set: &str, replicas: i32, deadline: tokio::time::Instant) {
        while tokio::time::Instant::now() < deadline {
            let now = self
                .stateful_sets
                .get(&ObjectRef::new(set).within(&self.namespace))
                .and_then(|s| s.spec.as_ref().and_then(|sp| sp.replicas));
            if now.is_none_or(|r| r <= replicas) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Pods of StatefulSet `set` with an ordinal in (`ordinal`, `replicas`) that run an
    /// instance (they have an address): they must leave before pod `ordinal` can. A pod that
    /// never started holds nothing and does not count.
    fn running_above(&self, set: &str, ordinal: i32, replicas: i32) -> Vec<String> {
        let mut v: Vec<String> = cluster_pods(&self.pods, &self.namespace, &self.name)
            .iter()
            .filter(|p| {
                set_and_ordinal(p).is_some_and(|(s, o)| s == set && o > ordinal && o < replicas)
            })
            .filter(|p| p.status.as_ref().is_some_and(|s| s.pod_ip.is_some()))
            .map(|p| p.name_any())
            .collect();
        v.sort();
        v
    }
}

/// The field manager of the retires' replica changes (the apply's is `redis-stretch`).
pub const RETIRE_MANAGER: &str = "redis-stretch-engine";
/// Bound on one retire: the engine's pass must not hang on the API server or on the pods
/// above this one.
pub const RETIRE_TIMEOUT: Duration = Duration::from_secs(5);
const RETIRE_RETRY: Duration = Duration::from_millis(100);

/// The StatefulSet a pod belongs to and its ordinal: the controlling owner's name and the
/// number after it (`seed-leader-4` → (`seed-leader`, 4)); without an owner (a pod read from
/// elsewhere), the name up to its last `-`.
pub fn set_and_ordinal(pod: &Pod) -> Option<(String, i32)> {
    let name = pod.name_any();
    let set = pod
        .owner_references()
        .iter()
        .find(|o| o.kind == "StatefulSet" && o.controller == Some(true))
        .map(|o| o.name.clone())
        .or_else(|| name.rsplit_once('-').map(|(s, _)| s.to_owned()))?;
    let ordinal = name
        .strip_prefix(set.as_str())?
        .strip_prefix('-')?
        .parse()
        .ok()?;
    Some((set, ordinal))
}

/// Whether `set` no longer counts `pod`: its ordinal is at or above the replicas (a retire
/// lowered them; the StatefulSet controller deletes the pod).
fn beyond(pod: &Pod, set: &StatefulSet) -> bool {
    let Some(replicas) = set.spec.as_ref().and_then(|s| s.replicas) else {
        return false;
    };
    set_and_ordinal(pod).is_some_and(|(_, ordinal)| ordinal >= replicas)
}

/// Whether `pod` is one the spec no longer has: its ordinal is at or above what the spec needs
/// of its StatefulSet. A StatefulSet the spec does not size says nothing.
pub fn leaving(pod: &Pod, replicas_needed: &BTreeMap<String, i32>) -> bool {
    set_and_ordinal(pod).is_some_and(|(set, ordinal)| {
        replicas_needed
            .get(&set)
            .is_some_and(|need| ordinal >= *need)
    })
}

/// The label the StatefulSet controller puts on each pod: the revision it was created at.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// Bound on deleting a pod for a restart: the engine's pass must not hang on the API server.
pub const RESTART_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between tries of that delete.
const RESTART_RETRY: Duration = Duration::from_millis(500);

/// Why `pod` must be restarted, if it must: its revision is not `set`'s `updateRevision` (the
/// pod template changed since it was created), with what changed when the template shows it.
/// Only under `OnDelete`: with `RollingUpdate` (the measuring knob) the StatefulSet controller
/// replaces pods itself, and the engine must not race it.
pub fn restart_for(pod: &Pod, set: &StatefulSet) -> Option<String> {
    let spec = set.spec.as_ref()?;
    let strategy = spec
        .update_strategy
        .as_ref()
        .and_then(|u| u.type_.as_deref());
    if strategy != Some(redis_stretch_k8s::render::ON_DELETE) {
        return None;
    }
    let want = set.status.as_ref()?.update_revision.as_deref()?;
    let have = pod.labels().get(REVISION_LABEL)?;
    if have == want {
        return None;
    }
    let changes = template_changes(pod, spec.template.spec.as_ref().map(|s| &s.containers));
    let what = if changes.is_empty() {
        String::new()
    } else {
        format!(" ({})", changes.join("; "))
    };
    Some(format!(
        "pod template changed: revision {have} → {want}{what}"
    ))
}

/// What differs between the pod's containers and the template's, in words (images and
/// resources; other changes show only as the revision).
fn template_changes(pod: &Pod, template: Option<&Vec<Container>>) -> Vec<String> {
    let have: &[Container] = pod.spec.as_ref().map_or(&[], |s| s.containers.as_slice());
    let want: &[Container] = template.map_or(&[], Vec::as_slice);
    let mut out = Vec::new();
    for w in want {
        match have.iter().find(|h| h.name == w.name) {
            None => out.push(format!("container {} added", w.name)),
            Some(h) => {
                if h.image != w.image {
                    out.push(format!(
                        "{} image {} → {}",
                        w.name,
                        h.image.as_deref().unwrap_or("-"),
                        w.image.as_deref().unwrap_or("-")
                    ));
                }
                if h.resources != w.resources {
                    out.push(format!("{} resources", w.name));
                }
            }
        }
    }
    for h in have
        .iter()
        .filter(|h| !want.iter().any(|w| w.name == h.name))
    {
        out.push(format!("container {} removed", h.name));
    }
    out
}

/// The StatefulSet that controls `pod`, from the cache.
fn owning_set(pod: &Pod, sets: &Store<StatefulSet>) -> Option<Arc<StatefulSet>> {
    let owner = pod
        .owner_references()
        .iter()
        .find(|o| o.kind == "StatefulSet" && o.controller == Some(true))?;
    let mut key = ObjectRef::new(&owner.name);
    if let Some(ns) = pod.namespace() {
        key = key.within(&ns);
    }
    sets.get(&key)
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

    /// The StatefulSet (`OnDelete`) recreates the deleted pod at its `updateRevision`. A replica's
    /// preStop hook exits at once (it serves no slots), so the pod goes as soon as Redis stops.
    fn restart<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(self.delete_pod(name))
    }

    /// The StatefulSet shrinks to the pod's ordinal; its controller deletes the pod. The claim
    /// of a pod with persistence is kept (`whenScaled: Retain`): a later scale-out reuses it,
    /// and the instance starts as a new, empty node (`CLUSTER RESET HARD` reset it before).
    fn retire<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(self.retire_pod(name))
    }
}
