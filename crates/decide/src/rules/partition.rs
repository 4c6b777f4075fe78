//! A cut between the zones, seen from a site that reaches both (a third site, or an operator
//! whose pod sits where it still hears both DCs): every instance answers the engine, but the
//! zones no longer hear each other.
//!
//! Left alone this is the worst case of all. Replicas keep `master_link_status:up` for
//! `repl-timeout` (60 s) in a silent cut, so nothing looks lost; the masters' fences
//! (`min-replicas-to-write`) close on their own after `min-replicas-max-lag` and a fence with
//! no decider is an outage; and the side with the majority of masters elects replicas for the
//! other side's shards after node-timeout while those masters still acknowledge writes that
//! the heal discards.
//!
//! So the engine decides, once the cut is confirmed (every pair across silent for
//! [`cut_threshold`], both ways, pings pending, while every pair within a zone answers):
//! 1. it chooses a side — `spec.failover.preferredSide`; else, when one zone came back from a
//!    loss recently, the one that served meanwhile; else the zone holding the majority of
//!    current masters; else the first zone — and remembers it (a restarted engine keeps it);
//! 2. it shuts the fence of every instance of the other side at once
//!    (`min-replicas-to-write` [`FENCE_SHUT`]): no more acknowledged writes there, instead of
//!    2–4 s later when replication lag would have closed them; and makes every instance there
//!    unelectable (`cluster-replica-no-failover yes`), so that Redis's own election promotes
//!    nothing there, neither during the cut nor in the moment it heals;
//! 3. it treats the other side as lost for the chosen side (`lost::zone_lost` with `cut`):
//!    chosen-side masters are unfenced, replicas there promoted for the other side's shards.
//!
//! The partition ends when the zones hear each other again and no slot is claimed twice (the
//! fenced side's masters learn the newer configEpochs and turn into replicas); the fenced side
//! then counts as back, with its failback hold-down. Nothing of the fenced side is unfenced
//! while the partition stands.

use redis_stretch_api::Detection;

use crate::rules::{other_zone, Decision, Input, PartitionChange};
use crate::{Action, ActionKind, NodeState, Partition, SideRule, Snapshot, Waiting};

use super::lost::{zone_lost, Loss};

/// `min-replicas-to-write` on the side not chosen: more replicas than any shard has, so its
/// masters refuse every write (`NOREPLICAS`) from the moment the engine decides.
pub const FENCE_SHUT: u32 = 100;

/// How long every pair across must be silent before the engine calls it a cut. In a healthy
/// cluster a node hears each peer at least every node-timeout/2, and a pending PING is
/// answered within milliseconds, so every pair silent with pings pending is already strong
/// evidence; the length guards against blips. `Safe`: node-timeout, as the spec promises
/// (`Safe` never acts sooner than node-timeout: a cut Redis rides out is ridden out, and still
/// decided before Redis's own election, which needs node-timeout from the PING — up to
/// node-timeout/2 after the last PONG — then the `fail` reports of a majority and 0.5–1 s of
/// election delay); `Fast`: half of it.
pub fn cut_threshold(detection: Detection, node_timeout_ms: u64) -> u64 {
    match detection {
        Detection::Safe => node_timeout_ms,
        Detection::Fast => node_timeout_ms / 2,
    }
}

/// The shortest silence between any two reachable instances in different zones, as the
/// instances themselves report it (`pong-recv`, with a `ping-sent` pending): `None` when some
/// pair across answered its last PING, a pair within a zone is silent for `min_ms` or more too
/// (not a clean cut between zones), or there is nothing to judge.
pub fn cut_silence_ms(snap: &Snapshot, now_ms: u64, min_ms: u64) -> Option<u64> {
    let [a, b] = snap.zones.as_slice() else {
        return None;
    };
    let named = |zone: &str| -> Vec<&NodeState> {
        snap.nodes
            .iter()
            .filter(|n| n.zone == zone && n.name.is_some() && n.id.is_some())
            .collect()
    };
    let (za, zb) = (named(a), named(b));
    if za.iter().all(|n| !n.reachable) || zb.iter().all(|n| !n.reachable) {
        return None;
    }
    let silence = |from: &NodeState, to: &NodeState| -> Option<u64> {
        let seen = from.sees.iter().find(|s| Some(&s.id) == to.id.as_ref())?;
        // On the reporting node's own clock: the engine's may be stepped or ahead.
        let now = from.clock_ms.unwrap_or(now_ms);
        (seen.ping_sent_ms > 0).then(|| now.saturating_sub(seen.pong_recv_ms))
    };
    let mut shortest: Option<u64> = None;
    for (near, far) in [(&za, &zb), (&zb, &za)] {
        for n in near.iter().filter(|n| n.reachable) {
            for p in far.iter() {
                let s = silence(n, p)?;
                shortest = Some(shortest.map_or(s, |x| x.min(s)));
            }
            // Within the zone everything must still answer: a node whose own zone is silent
            // to it is not on one side of a clean cut.
            if near
                .iter()
                .filter(|p| p.id != n.id && p.reachable)
                .any(|p| silence(n, p).is_some_and(|s| s >= min_ms))
            {
                return None;
            }
        }
    }
    shortest
}

pub(crate) fn partition(input: &Input<'_>) -> Option<Decision> {
    let p = input.policy;
    let threshold = cut_threshold(p.detection, p.node_timeout_ms);
    // A new cut counts only from when the engine saw every zone answer: silence across that
    // began while a zone was away from the engine too is the tail of that outage, not a cut.
    // A side already chosen is held while the zones do not hear each other, however long
    // this engine has watched: a restarted one, or a zone back from a blip to the engine,
    // must not take a standing cut for healed and reopen the side it shut.
    let raw = cut_silence_ms(input.snapshot, input.now_ms, threshold);
    let cut = raw.map(|ms| ms.min(input.healthy_for_ms));
    match (input.partition, cut) {
        (Some(chosen), _) if raw.is_some_and(|s| s >= threshold / 2) => {
            Some(hold(input, Some(chosen)))
        }
        (Some(chosen), _) => Some(heal(input, chosen)),
        (None, Some(silent)) if silent >= threshold => Some(hold(input, None)),
        (None, Some(silent)) if silent >= threshold / 2 => {
            Some(Decision::wait(Waiting::ConfirmingCut {
                silent_ms: silent,
                threshold_ms: threshold,
            }))
        }
        _ => None,
    }
}

/// The side to keep: the preferred one; the one that served while the other was lost, when
/// the other came back only recently (right after a heal the links across stay silent for a
/// few seconds: TCP's retransmission backoff, Redis's reconnects); else the one with most
/// masters — counting only masters no other master overrules with a newer configEpoch (the
/// stale masters of a side that lost its slots do not count).
fn choose(input: &Input<'_>) -> Option<(String, SideRule)> {
    let snap = input.snapshot;
    if let Some(side) = &input.policy.preferred_side {
        if snap.zones.contains(side) {
            return Some((side.clone(), SideRule::PreferredSide));
        }
    }
    if let Some(back) = &input.hold_down {
        if let Some(survivor) = other_zone(snap, &back.zone) {
            return Some((survivor.to_owned(), SideRule::ServedDuringLoss));
        }
    }
    let [a, b] = snap.zones.as_slice() else {
        return None;
    };
    let count = |z: &str| {
        snap.masters()
            .iter()
            .filter(|m| m.zone == z && snap.newer_claimant(m).is_none())
            .count()
    };
    let (ca, cb) = (count(a), count(b));
    Some(match ca.cmp(&cb) {
        std::cmp::Ordering::Greater => (a.clone(), SideRule::MajorityOfMasters),
        std::cmp::Ordering::Less => (b.clone(), SideRule::MajorityOfMasters),
        std::cmp::Ordering::Equal => (a.clone(), SideRule::SpecOrder),
    })
}

/// Choose (or keep) a side and enforce it: the other side shut, the chosen side serving.
fn hold(input: &Input<'_>, known: Option<&Partition>) -> Decision {
    let snap = input.snapshot;
    let (chosen, rule) = match known {
        Some(p) => (p.chosen.clone(), p.rule),
        None => match choose(input) {
            Some(c) => c,
            None => return Decision::wait(Waiting::LostInBothZones),
        },
    };
    let Some(fenced) = other_zone(snap, &chosen).map(str::to_owned) else {
        return Decision::wait(Waiting::UnknownZone { zone: chosen });
    };
    let mut d = Decision::default();
    // Nothing on the other side may be elected by Redis: its majority would promote a replica
    // of a chosen-side master during the cut, and at the heal a configEpoch collision with the
    // chosen side's takeovers can lift that master above any margin (docs/REDIS-FACTS.md):
    // the chosen side's writes flushed. Manual failovers (the engine's) ignore the setting;
    // `repair` clears it once a replica is current.
    let unelectable = snap
        .nodes
        .iter()
        .filter(|n| n.zone == fenced && n.reachable && n.name.is_some())
        .filter(|n| n.no_failover == Some(false))
        .filter_map(|n| {
            Action::on(
                n,
                ActionKind::SetElectable { electable: false },
                format!(
                    "{fenced} is cut off from {chosen}, which keeps serving ({rule}): Redis must elect nothing here, during the cut or as it heals"
                ),
            )
        });
    if input.policy.fencing {
        let shut: Vec<Action> = snap
            .nodes
            .iter()
            .filter(|n| n.zone == fenced && n.reachable && n.name.is_some())
            .filter(|n| n.fence.unwrap_or(0) < FENCE_SHUT)
            .filter_map(|n| {
                Action::on(
                    n,
                    ActionKind::Fence {
                        min_replicas: FENCE_SHUT,
                        max_lag_s: input.policy.fence_max_lag_s,
                    },
                    format!(
                        "{fenced} is cut off from {chosen}, which keeps serving ({rule}): nothing here may acknowledge a write the heal would discard"
                    ),
                )
            })
            .chain(unelectable)
            .collect();
        d.push_step(shut);
    } else {
        d.push_step(unelectable.collect());
        d.notes.push(format!(
            "fencing is off: {fenced}'s masters keep acknowledging writes the heal will discard"
        ));
    }
    let taken = zone_lost(input, &Loss::cut(&fenced, &chosen));
    for step in taken.steps {
        d.push_step(step);
    }
    d.notes.extend(taken.notes);
    d.waiting_for = match taken.waiting_for {
        Some(Waiting::ZoneReturn { .. }) | None => Some(Waiting::Partition {
            chosen: chosen.clone(),
            fenced: fenced.clone(),
            rule,
        }),
        other => other,
    };
    if known.is_none() {
        d.partition = Some(PartitionChange::Chose(Partition {
            chosen,
            fenced,
            rule,
            since_ms: input.now_ms,
        }));
    }
    d
}

/// The zones hear each other again. Until gossip settled every slot on one master, the fenced
/// side keeps its fence; then the partition is over and the usual rules (fences, failback
/// after the hold-down) take over.
fn heal(input: &Input<'_>, p: &Partition) -> Decision {
    let twice = input.snapshot.slots_claimed_twice();
    if twice > 0 {
        return Decision::wait(Waiting::PartitionHealing {
            fenced: p.fenced.clone(),
            slots_claimed_twice: twice,
        });
    }
    Decision {
        partition: Some(PartitionChange::Healed),
        waiting_for: Some(Waiting::PartitionHealing {
            fenced: p.fenced.clone(),
            slots_claimed_twice: 0,
        }),
        ..Decision::default()
    }
}
