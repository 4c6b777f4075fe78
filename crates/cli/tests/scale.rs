#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Issue 18 on local mode, real servers under the drill's writers (a plain and a `WAIT 1`
//! writer over every slot): 3 → 6 → 3 shards through `local scale`, nothing acknowledged lost,
//! every slot-owning master with a replica in the other zone at every sample, the preferred
//! zone holding the planned masters at the end; and dc-a killed halfway through a scale-out:
//! the takeover comes first, the migration finishes once dc-a is back, nothing acknowledged
//! lost, every slot owned once and none left open. Also issue 17's rollout under the same
//! loss: dc-a killed after two instances were restarted, the takeover first, the rollout
//! finished after. Runs on whichever server the suite runs (`REDIS_STRETCH_SERVER`, and the
//! server binaries scripts/deps.sh installs side by side).

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_stretch_drill::{verify, DrillConfig, Workload};
use redis_stretch_engine::{observe, Pool, Snapshot};
use redis_stretch_local::testing::{TestCluster, SEED_MANIFEST};
use redis_stretch_local::{
    engine_status, ensure_detached_engine, kill_zone, restore_zone, FaultSignal, StateDir,
};
use redis_stretch_topology::SLOT_COUNT;
use support::{run, text, BIN};

const PRELOAD: usize = 20_000;

/// `PRELOAD` keys `pre:N` through the cluster (redis-cli -c follows MOVED).
fn preload(c: &TestCluster) {
    let inst = &c.state.instances[0];
    let mut args = vec![
        "-c".to_owned(),
        "-h".to_owned(),
        inst.host.clone(),
        "-p".to_owned(),
        inst.port.to_string(),
        "--no-auth-warning".to_owned(),
    ];
    if let Some(p) = &c.password {
        args.extend(["-a".to_owned(), p.expose().to_owned()]);
    }
    let mut child = Command::new("redis-cli")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        let stdin = child.stdin.as_mut().unwrap();
        for i in 0..PRELOAD {
            writeln!(stdin, "SET pre:{i} v{i}").unwrap();
        }
    }
    assert!(child.wait().unwrap().success());
}

async fn snapshot(dir: &StateDir, pool: &Pool) -> Snapshot {
    let state = dir.load().unwrap();
    let instances: Vec<_> = state.instances.iter().map(|i| i.as_instance()).collect();
    observe(&instances, &state.zones, pool).await
}

/// Masters that serve slots without a replica in the other zone (as any node sees them).
fn without_replica_across(s: &Snapshot) -> Vec<String> {
    s.masters()
        .iter()
        .filter(|m| {
            !m.id
                .as_deref()
                .is_some_and(|id| s.replicas_of(id).any(|r| r.zone != m.zone))
        })
        .map(|m| m.name.clone().unwrap_or_default())
        .collect()
}

/// Every slot owned once, none open, every master's replica across, the masters per zone.
async fn check_settled(dir: &StateDir, pool: &Pool, shards: usize, dc_a: usize) {
    let s = snapshot(dir, pool).await;
    assert_eq!(s.slots_covered(), usize::from(SLOT_COUNT), "{s:#?}");
    assert_eq!(s.slots_claimed_twice(), 0);
    assert!(s.nodes.iter().all(|n| n.open_slots.is_empty()), "{s:#?}");
    assert_eq!(s.masters().len(), shards);
    assert_eq!(without_replica_across(&s), Vec::<String>::new());
    let in_a = s.masters().iter().filter(|m| m.zone == "dc-a").count();
    assert_eq!(in_a, dc_a, "masters in dc-a");
    // The preloaded keys, all there, each on the master of its slot.
    let mut found = 0;
    for m in s.masters() {
        let a = m.addr.as_ref().unwrap();
        let mut args = vec![
            "-h".to_owned(),
            a.host.clone(),
            "-p".to_owned(),
            a.port.to_string(),
            "--no-auth-warning".to_owned(),
        ];
        if let Some(p) = pool.password() {
            args.extend(["-a".to_owned(), p.expose().to_owned()]);
        }
        args.extend(["KEYS".to_owned(), "pre:*".to_owned()]);
        let o = Command::new("redis-cli").args(&args).output().unwrap();
        found += String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .count();
    }
    assert_eq!(found, PRELOAD, "preloaded keys after scaling to {shards}");
}

/// Samples the cluster every 200 ms while it runs: how often a slot-owning master had no
/// replica in the other zone.
struct Sampler {
    stop: Arc<AtomicBool>,
    bad: Arc<AtomicU64>,
    handle: tokio::task::JoinHandle<Vec<String>>,
}

impl Sampler {
    fn start(dir: StateDir, pool: Pool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let bad = Arc::new(AtomicU64::new(0));
        let (s, b) = (stop.clone(), bad.clone());
        let handle = tokio::spawn(async move {
            let mut seen = Vec::new();
            while !s.load(Ordering::SeqCst) {
                let snap = snapshot(&dir, &pool).await;
                let lacking = without_replica_across(&snap);
                if !lacking.is_empty() {
                    b.fetch_add(1, Ordering::SeqCst);
                    seen.push(lacking.join(","));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            seen
        });
        Self { stop, bad, handle }
    }
    async fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        let seen = self.handle.await.unwrap();
        (self.bad.load(Ordering::SeqCst), seen)
    }
}

fn config(c: &TestCluster) -> DrillConfig {
    let seeds: Vec<_> = c.state.instances.iter().map(|i| i.addr()).collect();
    DrillConfig {
        rate_per_writer: 100,
        attempt_timeout: Duration::from_millis(500),
        probe_timeout: Duration::from_millis(500),
        wait_timeout_ms: 500,
        duration_limit: Duration::from_secs(600),
        ..DrillConfig::new(seeds, c.password.clone())
    }
}

async fn scale(dir: &str, shards: u32) {
    let d = dir.to_owned();
    let o = tokio::task::spawn_blocking(move || {
        run(&[
            "local",
            "scale",
            "--shards",
            &shards.to_string(),
            "--state-dir",
            &d,
        ])
    })
    .await
    .unwrap();
    println!("{}", text(&o));
    assert!(o.status.success(), "{}", text(&o));
}

/// The seed cluster with its detached engine, preloaded, the writers started.
async fn start(label: &str) -> (TestCluster, String, Pool, DrillConfig, Workload) {
    let c = TestCluster::start(label, SEED_MANIFEST).await.unwrap();
    let dir = c.dir.path().display().to_string();
    ensure_detached_engine(
        &c.dir,
        std::path::Path::new(BIN),
        &["local", "engine", "--state-dir", &dir],
    )
    .await
    .unwrap();
    preload(&c);
    let pool = Pool::new(c.password.clone(), Duration::from_millis(500));
    let cfg = config(&c);
    let load = Workload::start(cfg.clone()).await.unwrap();
    (c, dir, pool, cfg, load)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_to_six_to_three_shards_under_writes_loses_nothing() {
    let (c, dir, pool, cfg, load) = start("scale").await;
    let sampler = Sampler::start(
        c.dir.clone(),
        Pool::new(c.password.clone(), Duration::from_millis(500)),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    load.mark("scale 3 → 6");
    scale(&dir, 6).await;
    check_settled(&c.dir, &pool, 6, 4).await;
    load.mark("scale 6 → 3");
    scale(&dir, 3).await;
    check_settled(&c.dir, &pool, 3, 2).await;
    assert_eq!(
        c.dir.load().unwrap().instances.len(),
        6,
        "the leaving instances retired"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (bad, seen) = sampler.finish().await;
    let rec = load.stop().await.unwrap();
    let report = verify(&rec, &cfg).await.unwrap();
    println!("{report}");
    assert_eq!(report.acked_writes_lost, 0, "WAIT-acknowledged writes lost");
    assert_eq!(report.plain_writes_lost, 0, "plain writes lost");
    assert_eq!(bad, 0, "masters without a replica across: {seen:?}");
    for w in &report.writers {
        assert!(w.writes > 50, "{:?} wrote only {}", w.writer, w.writes);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dc_a_lost_halfway_through_a_scale_out_takeover_first_then_the_migration_finishes() {
    let (c, dir, pool, cfg, load) = start("scale-loss").await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    load.mark("scale 3 → 6");
    cli_ok(&[
        "local",
        "scale",
        "--shards",
        "6",
        "--no-wait",
        "--state-dir",
        &dir,
    ])
    .await;

    // Halfway: fewer than half of the migration's slots left to move.
    let dir_ = &c.dir;
    until(
        Duration::from_secs(120),
        Duration::from_millis(50),
        || async move {
            let status = engine_status(dir_);
            let half = status
                .as_ref()
                .and_then(|s| s.migration.as_ref())
                .is_some_and(|m| {
                    let left = match status.as_ref().and_then(|s| s.waiting_for.as_ref()) {
                        Some(redis_stretch_engine::Waiting::Scaling { slots_left, .. }) => {
                            *slots_left
                        }
                        _ => usize::MAX,
                    };
                    left <= m.total() / 2
                });
            half.then_some(())
                .ok_or_else(|| format!("the migration never got halfway: {status:?}"))
        },
    )
    .await;
    lose_and_restore_dc_a(&c, &pool, &load).await;

    // The migration finishes after: six shards, as preferred, nothing open.
    settled(&c, &pool, Duration::from_secs(240), |s, st| {
        s.masters().len() == 6 && s.slots_claimed_twice() == 0 && st.migration.is_none()
    })
    .await;
    check_settled(&c.dir, &pool, 6, 4).await;
    let rec = load.stop().await.unwrap();
    let report = verify(&rec, &cfg).await.unwrap();
    println!("{report}");
    assert_eq!(report.acked_writes_lost, 0, "WAIT-acknowledged writes lost");
}

/// dc-a killed, the takeover awaited (dc-b serves every slot), dc-a restarted.
async fn lose_and_restore_dc_a(c: &TestCluster, pool: &Pool, load: &Workload) {
    load.mark("dc-a killed");
    kill_zone(&c.dir, "dc-a", FaultSignal::Kill).unwrap();
    let start = Instant::now();
    loop {
        let s = snapshot(&c.dir, pool).await;
        let from_b: usize = s
            .masters()
            .iter()
            .filter(|m| m.zone == "dc-b" && m.reachable)
            .flat_map(|m| m.slots.iter().map(|r| r.len()))
            .sum();
        if from_b == usize::from(SLOT_COUNT) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "dc-b serves {from_b} slots; engine.log:\n{}",
            std::fs::read_to_string(c.dir.file("engine.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    load.mark("dc-a back");
    let server =
        redis_stretch_local::find_server(redis_stretch_local::testing::test_server()).unwrap();
    restore_zone(&c.dir, "dc-a", false, &server).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dc_a_lost_in_the_middle_of_a_rollout_is_taken_over_first_then_the_rollout_finishes() {
    let (c, dir, pool, cfg, load) = start("roll-loss").await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    load.mark("roll");
    cli_ok(&["local", "roll", "--no-wait", "--state-dir", &dir]).await;

    // Two of the six instances restarted: the loss lands in the middle of the rollout.
    let dir_ = &c.dir;
    until(
        Duration::from_secs(120),
        Duration::from_millis(50),
        || async move {
            let status = engine_status(dir_);
            let done = status
                .as_ref()
                .and_then(|s| s.rollout.as_ref())
                .map_or(0, |r| r.done.len());
            (done >= 2)
                .then_some(())
                .ok_or_else(|| format!("the rollout never restarted two instances: {status:?}"))
        },
    )
    .await;
    lose_and_restore_dc_a(&c, &pool, &load).await;

    // The rollout finishes after: every instance current, the layout as preferred.
    settled(&c, &pool, Duration::from_secs(180), |_, st| {
        let state = c.dir.load().unwrap();
        st.rollout.is_none() && state.instances.iter().all(|i| i.revision == state.revision)
    })
    .await;
    check_settled(&c.dir, &pool, 3, 2).await;
    let rec = load.stop().await.unwrap();
    let report = verify(&rec, &cfg).await.unwrap();
    println!("{report}");
    assert_eq!(report.acked_writes_lost, 0, "WAIT-acknowledged writes lost");
}

/// Polls `check` every `every` until it holds; fails after `limit` with what it last said.
async fn until<F, Fut>(limit: Duration, every: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let start = Instant::now();
    loop {
        match check().await {
            Ok(()) => return,
            Err(why) => assert!(start.elapsed() < limit, "{why}"),
        }
        tokio::time::sleep(every).await;
    }
}

/// Until every slot is served, the engine waits as preferred and `done` holds too.
async fn settled(
    c: &TestCluster,
    pool: &Pool,
    limit: Duration,
    done: impl Fn(&Snapshot, &redis_stretch_engine::EngineStatus) -> bool,
) {
    let done = &done;
    until(limit, Duration::from_millis(250), || async move {
        let s = snapshot(&c.dir, pool).await;
        let status = engine_status(&c.dir);
        let ok = s.slots_covered() == usize::from(SLOT_COUNT)
            && status.as_ref().is_some_and(|st| {
                st.waiting_for == Some(redis_stretch_engine::Waiting::AsPreferred) && done(&s, st)
            });
        ok.then_some(()).ok_or_else(|| {
            format!(
                "not done: {:?}",
                status.map(|st| (st.waiting_for, st.rollout, st.migration))
            )
        })
    })
    .await;
}

/// The CLI with `args`, off the test's runtime threads; it must succeed.
async fn cli_ok(args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let o = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    })
    .await
    .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}
