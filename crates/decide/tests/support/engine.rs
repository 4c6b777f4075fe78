//! The engine's pass over the model, as crates/engine/src/runner.rs runs it: observe → track
//! zones → settle memory → decide → remember a side chosen or a heal → act step by step,
//! stopping after a step in which anything failed → record bumps, failovers and promotions.

use std::time::Duration;

use redis_stretch_decide::zone::confirm_window;
use redis_stretch_decide::{
    decide, Action, ActionKind, Decision, HoldDownConfig, Input, Intent, Memory, PartitionChange,
    Policy, Snapshot, Waiting, ZoneStates, ZoneTracker,
};

use super::cluster::Cluster;

/// `EngineConfig::for_spec` (the engine crate, which this crate cannot depend on).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub interval_ms: u64,
    pub confirm: Duration,
    pub hold: HoldDownConfig,
    pub failover_retry: Duration,
}

impl EngineConfig {
    pub fn for_policy(policy: &Policy, interval_ms: u64) -> Self {
        let node_timeout = Duration::from_millis(policy.node_timeout_ms);
        Self {
            interval_ms,
            confirm: confirm_window(node_timeout, policy.detection),
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

/// A promotion decide asked for, judged against the model when it was sent.
#[derive(Clone, Debug)]
pub struct Promotion {
    pub action: Action,
    /// The snapshot said: link down, and never up with this master (`-1`).
    pub never_synced: bool,
    /// The model's own judgement of the replica's copy (see `Cluster::copy_is_current`).
    pub current: bool,
    /// It was moved to this master by `CLUSTER REPLICATE` and never synced with it.
    pub repointed: bool,
}

pub struct Pass {
    pub zones: ZoneStates,
    pub decision: Decision,
    pub results: Vec<(Action, Result<String, String>)>,
    pub promotions: Vec<Promotion>,
}

pub struct Engine {
    pub policy: Policy,
    pub cfg: EngineConfig,
    pub tracker: ZoneTracker,
    pub memory: Memory,
    /// How stale a promoted replica's copy may be and still count as current: decide's
    /// slack on "lost with the zone" (3 s), whole seconds, and the engine's own silence
    /// measured to the pass before the zone went.
    pub tolerance_ms: u64,
}

impl Engine {
    pub fn new(policy: Policy, cfg: EngineConfig, memory: Memory, now_ms: u64) -> Self {
        let tolerance_ms = 3000 + 1000 + cfg.interval_ms;
        Self {
            tracker: ZoneTracker::new(cfg.confirm, cfg.hold, now_ms),
            policy,
            cfg,
            memory,
            tolerance_ms,
        }
    }

    pub fn pass(&mut self, cluster: &mut Cluster, intent: Intent) -> Pass {
        let mut snapshot = cluster.observe();
        let now = cluster.now_ms;
        let zones = self.tracker.update(&mut snapshot, now, &mut self.memory);
        let retry = self.cfg.failover_retry;
        self.memory.settle(&snapshot, &zones, now, retry);
        self.memory.note_currency(&snapshot);
        self.memory.note_rollout(&snapshot, now);
        let pending = self.memory.pending(now, retry);
        let silent = self.tracker.silent_nodes(now);
        let decision = decide(&Input {
            snapshot: &snapshot,
            zones: &zones,
            policy: &self.policy,
            intent,
            held_zone: None,
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
            migration: None,
        });
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
        // As the engine does (runner.rs): what the actions start is remembered first.
        self.memory.before_acting(decision.actions(), now);
        let mut results = Vec::new();
        let mut promotions = Vec::new();
        for step in &decision.steps {
            let mut failed = false;
            for action in step {
                if action.is_promotion() {
                    promotions.push(self.judge(cluster, &snapshot, action));
                }
                let r = cluster.apply(action);
                failed |= r.is_err();
                results.push((action.clone(), r));
            }
            if failed {
                break;
            }
        }
        for (a, r) in &results {
            match (&a.kind, r.is_ok()) {
                (ActionKind::BumpEpoch, true) => self.memory.record_bump(&a.node_id),
                (ActionKind::GracefulFailover { .. }, false) => {
                    self.memory.forget_failover(&a.node_id);
                }
                (ActionKind::Restart { instance, .. }, false) => {
                    self.memory.forget_restart(instance);
                }
                _ => {}
            }
        }
        Pass {
            zones,
            decision,
            results,
            promotions,
        }
    }

    fn judge(&self, cluster: &Cluster, snap: &Snapshot, action: &Action) -> Promotion {
        let seen = snap.node_by_id(&action.node_id);
        Promotion {
            action: action.clone(),
            never_synced: seen.is_some_and(|n| n.link_up != Some(true) && n.link_down_s.is_none()),
            current: cluster
                .by_id(&action.node_id)
                .is_some_and(|i| cluster.copy_is_current(i, self.tolerance_ms)),
            repointed: cluster
                .by_id(&action.node_id)
                .is_some_and(|i| cluster.nodes[i].repointed),
        }
    }
}
