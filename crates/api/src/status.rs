//! What the operator reports back in `status`. Written only by the operator (server-side apply
//! of the status subresource); nothing here is ever read back as desired state.
//!
//! Never put the password or anything derived from it in here: status is readable by everyone
//! who can list the resource.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct RedisStretchClusterStatus {
    /// `metadata.generation` of the spec this status describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Degraded`, `ZoneLost`, `Partitioned`, `TakeoverInProgress`, `FailbackPending`,
    /// `Rolling`, ...: one per type (a list-type map keyed by `type`, as `metav1.Condition`s
    /// are, so that server-side apply merges them by type).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(
        feature = "kube",
        schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))
    )]
    pub conditions: Vec<Condition>,
    /// Shards whose master and replicas are all up, as `ready/total` (printer column).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<String>,
    /// Zones up, as `up/2` (printer column).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zones_up: Option<String>,
    /// The server and version the instances report, e.g. `Redis 7.0.15`; two, comma-separated,
    /// while a rollout changes them (printer column).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// `redis_stretch_topology::summary_line` of the current layout, e.g.
    /// `loss of dc-b: automatic; loss of dc-a: needs takeover`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<ZoneStatus>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardStatus>,
    /// The engine's most recent actions, newest first (bounded by the operator).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub last_actions: Vec<EngineAction>,
    /// What the engine remembers across restarts and leader changes (when each zone was lost
    /// and came back, failback hold-downs, failovers asked for), as JSON: a new leader's engine
    /// starts from it. Written by the operator only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_memory: Option<String>,
}

/// The shape and schema of `metav1.Condition` (the same required fields, enum, patterns and
/// limits), redeclared so that the schema needs no k8s-openapi schema feature.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    #[cfg_attr(
        feature = "kube",
        schemars(
            length(max = 316),
            regex(
                pattern = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
            )
        )
    )]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[cfg_attr(feature = "kube", schemars(extend("enum" = ["True", "False", "Unknown"])))]
    pub status: String,
    /// CamelCase machine-readable reason.
    #[cfg_attr(
        feature = "kube",
        schemars(
            length(min = 1, max = 1024),
            regex(pattern = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
        )
    )]
    pub reason: String,
    #[serde(default)]
    #[cfg_attr(feature = "kube", schemars(length(max = 32768)))]
    pub message: String,
    /// RFC 3339 time of the last change of `status`.
    #[cfg_attr(feature = "kube", schemars(extend("format" = "date-time")))]
    pub last_transition_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "kube", schemars(range(min = 0)))]
    pub observed_generation: Option<i64>,
}

/// One data center as the operator sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct ZoneStatus {
    pub name: String,
    /// Whether the operator considers the zone up (nodes Ready and Redis reachable).
    pub up: bool,
    pub nodes_ready: u32,
    pub nodes_total: u32,
    pub instances_ready: u32,
    pub instances_total: u32,
    /// Slot-owning masters in this zone now.
    pub masters: u32,
    pub preferred_masters: u32,
}

/// One shard and where its copies run now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct ShardStatus {
    pub index: u32,
    /// Slot ranges as `CLUSTER SHARDS` lists them, e.g. `0-5460`.
    pub slots: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<InstanceStatus>,
    pub replicas: Vec<InstanceStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct InstanceStatus {
    pub pod: String,
    pub node: String,
    pub zone: String,
    /// For a replica: its link to the master is up.
    pub healthy: bool,
}

/// Something the engine did, with the reason a human needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct EngineAction {
    /// RFC 3339.
    pub time: String,
    /// e.g. `takeover`, `fence`, `failback`.
    pub action: String,
    pub reason: String,
}
