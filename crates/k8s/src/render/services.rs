//! Services, the ConfigMap and the disruption budget: one of each per cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use redis_stretch_api::ValidatedCluster;

use super::config::{redis_conf, CONFIG_FILE};
use super::metrics::METRICS_PORT_NAME;
use crate::names::{Names, BUS_PORT, REDIS_PORT};

pub(super) fn meta(names: &Names<'_>, name: String, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: namespace.map(str::to_owned),
        labels: Some(names.common_labels()),
        ..Default::default()
    }
}

fn port(name: &str, port: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_owned()),
        port,
        target_port: Some(IntOrString::String(name.to_owned())),
        protocol: Some("TCP".to_owned()),
        ..Default::default()
    }
}

pub fn config_map(
    cluster: &ValidatedCluster,
    names: &Names<'_>,
    namespace: Option<&str>,
) -> ConfigMap {
    ConfigMap {
        metadata: meta(names, names.config_map(), namespace),
        data: Some(BTreeMap::from([(
            CONFIG_FILE.to_owned(),
            redis_conf(cluster),
        )])),
        ..Default::default()
    }
}

/// Stable DNS per pod. Not-ready pods are published: instances must find each other over the
/// cluster bus, and the engine must reach them, before any of them is ready.
///
/// With metrics on, it also names the exporters' port, for a ServiceMonitor or any scraper
/// that discovers pods through a Service's endpoints.
pub fn headless_service(
    cluster: &ValidatedCluster,
    names: &Names<'_>,
    namespace: Option<&str>,
) -> Service {
    let mut ports = vec![port("redis", REDIS_PORT), port("cluster-bus", BUS_PORT)];
    let metrics = &cluster.spec().kubernetes.metrics;
    if metrics.enabled {
        ports.push(port(METRICS_PORT_NAME, i32::from(metrics.port)));
    }
    Service {
        metadata: meta(names, names.headless_service(), namespace),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            publish_not_ready_addresses: Some(true),
            selector: Some(names.selector_labels()),
            ports: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A seed address for cluster-aware clients; they follow MOVED redirects from there.
pub fn client_service(names: &Names<'_>, namespace: Option<&str>) -> Service {
    Service {
        metadata: meta(names, names.client_service(), namespace),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(names.selector_labels()),
            ports: Some(vec![port("redis", REDIS_PORT)]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One budget over every Redis pod of the cluster, one disruption at a time: a budget per zone
/// or per StatefulSet would let a drain evict a master and its own replica together.
pub fn disruption_budget(names: &Names<'_>, namespace: Option<&str>) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(names, names.disruption_budget(), namespace),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(names.selector_labels()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}
