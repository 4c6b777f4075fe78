//! Prometheus metrics (prometheus-client) and the HTTP endpoints `/metrics`, `/healthz` and
//! `/readyz`. Labels are bounded: cluster names, zone names, action kinds and error
//! categories, never free text.

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
        Self {
            registry,
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
    /// Times a reconcile: observed when dropped, whatever way the reconcile ends.
    pub fn timer(&self) -> ReconcileTimer<'_> {
        ReconcileTimer {
            metrics: self,
            start: Instant::now(),
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
        "/healthz" => ("200 OK", "ok\n".to_owned(), TEXT),
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
        assert_eq!(route("/nope", &m).0, "404 Not Found");
    }
}
