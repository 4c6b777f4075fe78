//! A rollout of the seed cluster on the real control plane, measured (issue 17): the drill's
//! writers run through it, a watcher polls the pods (and Redis, for who belongs to which
//! shard) every 200 ms and counts the samples where two members of one shard were down at
//! once, and the figures become a markdown table.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use redis_stretch_admin::{AdminClient, NodeAddr, Secret};
use redis_stretch_drill::{
    verify, DrillConfig, DrillReport, Recorded, Workload, WriteOutcome, WriterKind,
};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{cluster_pods, pod_ready};
use crate::error::{Error, Result};
use crate::wait::{until, Step};
use crate::Env;

/// How often the pods are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(200);

/// What the pod watcher saw.
#[derive(Clone, Debug, Default)]
pub struct WatchReport {
    pub samples: usize,
    /// Samples in which two members of one shard were down at once.
    pub both_down_samples: usize,
    /// The first few such samples, for a human: seconds since start and who was down.
    pub both_down: Vec<String>,
    /// The most pods down in one sample.
    pub max_down: usize,
    /// Pod name → how many pods of that name the watcher saw (uids): 2 = restarted once.
    pub incarnations: BTreeMap<String, usize>,
}

/// Polls the cluster's pods every [`SAMPLE_EVERY`] until stopped.
pub struct PodWatch {
    stop: watch::Sender<bool>,
    handle: JoinHandle<WatchReport>,
}

impl PodWatch {
    /// `expected`: the pod names of the cluster (a missing one counts as down).
    pub fn start(
        client: Client,
        ns: &str,
        cluster: &str,
        password: Secret,
        expected: Vec<String>,
    ) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let (ns, cluster) = (ns.to_owned(), cluster.to_owned());
        let handle = tokio::spawn(async move {
            let start = Instant::now();
            let mut report = WatchReport::default();
            // Pod name → its shard (the first slot of its master), last seen in Redis.
            let mut member: BTreeMap<String, u16> = BTreeMap::new();
            let mut uids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            loop {
                if let Ok(pods) = cluster_pods(&client, &ns, &cluster).await {
                    for p in &pods {
                        if let Some(uid) = p.metadata.uid.clone() {
                            uids.entry(p.name_any()).or_default().insert(uid);
                        }
                    }
                    shards_from_redis(&pods, &password, &mut member).await;
                    let up: BTreeSet<String> = pods
                        .iter()
                        .filter(|p| pod_ready(p) && p.metadata.deletion_timestamp.is_none())
                        .map(ResourceExt::name_any)
                        .collect();
                    let down: Vec<&String> = expected.iter().filter(|n| !up.contains(*n)).collect();
                    report.samples += 1;
                    report.max_down = report.max_down.max(down.len());
                    let mut by_shard: BTreeMap<u16, Vec<&String>> = BTreeMap::new();
                    for d in &down {
                        if let Some(s) = member.get(*d) {
                            by_shard.entry(*s).or_default().push(d);
                        }
                    }
                    if let Some((slot, pods)) = by_shard.iter().find(|(_, p)| p.len() >= 2) {
                        report.both_down_samples += 1;
                        if report.both_down.len() < 10 {
                            report.both_down.push(format!(
                                "{:.1}s: {pods:?} (shard of slot {slot}) down together",
                                start.elapsed().as_secs_f64()
                            ));
                        }
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(SAMPLE_EVERY) => {}
                    _ = stopped.changed() => break,
                }
            }
            report.incarnations = uids.into_iter().map(|(k, v)| (k, v.len())).collect();
            report
        });
        Self { stop, handle }
    }

    pub async fn stop(self) -> Result<WatchReport> {
        let _ = self.stop.send(true);
        self.handle
            .await
            .map_err(|e| Error::Invalid(format!("pod watcher: {e}")))
    }
}

/// Who belongs to which shard, from `CLUSTER NODES` at the first pod that answers: a master
/// with slots by its first slot, a replica by its master's. Pods Redis does not show (down,
/// not joined yet) keep what was seen last.
async fn shards_from_redis(pods: &[Pod], password: &Secret, member: &mut BTreeMap<String, u16>) {
    let by_ip: BTreeMap<String, String> = pods
        .iter()
        .filter_map(|p| Some((p.status.as_ref()?.pod_ip.clone()?, p.name_any())))
        .collect();
    for ip in by_ip.keys() {
        let Ok(admin) = AdminClient::connect(
            &NodeAddr::new(ip.clone(), 6379),
            Some(password),
            Duration::from_millis(300),
        )
        .await
        else {
            continue;
        };
        let Ok(Ok(nodes)) =
            tokio::time::timeout(Duration::from_millis(500), admin.cluster_nodes()).await
        else {
            continue;
        };
        let first_slot: BTreeMap<&str, u16> = nodes
            .nodes
            .iter()
            .filter(|n| n.flags.master)
            .filter_map(|n| Some((n.id.as_str(), n.slots.first()?.start)))
            .collect();
        for n in nodes.nodes.iter().filter(|n| !n.flags.fail) {
            let Some(pod) = n.addr.as_ref().and_then(|a| by_ip.get(&a.host)) else {
                continue;
            };
            let shard = if n.flags.master {
                first_slot.get(n.id.as_str()).copied()
            } else {
                n.master_id
                    .as_deref()
                    .and_then(|m| first_slot.get(m).copied())
            };
            if let Some(s) = shard {
                member.insert(pod.clone(), s);
            }
        }
        return;
    }
}

/// The longest time each shard accepted no probe write, in seconds: from the last success
/// before a run of failures to the first success after it (shard names as the drill's).
pub fn longest_gaps(rec: &Recorded) -> Vec<(String, f64)> {
    rec.shards
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut mine: Vec<_> = rec.probes.iter().filter(|p| p.shard == i).collect();
            mine.sort_by_key(|p| p.start_us);
            let mut last_ok: Option<u64> = None;
            let mut failing_since: Option<u64> = None;
            let mut worst = 0u64;
            for p in mine {
                if p.ok() {
                    if let Some(f) = failing_since.take() {
                        let from = last_ok.unwrap_or(f);
                        worst = worst.max(p.end_us.saturating_sub(from));
                    }
                    last_ok = Some(p.end_us);
                } else if failing_since.is_none() {
                    failing_since = Some(p.start_us);
                }
            }
            // Still failing at the end: the gap runs to the last probe.
            if let (Some(f), Some(end)) = (
                failing_since,
                rec.probes
                    .iter()
                    .filter(|p| p.shard == i)
                    .map(|p| p.end_us)
                    .max(),
            ) {
                worst = worst.max(end.saturating_sub(last_ok.unwrap_or(f)));
            }
            (s.name.clone(), worst as f64 / 1e6)
        })
        .collect()
}

/// Pod IPs of the cluster now, as drill seeds.
pub async fn seeds(client: &Client, ns: &str, cluster: &str) -> Result<Vec<NodeAddr>> {
    Ok(cluster_pods(client, ns, cluster)
        .await?
        .iter()
        .filter(|p| pod_ready(p))
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
        .map(|ip| NodeAddr::new(ip, 6379))
        .collect())
}

/// The drill's writers (a plain one and a `WAIT 1` one) and probe, against the cluster now.
pub async fn start_writers(
    env: &Env,
    ns: &str,
    cluster: &str,
    password: &Secret,
) -> Result<(Workload, DrillConfig)> {
    let mut cfg = DrillConfig::new(
        seeds(&env.client, ns, cluster).await?,
        Some(password.clone()),
    );
    cfg.rate_per_writer = 200;
    cfg.duration_limit = Duration::from_secs(240);
    let w = Workload::start(cfg.clone())
        .await
        .map_err(|e| Error::Invalid(format!("starting the writers: {e}")))?;
    Ok((w, cfg))
}

/// Stop the writers and read back what they wrote, from the pods as they are now (a rollout
/// gives every pod a new IP).
pub async fn stop_writers(
    env: &Env,
    ns: &str,
    cluster: &str,
    workload: Workload,
    mut cfg: DrillConfig,
) -> Result<(Recorded, std::result::Result<DrillReport, String>)> {
    let rec = workload
        .stop()
        .await
        .map_err(|e| Error::Invalid(format!("stopping the writers: {e}")))?;
    cfg.seeds = seeds(&env.client, ns, cluster).await?;
    let report = verify(&rec, &cfg).await.map_err(|e| e.to_string());
    Ok((rec, report))
}

/// StatefulSet name → its `updateRevision`, now.
pub async fn update_revisions(env: &Env, ns: &str) -> Result<BTreeMap<String, String>> {
    Ok(Api::<StatefulSet>::namespaced(env.client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map_err(Error::kube("listing StatefulSets"))?
        .items
        .iter()
        .filter_map(|s| Some((s.name_any(), s.status.as_ref()?.update_revision.clone()?)))
        .collect())
}

/// Every pod of the cluster Ready and created at its StatefulSet's `updateRevision`, which
/// must differ from `old` (the StatefulSet controller has seen the change).
pub async fn all_at_update_revision(
    env: &Env,
    ns: &str,
    cluster: &str,
    n: usize,
    old: &BTreeMap<String, String>,
    limit: Duration,
) -> Result<()> {
    let client = &env.client;
    until(
        "every pod Ready at its StatefulSet's update revision",
        limit,
        Duration::from_millis(250),
        || async move {
            let sets = Api::<StatefulSet>::namespaced(client.clone(), ns)
                .list(&ListParams::default())
                .await
                .map_err(Error::kube("listing StatefulSets"))?
                .items;
            let want: BTreeMap<String, String> = sets
                .iter()
                .filter_map(|s| Some((s.name_any(), s.status.as_ref()?.update_revision.clone()?)))
                .collect();
            if want.iter().any(|(k, v)| old.get(k) == Some(v)) {
                return Ok(Step::Pending(format!(
                    "StatefulSets not at a new revision yet: {want:?}"
                )));
            }
            let pods = cluster_pods(client, ns, cluster).await?;
            let behind: Vec<String> = pods
                .iter()
                .filter(|p| {
                    let rev = p.labels().get("controller-revision-hash");
                    let set = p
                        .owner_references()
                        .iter()
                        .find(|o| o.kind == "StatefulSet")
                        .map(|o| o.name.clone())
                        .unwrap_or_default();
                    !pod_ready(p)
                        || p.metadata.deletion_timestamp.is_some()
                        || rev != want.get(&set)
                })
                .map(ResourceExt::name_any)
                .collect();
            Ok(if pods.len() == n && behind.is_empty() {
                Step::Done(())
            } else {
                Step::Pending(format!("{} pods; not yet: {behind:?}", pods.len()))
            })
        },
    )
    .await
}

/// The update strategy of every StatefulSet of the namespace is `strategy`.
pub async fn strategy_is(env: &Env, ns: &str, strategy: &str) -> Result<()> {
    let client = &env.client;
    until(
        &format!("StatefulSets with updateStrategy {strategy}"),
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async move {
            let sets = Api::<StatefulSet>::namespaced(client.clone(), ns)
                .list(&ListParams::default())
                .await
                .map_err(Error::kube("listing StatefulSets"))?
                .items;
            let types: Vec<Option<String>> = sets
                .iter()
                .map(|s| {
                    s.spec
                        .as_ref()
                        .and_then(|s| s.update_strategy.as_ref())
                        .and_then(|u| u.type_.clone())
                })
                .collect();
            Ok(
                if !types.is_empty() && types.iter().all(|t| t.as_deref() == Some(strategy)) {
                    Step::Done(())
                } else {
                    Step::Pending(format!("{types:?}"))
                },
            )
        },
    )
    .await
}

/// The seed manifest with `image` and, when given, annotations.
pub fn seed_with(image: &str, annotations: &[(&str, &str)]) -> Result<Value> {
    let mut m = crate::drill::seed_manifest()?;
    if let Some(k) = m.pointer_mut("/spec/kubernetes") {
        k["image"] = Value::String(image.to_owned());
    }
    if !annotations.is_empty() {
        let a: serde_json::Map<String, Value> = annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect();
        m["metadata"]["annotations"] = Value::Object(a);
    }
    Ok(m)
}

/// One rollout's figures, as a row of the table.
pub struct Figures {
    pub how: String,
    pub total_s: f64,
    pub report: std::result::Result<DrillReport, String>,
    pub gaps: Vec<(String, f64)>,
    pub watch: WatchReport,
    /// Anything else a reader must know (every slot writable again, or not).
    pub note: String,
    /// Acknowledged writes (WAIT, plain): all of them are lost when no slot is served any
    /// more and nothing can be read back.
    pub acked: (usize, usize),
    /// Slots a master served at the end.
    pub slots_served: usize,
}

/// Acknowledged writes of the WAIT and of the plain writer.
pub fn acked(rec: &Recorded) -> (usize, usize) {
    let n = |k: WriterKind| {
        rec.writes
            .iter()
            .filter(|w| w.writer == k && w.outcome == WriteOutcome::Acked)
            .count()
    };
    (n(WriterKind::Wait), n(WriterKind::Plain))
}

/// The figures as a markdown table.
pub fn table(rows: &[Figures]) -> String {
    let mut s = String::from(
        "| rollout of the seed cluster (image changed) | WAIT-acked writes lost | plain writes lost | longest write gap per shard | samples with both members of a shard down (of all, every 200 ms) | most pods down at once | total time | after |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let (acked, plain) = match &r.report {
            Ok(rep) => (
                rep.acked_writes_lost.to_string(),
                rep.plain_writes_lost.to_string(),
            ),
            // Nothing to read back from: every acknowledged write went with the slots.
            Err(_) if r.slots_served == 0 => (
                format!("all {} (no slot served any more)", r.acked.0),
                format!("all {}", r.acked.1),
            ),
            Err(e) => (
                format!(
                    "unknown: readback failed ({})",
                    e.chars().take(120).collect::<String>()
                ),
                "-".to_owned(),
            ),
        };
        let gaps: Vec<String> = r
            .gaps
            .iter()
            .map(|(n, g)| format!("{n}: {g:.2} s"))
            .collect();
        s.push_str(&format!(
            "| {} | {acked} | {plain} | {} | {} of {} | {} | {:.1} s | {} |\n",
            r.how,
            gaps.join(", "),
            r.watch.both_down_samples,
            r.watch.samples,
            r.watch.max_down,
            r.total_s,
            r.note
        ));
    }
    s
}
