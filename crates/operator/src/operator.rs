//! `redis-stretch operator`: caches, metrics, leader election, and — while this replica holds
//! the Lease — the controller and the engines.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetStatus};
use k8s_openapi::api::core::v1::{Container, Node, NodeStatus, Pod, PodSpec, PodTemplateSpec};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use tokio::sync::{mpsc, watch};

use crate::context::{Context, MANAGER};
use crate::engines::{EngineDeps, Engines};
use crate::lease::{Elector, Leadership, LeaseConfig};
use crate::metrics::{self, Metrics};
use crate::owned::{Owned, SecretReads};
use crate::platform::node_zone;

#[derive(Clone, Debug)]
pub struct OperatorConfig {
    /// Watch only this namespace; `None` = all.
    pub namespace: Option<String>,
    pub lease_name: String,
    pub lease_namespace: String,
    pub lease_duration: Duration,
    pub metrics_addr: SocketAddr,
    /// Where the leader should run: the zone holding the minority of masters.
    pub preferred_zone: Option<String>,
    /// Node label naming a node's zone, to find this replica's own zone.
    pub zone_label: String,
    /// This replica (pod name).
    pub identity: String,
    /// The node this replica runs on (`NODE_NAME` from the downward API).
    pub node_name: Option<String>,
    /// Render a NetworkPolicy per cluster, allowing these besides the cluster's own pods.
    pub network: Option<redis_stretch_k8s::NetworkAccess>,
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("cannot reach the Kubernetes API (kubeconfig or in-cluster config): {0}")]
    Client(#[source] kube::Error),
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the pod, node and StatefulSet caches did not sync within {0:?}: check RBAC (list/watch pods, nodes and statefulsets)"
    )]
    CacheSync(Duration),
}

/// Start a reflector over `api` and return its store.
/// A cache of `K`, with `trim` applied to each object before it is stored: the operator keeps
/// only what it reads (managed fields alone are often half of an object).
fn cache<K>(api: Api<K>, cfg: watcher::Config, trim: fn(&mut K)) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, cfg).modify(trim))
        .default_backoff()
        .applied_objects();
    tokio::spawn(async move {
        futures_util::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            if let Err(e) = item {
                tracing::warn!("watch: {e}");
            }
        }
    });
    store
}

pub async fn run(cfg: OperatorConfig) -> Result<(), OperatorError> {
    let client = Client::try_default().await.map_err(OperatorError::Client)?;
    let metrics = Arc::new(Metrics::default());
    let listener = tokio::net::TcpListener::bind(cfg.metrics_addr)
        .await
        .map_err(|source| OperatorError::Metrics {
            addr: cfg.metrics_addr,
            source,
        })?;
    drop(listener);
    tokio::spawn(metrics::serve(cfg.metrics_addr, Arc::clone(&metrics)));

    let pods_api: Api<Pod> = match &cfg.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let pods = cache(
        pods_api,
        watcher::Config::default().labels(&format!(
            "{}={},{}=redis",
            redis_stretch_k8s::names::LABEL_NAME,
            redis_stretch_k8s::names::APP,
            redis_stretch_k8s::names::LABEL_COMPONENT,
        )),
        |pod: &mut Pod| pod.managed_fields_mut().clear(),
    );
    // Every node of the cluster: of each, only its labels (the zone) and conditions (Ready)
    // are read. The image list alone can be tens of KiB per node.
    let nodes = cache(
        Api::<Node>::all(client.clone()),
        watcher::Config::default(),
        |node: &mut Node| {
            node.managed_fields_mut().clear();
            node.annotations_mut().clear();
            node.spec = None;
            if let Some(status) = node.status.as_mut() {
                *status = NodeStatus {
                    conditions: status.conditions.take(),
                    ..NodeStatus::default()
                };
            }
        },
    );
    let stateful_sets = cache(
        match &cfg.namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        },
        watcher::Config::default().labels(&format!(
            "{}={}",
            redis_stretch_k8s::names::LABEL_MANAGED_BY,
            redis_stretch_k8s::names::APP
        )),
        trim_stateful_set,
    );
    let sync = Duration::from_secs(120);
    let synced = async {
        pods.wait_until_ready().await.ok();
        nodes.wait_until_ready().await.ok();
        stateful_sets.wait_until_ready().await.ok();
    };
    tokio::time::timeout(sync, synced)
        .await
        .map_err(|_| OperatorError::CacheSync(sync))?;
    metrics.set_ready();

    let my_zone = cfg
        .node_name
        .as_deref()
        .and_then(|n| nodes.get(&ObjectRef::new(n)))
        .and_then(|n| node_zone(&n, &cfg.zone_label));
    let handicap = match (&cfg.preferred_zone, &my_zone) {
        (Some(p), Some(z)) if p != z => cfg.lease_duration,
        (Some(_), None) => cfg.lease_duration,
        _ => Duration::ZERO,
    };
    tracing::info!(identity = %cfg.identity, zone = ?my_zone, preferred = ?cfg.preferred_zone, "campaigning for the lease");
    let lease = LeaseConfig {
        name: cfg.lease_name.clone(),
        namespace: cfg.lease_namespace.clone(),
        identity: cfg.identity.clone(),
        duration: cfg.lease_duration,
        handicap,
    };
    let leadership = Leadership::default();
    let elector = Elector::new(client.clone(), lease.clone(), leadership.clone());
    // A second handle on the same Lease, to hand it over at shutdown.
    let releaser = Elector::new(client.clone(), lease, leadership.clone());
    let (leader_tx, mut leader) = watch::channel(false);
    let campaign = tokio::spawn(elector.run(leader_tx));
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: MANAGER.to_owned(),
            instance: Some(cfg.identity.clone()),
        },
    );

    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        // Wait to lead (or to be told to stop).
        tokio::select! {
            _ = &mut shutdown => break,
            r = leader.wait_for(|l| *l) => if r.is_err() { break },
        }
        metrics.leader.set(1);
        let term = leadership.term();
        let (trigger, triggers) = mpsc::unbounded_channel();
        let engines = Arc::new(Engines::new(EngineDeps {
            pods: pods.clone(),
            nodes: nodes.clone(),
            recorder: Some(recorder.clone()),
            metrics: Arc::clone(&metrics),
            trigger,
            leadership: leadership.clone(),
            stateful_sets: stateful_sets.clone(),
            client: Some(client.clone()),
        }));
        let (owned, owned_writers) = Owned::new(stateful_sets.clone());
        let (secrets, secrets_writer) = SecretReads::new();
        let ctx = Arc::new(Context {
            client: client.clone(),
            recorder: recorder.clone(),
            metrics: Arc::clone(&metrics),
            pods: pods.clone(),
            nodes: nodes.clone(),
            engines: Arc::clone(&engines),
            applied: Default::default(),
            owned,
            secrets,
            leadership: leadership.clone(),
            network: cfg.network.clone(),
        });
        let writers = crate::controller::Writers {
            owned: owned_writers,
            secrets: secrets_writer,
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let controller =
            crate::controller::run(ctx, cfg.namespace.as_deref(), triggers, writers, async {
                let _ = stop_rx.await;
            });
        tokio::pin!(controller);
        let mut lost = leader.clone();
        let mut shutting_down = false;
        let grace = lapse_grace(cfg.lease_duration);
        loop {
            tokio::select! {
                _ = &mut controller => break,
                _ = lost.wait_for(|l| !*l) => {}
                _ = &mut shutdown => {
                    shutting_down = true;
                    break;
                }
            }
            // A lapse (a slow API server, a renewal that timed out): the engines keep what they
            // know and keep observing, but act on nothing (they check the Lease before every
            // action) and reconciles write nothing. Renewed in time, with nobody else having
            // held the Lease meanwhile, the term goes on; otherwise it ends as below.
            metrics.leader.set(0);
            let back = tokio::select! {
                r = tokio::time::timeout(grace, lost.wait_for(|l| *l)) => matches!(r, Ok(Ok(_))),
                _ = &mut shutdown => {
                    shutting_down = true;
                    false
                }
            };
            if back && leadership.term() == term {
                tracing::info!(lapse_grace = ?grace, "lease renewed after a lapse: the engines go on with what they know");
                metrics.leader.set(1);
                continue;
            }
            break;
        }
        // Whatever ended the term, the engines stop first — they are what acts on Redis, and
        // each also checks the Lease before every action — then the controller winds down its
        // reconciles (bounded: they talk to an API server that may be unreachable).
        engines.stop_all().await;
        let _ = stop_tx.send(());
        if tokio::time::timeout(Duration::from_secs(10), &mut controller)
            .await
            .is_err()
        {
            tracing::warn!("controller did not stop within 10 s; dropping it");
        }
        metrics.leader.set(0);
        if shutting_down {
            break;
        }
    }
    // No more campaigning (it would take back the Lease it hands over), then hand it over.
    campaign.abort();
    releaser.release().await;
    tracing::info!("lease released");
    Ok(())
}

/// How long a lapsed Lease may come back and the term go on: two Lease durations, time for a
/// slow API server to answer a renewal or two. Longer, and the other replica has likely taken
/// the Lease (its engines then start from the status this one wrote).
fn lapse_grace(lease_duration: Duration) -> Duration {
    lease_duration * 2
}

/// Of a StatefulSet the engine reads only its replicas (which pods a scale-in retires), its
/// update strategy, its revisions and its containers' images and resources (to say what a
/// rollout changes): the rest of the pod template (the preStop script, the config volumes)
/// is dropped from the cache.
fn trim_stateful_set(set: &mut StatefulSet) {
    set.managed_fields_mut().clear();
    set.annotations_mut().clear();
    if let Some(spec) = set.spec.take() {
        let containers = spec
            .template
            .spec
            .map(|p| p.containers)
            .unwrap_or_default()
            .into_iter()
            .map(|c| Container {
                name: c.name,
                image: c.image,
                resources: c.resources,
                ..Container::default()
            })
            .collect();
        set.spec = Some(StatefulSetSpec {
            replicas: spec.replicas,
            update_strategy: spec.update_strategy,
            template: PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec {
                    containers,
                    ..PodSpec::default()
                }),
            },
            ..StatefulSetSpec::default()
        });
    }
    if let Some(status) = set.status.take() {
        set.status = Some(StatefulSetStatus {
            update_revision: status.update_revision,
            current_revision: status.current_revision,
            observed_generation: status.observed_generation,
            ..StatefulSetStatus::default()
        });
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// What the engine reads of a StatefulSet survives the trim: the replicas (a scale-in's
    /// leaving and retired pods), the update strategy and revisions, the containers' images.
    #[test]
    fn a_trimmed_stateful_set_keeps_what_the_engine_reads() {
        let mut set: StatefulSet = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "seed-leader", "annotations": {"a": "b"}},
            "spec": {"replicas": 6, "selector": {}, "updateStrategy": {"type": "OnDelete"},
                "template": {"spec": {"containers": [{"name": "redis", "image": "redis:7.4",
                    "command": ["sh", "-c", "a long script"]}]}}},
            "status": {"replicas": 6, "updateRevision": "r2", "currentRevision": "r1"}
        }))
        .unwrap();
        trim_stateful_set(&mut set);
        let spec = set.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(6));
        assert_eq!(
            spec.update_strategy.as_ref().unwrap().type_.as_deref(),
            Some("OnDelete")
        );
        let c = &spec.template.spec.as_ref().unwrap().containers[0];
        assert_eq!(c.image.as_deref(), Some("redis:7.4"));
        assert_eq!(c.command, None);
        assert_eq!(
            set.status.as_ref().unwrap().update_revision.as_deref(),
            Some("r2")
        );
        assert!(set.annotations().is_empty());
    }
}
