//! Liveness of the leader's loops, for `/healthz`: the controller task and every engine task
//! beat, and the probe fails when one of them has gone quiet for longer than anything it may
//! legitimately be busy with. A restart is the only cure the kubelet has, so the bounds are
//! generous: a false alarm costs a Lease handover and a restart of every engine.
//!
//! What beats: the controller task every [`CONTROLLER_TICK`] while it runs (a tick in the same
//! task as the reconciles, so an idle controller with nothing to reconcile stays healthy and a
//! controller whose task is blocked does not); each reconcile while it is in flight (one that
//! never ends, an await that nothing answers, is stuck even though the task still ticks); each
//! engine once per loop iteration (every 100 ms when well). A replica that does not lead runs
//! neither, registers nothing, and is healthy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How often the controller task beats while it runs.
pub const CONTROLLER_TICK: Duration = Duration::from_secs(10);

/// How long each loop may stay quiet before it counts as stuck.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Six ticks: a tick is only late when the task's thread is blocked, and a loaded node
    /// (2 cores, CPU-throttled) delays a tick by seconds, never by a minute.
    pub controller: Duration,
    /// A reconcile is a few API calls, each bounded by the client's read timeout (295 s in
    /// kube); ten minutes is two of those back to back with room to spare. Longer is an await
    /// nothing will answer.
    pub reconcile: Duration,
    /// An engine iteration is a pass (probes of 250 ms, actions bounded by 1 s waits) or a
    /// formation step, whose bootstrap may take up to its 60 s timeout (`BOOTSTRAP_TIMEOUT`):
    /// twice that.
    pub engine: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            controller: CONTROLLER_TICK * 6,
            reconcile: Duration::from_secs(600),
            engine: Duration::from_secs(120),
        }
    }
}

/// The last beats, as plain data: what [`stuck`] judges.
#[derive(Clone, Debug, Default)]
pub struct Beats {
    /// The controller's last tick; `None` while no controller runs (not leading).
    pub controller: Option<Instant>,
    /// When each reconcile in flight started.
    pub reconciles: HashMap<u64, Instant>,
    /// Each running engine's last beat, by (namespace, cluster), with the task's id.
    pub engines: HashMap<(String, String), (u64, Instant)>,
}

/// What is stuck at `now`, one sentence each; empty when all is well.
pub fn stuck(beats: &Beats, now: Instant, bounds: &Bounds) -> Vec<String> {
    let quiet = |at: Instant| now.saturating_duration_since(at);
    let mut out = Vec::new();
    if let Some(at) = beats.controller {
        if quiet(at) > bounds.controller {
            out.push(format!(
                "the controller task has not ticked for {}s (bound {}s)",
                quiet(at).as_secs(),
                bounds.controller.as_secs()
            ));
        }
    }
    if let Some(oldest) = beats.reconciles.values().min() {
        if quiet(*oldest) > bounds.reconcile {
            out.push(format!(
                "a reconcile has been running for {}s (bound {}s)",
                quiet(*oldest).as_secs(),
                bounds.reconcile.as_secs()
            ));
        }
    }
    let mut engines: Vec<_> = beats
        .engines
        .iter()
        .filter(|(_, (_, at))| quiet(*at) > bounds.engine)
        .collect();
    engines.sort_by(|a, b| a.0.cmp(b.0));
    for ((ns, name), (_, at)) in engines {
        out.push(format!(
            "the engine of {ns}/{name} has not finished a pass for {}s (bound {}s)",
            quiet(*at).as_secs(),
            bounds.engine.as_secs()
        ));
    }
    out
}

/// The beats of this process's loops.
#[derive(Debug, Default)]
pub struct Health {
    beats: Mutex<Beats>,
    ids: AtomicU64,
    bounds: Bounds,
}

impl Health {
    /// Health judged against other bounds (tests; the defaults are argued on [`Bounds`]).
    pub fn with_bounds(bounds: Bounds) -> Self {
        Self {
            bounds,
            ..Self::default()
        }
    }

    fn beats(&self) -> MutexGuard<'_, Beats> {
        self.beats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// What is stuck now (empty: healthy).
    pub fn check(&self) -> Vec<String> {
        stuck(&self.beats(), Instant::now(), &self.bounds)
    }

    /// The controller starts: it beats until the returned guard is dropped (the term ends).
    pub fn controller_started(self: &Arc<Self>) -> ControllerTerm {
        self.controller_beat();
        ControllerTerm {
            health: Arc::clone(self),
        }
    }

    pub fn controller_beat(&self) {
        self.beats().controller = Some(Instant::now());
    }

    /// Beat every [`CONTROLLER_TICK`], forever: run beside the controller in its own task.
    pub async fn controller_ticks(&self) {
        let mut tick = tokio::time::interval(CONTROLLER_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.controller_beat();
        }
    }

    /// A reconcile starts; it is in flight until the guard is dropped.
    pub fn reconcile_started(self: &Arc<Self>) -> InFlight {
        let id = self.next_id();
        self.beats().reconciles.insert(id, Instant::now());
        InFlight {
            health: Arc::clone(self),
            id,
        }
    }

    /// An engine task starts: it beats through the returned handle, and is forgotten when the
    /// handle is dropped (the task ends or is aborted).
    pub fn engine_started(self: &Arc<Self>, namespace: &str, name: &str) -> EngineBeat {
        let key = (namespace.to_owned(), name.to_owned());
        let id = self.next_id();
        self.beats()
            .engines
            .insert(key.clone(), (id, Instant::now()));
        EngineBeat {
            health: Arc::clone(self),
            key,
            id,
        }
    }
}

pub struct ControllerTerm {
    health: Arc<Health>,
}

impl Drop for ControllerTerm {
    fn drop(&mut self) {
        self.health.beats().controller = None;
    }
}

pub struct InFlight {
    health: Arc<Health>,
    id: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.health.beats().reconciles.remove(&self.id);
    }
}

pub struct EngineBeat {
    health: Arc<Health>,
    key: (String, String),
    id: u64,
}

impl EngineBeat {
    pub fn beat(&self) {
        let mut beats = self.health.beats();
        // An aborted predecessor may drop after this task started: only our own entry.
        if let Some((id, at)) = beats.engines.get_mut(&self.key) {
            if *id == self.id {
                *at = Instant::now();
            }
        }
    }
}

impl Drop for EngineBeat {
    fn drop(&mut self) {
        let mut beats = self.health.beats();
        if beats
            .engines
            .get(&self.key)
            .is_some_and(|(id, _)| *id == self.id)
        {
            beats.engines.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn at(base: Instant, secs: u64) -> Instant {
        base + Duration::from_secs(secs)
    }

    fn key(name: &str) -> (String, String) {
        ("redis".to_owned(), name.to_owned())
    }

    #[test]
    fn a_replica_that_does_not_lead_is_healthy() {
        let base = Instant::now();
        assert!(stuck(&Beats::default(), at(base, 100_000), &Bounds::default()).is_empty());
    }

    #[test]
    fn an_idle_controller_that_ticks_is_healthy_however_long_nothing_is_reconciled() {
        let base = Instant::now();
        let beats = Beats {
            controller: Some(at(base, 86_400 - 10)),
            ..Beats::default()
        };
        assert!(stuck(&beats, at(base, 86_400), &Bounds::default()).is_empty());
    }

    #[test]
    fn a_controller_that_stopped_ticking_is_stuck() {
        let base = Instant::now();
        let beats = Beats {
            controller: Some(base),
            ..Beats::default()
        };
        let b = Bounds::default();
        assert!(stuck(&beats, base + b.controller, &b).is_empty());
        let out = stuck(&beats, at(base, 61), &b);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0].contains("controller task has not ticked for 61s"),
            "{out:?}"
        );
    }

    #[test]
    fn a_reconcile_that_never_ends_is_stuck_while_the_controller_still_ticks() {
        let base = Instant::now();
        let beats = Beats {
            controller: Some(at(base, 700)),
            reconciles: HashMap::from([(1, at(base, 695)), (2, base)]),
            ..Beats::default()
        };
        let out = stuck(&beats, at(base, 701), &Bounds::default());
        assert_eq!(
            out,
            vec!["a reconcile has been running for 701s (bound 600s)"]
        );
    }

    #[test]
    fn only_engines_past_their_bound_are_named() {
        let base = Instant::now();
        let beats = Beats {
            controller: Some(at(base, 125)),
            engines: HashMap::from([
                (key("seed"), (1, base)),
                (key("fresh"), (2, at(base, 125))),
                (key("also-stuck"), (3, at(base, 1))),
            ]),
            ..Beats::default()
        };
        let out = stuck(&beats, at(base, 130), &Bounds::default());
        assert_eq!(
            out,
            vec![
                "the engine of redis/also-stuck has not finished a pass for 129s (bound 120s)",
                "the engine of redis/seed has not finished a pass for 130s (bound 120s)",
            ]
        );
    }

    #[test]
    fn guards_register_and_forget_their_loops() {
        let health = Arc::new(Health::default());
        {
            let _term = health.controller_started();
            let _r = health.reconcile_started();
            let e = health.engine_started("redis", "seed");
            e.beat();
            let b = health.beats().clone();
            assert!(b.controller.is_some());
            assert_eq!(b.reconciles.len(), 1);
            assert_eq!(b.engines.len(), 1);
        }
        let b = health.beats().clone();
        assert!(b.controller.is_none() && b.reconciles.is_empty() && b.engines.is_empty());
    }

    /// A replaced engine task that is dropped late (aborted) does not forget its successor.
    #[test]
    fn a_late_predecessor_leaves_its_successor_registered() {
        let health = Arc::new(Health::default());
        let old = health.engine_started("redis", "seed");
        let new = health.engine_started("redis", "seed");
        drop(old);
        new.beat();
        assert_eq!(health.beats().engines.len(), 1);
        drop(new);
        assert!(health.beats().engines.is_empty());
    }
}
