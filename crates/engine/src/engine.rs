//! The loop: observe → track zones → decide → act, every `interval`, and report what it saw,
//! decided and did. One instance of it is the single authority that may take over; the
//! platform (local controller, operator leader) makes sure of that.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis_stretch_admin::Secret;
use redis_stretch_api::RedisStretchClusterSpec;
use redis_stretch_topology::ZoneVerdict;
use serde::Serialize;

use crate::act::{act, Outcome};
use crate::decide::{decide, Decision, Input, Intent, PendingFailover, Policy};
use crate::zone::{confirm_window, ZoneState, ZoneTracker};
use crate::{observe, Action, Instance, Pool, Snapshot};

/// What the engine needs from where instances run.
pub trait Platform: Send + Sync {
    /// Instances as they are now (addresses may change between passes).
    fn instances(&self) -> Result<Vec<Instance>, String>;
    /// A zone under `evacuate`: no failback into it until `resume`.
    fn held_zone(&self) -> Option<String>;
    /// Whether this engine is still the authority, asked right before it acts (on Kubernetes:
    /// the Lease is still ours). Decisions are still made and reported when it is not.
    fn may_act(&self) -> bool {
        true
    }
}

/// Where the engine reports (local: files in the state dir; Kubernetes: events and status).
pub trait Recorder: Send + Sync {
    fn events(&self, events: &[Event]);
    fn status(&self, status: &EngineStatus);
}

#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub interval: Duration,
    /// Per-probe timeout: a frozen node costs this much per pass.
    pub probe_timeout: Duration,
    pub confirm: Duration,
    /// First failback hold-down after a zone returns; doubled for every further loss of the
    /// same zone within `flap_window` (a flapping zone gets its masters back ever later).
    pub hold_down: Duration,
    pub flap_window: Duration,
    /// How long a graceful failover is left to Redis before it may be asked again: Redis 7
    /// times a manual failover out after 5 s, and a replica whose election failed starts the
    /// next one only 2 × max(2 × node-timeout, 2 s) later.
    pub failover_retry: Duration,
}

impl EngineConfig {
    pub fn for_spec(spec: &RedisStretchClusterSpec) -> Self {
        let node_timeout = Duration::from_millis(spec.redis.cluster_node_timeout_ms);
        Self {
            interval: Duration::from_millis(100),
            probe_timeout: Duration::from_millis(250),
            confirm: confirm_window(node_timeout),
            hold_down: (node_timeout * 2).max(Duration::from_secs(5)),
            flap_window: Duration::from_secs(600),
            failover_retry: (node_timeout.max(Duration::from_secs(1)) * 4)
                .max(Duration::from_secs(5))
                + Duration::from_millis(500),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Unix time, milliseconds.
    pub at_ms: u64,
    pub kind: &'static str,
    pub summary: String,
    pub why: String,
    pub ok: bool,
    pub detail: String,
    pub took_ms: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct EngineStatus {
    pub pid: u32,
    /// Unix time of this pass, ms: a stale heartbeat means no live engine.
    pub heartbeat_ms: u64,
    pub zones: Vec<(String, ZoneState)>,
    pub verdicts: Vec<ZoneVerdict>,
    pub waiting_for: Option<String>,
    pub notes: Vec<String>,
    pub last_actions: Vec<Event>,
}

pub struct Pass {
    pub snapshot: Snapshot,
    pub zones: Vec<(String, ZoneState)>,
    pub decision: Decision,
    pub outcomes: Vec<Outcome>,
}

pub struct Engine {
    zones: Vec<String>,
    policy: Policy,
    cfg: EngineConfig,
    tracker: ZoneTracker,
    pool: Pool,
    bumped: Vec<String>,
    /// Graceful failovers asked for: candidate node id and when.
    failovers: Vec<(String, Instant)>,
    recent: VecDeque<Event>,
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Engine {
    pub fn new(
        spec: &RedisStretchClusterSpec,
        password: Option<Secret>,
        cfg: EngineConfig,
    ) -> Self {
        Self {
            zones: spec.zones.iter().map(|z| z.name.clone()).collect(),
            policy: Policy::from_spec(spec),
            tracker: ZoneTracker::new(cfg.confirm, Instant::now()),
            pool: Pool::new(password, cfg.probe_timeout),
            cfg,
            bumped: Vec::new(),
            failovers: Vec::new(),
            recent: VecDeque::new(),
        }
    }

    /// Reach the instances over TLS, trusting `tls`'s CA.
    pub fn with_tls(mut self, tls: Option<redis_stretch_admin::Tls>) -> Self {
        self.pool = Pool::new(self.pool.password().cloned(), self.pool.timeout()).with_tls(tls);
        self
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Failback hold-down left, over the zones that came back.
    fn hold_down_left(&self, now: Instant) -> Option<Duration> {
        self.zones
            .iter()
            .filter_map(|z| {
                let since = self.tracker.since_return(z, now)?;
                let losses = self
                    .tracker
                    .recent_losses(z, now, self.cfg.flap_window)
                    .max(1);
                let factor = 1u32 << (losses - 1).min(6);
                let hold = (self.cfg.hold_down * factor).min(Duration::from_secs(300));
                hold.checked_sub(since).filter(|d| !d.is_zero())
            })
            .max()
    }

    /// One observe → decide → act pass.
    pub async fn pass(&mut self, platform: &dyn Platform, intent: Intent) -> Result<Pass, String> {
        let instances = platform.instances()?;
        let snapshot = observe(&instances, &self.zones, &self.pool).await;
        let now = Instant::now();
        let zones = self.tracker.update(&snapshot, now);
        if zones.iter().all(|(_, s)| *s == ZoneState::Healthy) {
            self.bumped.clear();
        }
        let held = platform.held_zone();
        // A request is settled once its candidate is master, or once Redis would have given up.
        let retry = self.cfg.failover_retry;
        self.failovers.retain(|(id, at)| {
            now.duration_since(*at) < retry
                && snapshot.node_by_id(id).is_some_and(|n| !n.is_master())
        });
        let silent = self.tracker.silent_nodes(now);
        let pending: Vec<PendingFailover> = self
            .failovers
            .iter()
            .map(|(id, at)| PendingFailover {
                candidate: id.clone(),
                left: retry.saturating_sub(now.duration_since(*at)),
            })
            .collect();
        let decision = decide(&Input {
            snapshot: &snapshot,
            zones: &zones,
            policy: &self.policy,
            intent,
            held_zone: held.as_deref(),
            hold_down_left: self.hold_down_left(now),
            bumped: &self.bumped,
            failovers_pending: &pending,
            silent: &silent,
        });
        let outcomes = if platform.may_act() {
            act(&decision, &self.pool).await
        } else {
            Vec::new()
        };
        let id_at = |node: &redis_stretch_admin::NodeAddr| {
            snapshot
                .nodes
                .iter()
                .find(|n| n.addr.as_ref() == Some(node))
                .and_then(|n| n.id.clone())
        };
        for o in outcomes.iter().filter(|o| o.ok) {
            match &o.action {
                Action::BumpEpoch { node, .. } => self.bumped.extend(id_at(node)),
                Action::GracefulFailover { node, .. } => {
                    self.failovers.extend(id_at(node).map(|id| (id, now)));
                }
                _ => {}
            }
        }
        Ok(Pass {
            snapshot,
            zones,
            decision,
            outcomes,
        })
    }

    /// Turn outcomes into events and remember the last few for status.
    pub fn events(&mut self, outcomes: &[Outcome]) -> Vec<Event> {
        let at_ms = unix_ms();
        let events: Vec<Event> = outcomes
            .iter()
            .map(|o| Event {
                at_ms,
                kind: o.action.kind(),
                summary: o.action.to_string(),
                why: o.action.why().to_owned(),
                ok: o.ok,
                detail: o.detail.clone(),
                took_ms: o.took_ms,
            })
            .collect();
        for e in &events {
            self.recent.push_back(e.clone());
            if self.recent.len() > 20 {
                self.recent.pop_front();
            }
        }
        events
    }

    pub fn status(&self, pass: &Pass) -> EngineStatus {
        EngineStatus {
            pid: std::process::id(),
            heartbeat_ms: unix_ms(),
            zones: pass.zones.clone(),
            verdicts: pass.snapshot.verdicts(),
            waiting_for: pass.decision.waiting_for.clone(),
            notes: pass.decision.notes.clone(),
            last_actions: self.recent.iter().cloned().collect(),
        }
    }

    /// Run passes until `stop` resolves.
    pub async fn run(
        &mut self,
        platform: &dyn Platform,
        recorder: &dyn Recorder,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        loop {
            let started = Instant::now();
            match self.pass(platform, Intent::Auto).await {
                Ok(pass) => {
                    let events = self.events(&pass.outcomes);
                    if !events.is_empty() {
                        recorder.events(&events);
                    }
                    recorder.status(&self.status(&pass));
                }
                Err(e) => tracing::warn!("engine pass skipped: {e}"),
            }
            let rest = self.cfg.interval.saturating_sub(started.elapsed());
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(rest) => {}
            }
        }
    }
}
