//! Every manifest a `RedisStretchCluster` becomes (`redis-stretch render`). Pure: the reconciler
//! applies exactly this, and `plan` schedules exactly these pod templates.
//!
//! The password Secret is only referenced: the operator generates it when absent, so that the
//! password never appears in rendered output, logs or status.

mod affinity;
mod config;
mod metrics;
mod network_policy;
mod pod;
mod prestop;
mod security;
mod services;
mod template;
mod tls;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use redis_stretch_api::{PlacementMode, RedisStretchCluster, ValidatedCluster};
use redis_stretch_topology::hosts_needed;
use serde::Serialize;

pub use affinity::SeedPool;
pub use config::redis_conf;
pub use network_policy::NetworkAccess;
pub use pod::ON_DELETE;
pub use prestop::{HANDOVER_TIMEOUT_SECONDS, PRE_STOP_SCRIPT, TERMINATION_GRACE_SECONDS};

use crate::cluster::validated;
use crate::error::Error;
use crate::names::{Names, LABEL_SEED_APP, LABEL_ZONE};
use crate::quantity;
use pod::{stateful_set, PodGroup};

/// Everything rendered for one cluster, by role, so that callers need not search a list.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub cluster: ValidatedCluster,
    pub config_map: ConfigMap,
    pub headless_service: Service,
    pub client_service: Service,
    /// In scheduling order: per zone in spec order (ZoneAware), leader then follower (seed).
    pub stateful_sets: Vec<StatefulSet>,
    pub disruption_budget: PodDisruptionBudget,
    /// Who may reach the pods: rendered when the operator runs with `--network-policy`
    /// ([`Rendered::with_network_policy`]); `render` alone leaves it out.
    pub network_policy: Option<NetworkPolicy>,
}

/// One manifest, serialized with its own `apiVersion` and `kind`.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
// A handful are built per render and serialized at once; their size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Object {
    ConfigMap(ConfigMap),
    Service(Service),
    StatefulSet(StatefulSet),
    PodDisruptionBudget(PodDisruptionBudget),
    NetworkPolicy(NetworkPolicy),
}

impl Rendered {
    /// In apply order: configuration and Services before the pods that need them.
    pub fn objects(&self) -> Vec<Object> {
        // The policy first: no pod runs unguarded.
        let mut v: Vec<Object> = self
            .network_policy
            .iter()
            .cloned()
            .map(Object::NetworkPolicy)
            .collect();
        v.extend([
            Object::ConfigMap(self.config_map.clone()),
            Object::Service(self.headless_service.clone()),
            Object::Service(self.client_service.clone()),
        ]);
        v.extend(self.stateful_sets.iter().cloned().map(Object::StatefulSet));
        v.push(Object::PodDisruptionBudget(self.disruption_budget.clone()));
        v
    }

    /// With the cluster's NetworkPolicy (`network_policy`), for an operator that guards its
    /// clusters' pods with one.
    pub fn with_network_policy(mut self, access: &NetworkAccess) -> Self {
        let names = Names::new(&self.cluster);
        let metrics = &self.cluster.spec().kubernetes.metrics;
        self.network_policy = Some(network_policy::network_policy(
            &names,
            self.cluster.namespace(),
            metrics.enabled.then_some(metrics.port),
            access,
        ));
        self
    }

    /// A multi-document YAML stream for `kubectl apply -f -`.
    pub fn to_yaml(&self) -> Result<String, Error> {
        let mut out = String::new();
        for object in self.objects() {
            let doc = serde_saphyr::to_string(&object).map_err(|e| Error::Yaml {
                what: "a rendered manifest".to_owned(),
                source: Box::new(e),
            })?;
            out.push_str("---\n");
            out.push_str(&doc);
        }
        Ok(out)
    }
}

/// Validate the custom resource and render every manifest.
pub fn render(cr: &RedisStretchCluster) -> Result<Rendered, Error> {
    let cluster = validated(cr)?;
    render_validated(cluster)
}

pub fn render_validated(cluster: ValidatedCluster) -> Result<Rendered, Error> {
    check_quantities(&cluster)?;
    let names = Names::new(&cluster);
    let namespace = cluster.namespace();
    let selector = names.selector_labels();
    let spec = cluster.spec();
    let one_per_node = spec.kubernetes.pod.one_pod_per_node;
    let groups = sizes(&cluster, &names)?
        .into_iter()
        .map(|(stateful_set, replicas, pool)| match pool {
            Pool::Zone(zone) => PodGroup {
                stateful_set,
                replicas,
                labels: BTreeMap::from([(LABEL_ZONE.to_owned(), zone.clone())]),
                affinity: affinity::zone_aware(
                    &spec.placement.zone_label,
                    &zone,
                    &selector,
                    one_per_node,
                ),
            },
            Pool::Seed(pool) => PodGroup {
                stateful_set,
                replicas,
                labels: BTreeMap::from([(LABEL_SEED_APP.to_owned(), pool.app_label().to_owned())]),
                affinity: affinity::seed(pool, &selector, one_per_node),
            },
        })
        .collect::<Vec<_>>();
    let stateful_sets = groups
        .into_iter()
        .map(|g| stateful_set(&cluster, &names, namespace, g))
        .collect();
    Ok(Rendered {
        config_map: services::config_map(&cluster, &names, namespace),
        headless_service: services::headless_service(&cluster, &names, namespace),
        client_service: services::client_service(&names, namespace),
        disruption_budget: services::disruption_budget(&names, namespace),
        network_policy: None,
        stateful_sets,
        cluster,
    })
}

/// What a StatefulSet's pods are: one zone's (ZoneAware) or one of the seed's pools.
enum Pool {
    Zone(String),
    Seed(SeedPool),
}

/// Each StatefulSet with the replicas the spec needs of it, in scheduling order.
fn sizes(cluster: &ValidatedCluster, names: &Names<'_>) -> Result<Vec<(String, i32, Pool)>, Error> {
    let spec = cluster.spec();
    Ok(match spec.placement.mode {
        PlacementMode::ZoneAware => hosts_needed(cluster)
            .into_iter()
            .map(|(zone, count)| {
                Ok((
                    names.zone_stateful_set(&zone)?,
                    replicas(count),
                    Pool::Zone(zone),
                ))
            })
            .collect::<Result<Vec<_>, Error>>()?,
        PlacementMode::SeedCompatible => {
            let shards = usize::try_from(spec.shards).unwrap_or(usize::MAX);
            let followers = shards.saturating_mul(spec.replicas_per_shard as usize);
            vec![
                (
                    names.leader_stateful_set()?,
                    replicas(shards),
                    Pool::Seed(SeedPool::Leader),
                ),
                (
                    names.follower_stateful_set()?,
                    replicas(followers),
                    Pool::Seed(SeedPool::Follower),
                ),
            ]
        }
    })
}

/// StatefulSet name → the replicas the spec needs of it: a pod at that ordinal or above is one
/// the spec no longer has (after a scale-in), which the engine empties and retires before the
/// StatefulSet shrinks. Roles are the engine's: in SeedCompatible mode a leader pod need not
/// be a master.
pub fn replicas_needed(cluster: &ValidatedCluster) -> Result<BTreeMap<String, i32>, Error> {
    let names = Names::new(cluster);
    Ok(sizes(cluster, &names)?
        .into_iter()
        .map(|(name, n, _)| (name, n))
        .collect())
}

/// The replicas to apply to a StatefulSet the spec sizes at `rendered` and that has `live`
/// now: up to the spec at once (new pods, which the engine makes new shards or their
/// replicas), but never down. Pods above the spec's count may still hold slots; the engine
/// lowers the StatefulSet itself, one retired pod at a time, once each is emptied and
/// forgotten by the cluster (`Platform::retire`).
pub fn held_replicas(rendered: i32, live: Option<i32>) -> i32 {
    live.map_or(rendered, |l| l.max(rendered))
}

/// Counts are bounded by validation (500 shards × 5 replicas), far below `i32::MAX`.
fn replicas(count: usize) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// Kubernetes quantities are checked here, not in the shared validation: local mode has none.
fn check_quantities(cluster: &ValidatedCluster) -> Result<(), Error> {
    let spec = cluster.spec();
    let res = &spec.kubernetes.resources;
    let bad = |field: &str, value: &str, why: String| Error::Quantity {
        field: field.to_owned(),
        value: value.to_owned(),
        why,
    };
    quantity::cpu_millis(&res.cpu)
        .map_err(|why| bad("spec.kubernetes.resources.cpu", &res.cpu, why))?;
    quantity::bytes(&res.memory)
        .map_err(|why| bad("spec.kubernetes.resources.memory", &res.memory, why))?;
    let size = &spec.redis.persistence.size;
    quantity::bytes(size).map_err(|why| bad("spec.redis.persistence.size", size, why))?;
    Ok(())
}
