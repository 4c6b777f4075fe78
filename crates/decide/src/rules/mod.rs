//! Decide: snapshot + zone health + policy + memory → actions, each with its reason. Pure: no
//! I/O, no clock (time arrives as data), so every failure case of docs/OPERATIONS.md is a
//! table test (`tests/decide.rs`). Level-triggered: it asks only for what the snapshot still
//! lacks, so re-running it after a crash, or on its own result, never does harm twice.

mod config;
mod credentials;
mod healthy;
mod lost;
mod partition;
mod rebalance;
mod rollout;
mod scale;

pub use config::{config_drift, Drift};
pub use partition::{cut_silence_ms, cut_threshold, FENCE_SHUT};

use std::time::Duration;

use redis_stretch_api::{Detection, FailbackPolicy, FailoverPolicy, RedisStretchClusterSpec};
use serde::Serialize;

use crate::{Action, HoldDown, NodeState, Partition, Snapshot, Waiting, ZoneState, ZoneStates};

/// The spec's failover settings, as decide needs them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub failover: FailoverPolicy,
    pub failback: FailbackPolicy,
    pub fencing: bool,
    /// `min-replicas-to-write` when fenced: enough that at least one acknowledging replica is
    /// in the other zone (replicas alternate zones, the first one across).
    pub fence_min_replicas: u32,
    /// `min-replicas-max-lag`: a cut-off master stops accepting writes within this plus 1-2 s.
    pub fence_max_lag_s: u32,
    /// Preferred masters per zone (the failback target).
    pub preferred: Vec<(String, u32)>,
    pub detection: Detection,
    /// `cluster-node-timeout` as the spec sets it.
    pub node_timeout_ms: u64,
    /// The side that serves when the zones are cut from each other (`None`: most masters).
    pub preferred_side: Option<String>,
    /// The server the spec asks for: a rollout to another one happens only where its data
    /// loads ([`redis_stretch_api::migration_allowed`]).
    pub server: redis_stretch_api::ServerFlavour,
    /// The spec's settings that every instance takes live (`CONFIG SET`), by directive
    /// ([`redis_stretch_api::redis_config::live_settings`]).
    pub live_config: Vec<(String, String)>,
    /// The spec's shard count: more than the cluster holds, new instances become masters of
    /// new shards and slots move to them; fewer, the leaving instances' slots move away.
    pub shards: u32,
}

impl Policy {
    pub fn from_spec(spec: &RedisStretchClusterSpec) -> Self {
        Self {
            failover: spec.failover.policy,
            failback: spec.failover.failback,
            fencing: spec.failover.fencing,
            fence_min_replicas: spec.replicas_per_shard / 2 + 1,
            fence_max_lag_s: 2,
            preferred: spec
                .zones
                .iter()
                .map(|z| (z.name.clone(), z.preferred_masters))
                .collect(),
            detection: spec.failover.detection,
            node_timeout_ms: spec.redis.cluster_node_timeout_ms,
            preferred_side: spec.failover.preferred_side.clone(),
            server: spec.redis.server,
            live_config: redis_stretch_api::redis_config::live_settings(spec),
            shards: spec.shards,
        }
    }
}

/// Why decide runs: the engine's own loop, or a command a human gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intent {
    /// The engine loop: act as the policy says.
    Auto,
    /// `redis-stretch takeover --zone SURVIVOR`: the other zone is lost, whatever probes say.
    Takeover { survivor: String },
    /// `redis-stretch failback`: restore the preferred layout now.
    Failback,
    /// `redis-stretch evacuate --zone ZONE`: move every master out of ZONE.
    Evacuate { zone: String },
}

#[derive(Clone, Debug)]
pub struct Input<'a> {
    pub snapshot: &'a Snapshot,
    pub zones: &'a ZoneStates,
    pub policy: &'a Policy,
    pub intent: Intent,
    /// A zone under `evacuate`: no failback into it until `resume`.
    pub held_zone: Option<&'a str>,
    /// Failback hold-down still running, when a zone came back recently.
    pub hold_down: Option<HoldDown>,
    /// Node ids whose epoch the engine already bumped during the current zone loss.
    pub bumped: &'a [String],
    /// Graceful failovers the engine asked for recently (see [`PendingFailover`]).
    pub failovers_pending: &'a [PendingFailover],
    /// Instances silent for the whole confirmation window, by name, in any zone.
    pub silent: &'a [String],
    /// When the snapshot was taken (Unix ms), to read Redis's own timestamps against.
    pub now_ms: u64,
    /// The cut the engine chose a side in, from its memory.
    pub partition: Option<&'a Partition>,
    /// Node ids the engine promoted during the current loss (failback moves them back first).
    pub promoted: &'a [String],
    /// Node ids the engine judged stale copies ([`crate::Memory::stale`]): never promoted,
    /// never unfenced should Redis promote one.
    pub stale: &'a [String],
    /// The rollout under way, from the engine's memory ([`crate::Rollout`]).
    pub rollout: Option<&'a crate::Rollout>,
    /// The slot migration under way, from the engine's memory ([`crate::Migration`]).
    pub migration: Option<&'a crate::Migration>,
    /// How long every zone has answered the engine without a break ([`crate::ZoneTracker::healthy_for_ms`]).
    pub healthy_for_ms: u64,
}

/// A graceful failover asked of `candidate` (node id) that Redis may still be working on: no
/// other is asked for until the candidate is master or `left` runs out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingFailover {
    pub candidate: String,
    pub left: Duration,
}

/// Actions run step by step; the actions of one step run concurrently.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub steps: Vec<Vec<Action>>,
    /// What the engine waits for when it does nothing (status shows it).
    pub waiting_for: Option<Waiting>,
    /// What a human should know or run (policy Manual, data loss).
    pub notes: Vec<String>,
    /// A side chosen in a cut, or the cut over: the engine records it in its memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<PartitionChange>,
    /// A slot migration planned or finished: the engine records it in its memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration: Option<MigrationChange>,
}

/// What a pass changes about the slot migration the engine remembers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationChange {
    Planned(crate::Migration),
    Done,
}

/// What a pass changes about the partition the engine remembers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionChange {
    Chose(Partition),
    Healed,
}

impl Decision {
    pub fn wait(why: Waiting) -> Self {
        Self {
            waiting_for: Some(why),
            ..Self::default()
        }
    }
    /// The intent has nothing left to do (see [`Waiting::is_settled`]).
    pub fn is_settled(&self) -> bool {
        self.is_empty()
            && self.partition.is_none()
            && self.migration.is_none()
            && self.waiting_for.as_ref().is_some_and(Waiting::is_settled)
    }
    pub fn is_empty(&self) -> bool {
        self.steps.iter().all(Vec::is_empty)
    }
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.steps.iter().flatten()
    }
    fn push_step(&mut self, step: Vec<Action>) {
        if !step.is_empty() {
            self.steps.push(step);
        }
    }
}

pub fn decide(input: &Input<'_>) -> Decision {
    // Instances that answer with an error are alive (their zone is not dark) but tell the
    // engine nothing and take no command: said in every decision, and when nothing answers
    // otherwise, that is what the engine waits for.
    let refusing: Vec<String> = input
        .snapshot
        .nodes
        .iter()
        .filter(|n| n.refuses)
        .map(|n| {
            format!(
                "{}: {}",
                n.name.as_deref().unwrap_or("an instance"),
                n.error.as_deref().unwrap_or("an error")
            )
        })
        .collect();
    if refusing.is_empty() {
        return decide_seen(input);
    }
    let hint = if refusing
        .iter()
        .any(|e| e.contains("WRONGPASS") || e.contains("NOAUTH") || e.contains("uthentication"))
    {
        " The servers' password is not the engine's: give the engine the password the servers use now (spec.auth's Secret, or the state dir's password), or set it back on the servers."
    } else {
        ""
    };
    let note = format!(
        "{} of {} instances answer with an error instead of a report: {}.{hint}",
        refusing.len(),
        input
            .snapshot
            .nodes
            .iter()
            .filter(|n| n.name.is_some())
            .count(),
        refusing.join("; ")
    );
    if !input.snapshot.nodes.iter().any(|n| n.reachable) {
        let mut d = Decision::wait(Waiting::Refused { errors: refusing });
        d.notes.push(note);
        return d;
    }
    let mut d = decide_seen(input);
    d.notes.push(note);
    d
}

fn decide_seen(input: &Input<'_>) -> Decision {
    let dark = input.zones.dark();
    if let Intent::Takeover { survivor } = &input.intent {
        return match other_zone(input.snapshot, survivor) {
            Some(lost) => {
                let mut d = lost::zone_lost(input, &lost::Loss::forced(lost, survivor));
                // A person took over from the side the engine had chosen in a cut (it went
                // dark): that choice is over, the survivor serves now, and the engine tends
                // it as after any zone loss instead of waiting for a person forever.
                if input.partition.is_some_and(|p| p.chosen == lost) {
                    d.partition = Some(PartitionChange::Healed);
                }
                d
            }
            None => Decision::wait(Waiting::UnknownZone {
                zone: survivor.clone(),
            }),
        };
    }
    match dark.as_slice() {
        // The engine chose this side in a cut and unfenced its masters: they may still take
        // writes behind whatever silences them now, so taking over from them could make two
        // writers. A person decides (`takeover --zone`).
        [zone] if input.partition.is_some_and(|p| p.chosen == *zone) => {
            let mut d = Decision::wait(Waiting::ChosenSideDark {
                zone: (*zone).to_owned(),
            });
            if let Some(other) = other_zone(input.snapshot, zone) {
                d.notes.push(format!(
                    "{zone}, the side chosen in the partition, went dark; its masters may still take writes. If it is really gone, run `redis-stretch takeover --zone {other}`"
                ));
            }
            return d;
        }
        [a, b] => {
            return Decision::wait(Waiting::EngineCutOff {
                zones: vec![(*a).to_owned(), (*b).to_owned()],
            })
        }
        [lost_zone] => {
            return match other_zone(input.snapshot, lost_zone) {
                Some(survivor) => lost::zone_lost(input, &lost::Loss::dark(lost_zone, survivor)),
                None => Decision::wait(Waiting::UnknownZone {
                    zone: (*lost_zone).to_owned(),
                }),
            };
        }
        _ => {}
    }
    if let Some((zone, silent_ms)) = input.zones.iter().find_map(|z| match z.state {
        ZoneState::Suspect { silent_ms } => Some((z.zone.clone(), silent_ms)),
        _ => None,
    }) {
        return Decision::wait(Waiting::Confirming { zone, silent_ms });
    }
    // Every instance answers but the zones do not hear each other: a cut, seen from a third
    // site. Choose a side, or keep the side chosen, or settle the heal.
    if let Some(d) = partition::partition(input) {
        return d;
    }
    // Masters lost without their whole zone (two nodes of a DC, say): when the survivors are
    // below quorum Redis stays down exactly as after a zone loss.
    if let Some(d) = lost::masters_lost(input) {
        return d;
    }
    let repair = healthy::repair(input);
    if !repair.is_empty() {
        return repair;
    }
    if let Some(d) = credentials::rotate(input) {
        return d;
    }
    // The spec's shard count: new shards filled, leaving ones emptied and retired. Before
    // the rollout (a master restarted mid-migration would leave its slots open) and failback
    // (which never moves a master with slots in flight).
    let scaled = scale::scale(input);
    // Instances at an older revision: restarted one at a time, the layout restored after.
    let mut d = scaled
        .or_else(|| rollout::rollout(input))
        .unwrap_or_else(|| rebalance::rebalance(input));
    // Live settings last, beside whatever else this pass does, so that a value a server keeps
    // refusing never holds up a failback or a rollout. Only the engine's own loop: a
    // break-glass command does what it was asked and settles.
    if input.intent == Intent::Auto {
        d.push_step(config::live_config(input));
    }
    d
}

pub(crate) fn other_zone<'a>(snap: &'a Snapshot, zone: &str) -> Option<&'a str> {
    match snap.zones.as_slice() {
        [a, b] if a == zone => Some(b),
        [a, b] if b == zone => Some(a),
        _ => None,
    }
}

/// `shard of host:port` naming, as status prints it.
pub(crate) fn shard_name(master: &NodeState) -> String {
    match (&master.addr, &master.slots.first()) {
        (_, Some(r)) => format!("slots {r}"),
        (Some(a), None) => format!("shard of {a}"),
        (None, None) => "shard".to_owned(),
    }
}
