//! What every reconcile reads of the API server, from watch caches instead of requests: the
//! objects a cluster owns (StatefulSets whole, trimmed; Services, ConfigMaps, PDBs and
//! NetworkPolicies as metadata) and the Secrets it names (metadata, their data fetched once per
//! `resourceVersion`). An idle reconcile then costs no API request at all: with 500 clusters
//! the 60 s resync used to re-list four kinds and get a Secret per cluster, 2,500 requests a
//! minute, and the Lease shared the API server's patience with them.
//!
//! The caches lag the server by a watch event. What that can cost is bounded: an object applied
//! a moment ago may be applied once more (server-side apply of the same object is a no-op), and
//! a StatefulSet's held replica count goes with the version it was read at, so a stale one is
//! refused with a conflict and read again (`reconcile/apply.rs`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret as KubeSecret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, store::Writer, ObjectRef, Store};
use kube::{Api, Client, Resource};
use redis_stretch_k8s::names::{APP, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_NAME};

use crate::error::KubeError;

/// How long a reconcile waits for the owned-object caches of a new term to fill. Reading an
/// empty cache as "nothing owned" would apply a scale-in's lower replica count (the held count
/// comes from the cache), so the reconcile fails and retries instead.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The caches of the objects clusters own. StatefulSets come from the operator's cache (the
/// engines read it too); the others are filled by the controller's watches of them.
#[derive(Clone)]
pub struct Owned {
    pub stateful_sets: Store<StatefulSet>,
    pub services: Store<PartialObjectMeta<Service>>,
    pub config_maps: Store<PartialObjectMeta<ConfigMap>>,
    pub pdbs: Store<PartialObjectMeta<PodDisruptionBudget>>,
    pub network_policies: Store<PartialObjectMeta<NetworkPolicy>>,
}

/// The writing ends of [`Owned`]'s metadata caches, for the controller's watches.
pub struct OwnedWriters {
    pub services: Writer<PartialObjectMeta<Service>>,
    pub config_maps: Writer<PartialObjectMeta<ConfigMap>>,
    pub pdbs: Writer<PartialObjectMeta<PodDisruptionBudget>>,
    pub network_policies: Writer<PartialObjectMeta<NetworkPolicy>>,
}

/// The metadata of one owned object, whatever its kind.
pub struct OwnedMeta<'a> {
    pub kind: &'static str,
    pub meta: &'a ObjectMeta,
    /// StatefulSets only: `spec.replicas` as the server has it.
    pub replicas: Option<i32>,
}

impl Owned {
    pub fn new(stateful_sets: Store<StatefulSet>) -> (Self, OwnedWriters) {
        let (services, services_w) = reflector::store();
        let (config_maps, config_maps_w) = reflector::store();
        let (pdbs, pdbs_w) = reflector::store();
        let (network_policies, network_policies_w) = reflector::store();
        (
            Self {
                stateful_sets,
                services,
                config_maps,
                pdbs,
                network_policies,
            },
            OwnedWriters {
                services: services_w,
                config_maps: config_maps_w,
                pdbs: pdbs_w,
                network_policies: network_policies_w,
            },
        )
    }

    /// Wait until every cache has had its initial list.
    pub async fn ready(&self) -> bool {
        let all = async {
            self.stateful_sets.wait_until_ready().await.is_ok()
                && self.services.wait_until_ready().await.is_ok()
                && self.config_maps.wait_until_ready().await.is_ok()
                && self.pdbs.wait_until_ready().await.is_ok()
                && self.network_policies.wait_until_ready().await.is_ok()
        };
        tokio::time::timeout(READY_WITHIN, all)
            .await
            .unwrap_or(false)
    }

    /// The objects of cluster `name` in `namespace`: our labels, and owned by `owner_uid`
    /// (an object of a deleted and re-created cluster of the same name is not ours).
    pub fn of_cluster(
        &self,
        namespace: &str,
        name: &str,
        owner_uid: &str,
        mut visit: impl FnMut(OwnedMeta<'_>),
    ) {
        let ours = |meta: &ObjectMeta| {
            meta.namespace.as_deref() == Some(namespace)
                && meta.labels.as_ref().is_some_and(|l| {
                    l.get(LABEL_NAME).map(String::as_str) == Some(APP)
                        && l.get(LABEL_INSTANCE).map(String::as_str) == Some(name)
                        && l.get(LABEL_MANAGED_BY).map(String::as_str) == Some(APP)
                })
                && meta
                    .owner_references
                    .as_ref()
                    .is_some_and(|o| o.iter().any(|r| r.uid == owner_uid))
        };
        for s in self.stateful_sets.state() {
            if ours(&s.metadata) {
                visit(OwnedMeta {
                    kind: <StatefulSet as k8s_openapi::Resource>::KIND,
                    meta: &s.metadata,
                    // The API server defaults an unset `replicas` to 1.
                    replicas: Some(s.spec.as_ref().map_or(1, |sp| sp.replicas.unwrap_or(1))),
                });
            }
        }
        visit_meta(&self.services, &ours, &mut visit);
        visit_meta(&self.config_maps, &ours, &mut visit);
        visit_meta(&self.pdbs, &ours, &mut visit);
        visit_meta(&self.network_policies, &ours, &mut visit);
    }
}

fn visit_meta<K: k8s_openapi::Resource>(
    store: &Store<PartialObjectMeta<K>>,
    ours: &impl Fn(&ObjectMeta) -> bool,
    visit: &mut impl FnMut(OwnedMeta<'_>),
) where
    PartialObjectMeta<K>: Resource<DynamicType = ()> + Clone,
{
    for o in store.state() {
        if ours(&o.metadata) {
            visit(OwnedMeta {
                kind: K::KIND,
                meta: &o.metadata,
                replicas: None,
            });
        }
    }
}

/// The Secrets clusters name, read once per version: their metadata comes from the
/// controller's watch of Secrets (which also triggers the reconcile when one changes), their
/// data from a `get` only when the watched version differs from the one read last.
pub struct SecretReads {
    meta: Store<PartialObjectMeta<KubeSecret>>,
    /// `namespace/name` → the Secret as last read.
    read: Mutex<HashMap<String, KubeSecret>>,
}

impl SecretReads {
    pub fn new() -> (Self, Writer<PartialObjectMeta<KubeSecret>>) {
        let (meta, writer) = reflector::store();
        (
            Self {
                meta,
                read: Mutex::default(),
            },
            writer,
        )
    }

    /// The metadata cache, to find the clusters naming a Secret that changed.
    pub fn watched(&self) -> &Store<PartialObjectMeta<KubeSecret>> {
        &self.meta
    }

    /// The Secret `name`, from the last read while the watch shows the same version, else
    /// from the API server. `None`: it does not exist.
    pub async fn get(
        &self,
        client: &Client,
        namespace: &str,
        name: &str,
    ) -> Result<Option<KubeSecret>, KubeError> {
        let key = format!("{namespace}/{name}");
        let watched = self
            .meta
            .get(&ObjectRef::new(name).within(namespace))
            .and_then(|m| m.metadata.resource_version.clone());
        if let Some(version) = watched {
            let read = self.read.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(s) = read
                .get(&key)
                .filter(|s| s.metadata.resource_version.as_ref() == Some(&version))
            {
                return Ok(Some(s.clone()));
            }
        }
        let api: Api<KubeSecret> = Api::namespaced(client.clone(), namespace);
        let fresh = api
            .get_opt(name)
            .await
            .map_err(|e| KubeError::new("get", "Secret", name, e))?;
        self.remember(namespace, name, fresh.as_ref());
        Ok(fresh)
    }

    /// What was just read or written (a created Secret), for the next reconcile.
    pub fn remember(&self, namespace: &str, name: &str, secret: Option<&KubeSecret>) {
        let key = format!("{namespace}/{name}");
        let mut read = self.read.lock().unwrap_or_else(PoisonError::into_inner);
        match secret {
            Some(s) => read.insert(key, s.clone()),
            None => read.remove(&key),
        };
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use kube::runtime::watcher::Event;
    use serde_json::json;

    fn meta<K: k8s_openapi::Resource>(v: serde_json::Value) -> PartialObjectMeta<K> {
        serde_json::from_value(json!({
            "apiVersion": K::API_VERSION, "kind": K::KIND, "metadata": v
        }))
        .unwrap()
    }

    /// Only what carries our labels for this cluster and its owner's uid counts as its own.
    #[test]
    fn a_cluster_owns_what_has_its_labels_and_its_owner() {
        let (sets_store, mut sets) = reflector::store::<StatefulSet>();
        let (owned, mut w) = Owned::new(sets_store);
        let labels = json!({LABEL_NAME: APP, LABEL_INSTANCE: "seed", LABEL_MANAGED_BY: APP});
        let owner = json!([{"apiVersion": "redis-stretch.io/v1alpha1", "kind": "RedisStretchCluster",
                            "name": "seed", "uid": "u1"}]);
        let set: StatefulSet = serde_json::from_value(json!({
            "metadata": {"name": "seed-leader", "namespace": "redis", "labels": labels,
                         "ownerReferences": owner, "generation": 2},
            "spec": {"replicas": 6, "selector": {}, "template": {}, "serviceName": "x"}
        }))
        .unwrap();
        sets.apply_watcher_event(&Event::Apply(set));
        w.services
            .apply_watcher_event(&Event::Apply(meta::<Service>(json!({
            "name": "seed", "namespace": "redis", "labels": labels, "ownerReferences": owner,
            "resourceVersion": "7"}))));
        // Another cluster's, an old cluster's of the same name (another uid), another namespace.
        w.services
            .apply_watcher_event(&Event::Apply(meta::<Service>(json!({
            "name": "other", "namespace": "redis",
            "labels": {LABEL_NAME: APP, LABEL_INSTANCE: "other", LABEL_MANAGED_BY: APP},
            "ownerReferences": owner}))));
        w.config_maps
            .apply_watcher_event(&Event::Apply(meta::<ConfigMap>(json!({
            "name": "seed-config", "namespace": "redis", "labels": labels,
            "ownerReferences": [{"apiVersion": "redis-stretch.io/v1alpha1",
                                 "kind": "RedisStretchCluster", "name": "seed", "uid": "u0"}]}))));
        w.pdbs.apply_watcher_event(&Event::Apply(meta::<PodDisruptionBudget>(json!({
            "name": "seed", "namespace": "elsewhere", "labels": labels, "ownerReferences": owner}))));
        let mut seen = Vec::new();
        owned.of_cluster("redis", "seed", "u1", |o| {
            seen.push((o.kind, o.meta.name.clone().unwrap(), o.replicas));
        });
        assert_eq!(
            seen,
            vec![
                ("StatefulSet", "seed-leader".to_owned(), Some(6)),
                ("Service", "seed".to_owned(), None),
            ]
        );
    }
}
