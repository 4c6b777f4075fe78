//! The optional `metrics` sidecar: a redis_exporter-compatible container beside each Redis,
//! scraped per pod so that every instance, master or replica, is seen on its own.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, ContainerPort, EnvVar, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use redis_stretch_api::RedisStretchClusterSpec;

use super::pod::password_env;
use super::security;
use crate::names::{Names, REDIS_PORT};

pub const METRICS_PORT_NAME: &str = "metrics";

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.into()),
        ..Default::default()
    }
}

/// The sidecar, when `spec.kubernetes.metrics.enabled`.
pub fn container(spec: &RedisStretchClusterSpec, names: &Names<'_>) -> Option<Container> {
    let m = &spec.kubernetes.metrics;
    if !m.enabled {
        return None;
    }
    let scheme = if spec.tls.enabled { "rediss" } else { "redis" };
    // Each exporter scrapes only its own pod's Redis, over the pod's loopback.
    let mut vars = vec![
        env("REDIS_ADDR", format!("{scheme}://127.0.0.1:{REDIS_PORT}")),
        env("REDIS_EXPORTER_WEB_LISTEN_ADDRESS", format!(":{}", m.port)),
        // REDIS_EXPORTER_IS_CLUSTER stays unset: it only makes check-keys follow MOVED across
        // the cluster, and one exporter per pod must report its own instance, nothing else.
    ];
    if spec.tls.enabled {
        // The exporter (Go) checks the certificate's host names, and certificates name the
        // pod's DNS names, not 127.0.0.1. Verification adds nothing on loopback: the
        // connection never leaves the pod's network namespace, which only its containers share.
        vars.push(env("REDIS_EXPORTER_SKIP_TLS_VERIFICATION", "true"));
    }
    if spec.auth.enabled {
        vars.push(password_env(names));
    }
    Some(Container {
        name: "metrics".to_owned(),
        image: Some(m.image.clone()),
        env: Some(vars),
        ports: Some(vec![ContainerPort {
            name: Some(METRICS_PORT_NAME.to_owned()),
            container_port: i32::from(m.port),
            ..Default::default()
        }]),
        // Small: it answers one scrape at a time for one instance. The memory limit keeps a
        // misbehaving exporter from competing with Redis for the pod's node.
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), Quantity("10m".to_owned())),
                ("memory".to_owned(), Quantity("32Mi".to_owned())),
            ])),
            limits: Some(BTreeMap::from([(
                "memory".to_owned(),
                Quantity("64Mi".to_owned()),
            )])),
            ..Default::default()
        }),
        // No readiness probe on purpose: a pod's readiness is all its containers', and a
        // failing exporter must not make Redis look unavailable to Services and the
        // disruption budget.
        security_context: Some(security::container()),
        ..Default::default()
    })
}

/// Pod annotations for Prometheus's annotation-based discovery.
pub fn annotations(spec: &RedisStretchClusterSpec) -> Option<BTreeMap<String, String>> {
    let m = &spec.kubernetes.metrics;
    m.enabled.then(|| {
        BTreeMap::from([
            ("prometheus.io/scrape".to_owned(), "true".to_owned()),
            ("prometheus.io/port".to_owned(), m.port.to_string()),
            ("prometheus.io/path".to_owned(), "/metrics".to_owned()),
        ])
    })
}
