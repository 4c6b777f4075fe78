//! `redis-stretch operator`: run the Kubernetes operator (in a pod, or outside the cluster
//! with a kubeconfig — the end-to-end tests run it that way).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
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
    run_operator(OperatorConfig {
        namespace: args.namespace,
        lease_name: args.lease_name,
        // The same default as the break-glass commands' --operator-namespace.
        lease_namespace: args
            .lease_namespace
            .unwrap_or_else(|| "redis-stretch".to_owned()),
        lease_duration: Duration::from_millis(args.lease_duration_ms),
        metrics_addr: args.metrics_addr,
        preferred_zone: args.preferred_zone,
        zone_label: args.zone_label,
        identity,
        node_name: args.node_name,
    })
    .await
    .map_err(|e| CliError::Runtime(e.to_string()))
}
