//! The `RedisStretchCluster` spec: what the user asks for. The same type is the `spec` of the
//! Kubernetes custom resource and the body of a local-mode manifest, so one file serves both.
//!
//! Every default here is chosen for a cluster stretched over two data centers; the reasons are
//! in `docs/CONFIGURATION.md` and in the comments below.

use serde::{Deserialize, Serialize};

/// `apiVersion` of every manifest this version reads.
pub const API_VERSION: &str = "redis-stretch.io/v1alpha1";
/// `kind` of the manifest.
pub const KIND: &str = "RedisStretchCluster";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedisStretchClusterSpec {
    /// Number of shards (masters). Slots are split evenly between them.
    pub shards: u32,
    /// Replicas per shard. With two zones, the first replica always sits in the zone that does
    /// not hold the master, so that each zone keeps a full copy of the data.
    #[serde(default = "default_replicas_per_shard")]
    pub replicas_per_shard: u32,
    /// Exactly two zones (data centers).
    pub zones: Vec<ZoneSpec>,
    #[serde(default)]
    pub redis: RedisSettings,
    #[serde(default)]
    pub auth: AuthSpec,
    #[serde(default)]
    pub failover: FailoverSpec,
}

fn default_replicas_per_shard() -> u32 {
    1
}

/// One data center.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneSpec {
    /// The zone's name; on Kubernetes, the value of the zone label on its nodes.
    pub name: String,
    /// How many shards should have their master here when both zones are healthy. The engine
    /// fails back to this layout after a zone returns. The two values add up to `shards`.
    pub preferred_masters: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RedisSettings {
    /// `cluster-node-timeout`. 2000 ms detects a dead master in seconds instead of Redis's
    /// default 15 s; much lower makes a busy or briefly paused node look dead.
    pub cluster_node_timeout_ms: u64,
    /// `maxmemory` per instance, e.g. `256mb`, `2gb`; absent means no limit.
    pub maxmemory: Option<String>,
    /// `maxmemory-policy`. `noeviction` by default: a data store must not drop keys silently.
    pub maxmemory_policy: String,
    /// `repl-backlog-size`. Sized so that a replica cut off for tens of seconds at a moderate
    /// write rate resumes with a partial sync instead of a full copy over the inter-DC link.
    pub repl_backlog_size: String,
    pub persistence: PersistenceSpec,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            cluster_node_timeout_ms: 2000,
            maxmemory: None,
            maxmemory_policy: "noeviction".to_owned(),
            repl_backlog_size: "64mb".to_owned(),
            persistence: PersistenceSpec::default(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PersistenceSpec {
    /// AOF persistence (`appendonly yes`, fsync every second). Off by default: a replica in the
    /// other zone is the copy that survives a zone loss.
    pub enabled: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthSpec {
    /// `requirepass`/`masterauth`. On by default.
    pub enabled: bool,
    /// Kubernetes only: the Secret holding the password (generated when absent). Local mode
    /// generates a password and keeps it in its state directory (mode 0600).
    pub secret_name: Option<String>,
}

impl Default for AuthSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            secret_name: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FailoverSpec {
    /// What the engine does when the zone holding the majority of masters is lost.
    pub policy: FailoverPolicy,
    /// Whether the engine restores the preferred masters-per-zone after a zone returns.
    pub failback: FailbackPolicy,
    /// Masters whose only replicas are in the other zone refuse writes once they lose them
    /// (`min-replicas-to-write`), so that a cut-off zone stops accepting writes on its own.
    pub fencing: bool,
}

impl Default for FailoverSpec {
    fn default() -> Self {
        Self {
            policy: FailoverPolicy::Automatic,
            failback: FailbackPolicy::Automatic,
            fencing: true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailoverPolicy {
    /// Confirm the zone is gone, fence, take over every orphaned shard.
    Automatic,
    /// Report what to run (`redis-stretch takeover --zone ...`) and wait for a human.
    Manual,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailbackPolicy {
    Automatic,
    Manual,
}

/// Just enough metadata for local mode and for `kubectl apply` of the same file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A whole manifest as it sits in a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: RedisStretchClusterSpec,
}

impl RedisStretchClusterSpec {
    /// The zone that is not `zone`, if `zone` is one of the two.
    pub fn other_zone(&self, zone: &str) -> Option<&str> {
        match self.zones.as_slice() {
            [a, b] if a.name == zone => Some(&b.name),
            [a, b] if b.name == zone => Some(&a.name),
            _ => None,
        }
    }
}
