//! dc-a offline, through Kubernetes: the seed cluster on the real control plane, the drill's
//! writers over every slot, dc-a (two of three masters) frozen and its nodes silent until the
//! real node lifecycle controller marks them NotReady, then back. The operator must take over
//! (no human), report `ZoneLost`, publish an Event per action, lose no acknowledged write, and
//! fail back without failed writes.
//!
//! The drill marks "dc-a restored" before bringing it back, and bringing it back first holds
//! dc-a dark until the API shows its nodes NotReady: the restore window starts with that hold.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use redis_stretch_e2e::drill::seed_drill;
use redis_stretch_e2e::init_tracing;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dc_a_offline_the_operator_takes_over_then_fails_back() {
    init_tracing();
    let Some(out) = seed_drill("drill-dc-a", "dc-a", true).await.unwrap() else {
        return;
    };
    out.print("dc-a");
    out.safe().unwrap_or_else(|why| panic!("{why}"));
    let report = &out.report;
    assert!(
        out.not_ready_after.is_some(),
        "the node lifecycle controller never marked dc-a NotReady"
    );
    assert!(
        out.timeline
            .iter()
            .any(|(_, l)| l.starts_with("condition ZoneLost=True")),
        "ZoneLost never reported"
    );
    for reason in ["Takeover", "GracefulFailover"] {
        assert!(
            out.reasons.iter().any(|r| r == reason),
            "no {reason} Event: {:?}",
            out.reasons
        );
    }
    let restored = report
        .faults
        .iter()
        .find(|f| f.phase.contains("restored"))
        .expect("a restore window");
    for w in &restored.writers {
        assert_eq!(w.failed, 0, "failed writes during failback: {:?}", w.writer);
    }
    assert_eq!(out.pods_after.len(), 6, "pods after: {:?}", out.pods_after);
    assert!(out.pods_after.iter().all(|(_, ready)| *ready));
}
