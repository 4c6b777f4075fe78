//! Prometheus metrics (prometheus-client) and the HTTP endpoints `/metrics`, `/healthz` and
//! `/readyz`. Labels are bounded: cluster names, zone names, action kinds and error
//! categories, never free text.
//!
//! The chart's PrometheusRule (`deploy/helm/redis-stretch/templates/prometheusrule.yaml`) may
//! name only what this registry exports: `tests/alert_rules.rs` checks it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::health::{Health, InFlight};

/// The commit the binary was built from (`build.rs`), or `unknown`.
pub const GIT_COMMIT: &str = match option_env!("REDIS_STRETCH_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
    pub git_commit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabels {
    pub namespace: String,
    pub cluster: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub namespace: String,
    pub cluster: String,
    pub action: String,
    pub ok: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ZoneLabels {
    pub namespace: String,
    pub cluster: String,
    pub zone: String,
}

pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<ClusterLabels, Counter>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub reconcile_seconds: Histogram,
    pub engine_actions: Family<ActionLabels, Counter>,
    /// 1 while the engine considers the zone dark.
    pub zone_dark: Family<ZoneLabels, Gauge>,
    /// Slots served by a reachable master, per cluster (16384 when whole).
    pub slots_served: Family<ClusterLabels, Gauge>,
    /// Reachable slot-owning masters whose fence is armed (`min-replicas-to-write` > 0): all
    /// of them in a healthy fenced cluster.
    pub fenced_masters: Family<ClusterLabels, Gauge>,
    /// Of those, the ones whose fence is not satisfied (fewer live replicas than it needs):
    /// they refuse writes. Above 0 for more than a few seconds with no zone dark means a fence
    /// nobody lifts (a dead replica and no engine).
    pub write_blocked_masters: Family<ClusterLabels, Gauge>,
    /// 1 on the replica holding the Lease.
    pub leader: Gauge,
    /// Unix time of the engine's last loop iteration (a pass, or a formation step), per
    /// cluster, on the leader only: the series goes with the engine.
    pub engine_heartbeat: Family<ClusterLabels, Gauge>,
    /// 1 while the engine waits for a human (`Manual` policy, a takeover it may not run).
    pub engine_waiting_for_human: Family<ClusterLabels, Gauge>,
    /// 1 while the engine has chosen a side in a cut between the zones (`status.partition`).
    pub partition: Family<ClusterLabels, Gauge>,
    /// 1 while a rollout is under way.
    pub rollout_in_progress: Family<ClusterLabels, Gauge>,
    /// Unix time the rollout's current restart was asked for; no series while none is.
    pub rollout_restart_started: Family<ClusterLabels, Gauge>,
    /// Liveness of the controller and engine loops (`/healthz`).
    pub health: Arc<Health>,
    ready: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("redis_stretch");
        let reconciles = Family::<ClusterLabels, Counter>::default();
        registry.register("reconciles", "Reconciles run", reconciles.clone());
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, by error category",
            reconcile_errors.clone(),
        );
        // Fine below 10 ms: an idle reconcile takes a few ms (docs/BENCHMARKS.md, footprint).
        let reconcile_seconds = Histogram::new([
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        registry.register(
            "reconcile_duration_seconds",
            "Time per reconcile",
            reconcile_seconds.clone(),
        );
        let engine_actions = Family::<ActionLabels, Counter>::default();
        registry.register(
            "engine_actions",
            "Actions the engine carried out (takeover, fence, failover, ...)",
            engine_actions.clone(),
        );
        let zone_dark = Family::<ZoneLabels, Gauge>::default();
        registry.register(
            "zone_dark",
            "1 while the engine considers the zone dark",
            zone_dark.clone(),
        );
        let slots_served = Family::<ClusterLabels, Gauge>::default();
        registry.register(
            "slots_served",
            "Slots served by a reachable master",
            slots_served.clone(),
        );
        let fenced_masters = Family::<ClusterLabels, Gauge>::default();
        registry.register(
            "fenced_masters",
            "Reachable slot-owning masters whose fence (min-replicas-to-write) is armed",
            fenced_masters.clone(),
        );
        let write_blocked_masters = Family::<ClusterLabels, Gauge>::default();
        registry.register(
            "write_blocked_masters",
            "Fenced masters with fewer live replicas than their fence needs: they refuse writes",
            write_blocked_masters.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 on the operator replica that holds the Lease",
            leader.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        registry.register(
            "build_info",
            "Always 1; the labels say which build runs",
            build_info.clone(),
        );
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                git_commit: GIT_COMMIT.to_owned(),
            })
            .set(1);
        let engine_heartbeat = Family::<ClusterLabels, Gauge>::default();
        registry.register(
            "engine_heartbeat_timestamp_seconds",
            "Unix time of the engine's last loop iteration (pass or formation step)",
            engine_heartbeat.clone(),
        );
        let engine_waiting_for_human = Family::<ClusterLabels, Gauge>::default();
        registry.register(
            "engine_waiting_for_human",
            "1 while the engine waits for a human to run a command (Manual policy)",
            engine_waiting_for_human.clone(),
        );
        let partition = Family::<ClusterLabels, Gauge>::default();
        registry.register(
            "partition",
            "1 while the engine has chosen a side in a cut between the zones",
            partition.clone(),
        );
        let rollout_in_progress = Family::<ClusterLabels, Gauge>::default();
        registry.register(
            "rollout_in_progress",
            "1 while a rollout (instances restarted one at a time) is under way",
            rollout_in_progress.clone(),
        );
        let rollout_restart_started = Family::<ClusterLabels, Gauge>::default();
        registry.register(
            "rollout_restart_started_timestamp_seconds",
            "Unix time the rollout's current restart was asked for (absent when none is)",
            rollout_restart_started.clone(),
        );
        Self {
            registry,
            engine_heartbeat,
            engine_waiting_for_human,
            partition,
            rollout_in_progress,
            rollout_restart_started,
            health: Arc::default(),
            reconciles,
            reconcile_errors,
            reconcile_seconds,
            engine_actions,
            zone_dark,
            slots_served,
            fenced_masters,
            write_blocked_masters,
            leader,
            ready: AtomicBool::new(false),
        }
    }
}

impl Metrics {
    /// Times a reconcile: observed when dropped, whatever way the reconcile ends. The
    /// reconcile counts as in flight for `/healthz` meanwhile.
    pub fn timer(&self) -> ReconcileTimer<'_> {
        ReconcileTimer {
            metrics: self,
            start: Instant::now(),
            _in_flight: self.health.reconcile_started(),
        }
    }

    /// The engine of a cluster stopped (its term ended, the cluster went): drop its series,
    /// so that a replica that no longer leads does not go on exporting what it last saw
    /// (a zone dark, a stale heartbeat) beside the new leader's figures.
    pub fn forget_cluster(&self, namespace: &str, cluster: &str, zones: &[String]) {
        let labels = ClusterLabels {
            namespace: namespace.to_owned(),
            cluster: cluster.to_owned(),
        };
        for family in [
            &self.slots_served,
            &self.fenced_masters,
            &self.write_blocked_masters,
            &self.engine_heartbeat,
            &self.engine_waiting_for_human,
            &self.partition,
            &self.rollout_in_progress,
            &self.rollout_restart_started,
        ] {
            family.remove(&labels);
        }
        for zone in zones {
            self.zone_dark.remove(&ZoneLabels {
                namespace: namespace.to_owned(),
                cluster: cluster.to_owned(),
                zone: zone.clone(),
            });
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Ready once the caches have synced (`/readyz`).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    start: Instant,
    _in_flight: InFlight,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .reconcile_seconds
            .observe(self.start.elapsed().as_secs_f64());
    }
}

/// Serve `/metrics`, `/healthz` and `/readyz` on `addr` until the task is dropped. A tiny
/// HTTP/1.0 responder: three fixed GET routes need no framework, and the scraper and kubelet
/// speak exactly this.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!("metrics and health on http://{addr}");
    loop {
        let (mut sock, _) = listener.accept().await?;
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let n =
                match tokio::time::timeout(std::time::Duration::from_secs(5), sock.read(&mut buf))
                    .await
                {
                    Ok(Ok(n)) => n,
                    _ => return,
                };
            let head = String::from_utf8_lossy(&buf[..n]);
            let path = head.split_whitespace().nth(1).unwrap_or("/");
            let (code, body, ctype) = route(path, &metrics);
            let resp = format!(
                "HTTP/1.0 {code}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}

fn route(path: &str, metrics: &Metrics) -> (&'static str, String, &'static str) {
    const TEXT: &str = "text/plain; charset=utf-8";
    match path {
        "/metrics" => (
            "200 OK",
            metrics.render(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
        "/healthz" => {
            let stuck = metrics.health.check();
            if stuck.is_empty() {
                ("200 OK", "ok\n".to_owned(), TEXT)
            } else {
                (
                    "503 Service Unavailable",
                    format!("stuck: {}\n", stuck.join("; ")),
                    TEXT,
                )
            }
        }
        "/readyz" if metrics.is_ready() => ("200 OK", "ready\n".to_owned(), TEXT),
        "/readyz" => (
            "503 Service Unavailable",
            "caches not synced yet\n".to_owned(),
            TEXT,
        ),
        _ => ("404 Not Found", "not found\n".to_owned(), TEXT),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn routes_and_encoding() {
        let m = Metrics::default();
        m.reconciles
            .get_or_create(&ClusterLabels {
                namespace: "redis".into(),
                cluster: "seed".into(),
            })
            .inc();
        let (code, body, _) = route("/metrics", &m);
        assert_eq!(code, "200 OK");
        assert!(
            body.contains("redis_stretch_reconciles_total{namespace=\"redis\",cluster=\"seed\"} 1"),
            "{body}"
        );
        assert_eq!(route("/readyz", &m).0, "503 Service Unavailable");
        m.set_ready();
        assert_eq!(route("/readyz", &m).0, "200 OK");
        assert_eq!(route("/healthz", &m).0, "200 OK");
        assert!(
            body.contains(&format!(
                "redis_stretch_build_info{{version=\"{}\",git_commit=\"{GIT_COMMIT}\"}} 1",
                env!("CARGO_PKG_VERSION")
            )),
            "{body}"
        );
        assert_eq!(route("/nope", &m).0, "404 Not Found");
    }

    /// `/healthz` fails with the reason while an engine is past its bound, and recovers when
    /// that engine goes (a replica that stopped leading is healthy).
    #[test]
    fn healthz_names_a_stuck_engine() {
        let m = Metrics {
            health: Arc::new(Health::with_bounds(crate::health::Bounds {
                engine: std::time::Duration::ZERO,
                ..crate::health::Bounds::default()
            })),
            ..Metrics::default()
        };
        let engine = m.health.engine_started("redis", "seed");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let (code, body, _) = route("/healthz", &m);
        assert_eq!(code, "503 Service Unavailable");
        assert!(
            body.contains("the engine of redis/seed has not finished a pass"),
            "{body}"
        );
        drop(engine);
        assert_eq!(route("/healthz", &m).0, "200 OK");
    }
}
