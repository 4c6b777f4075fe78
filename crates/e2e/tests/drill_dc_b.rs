//! dc-b offline (one master of three): Redis elects the replica by itself; the operator reports
//! the lost zone and must do nothing harmful — no acknowledged write lost, clean cluster
//! checks, Ready again with masters as preferred after dc-b returns, no failed writes then.
//! dc-b is brought back as soon as every slot takes writes (no wait for NotReady: the dc-a
//! drill covers what Kubernetes does to a dark DC).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use redis_stretch_e2e::drill::seed_drill;
use redis_stretch_e2e::init_tracing;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dc_b_offline_redis_elects_and_the_operator_does_no_harm() {
    init_tracing();
    let Some(out) = seed_drill("drill-dc-b", "dc-b", false).await.unwrap() else {
        return;
    };
    out.print("dc-b");
    out.safe().unwrap_or_else(|why| panic!("{why}"));
    let report = &out.report;
    assert!(
        out.timeline
            .iter()
            .any(|(_, l)| l.starts_with("condition ZoneLost=True")),
        "ZoneLost never reported"
    );
    let restored = report
        .faults
        .iter()
        .find(|f| f.phase.contains("restored"))
        .expect("a restore window");
    for w in &restored.writers {
        assert_eq!(
            w.failed, 0,
            "failed writes after dc-b returned: {:?}",
            w.writer
        );
    }
}
