//! The controller: watches `RedisStretchCluster`s and what they own, and reconciles each
//! (`reconcile`) — plus the reconciles the engines ask for when what they see changes.

use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret as KubeSecret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{self, store::Writer, ObjectRef};
use kube::runtime::{predicates, watcher, Predicate, WatchStreamExt};
use kube::{Api, Client};
use redis_stretch_api::RedisStretchCluster;
use tokio::sync::mpsc;

use crate::context::Context;
use crate::owned::OwnedWriters;
use crate::reconcile::{error_policy, reconcile};

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Metadata only (kube asks the API server for `PartialObjectMeta`): what the caches keep.
fn meta_api<K>(client: &Client, namespace: Option<&str>) -> Api<PartialObjectMeta<K>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The writing ends of the caches the controller's watches fill (`crate::owned`).
pub struct Writers {
    pub owned: OwnedWriters,
    pub secrets: Writer<PartialObjectMeta<KubeSecret>>,
}

/// Run until `stop` resolves (leadership lost, or shutdown).
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<&str>,
    triggers: mpsc::UnboundedReceiver<ObjectRef<RedisStretchCluster>>,
    writers: Writers,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    // `/healthz`: this task ticks while it runs (idle included); the term's end forgets it.
    let health = std::sync::Arc::clone(&ctx.metrics.health);
    let _term = health.controller_started();
    let owned = watcher::Config::default().labels(&format!(
        "{}={}",
        redis_stretch_k8s::names::LABEL_MANAGED_BY,
        redis_stretch_k8s::names::APP
    ));
    let triggers = futures_util::stream::unfold(triggers, |mut rx| async move {
        rx.recv().await.map(|r| (r, rx))
    });
    let (reader, writer) = reflector::store();
    let triggers = futures_util::stream::select(
        triggers,
        secret_changes(&client, namespace, reader.clone(), writers.secrets),
    );
    // The resources themselves, minus our own status writes: without the filter every status
    // patch comes back as "object updated" and costs a second, empty reconcile (measured: half
    // of all reconciles with 50 clusters). Spec (generation), annotations (the hold-zone of
    // `evacuate`) and finalizers pass; so does deletion, which bumps the generation.
    let clusters = watcher(
        api::<RedisStretchCluster>(&client, namespace),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects()
    .predicate_filter(
        predicates::generation
            .combine(predicates::annotations)
            .combine(predicates::finalizers),
        Default::default(),
    );
    // Owned objects: a change to one reconciles its cluster, and the Services, ConfigMaps,
    // PDBs and NetworkPolicies (metadata only) fill the caches apply reads instead of listing
    // them every resync. NetworkPolicies are watched with `--network-policy` off too: the
    // ones an earlier run applied are then orphans, and deleted.
    let w = writers.owned;
    let services = watcher(meta_api::<Service>(&client, namespace), owned.clone())
        .default_backoff()
        .reflect(w.services)
        .touched_objects();
    let config_maps = watcher(meta_api::<ConfigMap>(&client, namespace), owned.clone())
        .default_backoff()
        .reflect(w.config_maps)
        .touched_objects();
    let pdbs = watcher(
        meta_api::<PodDisruptionBudget>(&client, namespace),
        owned.clone(),
    )
    .default_backoff()
    .reflect(w.pdbs)
    .touched_objects();
    let network_policies = watcher(meta_api::<NetworkPolicy>(&client, namespace), owned.clone())
        .default_backoff()
        .reflect(w.network_policies)
        .touched_objects();
    let controller = Controller::for_stream(clusters, reader)
        .owns(api::<StatefulSet>(&client, namespace), owned)
        .owns_stream(services)
        .owns_stream(config_maps)
        .owns_stream(pdbs)
        .owns_stream(network_policies)
        .reconcile_on(triggers)
        .graceful_shutdown_on(stop)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => tracing::debug!(cluster = %obj, "reconciled"),
                // A failed reconcile is logged by `error_policy`, and a deleted object is no news;
                // anything else (a watch the API refuses, RBAC) would otherwise go unseen.
                Err(
                    e @ (kube::runtime::controller::Error::ReconcilerFailed(..)
                    | kube::runtime::controller::Error::ObjectNotFound(..)),
                ) => tracing::debug!("reconcile: {e}"),
                Err(e) => tracing::warn!("controller: {e}"),
            }
        });
    // Polled together in this one task: a blocked task stops the ticks too.
    tokio::select! {
        () = controller => {}
        () = health.controller_ticks() => {}
    }
}

/// The clusters whose password or TLS Secret changed: a rotated password reaches the engine
/// (with the previous one, `reconcile/rotation.rs`) and a renewed certificate is reloaded
/// without waiting for the resync. Metadata only: the operator never receives the data of
/// Secrets it was not told about, only that one changed.
/// The same watch fills the Secret metadata cache that tells a reconcile whether its Secret's
/// data must be read again (`owned::SecretReads`).
fn secret_changes(
    client: &Client,
    namespace: Option<&str>,
    clusters: reflector::Store<RedisStretchCluster>,
    cache: Writer<PartialObjectMeta<KubeSecret>>,
) -> impl futures_util::Stream<Item = ObjectRef<RedisStretchCluster>> + Send + 'static {
    watcher(
        meta_api::<KubeSecret>(client, namespace),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(cache)
    .applied_objects()
    .filter_map(|r| async move { r.ok() })
    .flat_map(move |meta| {
        let ns = meta.metadata.namespace.clone();
        let name = meta.metadata.name.clone().unwrap_or_default();
        let hits: Vec<ObjectRef<RedisStretchCluster>> = clusters
            .state()
            .iter()
            .filter(|c| c.metadata.namespace == ns)
            .filter(|c| crate::reconcile::watched_secrets(c).contains(&name))
            .map(|c| ObjectRef::from_obj(c.as_ref()))
            .collect();
        futures_util::stream::iter(hits)
    })
}
