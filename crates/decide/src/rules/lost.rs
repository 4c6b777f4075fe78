//! A zone is lost (dark, or declared lost by `takeover`): keep the survivors writable and give
//! every orphaned shard a master in the surviving zone.
//!
//! - Survivor masters whose replicas are all in the lost zone are unfenced first: their fence
//!   would close within max-lag + 1-2 s, which would make even a minority-zone loss worse
//!   than plain Redis.
//! - Survivors keep a majority of masters (minority-zone loss): `FAILOVER FORCE` on the best
//!   replica. Voters grant it at once instead of waiting for node-timeout and Redis's
//!   election delays; it still needs that majority, so it cannot split the cluster.
//! - Survivors lost the majority: Redis stays down (`cluster_state:fail`) until someone runs
//!   `TAKEOVER`. Policy `Automatic` does it on every orphaned shard at once, on the replica with
//!   the highest replication offset (the one that lost the least), each unfenced first so it
//!   serves writes as soon as it is master. Policy `Manual` says what to run and waits.
//! - Survivor masters with replicas in the lost zone get `BUMPEPOCH` after the takeovers: if the
//!   "lost" zone is in fact alive behind a partition, it can elect those replicas (one election
//!   each, epoch +1); the takeovers here already raised the epoch by one per orphaned shard,
//!   and the bump puts these masters above that too, so what this side served wins the heal.

use crate::rules::{shard_name, Decision, Input};
use crate::{Action, ActionKind, NodeState, Snapshot, Waiting, ZoneState};
use redis_stretch_api::FailoverPolicy;

fn fenced(n: &NodeState) -> bool {
    n.fence.is_some_and(|f| f > 0)
}

/// The replica to promote for `master`: in `survivor`, answering, highest offset — and
/// *current*: its link is up, or went down no longer than `max_down_s` ago (when the zone went
/// silent). A replica that lost its link earlier (resyncing, broken) holds a stale or partial
/// copy; promoting it would let its higher epoch wipe the real data when the zone returns.
pub(crate) fn best_replica<'a>(
    snap: &'a Snapshot,
    master: &NodeState,
    survivor: &str,
    max_down_s: u64,
    stale: &[String],
) -> Option<&'a NodeState> {
    let id = master.id.as_deref()?;
    snap.replicas_of(id)
        .filter(|r| r.reachable && r.zone == survivor)
        .filter(|r| !r.is_stale_replica() && !judged_stale(r, stale))
        .filter(|r| r.link_up == Some(true) || r.link_down_s.is_some_and(|d| d <= max_down_s))
        .max_by_key(|r| r.repl_offset.unwrap_or(0))
}

/// Whether the engine judged `n`'s copy stale when it last saw it as a replica.
pub(crate) fn judged_stale(n: &NodeState, stale: &[String]) -> bool {
    n.id.as_deref()
        .is_some_and(|id| stale.iter().any(|s| s == id))
}

/// Slack on "the link went down when the zone did": whole seconds, replication's own
/// one-second ping granularity, and Redis's pings (every node-timeout/2 at the latest, so the
/// last PONG may predate the loss by that much).
const LINK_SLACK_S: u64 = 3;

/// How long the survivors have not heard from `master`: now minus the most recent PONG any
/// reachable node had from it (`pong-recv` in its `CLUSTER NODES`). `None` when no reachable
/// node has ever had one.
fn silent_for_ms(input: &Input<'_>, master: &NodeState, survivor: &str) -> Option<u64> {
    let id = master.id.as_deref()?;
    input
        .snapshot
        .nodes
        .iter()
        // Survivors only: in a cut, the master's own side still hears it.
        .filter(|n| n.reachable && n.zone == survivor)
        .flat_map(|n| {
            // Each survivor's silence on its own clock (`pong-recv` is on it), not the
            // engine's, which may be stepped or ahead of that host's.
            let now = n.clock_ms.unwrap_or(input.now_ms);
            n.sees
                .iter()
                .filter(|s| s.id == id && s.pong_recv_ms > 0)
                .map(move |s| now.saturating_sub(s.pong_recv_ms))
        })
        .min()
}

/// In a cut, the survivor master whose slots `m` (a lost-side master) claims at a newer
/// configEpoch: `m` is its replica, elected by the lost side's own majority after the side was
/// chosen (the engine was down or its pass failed before the bump).
fn overruled_survivor<'a>(
    snap: &'a Snapshot,
    m: &NodeState,
    survivor: &str,
) -> Option<&'a NodeState> {
    snap.masters().into_iter().find(|k| {
        k.zone == survivor && k.reachable && snap.newer_claimant(k).is_some_and(|w| w.id == m.id)
    })
}

/// A chosen-side master in a cut whose slots the other side elected a master for: it is the
/// one that serves (the engine chose its side), so it is unfenced and bumped above the
/// other's election, and what it accepts wins the heal.
fn overruled_in_cut(snap: &Snapshot, m: &NodeState, loss: &Loss<'_>) -> bool {
    loss.cut && snap.newer_claimant(m).is_some_and(|w| w.zone == loss.lost)
}

/// Which zone is lost to whom, and how the engine knows.
pub(crate) struct Loss<'z> {
    pub lost: &'z str,
    pub survivor: &'z str,
    /// A human said so (`takeover --zone`): whatever the probes say, whatever the policy.
    pub forced: bool,
    /// Not dark but cut off: the engine still reaches `lost`, whose instances no longer hear
    /// `survivor`'s (a partition seen from a third site). Its masters answer and are orphans
    /// all the same; its replicas count as gone.
    pub cut: bool,
}

impl<'z> Loss<'z> {
    pub fn dark(lost: &'z str, survivor: &'z str) -> Self {
        Self {
            lost,
            survivor,
            forced: false,
            cut: false,
        }
    }
    pub fn forced(lost: &'z str, survivor: &'z str) -> Self {
        Self {
            forced: true,
            ..Self::dark(lost, survivor)
        }
    }
    pub fn cut(lost: &'z str, survivor: &'z str) -> Self {
        Self {
            cut: true,
            ..Self::dark(lost, survivor)
        }
    }
}

/// While the survivors take over, their node-timeout drops to this: Redis keeps a master that
/// was in the minority (`cluster_state:fail`) refusing queries for max(node-timeout, 500 ms)
/// after it rejoins a majority, and 500 ms is Redis's floor.
pub(crate) const REJOIN_NODE_TIMEOUT_MS: u64 = 500;

pub(crate) fn zone_lost(input: &Input<'_>, loss: &Loss<'_>) -> Decision {
    let (lost, survivor, forced) = (loss.lost, loss.survivor, loss.forced);
    let snap = input.snapshot;
    let mut d = Decision::default();
    let masters = snap.masters();
    let total = masters.len();
    let quorum = total / 2 + 1;
    let orphans: Vec<&NodeState> = masters
        .iter()
        .copied()
        .filter(|m| {
            (m.zone == lost && (loss.cut || !m.reachable))
                // An unreachable slot owner no instance stands behind any more (an instance
                // restarted as a new node) can never come back: orphaned wherever it lived.
                || (m.name.is_none() && !m.reachable)
        })
        // In a cut the lost side's master still claims the slots a survivor took over (at a
        // newer configEpoch, which wins at the heal): that shard is done.
        .filter(|m| {
            snap.newer_claimant(m)
                .is_none_or(|w| w.zone != survivor || !w.reachable)
        })
        // In a cut, a master the lost side elected for a survivor's slots (Redis's own
        // election there, while the engine was down): the survivor still serves them and
        // gets the epoch to win them back (below). Nothing to take over.
        .filter(|m| !(loss.cut && overruled_survivor(snap, m, survivor).is_some()))
        .collect();
    let kept: Vec<&NodeState> = masters
        .iter()
        .copied()
        .filter(|m| m.zone == survivor && m.reachable)
        .collect();
    let majority_lost = kept.len() < quorum;
    let automatic = forced || input.policy.failover == FailoverPolicy::Automatic;

    // Step 1: unfence survivors that would otherwise fence themselves shut.
    let mut unfence = Vec::new();
    for m in &kept {
        // Only a replica in the other zone satisfies the fence's purpose; with several replicas
        // per shard, one beside the master must not keep the fence (N/2+1) armed and shut.
        let has_live_replica = !loss.cut
            && m.id.as_deref().is_some_and(|id| {
                snap.replicas_of(id)
                    .any(|r| r.reachable && r.link_up == Some(true) && r.zone != m.zone)
            });
        // A master whose slots another master holds at a newer configEpoch is a stale one of
        // the side that lost them: never unfenced.
        // A master Redis elected from a copy the engine judged stale holds an empty or old
        // dataset: writes it accepted would be all the shard has when the lost zone returns
        // and its old master, the real copy, is flushed to follow it. It stays fenced.
        if judged_stale(m, input.stale) && !input.promoted.iter().any(|p| Some(p) == m.id.as_ref())
        {
            d.notes.push(format!(
                "{}: Redis elected it from a copy the engine judged stale (in a full sync, or never synced since a restart); it stays fenced, the shard's data is in {lost}",
                shard_name(m)
            ));
            continue;
        }
        if fenced(m)
            && !has_live_replica
            && (snap.newer_claimant(m).is_none() || overruled_in_cut(snap, m, loss))
        {
            unfence.extend(Action::on(
                m,
                ActionKind::Unfence,
                format!(
                    "its replicas are in {lost}, which is lost; fenced, it would refuse writes"
                ),
            ));
        }
    }
    // How long ago did each orphan's master go silent? Redis's own evidence first: the
    // survivors' last PONG from it. It outlives the engine, so a restarted engine (or a new
    // leader) judges a replica exactly as the engine that watched the zone go would have. The
    // engine's own silence is the floor; a human's `takeover` with no evidence at all falls
    // back to the most recent link loss among the candidates.
    let engine_silence_ms = match input.zones.state(lost) {
        Some(ZoneState::Dark { silent_ms }) if !forced => Some(silent_ms),
        _ => None,
    };
    let fallback_s = orphans
        .iter()
        .filter_map(|o| o.id.as_deref())
        .flat_map(|id| snap.replicas_of(id))
        .filter(|r| r.reachable && r.zone == survivor)
        .filter_map(|r| r.link_down_s)
        .min()
        .unwrap_or(0);
    let mut promote = Vec::new();
    for o in &orphans {
        let shard = shard_name(o);
        let silent_ms = match (silent_for_ms(input, o, survivor), engine_silence_ms) {
            (Some(evidence), Some(engine)) => Some(evidence.max(engine)),
            (evidence, engine) => evidence.or(engine),
        };
        let max_down_s = silent_ms.map_or(fallback_s, |ms| ms / 1000) + LINK_SLACK_S;
        let Some(best) = best_replica(snap, o, survivor, max_down_s, input.stale) else {
            d.notes.push(format!(
                "{shard}: no replica in {survivor} answers with a current copy (link up, or lost with the zone); its data lives only in {lost}: waiting for {lost} to return"
            ));
            continue;
        };
        if majority_lost && !automatic {
            continue;
        }
        if fenced(best) {
            unfence.extend(Action::on(
                best,
                ActionKind::Unfence,
                format!("about to be promoted for {shard}; it has no replica to satisfy the fence"),
            ));
        }
        let offset = best.repl_offset.unwrap_or(0);
        promote.extend(if majority_lost {
            Action::on(
                best,
                ActionKind::Takeover { shard },
                format!(
                    "{lost} lost with {} of {total} masters: survivors are below quorum {quorum}; best replica by offset ({offset})",
                    orphans.len()
                ),
            )
        } else {
            Action::on(
                best,
                ActionKind::ForceFailover { shard },
                format!(
                    "{lost} lost; survivors hold {} of {total} masters, so voters grant a forced failover now instead of after node-timeout",
                    kept.len()
                ),
            )
        });
    }
    if majority_lost && promote.iter().any(Action::is_promotion) {
        unfence.extend(
            snap.nodes
                .iter()
                .filter(|n| n.zone == survivor && n.reachable && n.name.is_some())
                .filter(|n| n.node_timeout_ms.is_some_and(|t| t > REJOIN_NODE_TIMEOUT_MS))
                .filter_map(|n| {
                    Action::on(
                        n,
                        ActionKind::SetNodeTimeout {
                            ms: REJOIN_NODE_TIMEOUT_MS,
                        },
                        format!(
                            "survivors of {lost} that saw the majority go refuse queries for node-timeout after the takeover; {REJOIN_NODE_TIMEOUT_MS} ms is Redis's floor (put back when both zones answer)"
                        ),
                    )
                }),
        );
    }
    d.push_step(unfence);

    if majority_lost && !automatic && !orphans.is_empty() {
        d.notes.push(format!(
            "policy Manual: {lost} is lost with {} of {total} masters and Redis will not recover alone; run `redis-stretch takeover --zone {survivor}`",
            orphans.len()
        ));
        d.waiting_for = Some(Waiting::Human {
            command: format!("redis-stretch takeover --zone {survivor}"),
            reason: "policy Manual".to_owned(),
        });
        return d;
    }

    // Step 3 (a later pass, once the promotions are done and gossiped): epoch margin for
    // survivors whose replicas sit in the lost zone. A bump only helps once this master has
    // heard the takeovers' epochs, else it would collide with them; and a master already at
    // the top needs none. The engine remembers whom it bumped (no ping-pong between two such
    // masters); a restarted engine may bump once more: harmless.
    if promote.is_empty() {
        let top = kept.iter().map(|m| m.config_epoch).max().unwrap_or(0);
        let bumps: Vec<Action> = kept
            .iter()
            .filter(|m| {
                let overruled = overruled_in_cut(snap, m, loss);
                m.id.as_deref().is_some_and(|id| {
                    (snap.replicas_of(id).any(|r| r.zone == lost) || overruled)
                        && !input.bumped.iter().any(|b| b == id)
                })
                && (m.config_epoch < top || overruled)
                && m.current_epoch.is_some_and(|c| c >= top)
            })
            .filter_map(|m| {
                Action::on(
                    m,
                    ActionKind::BumpEpoch,
                    format!(
                        "its replica is in {lost}: if {lost} is alive behind a partition it may elect it; a higher epoch here wins the heal"
                    ),
                )
            })
            .collect();
        d.push_step(bumps);
        // The lowered node-timeout served the takeover (the rejoin delay); once every survivor
        // serves again, put the spec's back: 500 ms would make the survivors flag each other
        // on any stall for the rest of the outage, and a master flagged `fail` by the other
        // survivors could lose its slots to its replica across when the zone returns.
        let want = input.policy.node_timeout_ms;
        let survivors: Vec<&NodeState> = snap
            .nodes
            .iter()
            .filter(|n| n.zone == survivor && n.reachable && n.name.is_some())
            .collect();
        if survivors
            .iter()
            .all(|n| n.cluster_state == Some(redis_stretch_model::ClusterState::Ok))
        {
            d.push_step(
                survivors
                    .iter()
                    .filter(|n| n.node_timeout_ms.is_some_and(|t| t < want))
                    .filter_map(|n| {
                        Action::on(
                            n,
                            ActionKind::SetNodeTimeout { ms: want },
                            format!("the takeover is done and every survivor in {survivor} serves: back to the spec's cluster-node-timeout"),
                        )
                    })
                    .collect(),
            );
        }
    }
    d.push_step(promote);
    if d.is_empty() && d.waiting_for.is_none() {
        d.waiting_for = Some(Waiting::ZoneReturn {
            lost: lost.to_owned(),
            survivor: survivor.to_owned(),
        });
    }
    d
}

/// Slot-owning masters lost while their zone still answers (two nodes of a DC die).
///
/// Survivors with a majority: Redis elects the replicas itself after node-timeout, and the
/// engine leaves that to it (a master stalled for a second, by a fork say, must not be failed
/// over faster than Redis would). Survivors below quorum: Redis never recovers alone, so it is
/// a zone loss in all but name, handled as one (`zone_lost`) for the zone that lost them — but
/// only once *every* unreachable master is confirmed lost: silent to the engine for the whole
/// confirmation window *and* flagged `fail?`/`fail` by a reachable peer. One instance's silence
/// is weaker evidence than a whole zone's (it could be the engine's own path to two nodes), so
/// Redis's own failure detection (node-timeout) must agree before a live master is replaced.
pub(crate) fn masters_lost(input: &Input<'_>) -> Option<Decision> {
    let snap = input.snapshot;
    let masters = snap.masters();
    let unreachable: Vec<&NodeState> = masters.iter().copied().filter(|m| !m.reachable).collect();
    if unreachable.is_empty() {
        return None;
    }
    let total = masters.len();
    let quorum = total / 2 + 1;
    let kept = masters.len() - unreachable.len();
    let names: Vec<String> = unreachable.iter().map(|m| describe(m)).collect();
    if kept >= quorum {
        return Some(Decision::wait(Waiting::RedisElects {
            masters: names,
            kept,
            total,
        }));
    }
    let confirmed = |m: &NodeState| match &m.name {
        Some(n) => input.silent.contains(n) && m.flagged_fail_by + m.flagged_pfail_by > 0,
        // A slot owner no instance stands behind (its pod gone or not placed yet): Redis's own
        // `fail` flag is the only evidence there is.
        None => m.flagged_fail_by > 0,
    };
    if let Some(m) = unreachable.iter().find(|m| !confirmed(m)) {
        return Some(Decision::wait(Waiting::ConfirmingLost {
            master: describe(m),
            quorum,
        }));
    }
    let zones: std::collections::BTreeSet<&str> = unreachable
        .iter()
        .filter_map(|m| zone_of_lost(snap, m))
        .collect();
    match zones.into_iter().collect::<Vec<_>>().as_slice() {
        [zone] => {
            let survivor = crate::rules::other_zone(snap, zone)?;
            Some(zone_lost(input, &Loss::dark(zone, survivor)))
        }
        [] => Some(Decision::wait(Waiting::Unplaced { masters: names })),
        _ => {
            let mut d = Decision::wait(Waiting::LostInBothZones);
            d.notes.push(format!(
                "{} are lost in both zones and survivors are below quorum {quorum}: run `redis-stretch takeover --zone Z` for the zone that should serve",
                names.join(", ")
            ));
            Some(d)
        }
    }
}

/// The zone a lost master lived in: its own, or for a slot owner no instance stands behind,
/// the zone opposite its reachable replicas (every master's first replica is across).
fn zone_of_lost<'a>(snap: &'a Snapshot, m: &'a NodeState) -> Option<&'a str> {
    if m.name.is_some() && snap.zones.contains(&m.zone) {
        return Some(m.zone.as_str());
    }
    let id = m.id.as_deref()?;
    let replica_zone = snap.replicas_of(id).find(|r| r.reachable)?.zone.as_str();
    crate::rules::other_zone(snap, replica_zone)
}

fn describe(m: &NodeState) -> String {
    match (&m.name, &m.addr) {
        (Some(n), _) => n.clone(),
        (None, Some(a)) => a.to_string(),
        (None, None) => m.id.clone().unwrap_or_else(|| "a master".to_owned()),
    }
}
