//! Failback and evacuation: move masters between zones with graceful `CLUSTER FAILOVER`
//! (coordinated with the live master: it pauses writers until the replica has every write,
//! so nothing acknowledged is lost and clients only see a redirect).
//!
//! One shard per pass: concurrent manual failovers compete for the same votes (a master votes
//! once per epoch), and a pass re-reads the cluster before the next move anyway.

use redis_stretch_api::FailbackPolicy;

use crate::action::Action;
use crate::decide::lost::addr;
use crate::decide::{shard_name, Decision, Input, Intent};
use crate::NodeState;

/// A replica of `m` in `zone` that can take over without losing writes: answering, link up.
fn ready_replica<'a>(input: &Input<'a>, m: &NodeState, zone: &str) -> Option<&'a NodeState> {
    let id = m.id.as_deref()?;
    input
        .snapshot
        .replicas_of(id)
        .filter(|r| r.reachable && r.zone == zone && r.link_up == Some(true))
        .max_by_key(|r| r.repl_offset.unwrap_or(0))
}

pub(crate) fn rebalance(input: &Input<'_>) -> Decision {
    match &input.intent {
        Intent::Evacuate { zone } => evacuate(input, zone),
        Intent::Failback => failback(input, true),
        Intent::Auto => failback(input, false),
        Intent::Takeover { .. } => Decision::wait("nothing to take over"),
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
        return Decision::wait(format!("{zone} holds no masters: evacuated"));
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
        return Decision {
            steps: vec![vec![Action::GracefulFailover {
                node: addr(to),
                shard: shard_name(m),
                why: format!("evacuating {zone}: its replica in {} is in sync", to.zone),
            }]],
            ..Decision::default()
        };
    }
    Decision::wait(format!(
        "{} master(s) left in {zone}, none with an in-sync replica in the other zone",
        masters.len()
    ))
}

fn failback(input: &Input<'_>, asked: bool) -> Decision {
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
        return Decision::wait(if asked {
            "masters already as preferred".to_owned()
        } else {
            "nothing: every zone answers and masters sit as preferred".to_owned()
        });
    };
    if !asked {
        if input.policy.failback == FailbackPolicy::Manual {
            return Decision {
                notes: vec![format!(
                    "{zone} holds {have} of its preferred {want} masters; failback is Manual: run `redis-stretch failback`"
                )],
                ..Decision::wait("a human to run `redis-stretch failback` (failback: Manual)")
            };
        }
        if input.held_zone == Some(zone.as_str()) {
            return Decision::wait(format!(
                "{zone} is evacuated: no failback until `redis-stretch resume`"
            ));
        }
        if let Some(left) = input.hold_down_left {
            return Decision::wait(format!(
                "failback hold-down: {:.1} s left before moving masters back to {zone}",
                left.as_secs_f64()
            ));
        }
    }
    for m in snap.masters().into_iter().filter(|m| &m.zone != zone) {
        if let Some(r) = ready_replica(input, m, zone) {
            return Decision {
                steps: vec![vec![Action::GracefulFailover {
                    node: addr(r),
                    shard: shard_name(m),
                    why: format!(
                        "failback: {zone} holds {have} of its preferred {want} masters and this replica is in sync"
                    ),
                }]],
                ..Decision::default()
            };
        }
    }
    Decision::wait(format!(
        "failback to {zone} waits for a replica there with its link up"
    ))
}
