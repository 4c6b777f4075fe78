//! Who may reach a cluster's Redis pods. Redis runs with `protected-mode no` and binds every
//! address (the rendered redis.conf): the password and this policy are the guard. One policy
//! per cluster, so that the cluster bus is open to that cluster's own pods only — a policy per
//! namespace could not tell two clusters in one namespace apart. Ingress only; every port not
//! listed is closed to everyone (a NetworkPolicy selects the pods and allows what it lists).

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::services::meta;
use crate::names::{Names, BUS_PORT, LABEL_COMPONENT, REDIS_PORT};

/// The label every namespace carries with its own name (set by the API server).
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Who besides the cluster's own pods may connect: the operator's settings (the chart's
/// `networkPolicy` values), the same for every cluster it runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkAccess {
    /// The operator's namespace and its pods' labels: the engine's commands reach every
    /// instance on the client port.
    pub operator_namespace: String,
    pub operator_labels: BTreeMap<String, String>,
    /// Client port (6379) from every pod of these namespaces, besides the cluster's own.
    pub client_namespaces: Vec<String>,
    /// The exporter's port from every pod of these namespaces (e.g. `monitoring`); none: the
    /// cluster's own namespace.
    pub metrics_namespaces: Vec<String>,
}

/// The cluster's policy: `<name>-redis`, over the cluster's Redis pods.
pub fn network_policy(
    names: &Names<'_>,
    namespace: Option<&str>,
    metrics_port: Option<u16>,
    access: &NetworkAccess,
) -> NetworkPolicy {
    let mut redis = names.selector_labels();
    redis.insert(LABEL_COMPONENT.to_owned(), "redis".to_owned());
    let cluster_pods = NetworkPolicyPeer {
        pod_selector: Some(labels(redis.clone())),
        ..Default::default()
    };
    let operator = NetworkPolicyPeer {
        namespace_selector: Some(namespaces(std::slice::from_ref(&access.operator_namespace))),
        pod_selector: Some(labels(access.operator_labels.clone())),
        ..Default::default()
    };
    let own_namespace = NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..Default::default()
    };
    let listed = |list: &[String]| {
        (!list.is_empty()).then(|| NetworkPolicyPeer {
            namespace_selector: Some(namespaces(list)),
            ..Default::default()
        })
    };
    let mut ingress = vec![
        // The cluster bus: gossip, failure detection and elections, between this cluster's
        // pods only.
        rule(BUS_PORT, vec![cluster_pods.clone()]),
        // The client port carries replication and slot migration (Redis to Redis), the
        // engine's commands, and the applications: of the cluster's namespace and the listed.
        rule(
            REDIS_PORT,
            [cluster_pods, operator, own_namespace.clone()]
                .into_iter()
                .chain(listed(&access.client_namespaces))
                .collect(),
        ),
    ];
    if let Some(port) = metrics_port {
        ingress.push(rule(
            i32::from(port),
            vec![listed(&access.metrics_namespaces).unwrap_or(own_namespace)],
        ));
    }
    let name = format!("{}-redis", names.cluster());
    NetworkPolicy {
        metadata: meta(names, name, namespace),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(labels(redis)),
            policy_types: Some(vec!["Ingress".to_owned()]),
            ingress: Some(ingress),
            ..Default::default()
        }),
    }
}

fn rule(port: i32, from: Vec<NetworkPolicyPeer>) -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule {
        ports: Some(vec![NetworkPolicyPort {
            port: Some(IntOrString::Int(port)),
            protocol: Some("TCP".to_owned()),
            ..Default::default()
        }]),
        from: Some(from),
    }
}

fn labels(l: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(l),
        ..Default::default()
    }
}

fn namespaces(list: &[String]) -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: NAMESPACE_NAME_LABEL.to_owned(),
            operator: "In".to_owned(),
            values: Some(list.to_vec()),
        }]),
        ..Default::default()
    }
}
