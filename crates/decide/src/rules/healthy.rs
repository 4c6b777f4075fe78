//! Both zones answer: repair what a return left behind, in this order, one kind per pass.
//! 0. Electability: a replica whose copy is current may be elected by Redis
//!    (`cluster-replica-no-failover no`); one in a full sync, or never linked since it
//!    started, may not (`yes`, as every instance starts). With validity factor 0 nothing else
//!    stops Redis from electing an empty replica.
//! 1. Re-mesh: an instance that came back on a new address (a pod with a new IP) is unknown
//!    to its peers there, so a peer `MEET`s it (stale `nodes.conf` addresses).
//! 2. Forget node ids that no instance owns any more, that hold no slots and that a peer
//!    flags `fail` or knows no address of (an instance restarted empty gets a new id; the old
//!    one lingers as `fail`, or as `noaddr` when the new one answers at its address).
//! 3. Pairing: an instance without a role (master of no slots: a fresh or emptied node)
//!    becomes a replica of a shard that lacks one in the other zone; a replica in its master's
//!    zone moves to a shard that has none across.
//! 4. Zones: a Valkey instance whose `availability-zone` is not the zone it runs in is told
//!    (local mode writes it into the config; a seed-compatible pod learns its zone only from
//!    its node, so on Kubernetes the engine sets it at run time).
//! 5. Node-timeout: put back what a takeover lowered on the survivors.
//! 6. Fence: with fencing on, masters whose replica in the other zone is up, and every
//!    replica (so a promotion nobody ordered starts fenced), get `min-replicas-to-write`; a
//!    master whose cross-zone replica is down while both zones are up is unfenced — one dead
//!    replica must not take its shard's writes with it.

use redis_stretch_model::{Role, ServerFlavour};

use crate::rules::{Decision, Input};
use crate::{short_id, Action, ActionKind, NodeState, Snapshot};

pub(crate) fn repair(input: &Input<'_>) -> Decision {
    let snap = input.snapshot;
    let mut d = Decision::default();
    d.push_step(electability(input));
    if !d.is_empty() {
        return d;
    }
    d.push_step(meet(snap));
    if !d.is_empty() {
        return d;
    }
    d.push_step(forget(snap));
    if !d.is_empty() {
        return d;
    }
    d.push_step(pairing(snap, &crate::rules::scale::designated(input)));
    if !d.is_empty() {
        return d;
    }
    d.push_step(zones(snap));
    if !d.is_empty() {
        return d;
    }
    d.push_step(node_timeouts(input));
    if !d.is_empty() {
        return d;
    }
    d.push_step(fence(input));
    d
}

fn electability(input: &Input<'_>) -> Vec<Action> {
    input
        .snapshot
        .nodes
        .iter()
        .filter(|n| n.name.is_some())
        .filter_map(|n| {
            let (no_failover, why) = if n.is_current_replica() {
                (
                    false,
                    "its copy is current (link up, no sync running): Redis may elect it if its master fails",
                )
            } else if n.is_stale_replica()
                || (n.reachable
                    && n.role == Some(Role::Replica)
                    && crate::rules::lost::judged_stale(n, input.stale))
            {
                (
                    true,
                    "its copy is not its master's (in a full sync, re-pointed, or never linked since it started): elected, it would wipe the shard",
                )
            } else {
                return None;
            };
            // `None`: the server did not say (not a cluster setting it knows): nothing to set.
            if n.no_failover? == no_failover {
                return None;
            }
            Action::on(
                n,
                ActionKind::SetElectable {
                    electable: !no_failover,
                },
                why,
            )
        })
        .collect()
}

fn node_timeouts(input: &Input<'_>) -> Vec<Action> {
    let want = input.policy.node_timeout_ms;
    input
        .snapshot
        .nodes
        .iter()
        .filter(|n| n.reachable && n.name.is_some())
        .filter(|n| n.node_timeout_ms.is_some_and(|t| t != want))
        .filter_map(|n| {
            Action::on(
                n,
                ActionKind::SetNodeTimeout { ms: want },
                "both zones answer: back to the spec's cluster-node-timeout (a takeover lowered it)",
            )
        })
        .collect()
}

fn zones(snap: &Snapshot) -> Vec<Action> {
    snap.nodes
        .iter()
        .filter(|n| n.reachable && n.name.is_some() && n.server == Some(ServerFlavour::Valkey))
        .filter(|n| snap.zones.contains(&n.zone) && n.availability_zone.as_ref() != Some(&n.zone))
        .filter_map(|n| {
            Action::on(
                n,
                ActionKind::SetZone {
                    zone: n.zone.clone(),
                },
                format!(
                    "it runs in {} but reports availability-zone {}",
                    n.zone,
                    n.availability_zone.as_deref().unwrap_or("(none)")
                ),
            )
        })
        .collect()
}

fn meet(snap: &Snapshot) -> Vec<Action> {
    let mut out = Vec::new();
    for inst in snap
        .nodes
        .iter()
        .filter(|n| n.name.is_some() && n.reachable)
        // One the scale rules reset on its way out must not be met again.
        .filter(|n| !(n.leaving && n.slots.is_empty()))
    {
        let (Some(id), Some(a)) = (&inst.id, &inst.addr) else {
            continue;
        };
        // The first reachable peer that does not know this instance where it is now.
        let stale = snap.nodes.iter().find(|p| {
            p.reachable
                && p.id != inst.id
                && !p.sees.is_empty()
                && !p
                    .sees
                    .iter()
                    .any(|s| &s.id == id && s.addr.as_ref() == Some(a))
        });
        if let Some(p) = stale {
            let who = p.name.as_deref().unwrap_or("a peer");
            out.extend(Action::on(
                p,
                ActionKind::Meet { peer: a.clone() },
                format!(
                    "{who} does not know {} at its current address",
                    short_id(id)
                ),
            ));
        }
    }
    out
}

fn forget(snap: &Snapshot) -> Vec<Action> {
    let owned: Vec<&str> = snap
        .nodes
        .iter()
        .filter(|n| n.name.is_some())
        .filter_map(|n| n.id.as_deref())
        .collect();
    let mut out = Vec::new();
    for stray in snap.nodes.iter().filter(|n| n.name.is_none()) {
        let Some(id) = &stray.id else { continue };
        if owned.contains(&id.as_str()) || !stray.slots.is_empty() {
            continue;
        }
        // Only a node Redis itself has given up on: flagged failing, or without an address
        // (`noaddr`: its address now answers with another id, an instance restarted empty in
        // place; Redis never pings such a node again, so it never fails either). One that
        // answers its peers where they know it may be an instance the platform does not list
        // yet (a zone being restored on new addresses): forgotten, it would be banned from
        // every peer that forgot it for 60 s, `MEET` included, and the re-mesh (and all
        // repair after it) would stall that long.
        let given_up = snap
            .nodes
            .iter()
            .filter(|p| p.reachable && p.name.is_some())
            .any(|p| {
                p.sees
                    .iter()
                    .any(|s| &s.id == id && (s.fail || s.addr.is_none()))
            });
        if !given_up {
            continue;
        }
        for p in snap
            .nodes
            .iter()
            .filter(|p| p.reachable && p.name.is_some())
        {
            if p.sees.iter().any(|s| &s.id == id) {
                out.extend(Action::on(
                    p,
                    ActionKind::Forget { id: id.clone() },
                    "no instance of this cluster has that id any more and it serves no slots",
                ));
            }
        }
    }
    out
}

/// Masters that have no replica, answering with its link up, in the other zone (masters
/// that leave the cluster want none).
fn lacking_cross_replica(snap: &Snapshot) -> Vec<&NodeState> {
    snap.masters()
        .into_iter()
        .filter(|m| !m.leaving)
        .filter(|m| {
            !m.id.as_deref().is_some_and(|id| {
                snap.replicas_of(id)
                    .any(|r| r.zone != m.zone && r.reachable)
            })
        })
        .collect()
}

/// `new_masters`: idle instances that stay masters of the shards the spec adds
/// ([`crate::rules::scale::designated`]); they want a replica across like the others.
fn pairing<'a>(snap: &'a Snapshot, new_masters: &[&'a NodeState]) -> Vec<Action> {
    let mut wanting: Vec<&NodeState> = lacking_cross_replica(snap);
    wanting.extend(new_masters.iter().filter(|m| {
        !m.id.as_deref().is_some_and(|id| {
            snap.replicas_of(id)
                .any(|r| r.zone != m.zone && r.reachable)
        })
    }));
    let mut out = Vec::new();
    // Fresh or emptied instances: master of nothing, known to the cluster, neither a new
    // shard's master nor leaving.
    let idle = snap.nodes.iter().filter(|n| {
        n.reachable
            && n.name.is_some()
            && n.role == Some(Role::Master)
            && n.slots.is_empty()
            && !n.leaving
            && !new_masters.iter().any(|m| m.id == n.id)
    });
    for n in idle {
        let target = wanting
            .iter()
            .position(|m| m.zone != n.zone)
            .map(|i| wanting.remove(i))
            .or_else(|| {
                // Nobody lacks one: join the other zone's master with the fewest replicas.
                snap.masters()
                    .into_iter()
                    .filter(|m| m.zone != n.zone && m.reachable && !m.leaving)
                    .filter(|m| m.id.is_some())
                    .min_by_key(|m| m.id.as_deref().map_or(0, |id| snap.replicas_of(id).count()))
            });
        if let Some((m, master_id)) = target.and_then(|m| Some((m, m.id.clone()?))) {
            out.extend(Action::on(
                n,
                ActionKind::Replicate { master_id },
                format!(
                    "serves no slots; its zone {} needs a copy of the shard mastered in {}",
                    n.zone, m.zone
                ),
            ));
        }
    }
    if !out.is_empty() {
        return out;
    }
    // Drift: a replica beside its master while another shard has none across.
    for r in snap
        .nodes
        .iter()
        .filter(|n| n.reachable && n.role == Some(Role::Replica))
    {
        let Some(master) = r.master_id.as_deref().and_then(|id| snap.node_by_id(id)) else {
            continue;
        };
        if master.zone != r.zone {
            continue;
        }
        if let Some(i) = wanting
            .iter()
            .position(|m| m.zone != r.zone && m.id != master.id)
        {
            let m = wanting.remove(i);
            let Some(master_id) = m.id.clone() else {
                continue;
            };
            out.extend(Action::on(
                r,
                ActionKind::Replicate { master_id },
                format!(
                    "it replicates a master in its own zone {} while a shard mastered in {} has no replica across",
                    r.zone, m.zone
                ),
            ));
        }
    }
    out
}

fn fence(input: &Input<'_>) -> Vec<Action> {
    let snap = input.snapshot;
    let p = input.policy;
    let mut out = Vec::new();
    for n in snap
        .nodes
        .iter()
        .filter(|n| n.reachable && n.name.is_some())
    {
        let (want, why) = desired_fence(input, n);
        let have = n.fence.unwrap_or(0);
        if want == have {
            continue;
        }
        let kind = if want == 0 {
            ActionKind::Unfence
        } else {
            ActionKind::Fence {
                min_replicas: want,
                max_lag_s: p.fence_max_lag_s,
            }
        };
        out.extend(Action::on(n, kind, why));
    }
    out
}

/// The instance the rollout restarted last (`Rollout::restarting`), while it still runs at the
/// old revision: its pod is stopping.
fn restarting_on_purpose(input: &Input<'_>, r: &NodeState) -> bool {
    r.restart_for.is_some()
        && input
            .rollout
            .and_then(|ro| ro.restarting.as_ref())
            .is_some_and(|c| r.name.as_deref() == Some(c.instance.as_str()))
}

/// A replica across must miss this many probes in a row before its master is unfenced: about
/// two passes (under a second), well before the master's own fence closes (2-4 s).
const UNFENCE_AFTER_FAILED_PROBES: u32 = 2;

fn desired_fence(input: &Input<'_>, n: &NodeState) -> (u32, String) {
    let (snap, p) = (input.snapshot, input.policy);
    let k = p.fence_min_replicas;
    if !p.fencing {
        return (0, "fencing is off in the spec".to_owned());
    }
    match n.role {
        Some(Role::Master) if !n.slots.is_empty() => {
            let Some(id) = n.id.as_deref() else {
                return (n.fence.unwrap_or(0), "its node id is unknown".to_owned());
            };
            // The replica a rollout is restarting still answers while its old pod stops: it is
            // down on purpose, and the rollout opened this fence for it. Fencing again on its
            // account would refuse writes until it is back — and if the engine died meanwhile,
            // until the next Lease holder's first pass.
            let counted = |r: &&NodeState| !restarting_on_purpose(input, r);
            let live: Vec<&NodeState> = snap
                .replicas_of(id)
                .filter(counted)
                .filter(|r| r.reachable && r.link_up == Some(true))
                .collect();
            let answering_across = snap
                .replicas_of(id)
                .filter(counted)
                .any(|r| r.reachable && r.zone != n.zone);
            if live.iter().any(|r| r.zone != n.zone) {
                let k = k.min(u32::try_from(live.len()).unwrap_or(u32::MAX));
                let acking = n
                    .replica_lags_s
                    .iter()
                    .filter(|l| **l <= u64::from(p.fence_max_lag_s))
                    .count();
                if n.fence.unwrap_or(0) == 0 && acking < k as usize {
                    // After a heal a replica's link is up before its acknowledgements are
                    // current again; arming the fence then would refuse writes for seconds.
                    return (
                        0,
                        "its replica across is back but has not acknowledged within max-lag yet: a fence now would refuse writes".to_owned(),
                    );
                }
                (
                    k,
                    "its replica across the zone boundary is up: cut off from it, this master must stop taking writes".to_owned(),
                )
            } else if answering_across {
                // The replica answers but its link is down: a cut between the zones that the
                // engine sees around, or a resync. Either way the fence stays.
                (
                    n.fence.unwrap_or(0),
                    "its replica across answers but its link is down (a cut between zones, or a resync): the fence stays as it is".to_owned(),
                )
            } else if crate::rules::lost::judged_stale(n, input.stale)
                && !input.promoted.iter().any(|x| x == id)
            {
                (
                    n.fence.unwrap_or(0),
                    "Redis elected it from a copy the engine judged stale: it keeps its fence until its replica across is back".to_owned(),
                )
            } else if let Some(winner) = snap.newer_claimant(n) {
                // A master of the side that lost a partition comes back still claiming its
                // slots: the other side's master holds them at a newer configEpoch, so whatever
                // this one accepts is discarded when gossip settles it. Never unfence it.
                (
                    n.fence.unwrap_or(0),
                    format!(
                        "another master ({}) claims its slots at configEpoch {} > {}: a stale master of the losing side keeps its fence",
                        winner.name.as_deref().unwrap_or("a peer"),
                        winner.config_epoch,
                        n.config_epoch
                    ),
                )
            } else if snap.replicas_of(id).filter(counted).any(|r| {
                r.zone != n.zone && r.failed_probes < UNFENCE_AFTER_FAILED_PROBES
            }) {
                // One lost probe is not a dead replica: wait for the next pass (debounce).
                (
                    n.fence.unwrap_or(0),
                    "its replica across missed a probe; unfenced if it misses the next one too"
                        .to_owned(),
                )
            } else {
                (
                    0,
                    "both zones answer but its replica across is down: a single dead replica must not stop the shard".to_owned(),
                )
            }
        }
        Some(Role::Replica) => (
            k,
            "replicas carry the fence too: one that Redis's own election promotes on a cut-off side starts fenced"
                .to_owned(),
        ),
        _ => (0, "serves no slots".to_owned()),
    }
}
