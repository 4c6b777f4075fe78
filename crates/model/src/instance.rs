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
}
