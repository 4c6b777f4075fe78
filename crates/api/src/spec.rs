//! The `RedisStretchCluster` spec: what the user asks for. The same type is the `spec` of the
//! Kubernetes custom resource and the body of a local-mode manifest, so one file serves both.
//!
//! Every default here is chosen for a cluster stretched over two data centers; the reasons are
//! in `docs/CONFIGURATION.md` and in the comments below.

pub use crate::pod_template::{ImagePullPolicy, PodTemplate};
pub use redis_stretch_model::ServerFlavour;
use serde::{Deserialize, Serialize};

#[cfg(feature = "kube")]
use crate::status::RedisStretchClusterStatus;

/// `apiVersion` of every manifest this version reads.
pub const API_VERSION: &str = "redis-stretch.io/v1alpha1";
/// `kind` of the manifest.
pub const KIND: &str = "RedisStretchCluster";

/// What the user asks for: shards, two zones, Redis settings and failover policy.
// On Kubernetes this is the `spec` of the `RedisStretchCluster` custom resource (feature `kube`).
// The CEL rules repeat those checks of `validate` that an API server can make itself, so that a
// bad resource is refused at `kubectl apply` instead of surfacing later as a condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(kube::CustomResource, kube::KubeSchema))]
#[cfg_attr(
    feature = "kube",
    kube(
        group = "redis-stretch.io",
        version = "v1alpha1",
        kind = "RedisStretchCluster",
        namespaced,
        shortname = "rsc",
        // `kubectl get redis-stretch`. Not `all`: that category is for the core workload
        // kinds, and clusters would crowd every `kubectl get all`.
        category = "redis-stretch",
        status = "RedisStretchClusterStatus",
        doc = "A Redis Cluster stretched over two data centers (zones)",
        printcolumn(name = "Shards", type_ = "integer", json_path = ".spec.shards"),
        printcolumn(
            name = "Ready",
            type_ = "string",
            description = "Shards whose master and replicas are ready",
            json_path = ".status.ready"
        ),
        printcolumn(
            name = "Reason",
            type_ = "string",
            description = "Why the cluster is or is not Ready (the Ready condition's reason)",
            json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
        ),
        printcolumn(
            name = "DCs",
            type_ = "string",
            description = "Zones up out of two",
            json_path = ".status.zonesUp"
        ),
        printcolumn(
            name = "Server",
            type_ = "string",
            description = "The server and version the instances report",
            json_path = ".status.server"
        ),
        printcolumn(
            name = "Verdict",
            type_ = "string",
            description = "What the loss of each zone means now",
            json_path = ".status.verdict"
        ),
        printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
        // Object names are built from it (`<name>-<zone>-<ordinal>`), within DNS-label limits.
        validation = crate::schema_rules::cluster_name_length(),
        validation = crate::schema_rules::cluster_name_label()
    )
)]
// Two zones means the sum can be written without a list macro, which keeps the rule's CEL cost
// bounded and evaluable by every API server version that has CEL.
#[cfg_attr(
    feature = "kube",
    x_kube(
        validation = Rule::new("self.zones.size() != 2 || self.zones[0].preferredMasters + self.zones[1].preferredMasters == self.shards")
            // Static: the API server's cost estimate cannot afford `string(int)` in a message.
            .message("the zones' preferredMasters must add up to spec.shards")
            .field_path(".zones"),
        // With two zones only (another count has its own message), and no `join`: the API
        // server's cost estimate of a joined list exceeds its budget.
        validation = Rule::new("self.zones.size() != 2 || !has(self.failover) || !has(self.failover.preferredSide) || self.zones.exists(z, z.name == self.failover.preferredSide)")
            .message(Message::Expression("'`' + self.failover.preferredSide + '` is not one of the zones (' + self.zones[0].name + ', ' + self.zones[1].name + ')'".into()))
            .field_path(".failover.preferredSide"),
        // The kubernetes section is left to the pod template's own rules; only the image here.
        validation = Rule::new("!has(self.kubernetes) || !has(self.kubernetes.image) || self.kubernetes.image.trim() != ''")
            .message("must not be empty")
            .field_path(".kubernetes.image"),
        // Redis 7.4 and later write RDB 12+, which Valkey does not load (docs/REDIS-FACTS.md):
        // refused here where the running image says so (the default `redis:7.4`, an official
        // 7.4 or 8 tag); any other image is judged by the engine from the version it reports.
        validation = Rule::new("!(has(oldSelf.redis) && has(self.redis) && has(oldSelf.redis.server) && has(self.redis.server) && oldSelf.redis.server == 'Redis' && self.redis.server == 'Valkey') || (has(oldSelf.kubernetes) && has(oldSelf.kubernetes.image) && !oldSelf.kubernetes.image.startsWith('redis:7.4') && !oldSelf.kubernetes.image.startsWith('redis:8') && !oldSelf.kubernetes.image.startsWith('docker.io/library/redis:7.4') && !oldSelf.kubernetes.image.startsWith('docker.io/library/redis:8'))")
            .message("spec.redis.server cannot change from Redis to Valkey on this cluster: its image (spec.kubernetes.image, absent: redis:7.4) runs Redis 7.4 or later, whose data (RDB format 12 or later) Valkey does not load. Keep Redis, or first roll to a Redis 7.2 image, or create a new Valkey cluster and move the data to it")
            .field_path(".redis.server")
    )
)]
// The rules that span sections: the pod template against the placement, maxmemory against the
// memory limit.
#[cfg_attr(feature = "kube", schemars(transform = crate::schema_rules::spec_rules))]
#[serde(rename_all = "camelCase")]
pub struct RedisStretchClusterSpec {
    /// Number of shards (masters). Slots are split evenly between them. May change on a
    /// running cluster (change the zones' `preferredMasters` with it, they add up to it): the
    /// engine adds or removes shards and moves slots under writes (docs/OPERATIONS.md, "Scaling").
    #[cfg_attr(
        feature = "kube",
        x_kube(
            validation = Rule::new("self >= 1").message("must be at least 1, found 0"),
            validation = Rule::new("self <= 500").message("at most 500 shards are supported")
        )
    )]
    pub shards: u32,
    /// Replicas per shard. With two zones, the first replica always sits in the zone that does
    /// not hold the master, so that each zone keeps a full copy of the data.
    #[cfg_attr(
        feature = "kube",
        x_kube(
            validation = Rule::new("self >= 1").message("must be at least 1: without a replica in the other zone, losing a zone loses data"),
            validation = Rule::new("self <= 5").message("at most 5 replicas per shard are supported")
        )
    )]
    #[serde(default = "default_replicas_per_shard")]
    pub replicas_per_shard: u32,
    /// Exactly two zones (data centers). Their names are fixed once created: the engine and
    /// the StatefulSets are keyed by them.
    #[cfg_attr(
        feature = "kube",
        x_kube(
            validation = Rule::new("self.size() == 2")
                .message(Message::Expression("'exactly two zones are required, found ' + (self.size() == 0 ? 'none' : self.size() == 1 ? 'one' : 'more than two')".into())),
            validation = Rule::new("self.size() != 2 || self[0].name != self[1].name")
                .message(Message::Expression("'both zones are named `' + self[0].name + '`'".into())),
            validation = Rule::new("self.map(z, z.name) == oldSelf.map(z, z.name)").message("zone names cannot be changed")
        )
    )]
    #[cfg_attr(feature = "kube", schemars(length(min = 2, max = 2)))]
    pub zones: Vec<ZoneSpec>,
    /// Kubernetes only: how pods are spread over nodes and zones. Fixed once created: moving
    /// every pod to another scheme is a migration, not a reconcile.
    #[cfg_attr(
        feature = "kube",
        x_kube(
            validation = Rule::new("self == oldSelf").message("spec.placement cannot be changed after creation")
        )
    )]
    #[serde(default)]
    pub placement: PlacementSpec,
    /// Kubernetes only: image, resources and storage of the Redis pods.
    #[serde(default)]
    pub kubernetes: KubernetesSpec,
    /// Redis settings. Those `CONFIG SET` can change are applied live to every instance;
    /// persistence is fixed once created (it shapes the StatefulSets' volumeClaimTemplates,
    /// which Kubernetes refuses to change).
    #[cfg_attr(
        feature = "kube",
        x_kube(
            validation = Rule::new("!(has(oldSelf.server) && has(self.server) && oldSelf.server == 'Valkey' && self.server == 'Redis')")
                .message("spec.redis.server cannot change from Valkey back to Redis in place: Redis does not load the data Valkey writes. Keep Valkey, or create a new Redis cluster and move the data to it")
                .field_path(".server"),
            validation = Rule::new("self.persistence.enabled == oldSelf.persistence.enabled")
                .message("spec.redis.persistence.enabled cannot be changed on an existing cluster: it adds or removes the StatefulSets' volumeClaimTemplates, which Kubernetes does not allow to change. Create a new cluster with the setting you want and move the data to it")
                .field_path(".persistence.enabled"),
            validation = Rule::new("self.persistence.size == oldSelf.persistence.size")
                .message("spec.redis.persistence.size cannot be changed on an existing cluster: a StatefulSet's volumeClaimTemplates are immutable. To grow the volumes, resize each PersistentVolumeClaim (kubectl patch pvc, when its StorageClass allows volume expansion) and leave the spec as it is; for another size on every pod, create a new cluster")
                .field_path(".persistence.size"),
            validation = Rule::new("has(self.persistence.storageClassName) == has(oldSelf.persistence.storageClassName) && (!has(self.persistence.storageClassName) || self.persistence.storageClassName == oldSelf.persistence.storageClassName)")
                .message("spec.redis.persistence.storageClassName cannot be changed on an existing cluster: a StatefulSet's volumeClaimTemplates are immutable. Create a new cluster with the StorageClass you want and move the data to it")
                .field_path(".persistence.storageClassName")
        )
    )]
    #[serde(default)]
    pub redis: RedisSettings,
    #[serde(default)]
    pub auth: AuthSpec,
    /// Kubernetes only (local mode ignores it): TLS for clients, replication and the cluster
    /// bus. Off by default: it needs a certificate, which this project does not issue.
    // The rule repeats `validate`'s check so that `kubectl apply` refuses it at once.
    #[cfg_attr(
        feature = "kube",
        x_kube(
            validation = Rule::new("!self.enabled || (has(self.secretName) && self.secretName != '')")
                .message("spec.tls.secretName is required when spec.tls.enabled is true")
        )
    )]
    #[serde(default)]
    pub tls: TlsSpec,
    #[serde(default)]
    pub failover: FailoverSpec,
}

fn default_replicas_per_shard() -> u32 {
    1
}

/// One data center.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(kube::KubeSchema))]
#[serde(rename_all = "camelCase")]
pub struct ZoneSpec {
    /// The zone's name; on Kubernetes, the value of the zone label on its nodes.
    #[cfg_attr(
        feature = "kube",
        schemars(length(max = 63)),
        x_kube(
            validation = crate::schema_rules::not_empty(),
            validation = crate::schema_rules::dns_label(63)
        )
    )]
    pub name: String,
    /// How many shards should have their master here when both zones are healthy. The engine
    /// fails back to this layout after a zone returns. The two values add up to `shards`.
    pub preferred_masters: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct RedisSettings {
    /// Which server the instances run: `Redis` (default) or `Valkey` (7.2 or later). One
    /// engine for both; with Valkey every instance also reports its zone as `availability-zone`.
    pub server: ServerFlavour,
    /// `cluster-node-timeout`. 2000 ms detects a dead master in seconds instead of Redis's
    /// default 15 s; much lower makes a busy or briefly paused node look dead.
    #[cfg_attr(
        feature = "kube",
        schemars(transform = crate::schema_rules::node_timeout)
    )]
    pub cluster_node_timeout_ms: u64,
    /// `maxmemory` per instance, e.g. `256mb`, `2gb`. Absent: on Kubernetes 70% of the
    /// memory limit (`spec.kubernetes.resources.memory`; see `redis_config::derived_maxmemory`),
    /// in local mode no limit. `0` is no limit on both.
    #[cfg_attr(
        feature = "kube",
        schemars(length(max = 32), transform = crate::schema_rules::redis_size)
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maxmemory: Option<String>,
    /// `maxmemory-policy`. `noeviction` by default: a data store must not drop keys silently.
    #[cfg_attr(
        feature = "kube",
        schemars(transform = crate::schema_rules::maxmemory_policy)
    )]
    pub maxmemory_policy: String,
    /// `repl-backlog-size`. Sized so that a replica cut off for tens of seconds at a moderate
    /// write rate resumes with a partial sync instead of a full copy over the inter-DC link.
    #[cfg_attr(
        feature = "kube",
        schemars(length(max = 32), transform = crate::schema_rules::backlog_size)
    )]
    pub repl_backlog_size: String,
    pub persistence: PersistenceSpec,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            server: ServerFlavour::Redis,
            cluster_node_timeout_ms: 2000,
            maxmemory: None,
            maxmemory_policy: "noeviction".to_owned(),
            repl_backlog_size: "64mb".to_owned(),
            persistence: PersistenceSpec::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct PersistenceSpec {
    /// AOF persistence (`appendonly yes`, fsync every second). Off by default: a replica in the
    /// other zone is the copy that survives a zone loss.
    pub enabled: bool,
    /// Kubernetes only: size of each pod's volume when persistence is on.
    #[cfg_attr(feature = "kube", schemars(transform = crate::schema_rules::quantity))]
    pub size: String,
    /// Kubernetes only: StorageClass of the volumes; absent means the cluster's default.
    pub storage_class_name: Option<String>,
    /// Kubernetes only: what happens to the volumes when the RedisStretchCluster is deleted.
    /// `Retain` by default: deleting a resource by mistake must not delete the data with it.
    pub when_deleted: ClaimRetention,
}

impl Default for PersistenceSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            size: "8Gi".to_owned(),
            storage_class_name: None,
            when_deleted: ClaimRetention::Retain,
        }
    }
}

/// The fate of the volumes (PersistentVolumeClaims) of a deleted cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
pub enum ClaimRetention {
    /// Keep them; a cluster re-created with the same name and zones mounts them again.
    #[default]
    Retain,
    /// Delete them with the cluster.
    Delete,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct AuthSpec {
    /// `requirepass`/`masterauth`. On by default.
    pub enabled: bool,
    /// Kubernetes only: the Secret holding the password (generated when absent). Local mode
    /// generates a password and keeps it in its state directory (mode 0600).
    #[cfg_attr(
        feature = "kube",
        schemars(length(max = 253), transform = crate::schema_rules::secret_name)
    )]
    // Absent rather than null, also in the schema's defaults, so that the field's CEL rules
    // never meet a null (kube's CEL client runs them on one).
    #[serde(skip_serializing_if = "Option::is_none")]
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

/// Kubernetes only: TLS on the client port, for replication and on the cluster bus. Off by
/// default because it needs a certificate this project does not issue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct TlsSpec {
    /// Serve TLS only (`tls-port 6379`, `port 0`) and use it between instances too.
    pub enabled: bool,
    /// A Secret of type `kubernetes.io/tls` with `tls.crt`, `tls.key` and `ca.crt`, as
    /// cert-manager writes it. Required when `enabled`. Every instance presents this
    /// certificate, also as a client to its peers, so it must allow client authentication.
    #[cfg_attr(
        feature = "kube",
        schemars(length(max = 253), transform = crate::schema_rules::secret_name)
    )]
    // Absent rather than null, also in the schema's defaults, so that the field's CEL rules
    // never meet a null (kube's CEL client runs them on one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct FailoverSpec {
    /// What the engine does when the zone holding the majority of masters is lost.
    pub policy: FailoverPolicy,
    /// Whether the engine restores the preferred masters-per-zone after a zone returns.
    pub failback: FailbackPolicy,
    /// Masters whose only replicas are in the other zone refuse writes once they lose them
    /// (`min-replicas-to-write`), so that a cut-off zone stops accepting writes on its own.
    pub fencing: bool,
    /// How soon a silent zone, or a cut between the zones, counts as a fault the engine acts
    /// on. `Safe` never acts sooner than Redis's own failure detector would (node-timeout);
    /// `Fast` acts after about a third of it and turns blips into failovers (docs/RELIABILITY.md).
    pub detection: Detection,
    /// The zone that keeps serving when the zones are cut from each other and the engine
    /// reaches both. Unset: the zone holding the majority of masters (no takeover needed).
    #[serde(skip_serializing_if = "Option::is_none")]
    // A zone name, so at most 63 characters: bounds the cost of the CEL rule that checks it.
    #[cfg_attr(feature = "kube", schemars(length(max = 63)))]
    pub preferred_side: Option<String>,
}

impl Default for FailoverSpec {
    fn default() -> Self {
        Self {
            policy: FailoverPolicy::Automatic,
            failback: FailbackPolicy::Automatic,
            fencing: true,
            detection: Detection::Safe,
            preferred_side: None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
pub enum Detection {
    /// Act on a silent zone or a cut only after cluster-node-timeout, as Redis would.
    #[default]
    Safe,
    /// Act after about a third of cluster-node-timeout: faster, and blips become failovers.
    Fast,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
pub enum FailoverPolicy {
    /// Confirm the zone is gone, fence, take over every orphaned shard.
    Automatic,
    /// Report what to run (`redis-stretch takeover --zone ...`) and wait for a human.
    Manual,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
pub enum FailbackPolicy {
    Automatic,
    Manual,
}

/// Kubernetes only: where the pods go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct PlacementSpec {
    pub mode: PlacementMode,
    /// The node label whose value names a node's zone (data center). Pairing and
    /// survivability read it in both modes; `ZoneAware` also schedules by it.
    // At most a 253-character prefix, `/` and a 63-character name.
    #[cfg_attr(
        feature = "kube",
        schemars(length(max = 317), transform = crate::schema_rules::label_key)
    )]
    pub zone_label: String,
}

impl Default for PlacementSpec {
    fn default() -> Self {
        Self {
            mode: PlacementMode::ZoneAware,
            zone_label: DEFAULT_ZONE_LABEL.to_owned(),
        }
    }
}

/// The well-known Kubernetes zone label.
pub const DEFAULT_ZONE_LABEL: &str = "topology.kubernetes.io/zone";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
pub enum PlacementMode {
    /// One StatefulSet per zone, required to its zone, one Redis pod per node.
    ZoneAware,
    /// The seed recipe's StatefulSets (`<name>-leader`, `<name>-follower`) and affinity, plus
    /// one Redis pod per node; for teams migrating from that recipe.
    SeedCompatible,
}

/// Kubernetes only: what each Redis pod runs with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct KubernetesSpec {
    /// Container image with the server and its CLI (`redis-server` and `redis-cli`, Redis 7 or
    /// later; or `valkey-server` and `valkey-cli`). Absent: `redis:7.4`, or `valkey/valkey:8.1`
    /// with `redis.server: Valkey`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub resources: ResourcesSpec,
    pub metrics: MetricsSpec,
    /// Additions to the Redis pods (node selector, tolerations, affinity, priority, pull
    /// secrets, labels...), merged with the operator's own rules, which still hold.
    #[serde(skip_serializing_if = "PodTemplate::is_default")]
    pub pod: PodTemplate,
}

/// Kubernetes only: a Prometheus exporter beside each Redis (a `metrics` container), scraped
/// per pod so that every instance, master or replica, is seen on its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "kube", schemars(transform = crate::schema_rules::metrics))]
#[serde(rename_all = "camelCase", default)]
pub struct MetricsSpec {
    /// Off by default: not every cluster runs Prometheus, and the sidecar costs a container
    /// per pod.
    pub enabled: bool,
    /// An image compatible with oliver006/redis_exporter (same flags and environment).
    pub image: String,
    /// The exporter's HTTP port (`/metrics`); 9121 is redis_exporter's own default.
    #[cfg_attr(feature = "kube", schemars(range(min = 1)))]
    pub port: u16,
}

impl Default for MetricsSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            image: "oliver006/redis_exporter:v1.62.0".to_owned(),
            port: 9121,
        }
    }
}

/// Requests of each Redis pod; memory is also its limit. No CPU limit: CFS throttling stalls
/// Redis's single thread long enough to miss `cluster-node-timeout` and trigger failovers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct ResourcesSpec {
    /// CPU request, a Kubernetes quantity (`500m`, `2`).
    #[cfg_attr(feature = "kube", schemars(transform = crate::schema_rules::quantity))]
    pub cpu: String,
    /// Memory request and limit, a Kubernetes quantity (`1Gi`). Leave room above `maxmemory`
    /// for replication buffers and the copy-on-write of a fork: without `redis.maxmemory`,
    /// Redis gets 70% of it; a `maxmemory` at or above it is refused.
    #[cfg_attr(feature = "kube", schemars(transform = crate::schema_rules::quantity))]
    pub memory: String,
}

impl Default for ResourcesSpec {
    fn default() -> Self {
        Self {
            cpu: "500m".to_owned(),
            memory: "1Gi".to_owned(),
        }
    }
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
