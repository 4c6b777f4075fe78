#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Crash points (issue 16): the engine stopped right after an action of a takeover, a failback,
//! a partition decision or a heal — as a SIGKILL at that moment would — then restarted. Every
//! run must converge, lose no write a `WAIT 1` acknowledged, and leave the cluster checking
//! clean (the harness is `crash/mod.rs`).
//!
//! The suite runs a few points per scenario: the first action, one in the middle, the last (by
//! kind, so that a scenario whose count of fences or meets varies still reaches them).
//! `REDIS_STRETCH_CRASH_WALK=full` walks every point `any:1`, `any:2`, ... until the scenario
//! ends first (scripts/crash-points.sh, docs/CRASH-POINTS.md).
//!
//! The cuts need the network lab (root, `ip`, `nft`): without it those tests say why and
//! skip, unless `REDIS_STRETCH_NETLAB=1` (scripts/test.sh) makes that a failure.

use crash::{lab_available, points, walk, Scenario};
use support::netlab_runs;

mod crash;
mod support;

#[test]
fn engine_killed_during_a_takeover_converges_on_restart() {
    walk(
        Scenario::Takeover,
        points(&["any:1", "takeover:1", "any:9"]),
    );
}

#[test]
fn engine_killed_during_a_failback_converges_on_restart() {
    walk(
        Scenario::Failback,
        points(&["any:1", "graceful-failover:1"]),
    );
}

#[test]
fn engine_killed_during_a_partition_decision_converges_on_restart() {
    if !netlab_runs("crash points", lab_available()) {
        return;
    }
    walk(Scenario::Partition, points(&["any:1", "any:5"]));
}

#[test]
fn engine_killed_during_a_partition_decision_for_the_preferred_minority_side_converges_on_restart()
{
    if !netlab_runs("crash points", lab_available()) {
        return;
    }
    walk(Scenario::PartitionPreferredB, points(&["any:1", "any:5"]));
}

#[test]
fn engine_killed_during_a_heal_converges_on_restart() {
    if !netlab_runs("crash points", lab_available()) {
        return;
    }
    walk(Scenario::Heal, points(&["any:1", "any:5"]));
}
