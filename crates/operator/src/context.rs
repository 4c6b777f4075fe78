//! What every reconcile shares: the API client, the event recorder, metrics, the caches of
//! pods and nodes, and the engines.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::events::Recorder;
use kube::runtime::reflector::Store;
use kube::Client;

use crate::engines::Engines;
use crate::lease::Leadership;
use crate::metrics::Metrics;
use crate::owned::{Owned, SecretReads};
use crate::reconcile::AppliedMemory;

/// Field manager for server-side apply, and the Events' reporting controller.
pub const MANAGER: &str = "redis-stretch";
/// Removed only after the engine of the cluster has stopped (and PVCs are gone, when asked).
pub const FINALIZER: &str = "redis-stretch.io/cleanup";
/// Set by `redis-stretch evacuate --cluster`: the zone to keep masters out of until `resume`.
pub const HOLD_ANNOTATION: &str = "redis-stretch.io/hold-zone";
/// `redis-stretch.io/update-strategy: RollingUpdate` on the custom resource renders the
/// StatefulSets with Kubernetes' default `RollingUpdate`: the StatefulSet controller, not the
/// engine, then replaces pods, both StatefulSets at once. Only for the e2e test that measures
/// that baseline next to the engine's rollout; any other value is ignored.
pub const UPDATE_STRATEGY_ANNOTATION: &str = "redis-stretch.io/update-strategy";

pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub pods: Store<Pod>,
    pub nodes: Store<Node>,
    pub engines: Arc<Engines>,
    /// What this replica applied, so that an unchanged object is not sent again.
    pub applied: AppliedMemory,
    /// The objects clusters own, from watch caches (an idle reconcile lists nothing).
    pub owned: Owned,
    /// The Secrets clusters name, read once per version.
    pub secrets: SecretReads,
    /// Whether this replica holds the Lease now: a reconcile in a lapse writes nothing.
    pub leadership: Leadership,
    /// `--network-policy`: who besides a cluster's own pods may reach them; each cluster then
    /// gets its NetworkPolicy. `None`: no policy (those applied before are deleted).
    pub network: Option<redis_stretch_k8s::NetworkAccess>,
}
