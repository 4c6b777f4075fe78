//! The one engine loop, for every platform: observe → track zones → decide → act → remember →
//! report, every `interval`, until stopped. Local mode runs it in the foreground or a detached
//! process, the operator runs it in one task per cluster on the Lease holder, and the
//! break-glass commands run it with an explicit intent until that intent is settled
//! ([`Engine::run_until`]). One instance of it is the single authority that may take over; the
//! platform (local controller, operator leader) makes sure of that through [`Platform::may_act`].
//!
//! What the engine knows from the past is a [`Memory`], loaded from the platform when the first
//! pass starts and saved after every pass that changed it, so a restarted engine or a new leader
//! carries on where the last one stopped.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis_stretch_admin::{Secret, Tls};
use redis_stretch_api::{RedisStretchClusterSpec, ValidatedCluster};
use redis_stretch_decide::zone::confirm_window;
use redis_stretch_decide::{
    decide, ActionKind, Decision, EngineEvent, EngineStatus, HoldDownConfig, Input, Intent, Memory,
    MigrationChange, PartitionChange, Policy, Snapshot, Waiting, ZoneStates, ZoneTracker,
};
use redis_stretch_model::Instance;

use crate::act::{act, ActionResult};
use crate::formation::{form, Formation};
use crate::{observe, Pool};

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
    /// The memory the previous engine of this cluster saved, if any.
    fn load_memory(&self) -> Result<Option<Memory>, String> {
        Ok(None)
    }
    /// Keep `memory` for the next engine. Must not wait on a remote API: a platform whose store
    /// is remote hands it to a writer of its own.
    fn save_memory(&self, _memory: &Memory) -> Result<(), String> {
        Ok(())
    }
    /// Restart instance `name` at the spec's current revision (the rollout's step): local
    /// mode stops the process and starts it again with the current server and redis.conf;
    /// Kubernetes deletes the pod, which its StatefulSet (`OnDelete`) recreates. Returns what
    /// was done once the restart is under way; the next passes watch it come back.
    fn restart<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move { Err(format!("this platform cannot restart {name}")) })
    }
    /// Remove instance `name`, which the spec no longer has (`Instance::leaving`) and which
    /// the cluster has forgotten: local mode stops the process and drops it from the state;
    /// Kubernetes lowers its StatefulSet's replicas. Returns what was done.
    fn retire<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move { Err(format!("this platform cannot retire {name}")) })
    }
    /// Cheap, asked every pass: a value that changes whenever the spec may have (local mode:
    /// the manifest's mtime). `None`: the spec never changes under a running engine (the
    /// operator starts a new engine task with the new spec instead).
    fn spec_version(&self) -> Option<SystemTime> {
        None
    }
    /// The spec as it is now, asked when [`Platform::spec_version`] changed.
    fn spec(&self) -> Result<Option<RedisStretchClusterSpec>, String> {
        Ok(None)
    }
}

/// A future the platform returns from [`Platform::restart`].
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Where the engine reports (local: files in the state dir; Kubernetes: events and status).
pub trait Reporter: Send + Sync {
    fn events(&self, events: &[EngineEvent]);
    fn status(&self, status: &EngineStatus, pass: &Pass);
    /// Before the cluster exists (engines that form it): what formation is doing.
    fn forming(&self, _state: &Formation) {}
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot list the cluster's instances: {0}")]
    Instances(String),
    #[error("not settled after {}s: {}", .after.as_secs(), .waiting.as_ref().map_or_else(|| "actions still under way".to_owned(), ToString::to_string))]
    NotSettled {
        after: Duration,
        waiting: Option<Waiting>,
        snapshot: Box<Snapshot>,
    },
}

#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub interval: Duration,
    /// Per-probe timeout: a frozen node costs this much per pass.
    pub probe_timeout: Duration,
    pub confirm: Duration,
    pub hold: HoldDownConfig,
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
            confirm: confirm_window(node_timeout, spec.failover.detection),
            hold: HoldDownConfig {
                base: (node_timeout * 2).max(Duration::from_secs(5)),
                flap_window: Duration::from_secs(600),
                max: Duration::from_secs(300),
            },
            failover_retry: (node_timeout.max(Duration::from_secs(1)) * 4)
                .max(Duration::from_secs(5))
                + Duration::from_millis(500),
        }
    }
}

/// One pass: what the engine saw, decided and did.
pub struct Pass {
    pub at_ms: u64,
    pub snapshot: Snapshot,
    pub zones: ZoneStates,
    pub decision: Decision,
    pub results: Vec<ActionResult>,
}

pub struct Engine {
    zones: Vec<String>,
    policy: Policy,
    cfg: EngineConfig,
    tracker: ZoneTracker,
    memory: Memory,
    /// What the platform holds; `None` until loaded.
    saved: Option<Memory>,
    pool: Pool,
    recent: VecDeque<EngineEvent>,
    /// Engines that form their cluster (the operator's): the cluster to form, until formed.
    forming: Option<ValidatedCluster>,
    /// Why the platform's memory could not be read, while it cannot (status says so).
    load_error: Option<String>,
    clock: SteadyClock,
    /// The spec the engine runs with, and the platform's [`Platform::spec_version`] of it.
    spec: RedisStretchClusterSpec,
    spec_seen: Option<SystemTime>,
    /// Renewed certificate files to load: until when, and when next (Unix ms, engine clock).
    tls_reload: Option<(u64, u64)>,
}

/// How long after a TLS Secret changed the engine has instances re-read their files, and how
/// often. The kubelet swaps a mounted Secret's files a while after the Secret changed (its
/// sync period plus its cache TTL: a minute or two by default), and the engine cannot see
/// those files, nor which certificate an instance loaded (the client does not expose the
/// peer's certificate): re-reading unchanged files is harmless, so it repeats over the
/// window instead. docs/OPERATIONS.md, "Renewing certificates".
const TLS_RELOAD_FOR: Duration = Duration::from_secs(240);
const TLS_RELOAD_EVERY: Duration = Duration::from_secs(20);

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The engine's clock: wall-clock Unix ms read once at start, advanced by the monotonic clock.
/// Durations the engine measures itself (confirmation windows, hold-downs, failover retries)
/// are immune to a step of the host's clock, forward or back, while its readings stay
/// comparable with the wall-clock timestamps a previous engine saved. Silences between
/// instances are read on the instances' own clocks ([`redis_stretch_decide::NodeState`]'s
/// `clock_ms`), never against this one.
#[derive(Clone, Debug)]
pub struct SteadyClock {
    wall_at_start_ms: u64,
    started: Instant,
}

impl SteadyClock {
    pub fn new() -> Self {
        Self::starting_at(unix_ms())
    }
    /// A clock that reads `wall_ms` now (tests).
    pub fn starting_at(wall_ms: u64) -> Self {
        Self {
            wall_at_start_ms: wall_ms,
            started: Instant::now(),
        }
    }
    pub fn now_ms(&self) -> u64 {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.wall_at_start_ms.saturating_add(elapsed)
    }
}

impl Default for SteadyClock {
    fn default() -> Self {
        Self::new()
    }
}

/// Last actions kept for status.
const RECENT: usize = 20;

impl Engine {
    pub fn new(
        spec: &RedisStretchClusterSpec,
        password: Option<Secret>,
        cfg: EngineConfig,
    ) -> Self {
        let clock = SteadyClock::new();
        Self {
            zones: spec.zones.iter().map(|z| z.name.clone()).collect(),
            policy: Policy::from_spec(spec),
            tracker: ZoneTracker::new(cfg.confirm, cfg.hold, clock.now_ms()),
            pool: Pool::new(password, cfg.probe_timeout),
            cfg,
            memory: Memory::default(),
            saved: None,
            recent: VecDeque::new(),
            forming: None,
            load_error: None,
            clock,
            spec: spec.clone(),
            spec_seen: None,
            tls_reload: None,
        }
    }

    /// The instances' certificate files were renewed: have every instance re-read them
    /// (`ReloadTls`), repeatedly while the platform may still be swapping the files.
    pub fn reloading_tls(mut self) -> Self {
        let now = self.clock.now_ms();
        self.tls_reload = Some((now.saturating_add(ms(TLS_RELOAD_FOR)), now));
        self
    }

    /// `ReloadTls` on every instance that answers, when one is due and both zones answer (a
    /// zone loss comes first; the reload is never a reason to act then).
    fn tls_reload_due(
        &mut self,
        snapshot: &Snapshot,
        zones: &ZoneStates,
        now: u64,
    ) -> Option<Decision> {
        let (until, next) = self.tls_reload?;
        if now > until {
            self.tls_reload = None;
            return None;
        }
        if now < next || !zones.all_healthy() {
            return None;
        }
        self.tls_reload = Some((until, now.saturating_add(ms(TLS_RELOAD_EVERY))));
        let step: Vec<redis_stretch_decide::Action> = snapshot
            .nodes
            .iter()
            .filter(|n| n.reachable && n.name.is_some())
            .filter_map(|n| {
                redis_stretch_decide::Action::on(
                    n,
                    ActionKind::ReloadTls,
                    "the TLS Secret changed: new connections get the renewed certificate",
                )
            })
            .collect();
        Some(Decision {
            steps: vec![step],
            ..Decision::default()
        })
    }

    /// Reach the instances over TLS, trusting `tls`'s CA.
    pub fn with_tls(mut self, tls: Option<Tls>) -> Self {
        self.pool = Pool::new(self.pool.password().cloned(), self.pool.timeout())
            .with_previous(self.pool.previous().cloned())
            .with_tls(tls);
        self
    }

    /// During a password rotation: the password the current one replaces. Instances that do
    /// not accept the current one yet are reached with it, and the engine rotates them
    /// (`rules/credentials.rs` in the decide crate).
    pub fn with_previous_password(mut self, previous: Option<Secret>) -> Self {
        self.pool = Pool::new(self.pool.password().cloned(), self.pool.timeout())
            .with_previous(previous)
            .with_tls(self.pool.tls().cloned());
        self
    }

    /// Form `cluster` from empty instances before the first pass (see [`crate::formation`]).
    pub fn forming(mut self, cluster: ValidatedCluster) -> Self {
        self.forming = Some(cluster);
        self
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    pub fn memory(&self) -> &Memory {
        &self.memory
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Whether the cluster exists (always, for an engine that does not form one).
    pub fn formed(&self) -> bool {
        self.forming.is_none()
    }

    fn load(&mut self, platform: &dyn Platform) {
        if self.saved.is_some() {
            return;
        }
        match platform.load_memory() {
            Ok(m) => {
                let mut m = m.unwrap_or_default();
                // Saved by an engine whose clock ran ahead of ours (or before a step back): a
                // timestamp from the future would stretch hold-downs and flap windows.
                m.clamp_to(self.clock.now_ms());
                // Passes run while the memory was unreadable may have chosen a side in a cut:
                // the side stays chosen.
                if m.partition.is_none() {
                    m.partition = self.memory.partition.take();
                }
                self.memory = m.clone();
                self.saved = Some(m);
                self.load_error = None;
            }
            // Starting blind is slower, never unsafe; try again next pass. Nothing is saved
            // until it is read: an unreadable memory is kept for the next try, never
            // overwritten with what this engine knows after one pass.
            Err(e) => {
                if self.load_error.as_deref() != Some(e.as_str()) {
                    tracing::warn!("cannot load the engine memory (kept, not overwritten; retried every pass): {e}");
                }
                self.load_error = Some(e);
            }
        }
    }

    fn persist(&mut self, platform: &dyn Platform) {
        if self.saved.is_none() || self.saved.as_ref() == Some(&self.memory) {
            return;
        }
        match platform.save_memory(&self.memory) {
            Ok(()) => self.saved = Some(self.memory.clone()),
            Err(e) => tracing::warn!("cannot save the engine memory: {e}"),
        }
    }

    /// Take an edited spec without a restart: a new policy (the live settings, failover
    /// policy, preferred layout) and detection windows; memory, tracker and connections kept.
    /// Zones never change under a running cluster (local mode and the CRD refuse it).
    pub fn set_spec(&mut self, spec: &RedisStretchClusterSpec) {
        // Windows only when what they derive from changed: an engine built with windows of
        // its own (tests, drills) keeps them through an edit of anything else.
        let timing =
            |s: &RedisStretchClusterSpec| (s.redis.cluster_node_timeout_ms, s.failover.detection);
        if timing(spec) != timing(&self.spec) {
            let cfg = EngineConfig::for_spec(spec);
            self.tracker.set_windows(cfg.confirm, cfg.hold);
            self.cfg = EngineConfig {
                interval: self.cfg.interval,
                probe_timeout: self.cfg.probe_timeout,
                ..cfg
            };
        }
        self.policy = Policy::from_spec(spec);
        self.spec = spec.clone();
    }

    /// The platform's spec, when it changed since the last pass.
    fn refresh_spec(&mut self, platform: &dyn Platform) {
        let version = platform.spec_version();
        if version.is_none() || version == self.spec_seen {
            return;
        }
        match platform.spec() {
            Ok(Some(spec)) => {
                // Unchanged (the first look, say): the engine's own settings stay as built.
                if spec != self.spec {
                    tracing::info!("the spec changed: the engine takes it as it runs");
                    self.set_spec(&spec);
                }
                self.spec_seen = version;
            }
            Ok(None) => self.spec_seen = version,
            // An invalid manifest (edited by hand: `local apply` validates first): keep the
            // spec we have, said once, until the file changes again.
            Err(e) => {
                tracing::warn!("cannot read the spec (the engine keeps its own): {e}");
                self.spec_seen = version;
            }
        }
    }

    /// One observe → decide → act pass.
    pub async fn pass(
        &mut self,
        platform: &dyn Platform,
        intent: Intent,
    ) -> Result<Pass, RunError> {
        self.load(platform);
        self.refresh_spec(platform);
        let instances = platform.instances().map_err(RunError::Instances)?;
        let mut snapshot = observe(&instances, &self.zones, &self.pool).await;
        let now = self.clock.now_ms();
        let zones = self.tracker.update(&mut snapshot, now, &mut self.memory);
        let retry = self.cfg.failover_retry;
        self.memory.settle(&snapshot, &zones, now, retry);
        self.memory.note_currency(&snapshot);
        self.memory.note_rollout(&snapshot, now);
        let held = platform.held_zone();
        let pending = self.memory.pending(now, retry);
        let silent = self.tracker.silent_nodes(now);
        let decision = decide(&Input {
            snapshot: &snapshot,
            zones: &zones,
            policy: &self.policy,
            intent,
            held_zone: held.as_deref(),
            hold_down: self.memory.hold_down(now, &self.cfg.hold),
            bumped: &self.memory.bumped,
            failovers_pending: &pending,
            silent: &silent,
            now_ms: now,
            partition: self.memory.partition.as_ref(),
            promoted: &self.memory.promoted,
            stale: &self.memory.stale,
            healthy_for_ms: self.tracker.healthy_for_ms(now),
            rollout: self.memory.rollout.as_ref(),
            migration: self.memory.migration.as_ref(),
        });
        // A migration planned is remembered before its first slot moves: a successor moves
        // the same slots to the same shards.
        match &decision.migration {
            Some(MigrationChange::Planned(m)) => self.memory.migration = Some(m.clone()),
            Some(MigrationChange::Done) => self.memory.migration = None,
            None => {}
        }
        // Remember a side chosen before acting on it: an engine that dies mid-way and its
        // successor keep the same side.
        match &decision.partition {
            Some(PartitionChange::Chose(p)) => self.memory.choose_side(p.clone()),
            Some(PartitionChange::Healed) => self.memory.end_partition(now),
            None => {}
        }
        if decision.waiting_for == Some(Waiting::AsPreferred) {
            self.memory.forget_promotions();
        }
        // The rollout is over once nothing is outdated or restarting and the layout is as
        // preferred (or a held zone keeps it as a person left it).
        if matches!(
            decision.waiting_for,
            Some(Waiting::AsPreferred | Waiting::Held { .. })
        ) && !snapshot.nodes.iter().any(|n| n.restart_for.is_some())
        {
            self.memory.end_rollout();
        }
        let mut results = if platform.may_act() {
            // What the actions are about to start is remembered, and saved, before they run:
            // an engine killed in the middle of a step leaves its successor the side it chose,
            // the failovers Redis may be electing, the promotions to move back and the
            // replicas whose copy a REPLICATE just made stale.
            self.memory.before_acting(decision.actions(), now);
            self.persist(platform);
            act(&decision, &self.pool, platform).await
        } else {
            Vec::new()
        };
        // Not decide's: re-reading certificate files changes nothing decide reasons about.
        if let Some(reload) = self.tls_reload_due(&snapshot, &zones, now) {
            if platform.may_act() {
                results.extend(act(&reload, &self.pool, platform).await);
            }
        }
        // A batch of slots is done once its move finished, or every master swept it.
        let moved = results
            .iter()
            .any(|r| r.ok && matches!(r.action.kind, ActionKind::MoveSlots { .. }));
        let swept = results
            .iter()
            .any(|r| matches!(r.action.kind, ActionKind::Sweep { .. }))
            && results
                .iter()
                .filter(|r| matches!(r.action.kind, ActionKind::Sweep { .. }))
                .all(|r| r.ok);
        if moved || swept {
            if let Some(m) = &mut self.memory.migration {
                m.in_flight.clear();
            }
        }
        for r in &results {
            match (&r.action.kind, r.ok) {
                (ActionKind::BumpEpoch, true) => self.memory.record_bump(&r.action.node_id),
                // Redis is electing nothing: another candidate may be asked at once.
                (ActionKind::GracefulFailover { .. }, false) => {
                    self.memory.forget_failover(&r.action.node_id);
                }
                // Nothing restarts: the rollout must not wait for it (the next pass asks again).
                (ActionKind::Restart { instance, .. }, false) => {
                    self.memory.forget_restart(instance);
                }
                _ => {}
            }
        }
        self.persist(platform);
        Ok(Pass {
            at_ms: now,
            snapshot,
            zones,
            decision,
            results,
        })
    }

    /// Turn results into events and remember the last few for status.
    pub fn events(&mut self, results: &[ActionResult]) -> Vec<EngineEvent> {
        let at_ms = self.clock.now_ms();
        let events: Vec<EngineEvent> = results
            .iter()
            .map(|r| EngineEvent {
                at_ms,
                kind: r.action.kind().to_owned(),
                // What was done; why is its own field (status and Events print both).
                summary: r.action.what().to_string(),
                why: r.action.why.clone(),
                ok: r.ok,
                detail: r.detail.clone(),
                took_ms: r.took_ms,
            })
            .collect();
        self.remember(&events);
        events
    }

    fn remember(&mut self, events: &[EngineEvent]) {
        for e in events {
            self.recent.push_back(e.clone());
            if self.recent.len() > RECENT {
                self.recent.pop_front();
            }
        }
    }

    pub fn status(&self, pass: &Pass) -> EngineStatus {
        EngineStatus {
            pid: std::process::id(),
            // Wall clock: read by other processes against theirs (is an engine live?).
            heartbeat_ms: unix_ms(),
            zones: pass.zones.clone(),
            verdicts: pass.snapshot.verdicts(),
            waiting_for: pass.decision.waiting_for.clone(),
            notes: pass
                .decision
                .notes
                .iter()
                .cloned()
                .chain(pass.snapshot.rotation_progress().map(|(done, of)| {
                    format!("password rotation under way: {done} of {of} instances accept only the new password (both work meanwhile)")
                }))
                .chain(self.load_error.as_ref().map(|e| {
                    format!("the engine memory cannot be read ({e}): acting without hold-downs, flap counts or a remembered partition side; the file is kept, not overwritten")
                }))
                .collect(),
            partition: self.memory.partition.clone(),
            rollout: self.memory.rollout.clone(),
            migration: self.memory.migration.clone(),
            last_actions: self.recent.iter().cloned().collect(),
        }
    }

    /// Form the cluster if this engine forms one and it is not formed yet; `true` once it is.
    async fn ensure_formed(&mut self, platform: &dyn Platform, reporter: &dyn Reporter) -> bool {
        let Some(cluster) = &self.forming else {
            return true;
        };
        let instances = match platform.instances() {
            Ok(i) => i,
            Err(e) => {
                reporter.forming(&Formation::Waiting(e));
                return false;
            }
        };
        let outcome = form(cluster, &instances, &self.pool, platform).await;
        let event = |summary: String, ok: bool| EngineEvent {
            at_ms: self.clock.now_ms(),
            kind: "bootstrap".to_owned(),
            summary: summary.clone(),
            why: "a new cluster: every instance answers and none holds data".to_owned(),
            ok,
            detail: summary,
            took_ms: 0,
        };
        let events = match &outcome {
            Formation::Bootstrapped { summary, .. } => vec![event(summary.clone(), true)],
            Formation::Failed(why) => vec![event(why.clone(), false)],
            Formation::Formed | Formation::Waiting(_) => Vec::new(),
        };
        if !events.is_empty() {
            self.remember(&events);
            reporter.events(&events);
        }
        reporter.forming(&outcome);
        let formed = matches!(outcome, Formation::Formed | Formation::Bootstrapped { .. });
        if formed {
            self.forming = None;
        }
        formed
    }

    /// Run `Intent::Auto` passes (forming the cluster first when asked to) until `stop`
    /// resolves.
    pub async fn run(
        &mut self,
        platform: &dyn Platform,
        reporter: &dyn Reporter,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        loop {
            let started = Instant::now();
            if self.ensure_formed(platform, reporter).await {
                match self.pass(platform, Intent::Auto).await {
                    Ok(pass) => {
                        let events = self.events(&pass.results);
                        if !events.is_empty() {
                            reporter.events(&events);
                        }
                        reporter.status(&self.status(&pass), &pass);
                    }
                    Err(e) => tracing::warn!("engine pass skipped: {e}"),
                }
            }
            let rest = self.cfg.interval.saturating_sub(started.elapsed());
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(rest) => {}
            }
        }
    }

    /// Run passes with `intent` until decide says it is settled (see
    /// [`Decision::is_settled`]), or `limit` passes; `on_pass` sees every pass (the CLI prints
    /// what was done). Returns the settling pass.
    pub async fn run_until(
        &mut self,
        platform: &dyn Platform,
        intent: Intent,
        limit: Duration,
        mut on_pass: impl FnMut(&Pass),
    ) -> Result<Pass, RunError> {
        let start = Instant::now();
        loop {
            let pass = self.pass(platform, intent.clone()).await?;
            self.events(&pass.results);
            on_pass(&pass);
            if pass.decision.is_settled() {
                return Ok(pass);
            }
            if start.elapsed() > limit {
                return Err(RunError::NotSettled {
                    after: limit,
                    waiting: pass.decision.waiting_for,
                    snapshot: Box::new(pass.snapshot),
                });
            }
            if pass.results.is_empty() {
                tokio::time::sleep(self.cfg.interval).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Mutex;

    use super::*;

    /// A platform with no instances whose memory store fails to read `reads_failing` times.
    struct Store {
        reads_failing: Mutex<u32>,
        stored: Mutex<Option<Memory>>,
        saves: Mutex<u32>,
    }

    impl Platform for Store {
        fn instances(&self) -> Result<Vec<Instance>, String> {
            Ok(Vec::new())
        }
        fn held_zone(&self) -> Option<String> {
            None
        }
        fn load_memory(&self) -> Result<Option<Memory>, String> {
            let mut left = self.reads_failing.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                return Err("memory.json: expected value at line 1 column 1".into());
            }
            Ok(self.stored.lock().unwrap().clone())
        }
        fn save_memory(&self, memory: &Memory) -> Result<(), String> {
            *self.saves.lock().unwrap() += 1;
            *self.stored.lock().unwrap() = Some(memory.clone());
            Ok(())
        }
    }

    fn spec() -> RedisStretchClusterSpec {
        redis_stretch_api::load_manifest(
            "apiVersion: redis-stretch.io/v1alpha1
kind: RedisStretchCluster
metadata:
  name: t
spec:
  shards: 3
  zones:
    - name: dc-a
      preferredMasters: 2
    - name: dc-b
      preferredMasters: 1
",
        )
        .unwrap()
        .spec()
        .clone()
    }

    /// Issue 16, finding 5: a memory the platform cannot read is kept for the next try, not
    /// overwritten with what one pass learnt; once readable it is loaded, and saved from then.
    #[tokio::test]
    async fn an_unreadable_memory_is_never_overwritten_and_is_loaded_once_readable() {
        let kept = Memory {
            promoted: vec!["abc".into()],
            ..Memory::default()
        };
        let store = Store {
            reads_failing: Mutex::new(2),
            stored: Mutex::new(Some(kept.clone())),
            saves: Mutex::new(0),
        };
        let s = spec();
        let mut engine = Engine::new(&s, None, EngineConfig::for_spec(&s));
        for _ in 0..2 {
            let pass = engine.pass(&store, Intent::Auto).await.unwrap();
            assert!(engine
                .status(&pass)
                .notes
                .iter()
                .any(|n| n.contains("cannot be read")));
        }
        assert_eq!(*store.saves.lock().unwrap(), 0, "nothing written over it");
        assert_eq!(store.stored.lock().unwrap().as_ref(), Some(&kept));
        engine.pass(&store, Intent::Auto).await.unwrap();
        assert_eq!(
            engine.memory().promoted,
            kept.promoted,
            "loaded on the third pass"
        );
    }

    /// A platform whose spec is edited while the engine runs (local mode's manifest).
    struct Edited {
        spec: Mutex<(SystemTime, RedisStretchClusterSpec)>,
    }

    impl Platform for Edited {
        fn instances(&self) -> Result<Vec<Instance>, String> {
            Ok(Vec::new())
        }
        fn held_zone(&self) -> Option<String> {
            None
        }
        fn spec_version(&self) -> Option<SystemTime> {
            Some(self.spec.lock().unwrap().0)
        }
        fn spec(&self) -> Result<Option<RedisStretchClusterSpec>, String> {
            Ok(Some(self.spec.lock().unwrap().1.clone()))
        }
    }

    #[tokio::test]
    async fn an_edited_spec_is_taken_on_the_next_pass_with_memory_and_windows_kept() {
        let s = spec();
        let platform = Edited {
            spec: Mutex::new((UNIX_EPOCH, s.clone())),
        };
        // Windows of its own, as tests and drills build engines.
        let cfg = EngineConfig {
            confirm: Duration::from_millis(123),
            ..EngineConfig::for_spec(&s)
        };
        let mut engine = Engine::new(&s, None, cfg);
        engine.pass(&platform, Intent::Auto).await.unwrap();
        engine.memory.promoted = vec!["kept".into()];
        let live = |e: &Engine| {
            e.policy
                .live_config
                .iter()
                .find(|(n, _)| n == "maxmemory")
                .map(|(_, v)| v.clone())
        };
        assert_eq!(live(&engine).as_deref(), Some("0"));

        let mut edited = s.clone();
        edited.redis.maxmemory = Some("1gb".into());
        *platform.spec.lock().unwrap() = (UNIX_EPOCH + Duration::from_secs(1), edited.clone());
        engine.pass(&platform, Intent::Auto).await.unwrap();
        assert_eq!(live(&engine).as_deref(), Some("1gb"));
        assert_eq!(engine.memory().promoted, vec!["kept".to_owned()]);
        assert_eq!(engine.config().confirm, Duration::from_millis(123));

        // A new node-timeout brings its own windows.
        edited.redis.cluster_node_timeout_ms = 4000;
        *platform.spec.lock().unwrap() = (UNIX_EPOCH + Duration::from_secs(2), edited.clone());
        engine.pass(&platform, Intent::Auto).await.unwrap();
        assert_eq!(engine.policy.node_timeout_ms, 4000);
        assert_eq!(
            engine.config().confirm,
            EngineConfig::for_spec(&edited).confirm
        );
    }
}
