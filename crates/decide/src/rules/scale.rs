//! Scaling: the spec's shard count against the cluster's (docs/OPERATIONS.md, "Scaling").
//!
//! Out: instances the platform added join as masters of nothing (the repair rules `MEET`
//! them). As many as the spec lacks stay masters, by the zones' preferred master counts
//! ([`designated`]); the rest become their replicas across (`healthy::pairing`). Once every
//! new master has a current replica in the other zone, a migration is planned (the slots each
//! shard receives so that all hold an even share), kept in the engine's memory and carried out
//! one batch of slots per pass.
//!
//! In: the platform marks the instances it will remove (`leaving`). Their slots move to the
//! others the same way; replicas that stay are re-pointed to masters that stay; then each
//! leaving instance is reset, forgotten by the rest and retired by the platform.
//!
//! A slot left importing or migrating (an engine killed mid-slot, a failover of the source or
//! the target, a person's half-done reshard) is closed first: keys the importing node holds go
//! back to the slot's owner (the claimant with the newest configEpoch), replacing a copy there
//! (`MIGRATE` moves a key in one command, so a copy on both is one whose deletion never
//! reached a promoted replica: the importing node's is the newer), then the open state is
//! cleared. After a batch cut short, every master is swept for keys of its slots that it
//! neither owns nor imports (the source's replica, promoted, never saw the migration). The move
//! then starts that slot again from wherever its keys are.

use std::collections::BTreeMap;

use redis_stretch_model::{migration_method, MigrationMethod, Role, SlotRange, SLOT_COUNT};

use crate::rules::{Decision, Input, MigrationChange};
use crate::{Action, ActionKind, Migration, NodeState, SlotMove, Snapshot, Waiting};

/// Slots per pass with `MIGRATE`: a pass stays short, so a zone going dark is seen within
/// about a second even in the middle of a migration.
const CLASSIC_BATCH: usize = 64;
/// Slots per `CLUSTER MIGRATESLOTS` job: one job moves them in one hand-off.
const ATOMIC_BATCH: usize = 1024;

/// A master of nothing that answers, known by name and id: a fresh instance, or an emptied one.
fn idle(n: &NodeState) -> bool {
    n.reachable
        && n.name.is_some()
        && n.id.is_some()
        && n.role == Some(Role::Master)
        && n.slots.is_empty()
}

/// Which master owns each slot: the claimant with the newest configEpoch when views differ
/// (a `SETSLOT NODE` the others have not heard of yet).
fn owners(snap: &Snapshot) -> Vec<Option<&NodeState>> {
    let mut out: Vec<Option<&NodeState>> = vec![None; usize::from(SLOT_COUNT)];
    for m in snap.nodes.iter().filter(|n| n.owns_slots()) {
        for r in &m.slots {
            for s in r.start..=r.end {
                let slot = &mut out[usize::from(s)];
                if slot.is_none_or(|o| o.config_epoch < m.config_epoch) {
                    *slot = Some(m);
                }
            }
        }
    }
    out
}

/// Idle instances that stay masters, to be the masters of the shards the spec adds: as many
/// as it lacks, each from the zone furthest below its preferred master count.
pub(crate) fn designated<'a>(input: &Input<'a>) -> Vec<&'a NodeState> {
    let snap = input.snapshot;
    let staying: Vec<&NodeState> = snap.masters().into_iter().filter(|m| !m.leaving).collect();
    let need = (input.policy.shards as usize).saturating_sub(staying.len());
    // Only a whole cluster grows: with slots unowned the loss rules are at work.
    if need == 0 || owners(snap).iter().any(Option::is_none) {
        return Vec::new();
    }
    let mut deficit: BTreeMap<&str, i64> = input
        .policy
        .preferred
        .iter()
        .map(|(z, n)| {
            let have = staying.iter().filter(|m| &m.zone == z).count();
            (
                z.as_str(),
                i64::from(*n) - i64::try_from(have).unwrap_or(i64::MAX),
            )
        })
        .collect();
    let mut pool: Vec<&NodeState> = snap
        .nodes
        .iter()
        .filter(|n| idle(n) && !n.leaving)
        .collect();
    // Those already followed by a replica first: instances arrive one at a time (a
    // StatefulSet's pods), and a new master chosen on an earlier pass and paired since must
    // stay one when a later instance sorts before it — else it would be made a replica, its
    // own replica left following a replica.
    let followed = |n: &NodeState| {
        n.id.as_deref()
            .is_some_and(|id| snap.replicas_of(id).next().is_some())
    };
    pool.sort_by(|a, b| (!followed(a), &a.name).cmp(&(!followed(b), &b.name)));
    let mut out = Vec::new();
    while out.len() < need {
        let Some(zone) = input
            .policy
            .preferred
            .iter()
            .map(|(z, _)| z.as_str())
            .filter(|z| pool.iter().any(|n| n.zone == *z))
            .max_by_key(|z| (deficit.get(z).copied().unwrap_or(0), std::cmp::Reverse(*z)))
        else {
            break;
        };
        let Some(i) = pool.iter().position(|n| n.zone == zone) else {
            break;
        };
        out.push(pool.remove(i));
        if let Some(d) = deficit.get_mut(zone) {
            *d -= 1;
        }
    }
    out
}

/// `m` has a replica in the other zone whose copy is current, that is not leaving.
fn current_across(snap: &Snapshot, m: &NodeState) -> bool {
    m.id.as_deref().is_some_and(|id| {
        snap.replicas_of(id)
            .any(|r| r.zone != m.zone && !r.leaving && r.is_current_replica())
    })
}

pub(crate) fn scale(input: &Input<'_>) -> Option<Decision> {
    let snap = input.snapshot;
    let target = input.policy.shards;
    let staying: Vec<&NodeState> = snap.masters().into_iter().filter(|m| !m.leaving).collect();
    let leaving: Vec<&NodeState> = snap
        .nodes
        .iter()
        .filter(|n| n.leaving && n.name.is_some())
        .collect();
    let new = designated(input);
    let open = open_slots(snap);
    let wait = |slots_left: usize, why: String| {
        Decision::wait(Waiting::Scaling {
            shards: snap.masters().len(),
            target,
            slots_left,
            why,
        })
    };
    if input.migration.is_none() && new.is_empty() && leaving.is_empty() && open.is_empty() {
        // Nothing the platform added or marked yet.
        let whole = owners(snap).iter().all(Option::is_some);
        return match staying.len().cmp(&(target as usize)) {
            std::cmp::Ordering::Less if whole => Some(wait(
                0,
                format!(
                    "{} new shard master(s) to come: waiting for the platform's new instances to join",
                    target as usize - staying.len()
                ),
            )),
            std::cmp::Ordering::Greater => Some(wait(
                0,
                "the platform has not said which instances leave".to_owned(),
            )),
            _ => None,
        };
    }

    // A slot left open is closed before anything moves.
    if !open.is_empty() {
        let owners = owners(snap);
        let actions: Vec<Action> = open
            .iter()
            .filter_map(|(n, slot)| {
                let owner = owners[usize::from(slot.slot)]?;
                Action::on(
                    n,
                    ActionKind::CloseSlot {
                        slot: slot.slot,
                        owner: owner.addr.clone()?,
                        owner_id: owner.id.clone()?,
                    },
                    if slot.importing {
                        "it imports a slot that no migration of the engine's is moving now: its keys go back to the slot's owner, then the slot is stable"
                    } else {
                        "it migrates a slot that no migration of the engine's is moving now: the slot is its owner's again"
                    },
                )
            })
            .collect();
        if !actions.is_empty() {
            let mut d = wait(
                open.len(),
                format!("closing {} slot(s) a migration left open", open.len()),
            );
            d.push_step(actions);
            return Some(d);
        }
    }

    // A batch cut short (the engine killed, a failover under it): stray keys back first.
    if let Some(m) = input.migration.filter(|m| !m.in_flight.is_empty()) {
        let sweeps: Vec<Action> = snap
            .nodes
            .iter()
            .filter(|n| n.reachable && n.is_master())
            .filter_map(|n| {
                Action::on(
                    n,
                    ActionKind::Sweep {
                        slots: m.in_flight.clone(),
                    },
                    "the last batch of slots may have been cut short: keys of a slot it does not own go back to the owner",
                )
            })
            .collect();
        let mut d = wait(
            0,
            format!(
                "checking the slots of a batch cut short ({})",
                redis_stretch_model::format_ranges(&m.in_flight)
            ),
        );
        d.push_step(sweeps);
        return Some(d);
    }

    let mut d = Decision::default();
    let owners = owners(snap);
    let plan = match input.migration {
        Some(m) if m.shards == target && valid(m, snap) => m.clone(),
        _ => {
            for m in &new {
                if !current_across(snap, m) {
                    return Some(wait(
                        0,
                        format!(
                            "new shard master {} waits for a current replica in the other zone before it takes slots",
                            m.name.as_deref().unwrap_or("?")
                        ),
                    ));
                }
            }
            if staying.len() + new.len() < target as usize {
                return Some(wait(
                    0,
                    format!(
                        "{} of {} new shard masters have joined",
                        new.len(),
                        target as usize - staying.len()
                    ),
                ));
            }
            let mut receivers = staying.clone();
            receivers.extend(new.iter().copied());
            let plan = plan(&owners, &receivers, input.now_ms, target);
            if plan.moves.is_empty() {
                if input.migration.is_some() {
                    d.migration = Some(MigrationChange::Done);
                }
                return retire(input, &leaving, d);
            }
            d.migration = Some(MigrationChange::Planned(plan.clone()));
            plan
        }
    };

    let left = remaining(&plan, snap, &owners);
    let Some(&(first, from, to)) = left.first() else {
        d.migration = Some(MigrationChange::Done);
        return retire(input, &leaving, d);
    };
    let why_not = if !from.reachable {
        Some(format!(
            "{} (the slots' owner) does not answer",
            label(from)
        ))
    } else if !to.reachable {
        Some(format!(
            "{} (the receiving master) does not answer",
            label(to)
        ))
    } else if let Some(n) = [from, to]
        .into_iter()
        .find(|n| n.cluster_state != Some(redis_stretch_model::ClusterState::Ok))
    {
        // A master just met is `fail` until it has heard the slot map: a MIGRATE to it would
        // be refused (CLUSTERDOWN).
        Some(format!("{} does not report cluster_state ok yet", label(n)))
    } else if !current_across(snap, to) {
        Some(format!(
            "{} (the receiving master) has no current replica in the other zone",
            label(to)
        ))
    } else {
        None
    };
    if let Some(why) = why_not {
        d.waiting_for = Some(Waiting::Scaling {
            shards: snap.masters().len(),
            target,
            slots_left: left.len(),
            why,
        });
        return Some(d);
    }
    let method = method(from, to);
    let batch = match method {
        MigrationMethod::Atomic => ATOMIC_BATCH,
        _ => CLASSIC_BATCH,
    };
    let slots: Vec<u16> = left
        .iter()
        .filter(|(_, f, t)| f.id == from.id && t.id == to.id)
        .map(|(s, _, _)| *s)
        .take(batch)
        .collect();
    let ranges = ranges(&slots);
    let others: Vec<_> = snap
        .masters()
        .into_iter()
        .filter(|m| m.reachable && m.id != from.id && m.id != to.id)
        .filter_map(|m| m.addr.clone())
        .collect();
    let (Some(to_addr), Some(to_id)) = (to.addr.clone(), to.id.clone()) else {
        return Some(d);
    };
    let action = Action::on(
        from,
        ActionKind::MoveSlots {
            to: to_addr,
            to_id,
            slots: ranges.clone(),
            others,
            to_replica: to.id.as_deref().and_then(|id| {
                snap.replicas_of(id)
                    .find(|r| r.zone != to.zone && !r.leaving && r.is_current_replica())
                    .and_then(|r| r.addr.clone())
            }),
            method,
        },
        format!(
            "the spec asks for {target} shards: {} of the migration's {} slots still to move (from slot {first})",
            left.len(),
            plan.total()
        ),
    );
    d.push_step(action.into_iter().collect());
    d.waiting_for = Some(Waiting::Scaling {
        shards: snap.masters().len(),
        target,
        slots_left: left.len(),
        why: format!(
            "moving slots {} from {} to {}",
            redis_stretch_model::format_ranges(&ranges),
            label(from),
            label(to)
        ),
    });
    Some(d)
}

fn label(n: &NodeState) -> String {
    match (&n.name, &n.addr) {
        (Some(name), _) => name.clone(),
        (None, Some(a)) => a.to_string(),
        _ => "a node".to_owned(),
    }
}

/// Atomic only when both ends have it; otherwise the classic commands, which every version
/// has. Redis 8.4's `CLUSTER MIGRATION` is not among the servers this is tested on: classic.
fn method(from: &NodeState, to: &NodeState) -> MigrationMethod {
    let of = |n: &NodeState| match (n.server, n.version.as_deref()) {
        (Some(f), Some(v)) => migration_method(f, v),
        _ => MigrationMethod::Classic,
    };
    match (of(from), of(to)) {
        (MigrationMethod::Atomic, MigrationMethod::Atomic) => MigrationMethod::Atomic,
        _ => MigrationMethod::Classic,
    }
}

/// Open slots on reachable masters (a replica's are not its to act on).
fn open_slots(snap: &Snapshot) -> Vec<(&NodeState, &crate::OpenSlot)> {
    snap.nodes
        .iter()
        .filter(|n| n.reachable && n.is_master())
        .flat_map(|n| n.open_slots.iter().map(move |o| (n, o)))
        .collect()
}

/// The master of the shard `id` belongs to (itself, or the master it replicates).
fn shard_master<'a>(snap: &'a Snapshot, id: &str) -> Option<&'a NodeState> {
    let n = snap.node_by_id(id)?;
    match n.role {
        Some(Role::Master) => Some(n),
        Some(Role::Replica) => snap.node_by_id(n.master_id.as_deref()?),
        None => None,
    }
}

/// Every move still reaches a master that stays.
fn valid(m: &Migration, snap: &Snapshot) -> bool {
    m.moves
        .iter()
        .all(|mv| shard_master(snap, &mv.to).is_some_and(|t| !t.leaving && t.is_master()))
}

/// Slots of `plan` not yet at their shard: (slot, owner now, receiving master), in slot order.
fn remaining<'a>(
    plan: &Migration,
    snap: &'a Snapshot,
    owners: &[Option<&'a NodeState>],
) -> Vec<(u16, &'a NodeState, &'a NodeState)> {
    let mut out = Vec::new();
    for mv in &plan.moves {
        let Some(to) = shard_master(snap, &mv.to) else {
            continue;
        };
        for r in &mv.slots {
            for s in r.start..=r.end {
                if let Some(owner) = owners[usize::from(s)] {
                    if owner.id != to.id {
                        out.push((s, owner, to));
                    }
                }
            }
        }
    }
    out.sort_by_key(|(s, _, _)| *s);
    out
}

/// Contiguous ranges of sorted `slots`.
fn ranges(slots: &[u16]) -> Vec<SlotRange> {
    let mut out: Vec<SlotRange> = Vec::new();
    for &s in slots {
        match out.last_mut() {
            Some(r) if r.end + 1 == s => r.end = s,
            _ => out.push(SlotRange { start: s, end: s }),
        }
    }
    out
}

/// The slots each receiver gets so that all hold an even share: masters leaving give all of
/// theirs, masters above their share give their highest slots; receivers below their share
/// take them in order (those that stay first, then the new ones).
fn plan(
    owners: &[Option<&NodeState>],
    receivers: &[&NodeState],
    now_ms: u64,
    shards: u32,
) -> Migration {
    let n = receivers.len().max(1);
    let total = usize::from(SLOT_COUNT);
    let mut held: BTreeMap<&str, Vec<u16>> = BTreeMap::new();
    for (s, o) in owners.iter().enumerate() {
        if let (Some(o), Ok(s)) = (o, u16::try_from(s)) {
            if let Some(id) = o.id.as_deref() {
                held.entry(id).or_default().push(s);
            }
        }
    }
    let receiver_ids: Vec<&str> = receivers.iter().filter_map(|r| r.id.as_deref()).collect();
    // The slots that do not divide evenly stay with those that hold the most already: no
    // slot moves only to trade one master's extra slot for another's.
    let mut by_held: Vec<usize> = (0..receiver_ids.len()).collect();
    by_held.sort_by_key(|i| std::cmp::Reverse(held.get(receiver_ids[*i]).map_or(0, Vec::len)));
    let extra: Vec<usize> = by_held.into_iter().take(total % n).collect();
    let quota = |i: usize| total / n + usize::from(extra.contains(&i));
    // What is to move: every slot of a non-receiver, and each receiver's surplus.
    let mut surplus: Vec<u16> = Vec::new();
    for (id, slots) in &held {
        match receiver_ids.iter().position(|r| r == id) {
            None => surplus.extend(slots),
            Some(i) => {
                let q = quota(i);
                if slots.len() > q {
                    surplus.extend(&slots[q..]);
                }
            }
        }
    }
    surplus.sort_unstable();
    let mut moves = Vec::new();
    let mut it = surplus.into_iter();
    for (i, id) in receiver_ids.iter().enumerate() {
        let have = held.get(id).map_or(0, Vec::len);
        let want = quota(i).saturating_sub(have);
        let got: Vec<u16> = it.by_ref().take(want).collect();
        if !got.is_empty() {
            moves.push(SlotMove {
                to: (*id).to_owned(),
                slots: ranges(&got),
            });
        }
    }
    Migration {
        started_ms: now_ms,
        shards,
        moves,
        in_flight: Vec::new(),
    }
}

/// The migration is done: staying replicas of leaving masters move to masters that stay, then
/// each leaving instance is retired (once every staying master keeps a current replica across).
fn retire(input: &Input<'_>, leaving: &[&NodeState], mut d: Decision) -> Option<Decision> {
    let snap = input.snapshot;
    let target = input.policy.shards;
    if leaving.is_empty() {
        return d.migration.is_some().then_some(d);
    }
    let wait = |why: String| Waiting::Scaling {
        shards: snap.masters().len(),
        target,
        slots_left: 0,
        why,
    };
    if let Some(m) = leaving.iter().find(|n| n.owns_slots()) {
        d.waiting_for = Some(wait(format!(
            "{} leaves but still serves slots {}",
            label(m),
            redis_stretch_model::format_ranges(&m.slots)
        )));
        return Some(d);
    }
    let staying_masters: Vec<&NodeState> =
        snap.masters().into_iter().filter(|m| !m.leaving).collect();
    // Replicas that stay but follow a leaving master: to a staying master across, those
    // lacking a replica there first.
    let mut repoint = Vec::new();
    for r in snap
        .nodes
        .iter()
        .filter(|n| n.reachable && !n.leaving && n.name.is_some() && n.role == Some(Role::Replica))
    {
        let follows_leaving = r
            .master_id
            .as_deref()
            .and_then(|id| snap.node_by_id(id))
            .is_some_and(|m| m.leaving || !m.owns_slots());
        if !follows_leaving {
            continue;
        }
        let across: Vec<&&NodeState> = staying_masters
            .iter()
            .filter(|m| m.zone != r.zone && m.reachable)
            .collect();
        let pick = across
            .iter()
            .find(|m| !current_across(snap, m))
            .or_else(|| {
                across.iter().min_by_key(|m| {
                    m.id.as_deref()
                        .map_or(0, |id| snap.replicas_of(id).filter(|x| !x.leaving).count())
                })
            });
        if let Some(m) = pick {
            let Some(master_id) = m.id.clone() else {
                continue;
            };
            repoint.extend(Action::on(
                r,
                ActionKind::Replicate { master_id },
                format!(
                    "its master leaves the cluster (the spec asks for {target} shards): it follows {} in the other zone",
                    label(m)
                ),
            ));
        }
    }
    if !repoint.is_empty() {
        d.waiting_for = Some(wait(
            "re-pointing replicas of leaving masters to masters that stay".to_owned(),
        ));
        d.push_step(repoint);
        return Some(d);
    }
    if let Some(m) = staying_masters.iter().find(|m| !current_across(snap, m)) {
        d.waiting_for = Some(wait(format!(
            "{} waits for a current replica in the other zone among the instances that stay",
            label(m)
        )));
        return Some(d);
    }
    let forget_on: Vec<_> = snap
        .nodes
        .iter()
        .filter(|n| n.reachable && !n.leaving && n.name.is_some())
        .filter_map(|n| n.addr.clone())
        .collect();
    let step: Vec<Action> = leaving
        .iter()
        .filter_map(|n| {
            let instance = n.name.clone()?;
            Action::on(
                n,
                ActionKind::Retire {
                    instance,
                    forget_on: forget_on.clone(),
                },
                format!("the spec asks for {target} shards: it serves no slots and leaves"),
            )
        })
        .collect();
    d.waiting_for = Some(wait(format!("retiring {} instance(s)", leaving.len())));
    d.push_step(step);
    Some(d)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    fn master(id: &str, slots: Vec<SlotRange>) -> NodeState {
        NodeState {
            id: Some(id.repeat(40 / id.len())),
            role: Some(Role::Master),
            reachable: true,
            slots,
            ..NodeState::silent(Some(id.to_owned()), "dc-a", None)
        }
    }

    proptest! {
        /// Whatever the slots held and however many receivers: after the plan every receiver
        /// holds an even share (within one slot), every slot of a master that leaves moves,
        /// and no slot moves from a receiver that holds no more than its share.
        #[test]
        fn the_plan_balances_and_moves_only_what_it_must(
            cuts in proptest::collection::vec(1u16..SLOT_COUNT, 1..6),
            new in 0usize..4,
            leaving in 0usize..2,
        ) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            cuts.dedup();
            let mut bounds = vec![0u16];
            bounds.extend(cuts);
            bounds.push(SLOT_COUNT);
            let names = ["a", "b", "c", "d", "e", "f", "g"];
            let held: Vec<NodeState> = bounds
                .windows(2)
                .enumerate()
                .map(|(i, w)| master(names[i], vec![SlotRange { start: w[0], end: w[1] - 1 }]))
                .collect();
            let leaving = leaving.min(held.len() - 1);
            let fresh: Vec<NodeState> = (0..new).map(|i| master(["w", "x", "y", "z"][i], vec![])).collect();
            let snap = Snapshot { zones: vec!["dc-a".into(), "dc-b".into()], nodes: held.iter().chain(&fresh).cloned().collect() };
            let owners = owners(&snap);
            let receivers: Vec<&NodeState> = snap.nodes.iter().skip(leaving).collect();
            let m = plan(&owners, &receivers, 0, receivers.len() as u32);
            // Apply it.
            let mut count: BTreeMap<String, usize> = BTreeMap::new();
            let mut owner_of: Vec<String> = owners.iter().map(|o| o.unwrap().id.clone().unwrap()).collect();
            for mv in &m.moves {
                for r in &mv.slots {
                    for s in r.start..=r.end {
                        owner_of[usize::from(s)] = mv.to.clone();
                    }
                }
            }
            for o in &owner_of {
                *count.entry(o.clone()).or_default() += 1;
            }
            let n = receivers.len();
            let floor = usize::from(SLOT_COUNT) / n;
            for r in &receivers {
                let c = count.get(r.id.as_ref().unwrap()).copied().unwrap_or(0);
                prop_assert!(c == floor || c == floor + 1, "{c} slots, share {floor}");
            }
            for l in snap.nodes.iter().take(leaving) {
                prop_assert!(!count.contains_key(l.id.as_ref().unwrap()), "a leaving master keeps slots");
            }
            let moved: usize = m.total();
            let needed: usize = receivers
                .iter()
                .map(|r| {
                    let had = r.slots.iter().map(SlotRange::len).sum::<usize>();
                    had.saturating_sub(floor + 1)
                })
                .sum::<usize>()
                + snap.nodes.iter().take(leaving).map(|l| l.slots.iter().map(SlotRange::len).sum::<usize>()).sum::<usize>();
            // Never more than what leaves plus each receiver's surplus over its share (the
            // remainder may add one slot per receiver).
            prop_assert!(moved <= needed + n, "moved {moved}, needed about {needed}");
        }
    }
}
