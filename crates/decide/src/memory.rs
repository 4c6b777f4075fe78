//! What the engine knows from the past, as data: when each zone was lost and came back (the
//! failback hold-down and flap protection), whose epoch it bumped during the current loss, and
//! which graceful failovers Redis may still be working on.
//!
//! It is loaded when an engine starts and saved after every pass that changes it (the state
//! dir in local mode; the custom resource's status on Kubernetes), so that a restarted engine
//! or a new operator leader carries on with the same hold-downs and flap counts instead of
//! starting blind. Times are wall-clock Unix milliseconds for that reason.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Action, ActionKind, PendingFailover, Snapshot, ZoneState, ZoneStates};

/// Losses kept per zone: enough for any flap window the hold-down looks at.
const MAX_LOSSES: usize = 32;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    #[serde(default)]
    pub zones: BTreeMap<String, ZoneMemory>,
    /// Node ids whose epoch the engine bumped during the current zone loss.
    #[serde(default)]
    pub bumped: Vec<String>,
    /// Graceful failovers asked for that Redis may still be electing.
    #[serde(default)]
    pub failovers: Vec<AskedFailover>,
    /// The cut between the zones the engine chose a side in, while it lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<Partition>,
    /// Replicas the engine promoted (takeover, forced failover) since the layout was last as
    /// preferred: failback moves these back first, so each shard returns to the zone it came
    /// from (clients placed next to their master find it there again).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promoted: Vec<String>,
    /// Node ids last seen as replicas whose copy was not their master's (a full sync, never
    /// linked since a restart), until seen current again. Should Redis elect one anyway (its
    /// `cluster-replica-no-failover` not yet set, a shutdown failover), the engine knows what
    /// that master holds and never unfences it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale: Vec<String>,
    /// The rollout under way (instances restarted one at a time to the spec's revision), so
    /// that a restarted engine or a new Lease holder resumes it where it stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    /// The slot migration under way (a scale out or in): which slots go to which shard, fixed
    /// when it started, so a restarted engine or a new Lease holder moves the same slots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<Migration>,
}

/// A slot migration: the slots each shard receives. Which of them still have to move is read
/// from the cluster each pass (who owns each slot now), so the plan holds no progress of its
/// own that a crash could leave behind the cluster's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    /// When it was planned (Unix ms).
    pub started_ms: u64,
    /// The shard count it balances the slots over.
    pub shards: u32,
    pub moves: Vec<SlotMove>,
    /// The batch of slots a `MoveSlots` was moving when the engine last acted, until it is
    /// seen finished: after a crash or a failover in the middle, a slot of it may have keys on
    /// a master that neither owns nor imports it (the source's replica, promoted, never saw the
    /// migration), which a sweep hands back to the owner.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_flight: Vec<redis_stretch_model::SlotRange>,
}

/// Slots bound for one shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotMove {
    /// A node of the receiving shard (its master when planned). A failover in between makes
    /// another node that shard's master: the move follows the shard, found through this one.
    pub to: String,
    pub slots: Vec<redis_stretch_model::SlotRange>,
}

impl Migration {
    /// Slots planned to move in all.
    pub fn total(&self) -> usize {
        self.moves
            .iter()
            .flat_map(|m| &m.slots)
            .map(redis_stretch_model::SlotRange::len)
            .sum()
    }
}

/// A rollout: which instances are done, which one is restarting. Which instances are still
/// to do is the platform's word each pass ([`crate::NodeState::restart_for`]): the rollout
/// only remembers what no snapshot shows (an instance deleted and not back yet).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    /// When the first instance was seen outdated (Unix ms).
    pub started_ms: u64,
    /// Instances restarted and back in sync, in order.
    #[serde(default)]
    pub done: Vec<String>,
    /// The instance restarted last, until it is back and current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarting: Option<Restarting>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restarting {
    pub instance: String,
    /// When the restart was asked for (Unix ms).
    pub since_ms: u64,
}

/// A cut between the zones, seen from a site that reaches both, and the side the engine chose:
/// `chosen` serves every slot, every instance of `fenced` refuses writes until the heal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    pub chosen: String,
    pub fenced: String,
    pub rule: SideRule,
    /// When the engine chose (Unix ms).
    pub since_ms: u64,
}

/// Why a side was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SideRule {
    /// `spec.failover.preferredSide` names it.
    PreferredSide,
    /// It holds the majority of masters: nothing to take over, Redis's own quorum agrees.
    MajorityOfMasters,
    /// The other side came back from a loss only recently; this one served meanwhile.
    ServedDuringLoss,
    /// Both hold as many masters: the first zone of the spec.
    SpecOrder,
}

impl std::fmt::Display for SideRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SideRule::PreferredSide => "spec.failover.preferredSide",
            SideRule::MajorityOfMasters => "it holds the majority of masters",
            SideRule::ServedDuringLoss => {
                "it served while the other side was lost, and that side is only just back"
            }
            SideRule::SpecOrder => "as many masters on both sides: the first zone of the spec",
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneMemory {
    /// Dark when last settled (a suspect zone is neither lost nor back).
    #[serde(default)]
    pub dark: bool,
    /// When the zone went dark, oldest first.
    #[serde(default)]
    pub losses_ms: Vec<u64>,
    /// When it last came back from dark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returned_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AskedFailover {
    /// The candidate replica's node id.
    pub candidate: String,
    pub at_ms: u64,
}

/// How long masters stay away from a zone that came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldDownConfig {
    /// First hold-down after a return; doubled for every further loss within `flap_window`
    /// (a flapping zone gets its masters back ever later).
    pub base: Duration,
    pub flap_window: Duration,
    pub max: Duration,
}

/// A failback hold-down running for `zone`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldDown {
    pub zone: String,
    pub until_ms: u64,
    pub left_ms: u64,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Memory {
    /// Record `zone`'s state at `now_ms`: a loss when it turns dark, a return when it turns
    /// healthy again.
    pub fn observe_zone(&mut self, zone: &str, state: ZoneState, now_ms: u64, _: &HoldDownConfig) {
        let z = self.zones.entry(zone.to_owned()).or_default();
        match state {
            ZoneState::Dark { .. } if !z.dark => {
                z.dark = true;
                z.losses_ms.push(now_ms);
                if z.losses_ms.len() > MAX_LOSSES {
                    z.losses_ms.remove(0);
                }
            }
            ZoneState::Healthy if z.dark => {
                z.dark = false;
                z.returned_ms = Some(now_ms);
            }
            _ => {}
        }
    }

    /// No timestamp later than `now_ms`: one saved on a clock ahead of this engine's (another
    /// host, a clock stepped back since) is taken as now.
    pub fn clamp_to(&mut self, now_ms: u64) {
        for z in self.zones.values_mut() {
            for t in &mut z.losses_ms {
                *t = (*t).min(now_ms);
            }
            if let Some(t) = &mut z.returned_ms {
                *t = (*t).min(now_ms);
            }
        }
        for f in &mut self.failovers {
            f.at_ms = f.at_ms.min(now_ms);
        }
        if let Some(p) = &mut self.partition {
            p.since_ms = p.since_ms.min(now_ms);
        }
        if let Some(m) = &mut self.migration {
            m.started_ms = m.started_ms.min(now_ms);
        }
        if let Some(r) = &mut self.rollout {
            r.started_ms = r.started_ms.min(now_ms);
            if let Some(c) = &mut r.restarting {
                c.since_ms = c.since_ms.min(now_ms);
            }
        }
    }

    /// Follow the rollout in `snap`: one starts when an instance is seen outdated, the
    /// instance restarting is done once it is back at the new revision and current (a replica
    /// in sync, or a master).
    pub fn note_rollout(&mut self, snap: &Snapshot, now_ms: u64) {
        let outdated = snap.nodes.iter().any(|n| n.restart_for.is_some());
        if self.rollout.is_none() && outdated {
            self.rollout = Some(Rollout {
                started_ms: now_ms,
                ..Rollout::default()
            });
        }
        let Some(r) = &mut self.rollout else { return };
        if let Some(c) = &r.restarting {
            let back = snap
                .nodes
                .iter()
                .find(|n| n.name.as_deref() == Some(&c.instance));
            if back.is_some_and(|n| {
                n.restart_for.is_none() && n.reachable && (n.is_current_replica() || n.is_master())
            }) {
                if !r.done.contains(&c.instance) {
                    r.done.push(c.instance.clone());
                }
                r.restarting = None;
            }
        }
    }

    /// A restart that failed to start: nothing is restarting.
    pub fn forget_restart(&mut self, instance: &str) {
        if let Some(r) = &mut self.rollout {
            if r.restarting
                .as_ref()
                .is_some_and(|c| c.instance == instance)
            {
                r.restarting = None;
            }
        }
    }

    /// The rollout is over: every instance current and the layout as preferred again.
    pub fn end_rollout(&mut self) {
        self.rollout = None;
    }

    /// Losses of `zone` within the flap window before `now_ms`.
    pub fn flaps(&self, zone: &str, now_ms: u64, cfg: &HoldDownConfig) -> u32 {
        let window = ms(cfg.flap_window);
        self.zones.get(zone).map_or(0, |z| {
            let n = z
                .losses_ms
                .iter()
                .filter(|t| now_ms.saturating_sub(**t) <= window)
                .count();
            u32::try_from(n).unwrap_or(u32::MAX)
        })
    }

    /// The failback hold-down of `zone`, while it runs.
    pub fn hold_down_of(&self, zone: &str, now_ms: u64, cfg: &HoldDownConfig) -> Option<HoldDown> {
        let z = self.zones.get(zone)?;
        if z.dark {
            return None;
        }
        let returned = z.returned_ms?;
        let losses = self.flaps(zone, returned, cfg).max(1);
        let factor = 1u32 << (losses - 1).min(6);
        let hold = (cfg.base * factor).min(cfg.max);
        let until_ms = returned.saturating_add(ms(hold));
        (until_ms > now_ms).then(|| HoldDown {
            zone: zone.to_owned(),
            until_ms,
            left_ms: until_ms - now_ms,
        })
    }

    /// The longest hold-down running, over every zone.
    pub fn hold_down(&self, now_ms: u64, cfg: &HoldDownConfig) -> Option<HoldDown> {
        self.zones
            .keys()
            .filter_map(|z| self.hold_down_of(z, now_ms, cfg))
            .max_by_key(|h| h.until_ms)
    }

    /// Forget what no longer applies: bumps once every zone is healthy again (the next loss
    /// starts afresh), and failover requests that are settled — the candidate is master, or
    /// Redis would have given up after `retry`.
    pub fn settle(&mut self, snap: &Snapshot, zones: &ZoneStates, now_ms: u64, retry: Duration) {
        if zones.all_healthy() && self.partition.is_none() {
            self.bumped.clear();
        }
        let retry = ms(retry);
        self.failovers.retain(|f| {
            now_ms.saturating_sub(f.at_ms) < retry
                && snap
                    .node_by_id(&f.candidate)
                    .is_some_and(|n| !n.is_master())
        });
    }

    /// The failover requests decide must not compete with.
    pub fn pending(&self, now_ms: u64, retry: Duration) -> Vec<PendingFailover> {
        let retry = ms(retry);
        self.failovers
            .iter()
            .map(|f| PendingFailover {
                candidate: f.candidate.clone(),
                left: Duration::from_millis(retry.saturating_sub(now_ms.saturating_sub(f.at_ms))),
            })
            .collect()
    }

    /// The engine chose a side in a cut: the fenced side counts as lost (flap history), and
    /// comes back, with its failback hold-down, when the cut heals ([`Memory::end_partition`]).
    pub fn choose_side(&mut self, p: Partition) {
        if self.partition.is_some() {
            return;
        }
        let z = self.zones.entry(p.fenced.clone()).or_default();
        z.losses_ms.push(p.since_ms);
        if z.losses_ms.len() > MAX_LOSSES {
            z.losses_ms.remove(0);
        }
        self.partition = Some(p);
    }

    /// The cut healed and settled: the fenced side is back as of `now_ms`.
    pub fn end_partition(&mut self, now_ms: u64) {
        if let Some(p) = self.partition.take() {
            self.zones.entry(p.fenced).or_default().returned_ms = Some(now_ms);
            self.bumped.clear();
        }
    }

    /// Judge every replica's copy from `snap`: stale ones are remembered, current ones
    /// forgotten; a master keeps the judgement it had as a replica (that is the point).
    pub fn note_currency(&mut self, snap: &Snapshot) {
        for n in &snap.nodes {
            let Some(id) = n.id.as_deref() else { continue };
            if n.is_stale_replica() {
                if !self.stale.iter().any(|s| s == id) {
                    self.stale.push(id.to_owned());
                }
            } else if n.is_current_replica() {
                self.stale.retain(|s| s != id);
            }
        }
        self.stale.retain(|id| snap.node_by_id(id).is_some());
    }

    /// What `actions` start, recorded before they run (and saved with the memory), so that
    /// a successor of an engine killed mid-step knows: promotions (failback moves them back
    /// first), graceful failovers Redis may be electing, and replicas a `REPLICATE` re-points,
    /// whose copy is not their new master's until they are seen current.
    pub fn before_acting<'a>(&mut self, actions: impl Iterator<Item = &'a Action>, now_ms: u64) {
        for a in actions {
            match a.kind {
                ActionKind::Takeover { .. } | ActionKind::ForceFailover { .. } => {
                    self.record_promotion(&a.node_id);
                }
                ActionKind::GracefulFailover { .. } => self.record_failover(&a.node_id, now_ms),
                ActionKind::Replicate { .. } if !self.stale.contains(&a.node_id) => {
                    self.stale.push(a.node_id.clone());
                }
                ActionKind::MoveSlots { ref slots, .. } => {
                    if let Some(m) = &mut self.migration {
                        m.in_flight = slots.clone();
                    }
                }
                ActionKind::Restart { ref instance, .. } => {
                    let r = self.rollout.get_or_insert_with(|| Rollout {
                        started_ms: now_ms,
                        ..Rollout::default()
                    });
                    r.restarting = Some(Restarting {
                        instance: instance.clone(),
                        since_ms: now_ms,
                    });
                    // Its copy is gone until it has synced again.
                    if !self.stale.contains(&a.node_id) {
                        self.stale.push(a.node_id.clone());
                    }
                }
                _ => {}
            }
        }
    }

    /// A graceful failover that failed to start: nothing to wait for.
    pub fn forget_failover(&mut self, candidate: &str) {
        self.failovers.retain(|f| f.candidate != candidate);
    }

    pub fn record_promotion(&mut self, node_id: &str) {
        if !self.promoted.iter().any(|p| p == node_id) {
            self.promoted.push(node_id.to_owned());
        }
    }

    /// The layout is as preferred again: nothing is left to move back.
    pub fn forget_promotions(&mut self) {
        self.promoted.clear();
    }

    pub fn record_bump(&mut self, node_id: &str) {
        if !self.bumped.iter().any(|b| b == node_id) {
            self.bumped.push(node_id.to_owned());
        }
    }

    pub fn record_failover(&mut self, candidate: &str, now_ms: u64) {
        self.failovers.retain(|f| f.candidate != candidate);
        self.failovers.push(AskedFailover {
            candidate: candidate.to_owned(),
            at_ms: now_ms,
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cfg() -> HoldDownConfig {
        HoldDownConfig {
            base: Duration::from_secs(5),
            flap_window: Duration::from_secs(600),
            max: Duration::from_secs(300),
        }
    }

    #[test]
    fn hold_down_doubles_with_every_loss_in_the_window() {
        let c = cfg();
        let mut m = Memory::default();
        let dark = ZoneState::Dark { silent_ms: 1000 };
        m.observe_zone("dc-a", dark, 1_000, &c);
        m.observe_zone("dc-a", ZoneState::Healthy, 2_000, &c);
        assert_eq!(m.hold_down_of("dc-a", 2_000, &c).unwrap().until_ms, 7_000);
        m.observe_zone("dc-a", dark, 3_000, &c);
        assert_eq!(
            m.hold_down_of("dc-a", 3_000, &c),
            None,
            "no hold-down while dark"
        );
        m.observe_zone("dc-a", ZoneState::Healthy, 4_000, &c);
        assert_eq!(m.hold_down_of("dc-a", 4_000, &c).unwrap().until_ms, 14_000);
        assert_eq!(m.flaps("dc-a", 4_000, &c), 2);
        assert_eq!(m.hold_down_of("dc-a", 14_000, &c), None, "over");
    }

    /// A restart the platform refused (a pod it may not delete) leaves nothing restarting:
    /// the rollout asks again instead of waiting for an instance that never went.
    #[test]
    fn a_restart_that_failed_is_not_waited_for() {
        let mut m = Memory::default();
        let restart = Action {
            node: redis_stretch_model::NodeAddr::new("127.0.0.1", 7000),
            node_id: "abc".into(),
            why: "rollout".into(),
            kind: ActionKind::Restart {
                instance: "dc-a-0".into(),
                reason: "server Redis → Valkey".into(),
            },
        };
        m.before_acting(std::iter::once(&restart), 10);
        let r = m.rollout.as_ref().unwrap();
        assert_eq!(r.restarting.as_ref().unwrap().instance, "dc-a-0");
        m.forget_restart("dc-a-0");
        assert!(m.rollout.as_ref().unwrap().restarting.is_none());
    }

    #[test]
    fn memory_round_trips_through_json() {
        let c = cfg();
        let mut m = Memory::default();
        m.observe_zone("dc-a", ZoneState::Dark { silent_ms: 1 }, 10, &c);
        m.record_bump("abc");
        m.record_failover("def", 20);
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Memory>(&text).unwrap(), m);
    }
}
