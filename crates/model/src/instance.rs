use crate::NodeAddr;
use serde::{Deserialize, Serialize};

/// One redis-server as the platform knows it: a local process or a pod. Its zone is where it
/// runs, its role is whatever Redis says right now (never stored here: roles are dynamic).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Stable name: `dc-a-0` locally, the pod name on Kubernetes.
    pub name: String,
    pub zone: String,
    pub addr: NodeAddr,
    /// Over TLS: the name its certificate carries (a pod's DNS name), when the address's host
    /// is not it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// It runs an older revision than the spec asks for (another server, version or image,
    /// a setting only a restart applies, other resources): why, in words. The engine's
    /// rollout restarts it, one instance at a time; `None` when it is current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_for: Option<String>,
    /// The spec has fewer shards than the cluster holds and this instance is one the platform
    /// will remove (local: the highest-numbered of its zone; Kubernetes: a StatefulSet's
    /// highest ordinals): the engine moves its slots away, pairs its shard's replicas
    /// elsewhere, makes the cluster forget it and only then asks the platform to retire it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub leaving: bool,
}
