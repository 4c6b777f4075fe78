//! The rollout: every instance the platform reports outdated (another server, version or
//! image, a setting only a restart applies, new resources) is restarted by the engine, one at
//! a time across both zones, never by the StatefulSet controller (`OnDelete`):
//! - nothing is restarted while any instance is down or any replica is not in sync: a shard
//!   never loses its last in-sync copy, and the instance restarted last is back, current and
//!   electable before the next one goes;
//! - replicas first, each while its master serves;
//! - a master only once it is a replica: a graceful `CLUSTER FAILOVER` first hands its slots
//!   to an in-sync replica at the new revision, in the other zone when there is one (no write
//!   is lost, clients see a redirect);
//! - at the end the preferred layout is restored with graceful failovers, whatever the
//!   failback policy says: the rollout moved those masters, not a zone loss.
//!
//! A zone lost, a cut or a repair comes first: those rules run before this one, so a rollout
//! pauses while they act and resumes after. What it has done is in the engine's memory
//! ([`crate::Rollout`]): a restarted engine or a new Lease holder carries on.

use crate::rules::rebalance::{failback, graceful, pending_failover, rebalance};
use crate::rules::{Decision, Input, Intent};
use crate::{Action, ActionKind, NodeState, Waiting};

pub(crate) fn rollout(input: &Input<'_>) -> Option<Decision> {
    if input.intent != Intent::Auto {
        return None;
    }
    let snap = input.snapshot;
    let mut outdated: Vec<&NodeState> = snap
        .nodes
        .iter()
        .filter(|n| n.restart_for.is_some() && n.name.is_some())
        .collect();
    outdated.sort_by(|a, b| a.name.cmp(&b.name));
    if outdated.is_empty() && input.rollout.is_none() {
        return None;
    }
    let progress = input.rollout.cloned().unwrap_or_default();
    let in_flight = progress.restarting.as_ref().filter(|c| {
        !progress.done.contains(&c.instance)
            && !outdated
                .iter()
                .any(|n| n.name.as_deref() == Some(&c.instance))
    });
    let total = progress.done.len() + outdated.len() + usize::from(in_flight.is_some());
    let wait = |instance: Option<&str>, why: String| {
        Decision::wait(Waiting::Rolling {
            done: progress.done.len(),
            total,
            instance: instance.map(str::to_owned),
            why,
        })
    };

    // Another server only where it loads the data the running one wrote: refused otherwise,
    // before anything is restarted.
    for n in &outdated {
        let Some(runs) = n.server.filter(|s| *s != input.policy.server) else {
            continue;
        };
        if let Err(why) =
            redis_stretch_api::migration_allowed(runs, n.version.as_deref(), input.policy.server)
        {
            // Refused, the rollout restarts nothing, but the cluster is still tended as if
            // no rollout were asked for: a failback the policy wants still happens.
            let mut d = rebalance(input);
            if d.is_empty() {
                d.waiting_for = wait(n.name.as_deref(), format!("refused: {why}")).waiting_for;
            }
            d.notes.push(format!(
                "spec.redis.server asks for {}, which cannot replace {} {} in place: {why}",
                input.policy.server.display_name(),
                runs.display_name(),
                n.version.as_deref().unwrap_or("(version unknown)")
            ));
            return Some(d);
        }
    }
    // The instance restarted last comes back, current, before anything else moves.
    if let Some(c) = &progress.restarting {
        if let Some(why) = not_back(input, &c.instance) {
            return Some(wait(Some(&c.instance), why));
        }
    }
    // Everything up and in sync: the next restart must never take a shard's last copy.
    for n in snap.nodes.iter().filter(|n| n.name.is_some()) {
        let name = n.name.as_deref();
        if !n.reachable {
            return Some(wait(
                name,
                "does not answer: nothing is restarted while an instance is down".into(),
            ));
        }
        if n.role == Some(redis_stretch_model::Role::Replica) && !n.is_current_replica() {
            return Some(wait(
                name,
                "is not in sync with its master: nothing is restarted until it is".into(),
            ));
        }
    }
    if let Some(w) = pending_failover(input) {
        return Some(wait(
            None,
            format!("a graceful failover is under way ({w})"),
        ));
    }

    // Replicas first, each while its master serves.
    if let Some(r) = outdated.iter().find(|n| !n.is_master()) {
        // Its master, or the master its master now replicates (a replica left following a
        // master that a failover turned into a replica).
        let mut master = r.master_id.as_deref().and_then(|id| snap.node_by_id(id));
        if let Some(up) = master.filter(|m| !m.is_master()) {
            master = up.master_id.as_deref().and_then(|id| snap.node_by_id(id));
        }
        let Some(m) = master.filter(|m| m.reachable && m.is_master()) else {
            return Some(wait(
                r.name.as_deref(),
                "its master does not serve: not restarted until it does".into(),
            ));
        };
        let name = r.name.clone().unwrap_or_default();
        let reason = r.restart_for.clone().unwrap_or_default();
        let why = format!(
            "rollout: {reason}; a replica, restarted while its master {} serves",
            m.name.as_deref().unwrap_or("(unnamed)")
        );
        let mut d = Decision::default();
        // The master's fence counts this replica: without it the master would refuse writes
        // until the replica is back and an engine reopens it — seconds, or a Lease hand-over
        // if the engine dies meanwhile. A replica down on purpose must not stop its shard
        // (the rule the repairs follow for one that died): opened first, closed again by the
        // repairs once the replica is back.
        let others = m.id.as_deref().map_or(0, |mid| {
            snap.replicas_of(mid)
                .filter(|o| o.id != r.id && o.is_current_replica())
                .count()
        });
        if m.fence.unwrap_or(0) > u32::try_from(others).unwrap_or(u32::MAX) {
            d.push_step(
                Action::on(
                    m,
                    ActionKind::Unfence,
                    format!(
                        "rollout: its replica {} restarts; a replica down on purpose must not stop the shard",
                        r.name.as_deref().unwrap_or("(unnamed)")
                    ),
                )
                .into_iter()
                .collect(),
            );
        }
        d.push_step(
            Action::on(
                r,
                ActionKind::Restart {
                    instance: name,
                    reason,
                },
                why,
            )
            .into_iter()
            .collect(),
        );
        return Some(d);
    }

    // Then the masters: each hands its slots over first, and is restarted as a replica.
    for m in &outdated {
        let Some(id) = m.id.as_deref() else { continue };
        let candidate = snap
            .replicas_of(id)
            .filter(|r| {
                r.is_current_replica()
                    && r.restart_for.is_none()
                    && !r
                        .id
                        .as_deref()
                        .is_some_and(|rid| input.stale.iter().any(|s| s == rid))
            })
            .max_by_key(|r| (r.zone != m.zone, r.repl_offset.unwrap_or(0)));
        let Some(r) = candidate else {
            // Its last copy must not go: give it one first, from a replica that is spare (it
            // follows a replica since a failover, or its master keeps another current one).
            if snap.replicas_of(id).next().is_none() {
                if let Some(spare) = spare_replica(input, m) {
                    let mut d = Decision::default();
                    d.push_step(
                        Action::on(
                            spare,
                            ActionKind::Replicate {
                                master_id: id.to_owned(),
                            },
                            format!(
                                "rollout: {} has no replica, and a master is restarted only after handing its slots to one; {} is spare",
                                m.name.as_deref().unwrap_or("the master"),
                                spare.name.as_deref().unwrap_or("this replica")
                            ),
                        )
                        .into_iter()
                        .collect(),
                    );
                    return Some(d);
                }
            }
            return Some(wait(
                m.name.as_deref(),
                "a master with no in-sync replica at the new revision to hand its slots to".into(),
            ));
        };
        let why = format!(
            "rollout: {} is restarted only as a replica; {} (in {}) is in sync at the new revision",
            m.name.as_deref().unwrap_or("the master"),
            r.name.as_deref().unwrap_or("its replica"),
            r.zone
        );
        return Some(graceful(input, r, m, why));
    }

    // Every instance current: masters back where the spec prefers them (the rollout moved
    // them, so this does not wait for a person under failback Manual). A zone held by
    // `evacuate` stays as the person left it.
    if input.held_zone.is_some() {
        return None;
    }
    Some(failback(input, true))
}

/// Why instance `name` is not back from its restart yet, if it is not.
fn not_back(input: &Input<'_>, name: &str) -> Option<String> {
    let Some(n) = input
        .snapshot
        .nodes
        .iter()
        .find(|n| n.name.as_deref() == Some(name))
    else {
        return Some("restarting: not back yet".into());
    };
    if n.restart_for.is_some() {
        return Some("restarting: still at the old revision".into());
    }
    if !n.reachable {
        return Some("restarting: does not answer yet".into());
    }
    if !(n.is_current_replica() || n.is_master()) {
        return Some("back at the new revision, syncing with its master".into());
    }
    None
}

/// A current replica that can serve `m` instead of what it serves now: one that follows a
/// replica (left behind by a failover), or whose master keeps another current replica; from
/// the other zone than `m` when there is one.
fn spare_replica<'a>(input: &Input<'a>, m: &NodeState) -> Option<&'a NodeState> {
    let snap = input.snapshot;
    snap.nodes
        .iter()
        .filter(|r| r.is_current_replica() && r.id.is_some())
        .filter(|r| {
            let Some(up) = r.master_id.as_deref().and_then(|id| snap.node_by_id(id)) else {
                return false;
            };
            !up.is_master()
                || up.id.as_deref().is_some_and(|uid| {
                    snap.replicas_of(uid)
                        .filter(|o| o.is_current_replica())
                        .count()
                        >= 2
                })
        })
        .max_by_key(|r| r.zone != m.zone)
}
