#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Crash points (issue 16): the engine stopped right after a step of actions of a takeover, a
//! failback, a partition decision or a heal — as a SIGKILL at that moment would — then
//! restarted. Every run must converge, lose no write a `WAIT 1` acknowledged, and leave the
//! cluster checking clean (the harness is `crash/mod.rs`). The in-process ancestor, a partial
//! decision acted on and then a new engine, is crates/local/tests/failover.rs's
//! `engine_killed_mid_takeover_converges_on_restart`.
//!
//! The suite runs a few points per scenario: the first step, one in the middle, the last (by
//! kind, so that a scenario whose count of fences or meets varies still reaches them).
//! `REDIS_STRETCH_CRASH_WALK=full` walks every step, `any:1` then the first action after the
//! step each run died after, until the scenario ends first (scripts/crash-points.sh,
//! docs/CRASH-POINTS.md).
//!
//! The cuts need the network lab (root, `ip`, `nft`): without it those tests say why and
//! skip, unless `REDIS_STRETCH_NETLAB=1` (scripts/test.sh) makes that a failure.

use crash::{lab_available, points, walk, Scenario};
use support::netlab_runs;

mod crash;
mod support;

// The trimmed points, from the full walk (docs/CRASH-POINTS.md) — by kind, so that they hold
// when a step's count of actions varies:
// takeover: [unfence ×3, set-node-timeout ×3], [takeover ×2], [bump-epoch],
//   [set-node-timeout ×3];
// takeover, dc-a frozen: the same steps;
// failback: [set-electable ×2], [fence ×3], [graceful-failover], [graceful-failover];
// failback, dc-a killed: [set-electable ×3], [fence ×6], [graceful-failover],
//   [graceful-failover];
// partition: [fence ×3], [unfence ×3], [force-failover], [bump-epoch ×2];
// partition, preferredSide dc-b: [fence ×3], [unfence ×3, set-node-timeout ×3],
//   [takeover ×2], [bump-epoch], [set-node-timeout ×3];
// heal: [set-electable], [fence ×6], [graceful-failover];
// rollout: [restart] ×3 (replicas), then per master [graceful-failover], [restart], and the
//   failback's [graceful-failover]s at the end.
// The lab's scenarios run one at a time (nextest group `netlab`): two points each.

/// Issue 17: the engine killed after a restart (a replica, then a former master) and after the
/// graceful failover that makes a master a replica: the next engine resumes the rollout from
/// its memory and finishes it, nothing acknowledged lost.
#[test]
fn engine_killed_during_a_rollout_converges_on_restart() {
    walk(
        Scenario::Rollout,
        points(&["restart:1", "graceful-failover:1", "restart:5"]),
    );
}

/// Issue 18: the engine killed after the new shards' replicas were paired, after a batch of
/// slots, and in the middle of a slot (keys moved, the slot still importing and migrating):
/// the next engine closes what was left open, moves the same slots to the same shards from its
/// memory, and the cluster ends with six shards, nothing acknowledged lost.
#[test]
fn engine_killed_during_a_scale_out_converges_on_restart() {
    walk(
        Scenario::ScaleOut,
        points(&["replicate:1", "move-slots:2", "move-slot-keys:3"]),
    );
}

#[test]
fn engine_killed_during_a_takeover_converges_on_restart() {
    walk(
        Scenario::Takeover,
        points(&["any:1", "takeover:1", "set-node-timeout:4"]),
    );
}

#[test]
fn engine_killed_during_a_takeover_of_a_frozen_zone_converges_on_restart() {
    walk(Scenario::TakeoverFrozen, points(&["takeover:1"]));
}

#[test]
fn engine_killed_during_a_failback_converges_on_restart() {
    walk(
        Scenario::Failback,
        points(&["any:1", "graceful-failover:1", "graceful-failover:2"]),
    );
}

#[test]
fn engine_killed_during_a_failback_to_a_zone_back_without_its_data_converges_on_restart() {
    walk(
        Scenario::FailbackAfterKill,
        points(&["graceful-failover:1"]),
    );
}

#[test]
fn engine_killed_during_a_partition_decision_converges_on_restart() {
    if !netlab_runs("crash points", lab_available()) {
        return;
    }
    walk(Scenario::Partition, points(&["any:1", "force-failover:1"]));
}

/// The minority side chosen: the case where a killed engine used to lose the epoch margin
/// (its takeovers done, its bump not yet).
#[test]
fn engine_killed_during_a_partition_decision_for_the_preferred_minority_side_converges_on_restart()
{
    if !netlab_runs("crash points", lab_available()) {
        return;
    }
    walk(
        Scenario::PartitionPreferredB,
        points(&["takeover:1", "bump-epoch:1"]),
    );
}

#[test]
fn engine_killed_during_a_heal_converges_on_restart() {
    if !netlab_runs("crash points", lab_available()) {
        return;
    }
    walk(Scenario::Heal, points(&["any:1", "graceful-failover:1"]));
}
