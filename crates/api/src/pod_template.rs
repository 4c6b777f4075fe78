//! Kubernetes only: what a user adds to the Redis pods (`spec.kubernetes.pod`): scheduling
//! (node selector, tolerations, affinity, topology spread, priority), registry access and
//! metadata. The renderer merges it with the operator's own rules so that those still hold:
//! our labels and selectors, the required zone affinity and the one-Redis-pod-per-node rule
//! (which only `onePodPerNode: false` lifts). Local mode ignores it.
//!
//! With the `kube` feature the fields are the Kubernetes API types (the CRD's schema is theirs,
//! and the operator reads them typed); without it, local mode keeps them as plain JSON so that
//! it does not compile k8s-openapi for fields it never reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[cfg(feature = "kube")]
pub use k8s_openapi::api::core::v1::{
    Affinity, LocalObjectReference, Toleration, TopologySpreadConstraint,
};

/// Local mode: the Kubernetes types as JSON, never read.
#[cfg(not(feature = "kube"))]
pub type Affinity = serde_json::Value;
#[cfg(not(feature = "kube"))]
pub type LocalObjectReference = serde_json::Value;
#[cfg(not(feature = "kube"))]
pub type Toleration = serde_json::Value;
#[cfg(not(feature = "kube"))]
pub type TopologySpreadConstraint = serde_json::Value;

/// The most entries of each map and list of `spec.kubernetes.pod`, far above real use: the
/// CRD's maxItems and maxProperties, which the API server's CEL cost estimate needs (without
/// them it assumes as many entries as a request can hold); `validate` says the same.
pub const LIMITS: &[(&str, usize)] = &[
    ("labels", 64),
    ("annotations", 64),
    ("nodeSelector", 32),
    ("tolerations", 32),
    ("topologySpreadConstraints", 8),
    ("imagePullSecrets", 16),
    ("nodeSelectorTerms", 16),
    ("matchExpressions", 16),
    ("matchFields", 16),
];

/// `LIMITS` of `field`.
pub fn limit(field: &str) -> usize {
    LIMITS
        .iter()
        .find(|(f, _)| *f == field)
        .map_or(usize::MAX, |(_, n)| *n)
}

/// The most characters of a label value (Kubernetes' own limit, and the CRD's maxLength).
pub const LABEL_VALUE_MAX: usize = 63;

/// Additions to every Redis pod. Empty by default: the pods are what the operator renders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct PodTemplate {
    /// Pod labels beside ours. Keys the operator sets (`app.kubernetes.io/name`, `instance`,
    /// `managed-by`, `component`, `redis-stretch.io/*`, and `app` in SeedCompatible mode)
    /// are refused: they select the cluster's pods.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "kube", schemars(transform = crate::schema_rules::pod_labels))]
    pub labels: BTreeMap<String, String>,
    /// Pod annotations beside ours (the Prometheus ones when metrics are on, which win).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "kube", schemars(transform = crate::schema_rules::pod_annotations))]
    pub annotations: BTreeMap<String, String>,
    /// Only nodes with all these labels (e.g. a dedicated node pool). Not the zone label:
    /// `spec.zones` decides each pod's zone.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "kube", schemars(transform = crate::schema_rules::node_selector))]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pods tolerate (dedicated, tainted nodes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "kube", schemars(transform = crate::schema_rules::tolerations))]
    pub tolerations: Vec<Toleration>,
    /// Added to ours: required node-affinity terms are each combined (AND) with our zone
    /// term, so a pod never leaves its zone; preferred node terms, pod affinity and pod
    /// anti-affinity terms are added beside ours.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "kube", schemars(transform = crate::schema_rules::pod_affinity))]
    pub affinity: Option<Affinity>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "kube", schemars(transform = crate::schema_rules::topology_spread))]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "kube", schemars(transform = crate::schema_rules::priority_class_name))]
    pub priority_class_name: Option<String>,
    /// Secrets for a private or mirrored registry, for the Redis and exporter images.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "kube", schemars(transform = crate::schema_rules::image_pull_secrets))]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// Of every container (Redis and the exporter). Absent: Kubernetes's default (`Always` for
    /// a `:latest` or untagged image, `IfNotPresent` otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,
    /// One Redis pod of the cluster per node (required pod anti-affinity on
    /// `kubernetes.io/hostname`). `false` lets several share a node: fewer nodes, but one
    /// node's failure then takes several instances at once (several masters failing over
    /// together; with `replicasPerShard` 2 or more a master and its same-zone replica).
    pub one_pod_per_node: bool,
}

impl Default for PodTemplate {
    fn default() -> Self {
        Self {
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            affinity: None,
            topology_spread_constraints: Vec::new(),
            priority_class_name: None,
            image_pull_secrets: Vec::new(),
            image_pull_policy: None,
            one_pod_per_node: true,
        }
    }
}

impl PodTemplate {
    /// Nothing beyond ours: what a spec without `pod` renders.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
pub enum ImagePullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl ImagePullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ImagePullPolicy::Always => "Always",
            ImagePullPolicy::IfNotPresent => "IfNotPresent",
            ImagePullPolicy::Never => "Never",
        }
    }
}
