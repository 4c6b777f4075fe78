#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The drill scenario over its fault-injection trait: refusals with a scripted platform (no
//! cluster), and one whole drill on a real local cluster (every address on 127.0.0.0/8).

use std::cell::Cell;

use redis_stretch_admin::Secret;
use redis_stretch_api::{load_manifest, RedisStretchClusterSpec};
use redis_stretch_drill::scenario::{EngineStop, Layout};
use redis_stretch_drill::{run_drill, Faults, Recovery, Scenario, ScenarioError, ZoneFault};
use redis_stretch_engine::EngineStatus;
use redis_stretch_local::testing::{TestCluster, SEED_MANIFEST};
use redis_stretch_local::LocalFaults;

/// A platform that must never be broken: it counts every attempt.
struct Scripted {
    live_engine: Option<u32>,
    touched: Cell<u32>,
}

impl Faults for Scripted {
    type Error = std::io::Error;
    fn layout(&self) -> Result<Layout, Self::Error> {
        Ok(Layout {
            zones: vec!["dc-a".into(), "dc-b".into()],
            instances: Vec::new(),
        })
    }
    fn spec(&self) -> Result<RedisStretchClusterSpec, Self::Error> {
        Ok(load_manifest(SEED_MANIFEST).unwrap().spec().clone())
    }
    fn password(&self) -> Result<Option<Secret>, Self::Error> {
        Ok(None)
    }
    fn take_down(&self, _: &str, _: ZoneFault) -> Result<Vec<String>, Self::Error> {
        self.touched.set(self.touched.get() + 1);
        Ok(Vec::new())
    }
    fn take_down_instance(&self, _: &str, _: ZoneFault) -> Result<Vec<String>, Self::Error> {
        self.touched.set(self.touched.get() + 1);
        Ok(Vec::new())
    }
    async fn bring_back(&self, _: &str, _: bool) -> Result<Vec<String>, Self::Error> {
        self.touched.set(self.touched.get() + 1);
        Ok(Vec::new())
    }
    fn engine_live(&self) -> Option<u32> {
        self.live_engine
    }
    fn engine_status(&self) -> Option<EngineStatus> {
        None
    }
    fn start_engine(&self) -> EngineStop {
        self.touched.set(self.touched.get() + 1);
        EngineStop::channel().0
    }
}

fn scenario(zone: &str, recovery: Recovery) -> Scenario {
    Scenario {
        zone: zone.into(),
        fault: ZoneFault::Kill,
        recovery,
        new_addresses: false,
        rto_only: false,
        svg: std::env::temp_dir().join("never-written.svg"),
    }
}

#[tokio::test]
async fn an_unknown_zone_is_refused_before_anything_is_touched() {
    let p = Scripted {
        live_engine: None,
        touched: Cell::new(0),
    };
    let e = run_drill(&p, &scenario("dc-z", Recovery::Engine))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(e, ScenarioError::UnknownZone(ref z) if z == "dc-z"),
        "{e}"
    );
    assert_eq!(p.touched.get(), 0);
}

#[tokio::test]
async fn a_baseline_is_refused_while_an_engine_is_live() {
    for recovery in [Recovery::Native, Recovery::SeedManual] {
        let p = Scripted {
            live_engine: Some(4242),
            touched: Cell::new(0),
        };
        let e = run_drill(&p, &scenario("dc-b", recovery))
            .await
            .err()
            .unwrap();
        assert!(matches!(e, ScenarioError::LiveEngine), "{e}");
        assert_eq!(p.touched.get(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_drill_on_local_mode_recovers_fails_back_and_loses_no_waited_write() {
    let tc = TestCluster::start("drill-scenario", SEED_MANIFEST)
        .await
        .unwrap();
    let faults = LocalFaults::new(tc.dir.clone());
    let svg = tc.dir.file("drill.svg");
    let s = Scenario {
        svg: svg.clone(),
        ..scenario("dc-b", Recovery::Engine)
    };
    let r = run_drill(&faults, &s).await.unwrap();
    println!("{}", r.report);
    // Nothing a `WAIT 1` confirmed is lost. Plain writes dc-b's master took in its last
    // milliseconds before SIGKILL may not have reached its replica: Redis replicates
    // asynchronously, which is what WAIT is for.
    assert_eq!(r.report.acked_writes_lost, 0);
    assert!(r.report.rto_ms.is_some(), "every slot writable again");
    let phases: Vec<&str> = r.report.phases.iter().map(|p| p.name.as_str()).collect();
    for expected in [
        "dc-b killed",
        "all slots writable",
        "dc-b restored",
        "failback done",
    ] {
        assert!(phases.contains(&expected), "{expected} in {phases:?}");
    }
    // One check from each zone, both clean.
    assert_eq!(
        r.report.cluster_check.len(),
        2,
        "{:?}",
        r.report.cluster_check
    );
    assert!(
        r.report.cluster_check.iter().all(|c| c.1),
        "{:?}",
        r.report.cluster_check
    );
    assert_eq!(r.svg, svg);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    // The engine started for the drill stops with it: its status file goes.
    let engine_file = tc.dir.file(redis_stretch_local::ENGINE_FILE);
    let start = std::time::Instant::now();
    while engine_file.exists() && start.elapsed() < std::time::Duration::from_secs(10) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!engine_file.exists(), "the drill's engine still runs");
}
