//! `redis-stretch operator`: run the Kubernetes operator (in a pod, or outside the cluster
//! with a kubeconfig — the end-to-end tests run it that way).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use redis_stretch_k8s::NetworkAccess;
use redis_stretch_operator::{run as run_operator, OperatorConfig};

use crate::error::CliError;

#[derive(Args)]
pub struct OperatorArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long)]
    namespace: Option<String>,
    /// The Lease that elects the one replica allowed to act.
    #[arg(long, default_value = "redis-stretch-operator")]
    lease_name: String,
    /// Namespace of the Lease (default: $POD_NAMESPACE, else `redis-stretch`).
    #[arg(long, env = "POD_NAMESPACE")]
    lease_namespace: Option<String>,
    /// Lease duration: a new leader waits this long after the old one stops renewing.
    #[arg(long, default_value_t = 4000)]
    lease_duration_ms: u64,
    /// Where /metrics, /healthz and /readyz are served.
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// The zone the leader should run in: the one holding the minority of masters, so that
    /// the engine survives the loss of the zone that needs a takeover.
    #[arg(long)]
    preferred_zone: Option<String>,
    /// Node label naming a node's zone (to find this replica's own zone).
    #[arg(long, default_value = redis_stretch_api::DEFAULT_ZONE_LABEL)]
    zone_label: String,
    /// This replica's identity in the Lease (default: $POD_NAME, else host name and pid).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// The node this replica runs on (from the downward API).
    #[arg(long, env = "NODE_NAME")]
    node_name: Option<String>,
    /// Give every cluster a NetworkPolicy: the cluster bus from its own pods only, the client
    /// port from its pods, this operator and its namespace's pods (plus --client-namespace),
    /// the exporter from --metrics-namespace. Off: policies applied before are deleted.
    #[arg(long)]
    network_policy: bool,
    /// With --network-policy: a namespace whose pods may use the client port (repeat, or
    /// separate with commas).
    #[arg(long, value_delimiter = ',')]
    client_namespace: Vec<String>,
    /// With --network-policy: a namespace whose pods may scrape the exporter (none: the
    /// cluster's own namespace).
    #[arg(long, value_delimiter = ',')]
    metrics_namespace: Vec<String>,
    /// With --network-policy: a label `key=value` of this operator's pods, to let exactly
    /// them reach Redis (none: every pod of the Lease's namespace).
    #[arg(long, value_delimiter = ',')]
    operator_label: Vec<String>,
}

pub async fn run(args: OperatorArgs) -> Result<(), CliError> {
    if args.lease_duration_ms < 1000 {
        return Err(CliError::Usage(
            "--lease-duration-ms must be at least 1000: the lease is renewed every quarter of it"
                .into(),
        ));
    }
    // Outside a pod two operators on one host must not share an identity: both would think
    // they hold the Lease.
    let identity = args.identity.unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "redis-stretch".to_owned());
        format!("{host}-{}", std::process::id())
    });
    // The same default as the break-glass commands' --operator-namespace.
    let lease_namespace = args
        .lease_namespace
        .unwrap_or_else(|| "redis-stretch".to_owned());
    let network = if args.network_policy {
        let mut operator_labels = std::collections::BTreeMap::new();
        for label in &args.operator_label {
            let Some((k, v)) = label.split_once('=') else {
                return Err(CliError::Usage(format!(
                    "--operator-label {label}: write it as key=value, e.g. app.kubernetes.io/name=redis-stretch"
                )));
            };
            operator_labels.insert(k.to_owned(), v.to_owned());
        }
        Some(NetworkAccess {
            operator_namespace: lease_namespace.clone(),
            operator_labels,
            client_namespaces: args.client_namespace,
            metrics_namespaces: args.metrics_namespace,
        })
    } else {
        None
    };
    run_operator(OperatorConfig {
        namespace: args.namespace,
        lease_name: args.lease_name,
        lease_namespace,
        lease_duration: Duration::from_millis(args.lease_duration_ms),
        metrics_addr: args.metrics_addr,
        preferred_zone: args.preferred_zone,
        zone_label: args.zone_label,
        identity,
        node_name: args.node_name,
        network,
    })
    .await
    .map_err(|e| CliError::Runtime(e.to_string()))
}
