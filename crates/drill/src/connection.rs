//! A redis-rs cluster connection whose slot map we can force to refresh.
//!
//! What redis-rs 1.8 does by itself (read from `cluster_async/request.rs`, `mod.rs`):
//! - it retries a request `retries` times (default 16, exponential backoff up to 655 s!) on
//!   MOVED/ASK (following the redirect), `TRYAGAIN`/`CLUSTERDOWN`/`MASTERDOWN`/`LOADING`
//!   (sleep and retry), `READONLY` and lost connections (refresh, reconnect, retry), and on an
//!   I/O timeout (retry at once, to the *same* node);
//! - it rebuilds its slot map only on MOVED, `READONLY`, an unknown node or when every connection
//!   is lost — never on a timeout, and never periodically.
//!
//! We set `retries(0)`: every error comes back to our writer at once, so the writer's documented
//! retry policy ([`crate::writer`]) alone decides when a write has failed. The side effects of an
//! error (slot-map rebuild on MOVED, reconnect on a dropped connection) still happen inside
//! redis-rs. Per-try time is bounded by `response_timeout` and `overall_response_timeout`.
//!
//! A frozen (SIGSTOPped) master is the case redis-rs does not handle: it never answers, so it
//! never sends MOVED, and the client keeps routing its slots to it after a replica took them over.
//! Cluster clients that survive this (Lettuce's adaptive refresh, go-redis) refresh the topology
//! when requests time out. We do the same: a timeout, an I/O error or `CLUSTERDOWN` asks for a
//! rebuild of the whole cluster connection from the known addresses, at most one at a time and
//! at most every [`REFRESH_MIN_INTERVAL`]. The measured RTO therefore includes this client-side
//! detection (one try timeout plus one rebuild), as any real client's would.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis_stretch_admin::{NodeAddr, Secret};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::DrillError;

/// Spacing between two rebuilds of one connection: a dark zone makes every in-flight request
/// time out at once, and one rebuild answers them all.
pub const REFRESH_MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Builds a cluster client whose own retries are off, whose every try is bounded by
/// `try_timeout` and every new node connection by `connect_timeout`.
pub(crate) fn cluster_client(
    addrs: &[NodeAddr],
    password: Option<&Secret>,
    try_timeout: Duration,
    connect_timeout: Duration,
) -> Result<ClusterClient, DrillError> {
    let urls: Vec<String> = addrs.iter().map(|a| format!("redis://{a}")).collect();
    let mut builder = ClusterClientBuilder::new(urls)
        .retries(0)
        .connection_timeout(connect_timeout)
        .response_timeout(try_timeout)
        .overall_response_timeout(Some(try_timeout));
    if let Some(p) = password {
        builder = builder.password(p.expose());
    }
    builder.build().map_err(|source| DrillError::Client {
        seeds: join(addrs),
        source,
    })
}

pub(crate) fn join(addrs: &[NodeAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Connects with an outer bound: creating a connection touches every seed, and a frozen seed
/// must cost a timeout, never a hang.
pub(crate) async fn connect(
    client: &ClusterClient,
    seeds: &str,
    timeout: Duration,
) -> Result<ClusterConnection, DrillError> {
    match tokio::time::timeout(timeout, client.get_async_connection()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(DrillError::Connect {
            seeds: seeds.to_owned(),
            timeout,
            why: e.to_string(),
        }),
        Err(_) => Err(DrillError::Connect {
            seeds: seeds.to_owned(),
            timeout,
            why: "timed out".to_owned(),
        }),
    }
}

/// One cluster connection, shared by the tasks of one writer lane or of the probe, that a
/// background task rebuilds on request.
pub(crate) struct Connection {
    client: ClusterClient,
    seeds: String,
    connect_timeout: Duration,
    current: RwLock<ClusterConnection>,
    wake: Notify,
    stopping: AtomicBool,
    refreshes: AtomicU64,
}

impl Connection {
    pub(crate) async fn start(
        client: ClusterClient,
        seeds: String,
        connect_timeout: Duration,
    ) -> Result<(Arc<Self>, JoinHandle<()>), DrillError> {
        let first = connect(&client, &seeds, connect_timeout).await?;
        let conn = Arc::new(Self {
            client,
            seeds,
            connect_timeout,
            current: RwLock::new(first),
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            refreshes: AtomicU64::new(0),
        });
        let task = tokio::spawn(Arc::clone(&conn).refresh_loop());
        Ok((conn, task))
    }

    /// A handle to the current connection (cheap: an `Arc` and a channel sender).
    pub(crate) fn get(&self) -> ClusterConnection {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Ask for a rebuild. Requests while one is pending collapse into one.
    pub(crate) fn request_refresh(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    async fn refresh_loop(self: Arc<Self>) {
        loop {
            self.wake.notified().await;
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            match connect(&self.client, &self.seeds, self.connect_timeout).await {
                Ok(fresh) => {
                    *self
                        .current
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
                    self.refreshes.fetch_add(1, Ordering::Relaxed);
                }
                // The next failing request asks again; nothing else to do.
                Err(e) => tracing::debug!("drill: topology refresh failed: {e}"),
            }
            tokio::time::sleep(REFRESH_MIN_INTERVAL).await;
        }
    }
}
