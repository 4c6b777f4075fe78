#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Planned maintenance under load: `evacuate` moves every master out of a zone and `failback`
//! brings them back, with graceful failovers — no failed write, nothing acknowledged lost.

use std::time::Duration;

use redis_stretch_drill::{verify, DrillConfig, Workload};
use redis_stretch_engine::decide::Intent;
use redis_stretch_engine::{observe, Engine, EngineConfig, Pool, Snapshot};
use redis_stretch_local::testing::{TestCluster, SEED_MANIFEST};
use redis_stretch_local::LocalPlatform;

/// Run `intent` through the engine's own loop until decide says it is settled; every action
/// must succeed.
async fn converge(engine: &mut Engine, platform: &LocalPlatform, intent: Intent) {
    engine
        .run_until(platform, intent, Duration::from_secs(60), |pass| {
            assert!(pass.results.iter().all(|r| r.ok), "{:?}", pass.results);
        })
        .await
        .unwrap();
}

async fn masters(c: &TestCluster, zone: &str) -> usize {
    let pool = Pool::new(c.password.clone(), Duration::from_millis(300));
    let s: Snapshot = observe(&c.instances(), &c.state.zones, &pool).await;
    s.masters().iter().filter(|m| m.zone == zone).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evacuate_and_failback_under_load_fail_no_write() {
    let c = TestCluster::start("evacuate", SEED_MANIFEST).await.unwrap();
    let cluster = redis_stretch_api::load_manifest(SEED_MANIFEST).unwrap();
    let mut engine = Engine::new(
        cluster.spec(),
        c.password.clone(),
        EngineConfig::for_spec(cluster.spec()),
    );
    let platform = LocalPlatform { dir: c.dir.clone() };
    // Steady state first (fences set), as the engine keeps it.
    converge(&mut engine, &platform, Intent::Auto).await;

    let seeds = c.state.instances.iter().map(|i| i.addr()).collect();
    let cfg = DrillConfig::new(seeds, c.password.clone());
    let load = Workload::start(cfg.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    load.mark("evacuate dc-a");
    converge(
        &mut engine,
        &platform,
        Intent::Evacuate {
            zone: "dc-a".into(),
        },
    )
    .await;
    assert_eq!(masters(&c, "dc-a").await, 0);
    assert_eq!(masters(&c, "dc-b").await, 3);
    tokio::time::sleep(Duration::from_millis(500)).await;

    load.mark("failback");
    converge(&mut engine, &platform, Intent::Failback).await;
    assert_eq!(masters(&c, "dc-a").await, 2);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let report = verify(&load.stop().await.unwrap(), &cfg).await.unwrap();
    for w in &report.writers {
        assert_eq!(w.failed, 0, "{report}");
        assert_eq!(w.acked_lost, 0, "{report}");
        assert!(w.acked > 0, "{report}");
    }
    assert_eq!(report.plain_writes_lost, 0, "{report}");
}
