//! Failback and evacuation: move masters between zones with graceful `CLUSTER FAILOVER`
//! (coordinated with the live master: it pauses writers until the replica has every write,
//! so nothing acknowledged is lost and clients only see a redirect).
//!
//! One shard per pass: concurrent manual failovers compete for the same votes (a master votes
//! once per epoch), and a pass re-reads the cluster before the next move anyway.
//!
//! A graceful failover that loses its election is expensive: the master keeps its writers
//! paused until the manual failover times out (5 s in Redis 7), and the replica will not start
//! another election for 2 × max(2 × node-timeout, 2 s) after the failed one, so asking again
//! sooner only pauses the master again. Two rules keep that from happening:
//! - ask only when the election will be won: every slot-owning master already sees the
//!   candidate as a replica of the master it replaces (a voter that still believes it is a
//!   master denies its vote: right after a failover, gossip takes a second or so to spread),
//!   the candidate's currentEpoch is the cluster's newest (a request in an epoch a voter
//!   already voted in is denied), and the candidate knows its master's configEpoch;
//! - never ask again while Redis may still be working on the last request
//!   ([`Input::failovers_pending`]).

use redis_stretch_api::FailbackPolicy;
use redis_stretch_model::Role;

use crate::rules::{shard_name, Decision, Input, Intent};
use crate::{Action, ActionKind, NodeState, Waiting};

/// A replica of `m` in `zone` that can take over without losing writes: answering, link up.
fn ready_replica<'a>(input: &Input<'a>, m: &NodeState, zone: &str) -> Option<&'a NodeState> {
    let id = m.id.as_deref()?;
    input
        .snapshot
        .replicas_of(id)
        .filter(|r| r.reachable && r.zone == zone && r.link_up == Some(true))
        .max_by_key(|r| r.repl_offset.unwrap_or(0))
}

/// Why Redis would not elect `r` in place of `m` right now, if it would not.
fn election_blocker(input: &Input<'_>, r: &NodeState, m: &NodeState) -> Option<String> {
    let snap = input.snapshot;
    let (Some(rid), Some(mid)) = (r.id.as_deref(), m.id.as_deref()) else {
        return Some("node ids unknown".to_owned());
    };
    let newest = snap
        .nodes
        .iter()
        .filter(|n| n.reachable)
        .filter_map(|n| n.current_epoch)
        .max()
        .unwrap_or(0);
    // A peer that still flags the candidate `fail` (it was down moments ago: a zone just
    // back) would count its slots as served by a failed node and turn its own cluster_state
    // fail, refusing every query, until the flag clears (up to twice node-timeout).
    if r.flagged_fail_by > 0 {
        return Some(format!(
            "{} is still flagged failing by {} peer(s)",
            display(r),
            r.flagged_fail_by
        ));
    }
    if r.current_epoch.unwrap_or(0) < newest {
        return Some(format!(
            "{} has not yet heard of epoch {newest}",
            display(r)
        ));
    }
    let knows_master = r
        .sees
        .iter()
        .any(|s| s.id == mid && s.config_epoch >= m.config_epoch);
    if !knows_master {
        return Some(format!(
            "{} does not yet know {}'s configEpoch {}",
            display(r),
            display(m),
            m.config_epoch
        ));
    }
    for voter in snap.masters().into_iter().filter(|v| v.reachable) {
        let agrees = voter.sees.iter().any(|s| {
            s.id == rid && s.role == Some(Role::Replica) && s.master_id.as_deref() == Some(mid)
        });
        if !agrees {
            return Some(format!(
                "{} does not yet see {} as {}'s replica",
                display(voter),
                display(r),
                display(m)
            ));
        }
    }
    None
}

fn display(n: &NodeState) -> String {
    match &n.addr {
        Some(a) => a.to_string(),
        None => n.id.clone().unwrap_or_else(|| "a node".to_owned()),
    }
}

/// A graceful failover of `m` to `r`, unless Redis would not elect `r` now or is still busy
/// with the last request.
pub(crate) fn graceful(input: &Input<'_>, r: &NodeState, m: &NodeState, why: String) -> Decision {
    let shard = shard_name(m);
    if let Some(reason) = election_blocker(input, r, m) {
        return Decision::wait(Waiting::Gossip {
            shard,
            candidate: display(r),
            reason,
        });
    }
    let mut d = Decision::default();
    d.push_step(
        Action::on(r, ActionKind::GracefulFailover { shard }, why)
            .into_iter()
            .collect(),
    );
    d
}

/// A graceful failover asked for earlier that Redis may still be electing: who, and how
/// long before it may be asked again.
pub(crate) fn pending_failover(input: &Input<'_>) -> Option<String> {
    input.failovers_pending.iter().find_map(|p| {
        let n = input.snapshot.node_by_id(&p.candidate)?;
        (!n.is_master()).then(|| {
            format!(
                "{} may still be elected, for {} ms",
                display(n),
                p.left.as_millis()
            )
        })
    })
}

pub(crate) fn rebalance(input: &Input<'_>) -> Decision {
    // A failover asked for earlier is still Redis's business: asking again (or moving another
    // shard, whose election would compete for the same votes) can only make it fail.
    if let Some(p) = input.failovers_pending.iter().find(|p| {
        input
            .snapshot
            .node_by_id(&p.candidate)
            .is_some_and(|n| !n.is_master())
    }) {
        let who = input
            .snapshot
            .node_by_id(&p.candidate)
            .map_or_else(|| p.candidate.clone(), display);
        return Decision::wait(Waiting::FailoverPending {
            candidate: who,
            retry_in_ms: u64::try_from(p.left.as_millis()).unwrap_or(u64::MAX),
        });
    }
    match &input.intent {
        Intent::Evacuate { zone } => evacuate(input, zone),
        Intent::Failback => failback(input, true),
        Intent::Auto => failback(input, false),
        Intent::Takeover { .. } => Decision::wait(Waiting::NothingToTakeOver),
    }
}

fn evacuate(input: &Input<'_>, zone: &str) -> Decision {
    let snap = input.snapshot;
    let masters: Vec<&NodeState> = snap
        .masters()
        .into_iter()
        .filter(|m| m.zone == zone)
        .collect();
    if masters.is_empty() {
        return Decision::wait(Waiting::Evacuated {
            zone: zone.to_owned(),
        });
    }
    for m in &masters {
        let Some(to) = snap
            .zones
            .iter()
            .find(|z| z.as_str() != zone)
            .and_then(|other| ready_replica(input, m, other))
        else {
            continue;
        };
        let why = format!("evacuating {zone}: its replica in {} is in sync", to.zone);
        return graceful(input, to, m, why);
    }
    Decision::wait(Waiting::NoReplicaInSync {
        zone: zone.to_owned(),
        masters: masters.len(),
    })
}

pub(crate) fn failback(input: &Input<'_>, asked: bool) -> Decision {
    let snap = input.snapshot;
    let counts: Vec<(String, u32, usize)> = input
        .policy
        .preferred
        .iter()
        .map(|(z, want)| {
            let have = snap.masters().iter().filter(|m| &m.zone == z).count();
            (z.clone(), *want, have)
        })
        .collect();
    let short = counts
        .iter()
        .find(|(_, want, have)| (*have as u64) < u64::from(*want));
    let Some((zone, want, have)) = short else {
        return Decision::wait(Waiting::AsPreferred);
    };
    if !asked {
        if input.policy.failback == FailbackPolicy::Manual {
            return Decision {
                notes: vec![format!(
                    "{zone} holds {have} of its preferred {want} masters; failback is Manual: run `redis-stretch failback`"
                )],
                ..Decision::wait(Waiting::Human {
                    command: "redis-stretch failback".to_owned(),
                    reason: "failback: Manual".to_owned(),
                })
            };
        }
        if input.held_zone == Some(zone.as_str()) {
            return Decision::wait(Waiting::Held { zone: zone.clone() });
        }
        if let Some(h) = &input.hold_down {
            return Decision::wait(Waiting::HoldDown {
                zone: zone.clone(),
                until_ms: h.until_ms,
                left_ms: h.left_ms,
            });
        }
    }
    // The shards the engine moved away go back first: each returns to the zone it came from.
    let mut candidates: Vec<&NodeState> = snap
        .masters()
        .into_iter()
        .filter(|m| &m.zone != zone)
        .collect();
    candidates.sort_by_key(|m| {
        !m.id
            .as_deref()
            .is_some_and(|id| input.promoted.iter().any(|p| p == id))
    });
    for m in candidates {
        if let Some(r) = ready_replica(input, m, zone) {
            let why = format!(
                "failback: {zone} holds {have} of its preferred {want} masters and this replica is in sync"
            );
            return graceful(input, r, m, why);
        }
    }
    Decision::wait(Waiting::ReplicaLink { zone: zone.clone() })
}
