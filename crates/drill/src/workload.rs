//! The running drill workload: both writers and the probe, started together on one epoch.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis_stretch_admin::NodeAddr;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::connection::{self, cluster_client, Connection};
use crate::probe::{all_writable_at, recoveries, shards_from_cluster_slots, Probe};
use crate::slots::write_key;
use crate::writer::{since, value_for, Writer, WriterSettings, WriterStats};
use crate::{DrillConfig, DrillError, ProbeRecord, ShardInfo, WriteRecord, WriterKind};

/// How long every shard must have kept accepting probe writes before
/// [`Workload::wait_all_writable`] believes a recovery: longer than a probe timeout, so that a
/// probe still in flight to a frozen node cannot be missed.
pub const HOLD: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseKind {
    /// Anything that may make shards unwritable (a zone killed, a zone restored and failed back
    /// to): opens a window in which RTO and failed writes are measured.
    Fault,
    /// A milestone inside a window (takeover sent, failback done).
    Milestone,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Phase {
    pub name: String,
    pub kind: PhaseKind,
    /// Microseconds since the epoch.
    pub at_us: u64,
}

/// Everything a drill recorded, handed to [`crate::verify`].
#[derive(Clone, Debug, Serialize)]
pub struct Recorded {
    /// Random per drill; part of every key and value.
    pub run: String,
    #[serde(skip)]
    pub epoch: Instant,
    pub duration_us: u64,
    pub shards: Vec<ShardInfo>,
    pub phases: Vec<Phase>,
    /// Sorted by writer, then start.
    pub writes: Vec<WriteRecord>,
    pub probes: Vec<ProbeRecord>,
    /// Ticks a writer skipped because every lane was busy, per writer.
    pub skipped_ticks: Vec<(WriterKind, u64)>,
    /// Topology rebuilds our client did (see [`crate::connection`]).
    pub topology_refreshes: u64,
}

impl Recorded {
    pub fn key(&self, w: &WriteRecord) -> String {
        write_key(&self.run, w.writer.tag(), w.seq)
    }
    pub fn value(&self, w: &WriteRecord) -> String {
        value_for(&self.run, w.writer, w.seq)
    }
}

pub struct Workload {
    epoch: Instant,
    run: Arc<str>,
    shards: Vec<ShardInfo>,
    phases: Mutex<Vec<Phase>>,
    writes: Arc<Mutex<Vec<WriteRecord>>>,
    probes: Arc<Mutex<Vec<ProbeRecord>>>,
    stop: watch::Sender<bool>,
    writers: Vec<(WriterKind, JoinHandle<WriterStats>)>,
    probe: JoinHandle<()>,
    conns: Vec<Arc<Connection>>,
    refreshers: Vec<JoinHandle<()>>,
}

fn take<T>(m: &Mutex<Vec<T>>) -> Vec<T> {
    std::mem::take(&mut *m.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
}

fn run_id() -> String {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        // Uniqueness only has to hold across drills on one cluster; time will do.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        b = t.to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Workload {
    /// Connects, reads the slot layout, and starts both writers and the probe.
    pub async fn start(cfg: DrillConfig) -> Result<Self, DrillError> {
        cfg.validate()?;
        // Opening a cluster connection: connect to every seed at once, read the slots from one,
        // connect to the nodes it names; a frozen node costs `connect_timeout` at each step.
        let connect_timeout = cfg.connect_timeout * 4 + cfg.attempt_timeout;
        let seeds = cfg.seeds_display();
        let client = cluster_client(
            &cfg.seeds,
            cfg.password.as_ref(),
            cfg.attempt_timeout,
            cfg.connect_timeout,
        )?;
        let mut first = connection::connect(&client, &seeds, connect_timeout).await?;
        let reply = first
            .route_command(
                redis::cmd("CLUSTER").arg("SLOTS").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await
            .map_err(|e| DrillError::Topology(e.to_string()))?;
        let shards = shards_from_cluster_slots(&reply).map_err(DrillError::Topology)?;
        drop(first);

        // Rebuilds start from every address we know, so losing the zone of the seeds the caller
        // gave does not leave the client without a way in.
        let mut addrs = cfg.seeds.clone();
        for s in &shards {
            if let Ok(a) = s.master_at_start.parse::<NodeAddr>() {
                if !addrs.contains(&a) {
                    addrs.push(a);
                }
            }
        }
        let all = connection::join(&addrs);
        let pw = cfg.password.as_ref();
        let wait_try = cfg.attempt_timeout + Duration::from_millis(cfg.wait_timeout_ms);

        let mut conns = Vec::new();
        let mut refreshers = Vec::new();
        let open = |c: redis::cluster::ClusterClient| {
            let all = all.clone();
            async move { Connection::start(c, all, connect_timeout).await }
        };
        let (plain_conn, t) = open(cluster_client(
            &addrs,
            pw,
            cfg.attempt_timeout,
            cfg.connect_timeout,
        )?)
        .await?;
        conns.push(Arc::clone(&plain_conn));
        refreshers.push(t);
        let mut wait_conns = Vec::new();
        for _ in 0..cfg.wait_connections {
            let (c, t) = open(cluster_client(&addrs, pw, wait_try, cfg.connect_timeout)?).await?;
            conns.push(Arc::clone(&c));
            refreshers.push(t);
            wait_conns.push(c);
        }
        let (probe_conn, t) = open(cluster_client(
            &addrs,
            pw,
            cfg.probe_timeout,
            cfg.connect_timeout,
        )?)
        .await?;
        conns.push(Arc::clone(&probe_conn));
        refreshers.push(t);

        // Build the slot → tag table now (≈160k CRC16s), not inside the first timed write.
        let _ = crate::slots::tag_for_slot(0);
        let epoch = Instant::now();
        let deadline = epoch + cfg.duration_limit;
        let run: Arc<str> = Arc::from(run_id());
        let (stop, stop_rx) = watch::channel(false);
        let writes = Arc::new(Mutex::new(Vec::new()));
        let probes = Arc::new(Mutex::new(Vec::new()));

        // Enough plain writes in flight to keep the rate through a whole retry window.
        let plain_in_flight = usize::try_from(
            u128::from(cfg.rate_per_writer) * (cfg.retry_window + cfg.attempt_timeout).as_millis()
                / 1000,
        )
        .unwrap_or(4096)
        .clamp(16, 4096);
        let mut writers = Vec::new();
        for kind in WriterKind::ALL {
            let (lanes, try_timeout) = match kind {
                WriterKind::Plain => (
                    vec![Arc::clone(&plain_conn); plain_in_flight],
                    cfg.attempt_timeout,
                ),
                WriterKind::Wait => (wait_conns.clone(), wait_try),
            };
            let w = Writer {
                settings: Arc::new(WriterSettings {
                    kind,
                    rate: cfg.rate_per_writer,
                    retry_window: cfg.retry_window,
                    try_timeout,
                    wait_timeout_ms: cfg.wait_timeout_ms,
                }),
                run: Arc::clone(&run),
                epoch,
                lanes,
                sink: Arc::clone(&writes),
                stop: stop_rx.clone(),
                deadline,
            };
            writers.push((kind, tokio::spawn(w.run())));
        }
        let probe = tokio::spawn(
            Probe {
                shards: shards.clone(),
                run: Arc::clone(&run),
                interval: cfg.probe_interval,
                timeout: cfg.probe_timeout,
                conn: probe_conn,
                epoch,
                sink: Arc::clone(&probes),
                stop: stop_rx,
                deadline,
            }
            .run(),
        );
        Ok(Self {
            epoch,
            run,
            shards,
            phases: Mutex::new(Vec::new()),
            writes,
            probes,
            stop,
            writers,
            probe,
            conns,
            refreshers,
        })
    }

    /// The instant all recorded times are relative to.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    pub fn run_id(&self) -> &str {
        &self.run
    }

    pub fn shards(&self) -> &[ShardInfo] {
        &self.shards
    }

    /// Records a milestone (e.g. "takeover", "failback done").
    pub fn mark(&self, phase: &str) {
        self.push_phase(phase, PhaseKind::Milestone);
    }

    /// Records a fault (e.g. "zone killed", "zone restored"): RTO and failed writes are measured
    /// from here to the next fault.
    pub fn mark_fault(&self, phase: &str) {
        self.push_phase(phase, PhaseKind::Fault);
    }

    fn push_phase(&self, name: &str, kind: PhaseKind) {
        let at_us = since(self.epoch, Instant::now());
        self.phases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Phase {
                name: name.to_owned(),
                kind,
                at_us,
            });
    }

    /// Waits until every shard has accepted probe writes continuously for [`HOLD`], and returns
    /// how long after `since` all slots became writable (the live RTO; the report recomputes it
    /// with hindsight). `None` on timeout.
    pub async fn wait_all_writable(&self, start: Instant, timeout: Duration) -> Option<Duration> {
        let from = since(self.epoch, start);
        let give_up = Instant::now() + timeout;
        loop {
            let now = since(self.epoch, Instant::now());
            let at = {
                let probes = self
                    .probes
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                all_writable_at(&recoveries(&probes, self.shards.len(), from, now + 1))
            };
            if let Some(at) = at {
                let hold = u64::try_from(HOLD.as_micros()).unwrap_or(u64::MAX);
                if now.saturating_sub(at) >= hold {
                    return Some(Duration::from_micros(at.saturating_sub(from)));
                }
            }
            if Instant::now() >= give_up {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops issuing writes, lets in-flight ones finish under their retry policy, and returns
    /// what was recorded.
    pub async fn stop(self) -> Result<Recorded, DrillError> {
        let _ = self.stop.send(true);
        let mut skipped_ticks = Vec::new();
        let mut first_error = None;
        for (kind, handle) in self.writers {
            match handle.await {
                Ok(stats) => skipped_ticks.push((kind, stats.skipped_ticks)),
                Err(e) => {
                    first_error
                        .get_or_insert(DrillError::Task(format!("{} writer: {e}", kind.label())));
                }
            }
        }
        if let Err(e) = self.probe.await {
            first_error.get_or_insert(DrillError::Task(format!("probe: {e}")));
        }
        let duration_us = since(self.epoch, Instant::now());
        let topology_refreshes = self.conns.iter().map(|c| c.refreshes()).sum();
        for c in &self.conns {
            c.stop();
        }
        for r in self.refreshers {
            r.abort();
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let mut writes: Vec<WriteRecord> = take(&self.writes);
        writes.sort_by_key(|w| (w.writer, w.start_us));
        let mut probes: Vec<ProbeRecord> = take(&self.probes);
        probes.sort_by_key(|p| (p.shard, p.start_us));
        let mut phases = take(&self.phases);
        phases.sort_by_key(|p| p.at_us);
        Ok(Recorded {
            run: self.run.to_string(),
            epoch: self.epoch,
            duration_us,
            shards: self.shards,
            phases,
            writes,
            probes,
            skipped_ticks,
            topology_refreshes,
        })
    }
}
