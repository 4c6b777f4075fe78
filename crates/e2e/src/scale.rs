//! Scaling the seed cluster on the real control plane (issue 18): `spec.shards` changed under
//! the drill's writers while a watcher samples, every 200 ms, what Redis says (every
//! slot-owning master has a replica in the other zone?) and what the custom resource's
//! `Scaling` condition says.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use redis_stretch_admin::{AdminClient, ClusterNodes, NodeAddr, Secret};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{cluster_pods, clusters, condition};
use crate::error::{Error, Result};
use crate::rollout::SAMPLE_EVERY;
use crate::wait::{until, Step};
use crate::Env;

/// The seed manifest at `shards`, dc-a preferring `a` masters and dc-b `b` (they add up to
/// `shards`, as the CRD requires).
pub fn seed_scaled(shards: u32, a: u32, b: u32) -> Result<Value> {
    let mut m = crate::drill::seed_manifest()?;
    m["spec"]["shards"] = Value::from(shards);
    let zones = m
        .pointer_mut("/spec/zones")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| Error::Invalid("the seed manifest has no spec.zones".into()))?;
    for (z, n) in zones.iter_mut().zip([a, b]) {
        z["preferredMasters"] = Value::from(n);
    }
    Ok(m)
}

/// How long after a deleted pod is seen the other pods must cover every slot for it not to
/// count as deleted while serving: well below the node-timeout the tests use, so a replica
/// Redis elects in its place cannot cover for it.
const CONFIRM_WITHIN_S: f64 = 1.5;

/// What one view of the cluster (one pod's `CLUSTER NODES`) says about the slot-owning masters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Slot-owning masters per zone.
    pub masters: BTreeMap<String, usize>,
    /// Slot-owning masters without a replica in another zone: `addr (zone)`.
    pub lacking: Vec<String>,
    /// Slot-owning masters with a replica in their own zone too (for information).
    pub same_zone: Vec<String>,
    /// The IPs of the slot-owning masters.
    pub owners: BTreeSet<String>,
}

/// The layout `nodes` shows, if it covers every slot (a pod just met, or one the engine reset
/// on its way out, knows too little to judge by). Masters flagged `fail` do not count.
pub fn layout(nodes: &ClusterNodes, zone_of_ip: &BTreeMap<String, String>) -> Option<Layout> {
    let zone = |n: &redis_stretch_admin::ClusterNode| {
        n.addr
            .as_ref()
            .and_then(|a| zone_of_ip.get(&a.host))
            .cloned()
            .unwrap_or_else(|| "?".to_owned())
    };
    let owners: Vec<_> = nodes
        .nodes
        .iter()
        .filter(|n| n.flags.master && !n.flags.fail && n.slot_count() > 0)
        .collect();
    let mut covered = vec![false; 16384];
    for m in &owners {
        for r in &m.slots {
            for s in r.start..=r.end {
                if let Some(c) = covered.get_mut(usize::from(s)) {
                    *c = true;
                }
            }
        }
    }
    if !covered.iter().all(|c| *c) {
        return None;
    }
    let mut out = Layout::default();
    for m in owners {
        out.owners.extend(m.addr.as_ref().map(|a| a.host.clone()));
        let mz = zone(m);
        *out.masters.entry(mz.clone()).or_default() += 1;
        let replicas: Vec<String> = nodes
            .nodes
            .iter()
            .filter(|r| r.master_id.as_deref() == Some(m.id.as_str()) && !r.flags.fail)
            .map(zone)
            .collect();
        let who = format!(
            "{} ({mz})",
            m.addr
                .as_ref()
                .map_or_else(|| m.id.clone(), ToString::to_string)
        );
        if !replicas.iter().any(|z| *z != mz) {
            out.lacking.push(who.clone());
        }
        if replicas.contains(&mz) {
            out.same_zone.push(who);
        }
    }
    Some(out)
}

/// What the watcher saw.
#[derive(Clone, Debug, Default)]
pub struct ScaleWatchReport {
    pub samples: usize,
    /// Samples with a view of the whole cluster (some pod's `CLUSTER NODES` covered every slot).
    pub judged: usize,
    /// Samples in which a slot-owning master had no replica in the other zone.
    pub lacking_samples: usize,
    /// The first few of those, for a human: seconds since start and who.
    pub lacking: Vec<String>,
    /// Samples with a master whose replica sits in its own zone (for information).
    pub same_zone_samples: usize,
    /// The most slot-owning masters seen at once.
    pub max_masters: usize,
    /// The most pods seen at once.
    pub max_pods: usize,
    /// Pods deleted while they still owned slots (a StatefulSet shrunk under a pod that still
    /// served), with when the deletion was seen: a pod the last judged sample had own slots,
    /// after which no sample of the other pods covered every slot within [`CONFIRM_WITHIN_S`]
    /// (a last slot move and the retire can both fall between two samples; a pod deleted while
    /// it served leaves its slots unowned until Redis elects its replica, after node-timeout).
    pub deleted_serving: Vec<String>,
    /// Samples with `Scaling=True`, and its messages, one of each kind (the figures aside),
    /// with when.
    pub scaling_true_samples: usize,
    pub scaling_messages: Vec<String>,
}

/// Samples Redis and the `Scaling` condition every [`SAMPLE_EVERY`] until stopped.
pub struct ScaleWatch {
    stop: watch::Sender<bool>,
    handle: JoinHandle<ScaleWatchReport>,
}

impl ScaleWatch {
    /// `zones`: node → zone (the nodes do not change during the test).
    pub fn start(
        client: Client,
        ns: &str,
        cluster: &str,
        password: Secret,
        zones: BTreeMap<String, String>,
    ) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let (ns, cluster) = (ns.to_owned(), cluster.to_owned());
        let handle = tokio::spawn(async move {
            let start = Instant::now();
            let mut report = ScaleWatchReport::default();
            let mut seen_messages = BTreeSet::new();
            let mut clients = BTreeMap::new();
            // Slot owners (IPs) at the last judged sample.
            let mut owners: BTreeSet<String> = BTreeSet::new();
            // Deleted pods that owned slots at the last judged sample: when first seen, name.
            let mut suspects: BTreeMap<String, f64> = BTreeMap::new();
            loop {
                let at = start.elapsed().as_secs_f64();
                if let Ok(pods) = cluster_pods(&client, &ns, &cluster).await {
                    report.samples += 1;
                    report.max_pods = report.max_pods.max(pods.len());
                    for p in pods
                        .iter()
                        .filter(|p| p.metadata.deletion_timestamp.is_some())
                    {
                        let ip = p.status.as_ref().and_then(|s| s.pod_ip.clone());
                        let name = p.name_any();
                        let reported = report
                            .deleted_serving
                            .iter()
                            .any(|d| d.ends_with(name.as_str()));
                        if ip.is_some_and(|ip| owners.contains(&ip)) && !reported {
                            suspects.entry(name).or_insert(at);
                        }
                    }
                    if let Some(l) = view(&pods, &zones, &password, &mut clients).await {
                        // The pods not being deleted cover every slot: none of the suspects
                        // served any when it went.
                        suspects.clear();
                        owners.clone_from(&l.owners);
                        report.judged += 1;
                        report.max_masters = report.max_masters.max(l.masters.values().sum());
                        if !l.lacking.is_empty() {
                            report.lacking_samples += 1;
                            if report.lacking.len() < 10 {
                                report.lacking.push(format!(
                                    "{at:.1}s: {:?} without a replica in the other zone",
                                    l.lacking
                                ));
                            }
                        }
                        if !l.same_zone.is_empty() {
                            report.same_zone_samples += 1;
                        }
                    }
                }
                if let Ok(obj) = clusters(&client, &ns).get(&cluster).await {
                    if let Some((status, _, message)) = condition(&obj, "Scaling") {
                        if status == "True" {
                            report.scaling_true_samples += 1;
                            // One of each kind: the message with its figures left out.
                            let kind: String =
                                message.chars().filter(|c| !c.is_ascii_digit()).collect();
                            if report.scaling_messages.len() < 40 && seen_messages.insert(kind) {
                                report.scaling_messages.push(format!("{at:.1}s: {message}"));
                            }
                        }
                    }
                }
                suspects.retain(|name, seen| {
                    let confirmed = at - *seen >= CONFIRM_WITHIN_S;
                    if confirmed
                        && !report
                            .deleted_serving
                            .iter()
                            .any(|d| d.ends_with(name.as_str()))
                    {
                        report.deleted_serving.push(format!("{seen:.1}s: {name}"));
                    }
                    !confirmed
                });
                tokio::select! {
                    _ = tokio::time::sleep(SAMPLE_EVERY) => {}
                    _ = stopped.changed() => break,
                }
            }
            report
        });
        Self { stop, handle }
    }

    pub async fn stop(self) -> Result<ScaleWatchReport> {
        let _ = self.stop.send(true);
        self.handle
            .await
            .map_err(|e| Error::Invalid(format!("scale watcher: {e}")))
    }
}

/// Pod IP → zone, by the pod's node.
fn zone_of_ip(pods: &[Pod], zones: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    pods.iter()
        .filter_map(|p| {
            let ip = p.status.as_ref()?.pod_ip.clone()?;
            let node = p.spec.as_ref()?.node_name.clone()?;
            Some((ip, zones.get(&node).cloned().unwrap_or_default()))
        })
        .collect()
}

/// The layout as the instances say it of themselves (each one's `myself` line: its role, its
/// master, its slots), as the engine reads it: one pod's view of the others lags behind by
/// gossip (a replica's `REPLICATE` reaches a third node by its next ping, the engine's
/// `SETSLOT NODE` at once). `None` when a pod with an address does not answer (its role is
/// unknown) or the answers do not cover every slot. `clients`: connections kept between
/// samples, by pod IP.
async fn view(
    pods: &[Pod],
    zones: &BTreeMap<String, String>,
    password: &Secret,
    clients: &mut BTreeMap<String, AdminClient>,
) -> Option<Layout> {
    // A pod being deleted was retired: the cluster forgot it.
    let live: Vec<Pod> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .cloned()
        .collect();
    let zone_of = zone_of_ip(&live, zones);
    clients.retain(|ip, _| zone_of.contains_key(ip));
    for ip in zone_of.keys() {
        if !clients.contains_key(ip) {
            let admin = AdminClient::connect(
                &NodeAddr::new(ip.clone(), 6379),
                Some(password),
                Duration::from_millis(500),
            )
            .await
            .ok()?;
            clients.insert(ip.clone(), admin);
        }
    }
    let asked = futures_util::future::join_all(clients.iter().map(|(ip, c)| async move {
        let nodes = tokio::time::timeout(Duration::from_millis(500), c.cluster_nodes()).await;
        (ip.clone(), nodes)
    }))
    .await;
    let mut selves = Vec::new();
    for (ip, nodes) in asked {
        match nodes {
            Ok(Ok(nodes)) => selves.extend(nodes.myself().cloned()),
            _ => {
                clients.remove(&ip);
                return None;
            }
        }
    }
    layout(&ClusterNodes { nodes: selves }, &zone_of)
}

/// Wait until every pod of the cluster agrees on a layout with `shards` slot-owning masters,
/// each with a replica in the other zone; returns the masters per zone.
pub async fn settled_layout(
    env: &Env,
    ns: &str,
    cluster: &str,
    shards: usize,
    limit: Duration,
) -> Result<BTreeMap<String, usize>> {
    let zones = env.node_zones().await?;
    let password = env.password(ns, cluster).await?;
    let (zones, password) = (&zones, &password);
    until(
        &format!("every pod to agree on {shards} masters, each with a replica across"),
        limit,
        Duration::from_millis(250),
        || async move {
            let pods = cluster_pods(&env.client, ns, cluster).await?;
            let zone_of = zone_of_ip(&pods, zones);
            let mut seen: Option<Layout> = None;
            for ip in zone_of.keys() {
                let nodes = env.cluster_nodes(ip, password).await?;
                let Some(l) = layout(&nodes, &zone_of) else {
                    return Ok(Step::Pending(format!(
                        "{ip} does not see every slot served"
                    )));
                };
                if seen.as_ref().is_some_and(|s| *s != l) {
                    return Ok(Step::Pending(format!("{ip} sees {l:?}, another {seen:?}")));
                }
                seen = Some(l);
            }
            Ok(match seen {
                Some(l) if l.masters.values().sum::<usize>() == shards && l.lacking.is_empty() => {
                    Step::Done(l.masters)
                }
                other => Step::Pending(format!("{other:?}")),
            })
        },
    )
    .await
}

/// StatefulSet name → its `spec.replicas`, now.
pub async fn stateful_set_replicas(env: &Env, ns: &str) -> Result<BTreeMap<String, i32>> {
    Ok(Api::<StatefulSet>::namespaced(env.client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map_err(Error::kube("listing StatefulSets"))?
        .items
        .iter()
        .map(|s| {
            (
                s.name_any(),
                s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// `CLUSTER NODES` text with one-letter ids spelled out to 40 characters.
    fn nodes(text: &str) -> ClusterNodes {
        let id = |c: &str| c.repeat(40);
        let text: String = text
            .lines()
            .map(|l| {
                let mut w: Vec<String> = l.split(' ').map(str::to_owned).collect();
                w[0] = id(&w[0]);
                if w[3] != "-" {
                    w[3] = id(&w[3]);
                }
                w.join(" ") + "\n"
            })
            .collect();
        ClusterNodes::parse(&text).unwrap()
    }

    #[test]
    fn a_layout_needs_every_slot_and_names_masters_without_a_replica_across() {
        let zone: BTreeMap<String, String> = [
            ("10.0.0.1", "dc-a"),
            ("10.0.0.2", "dc-b"),
            ("10.0.0.3", "dc-a"),
            ("10.0.0.4", "dc-b"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
        let whole = nodes(
            "a 10.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-8191\n\
             b 10.0.0.2:6379@16379 master - 0 0 2 connected 8192-16383\n\
             c 10.0.0.3:6379@16379 slave b 0 0 2 connected\n\
             d 10.0.0.4:6379@16379 slave a 0 0 1 connected\n",
        );
        let l = layout(&whole, &zone).unwrap();
        assert_eq!(l.masters.get("dc-a"), Some(&1));
        assert!(l.lacking.is_empty() && l.same_zone.is_empty(), "{l:?}");
        let same = nodes(
            "a 10.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-8191\n\
             b 10.0.0.2:6379@16379 master - 0 0 2 connected 8192-16383\n\
             c 10.0.0.3:6379@16379 slave a 0 0 2 connected\n\
             d 10.0.0.4:6379@16379 slave a 0 0 1 connected\n",
        );
        let l = layout(&same, &zone).unwrap();
        assert_eq!(l.lacking, ["10.0.0.2:6379 (dc-b)"]);
        assert_eq!(l.same_zone, ["10.0.0.1:6379 (dc-a)"]);
        let partial = nodes("a 10.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-8191\n");
        assert_eq!(layout(&partial, &zone), None);
    }
}
