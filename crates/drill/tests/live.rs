#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Against a real local cluster (seed layout: 3 shards, dc-a holds M1 M2 R3, dc-b M3 R1 R2).
//! Every address is on 127.0.0.0/8. No wall-clock assertion: only counts and orderings.

mod support;

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use redis_stretch_admin::NodeAddr;
use redis_stretch_drill::slots::slot_of;
use redis_stretch_drill::{
    cluster_check, svg, verify, DrillConfig, Recorded, Workload, WriteOutcome, WriterKind,
};
use redis_stretch_local::testing::{TestCluster, SEED_MANIFEST};

fn config(tc: &TestCluster) -> DrillConfig {
    let seeds: Vec<NodeAddr> = tc.state.instances.iter().map(|i| i.addr()).collect();
    assert!(
        seeds.iter().all(|a| a.host.starts_with("127.")),
        "{seeds:?}"
    );
    DrillConfig {
        rate_per_writer: 300,
        // Generous per-try bounds: a loaded 2-core CI box must not turn into "failed writes".
        attempt_timeout: Duration::from_millis(500),
        probe_timeout: Duration::from_millis(500),
        wait_timeout_ms: 500,
        duration_limit: Duration::from_secs(30),
        ..DrillConfig::new(seeds, tc.password.clone())
    }
}

/// The shard (index into `rec.shards`) a write's key lives in.
fn shard_of(rec: &Recorded, w: &redis_stretch_drill::WriteRecord) -> usize {
    let slot = slot_of(rec.key(w).as_bytes());
    rec.shards
        .iter()
        .position(|s| s.ranges.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_cluster_loses_nothing_and_fails_nothing() {
    let tc = TestCluster::start("drill-healthy", SEED_MANIFEST)
        .await
        .unwrap();
    let cfg = config(&tc);
    let wl = Workload::start(cfg.clone()).await.unwrap();
    assert_eq!(wl.shards().len(), 3);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rec = wl.stop().await.unwrap();
    let mut report = verify(&rec, &cfg).await.unwrap();
    let (clean, summary) = cluster_check(&tc.state.instances[0].addr(), tc.password.as_ref()).await;
    report
        .cluster_check
        .push(("after".into(), clean, summary.clone()));
    println!("{report}");

    assert!(clean, "{summary}");
    for w in &report.writers {
        assert!(w.writes > 50, "{:?} wrote only {}", w.writer, w.writes);
        assert_eq!(w.failed, 0, "{w:?}");
        assert_eq!(w.not_acknowledged, 0, "{w:?}");
        assert_eq!(w.readback_checked, w.acked, "{w:?}");
        assert_eq!(w.acked_lost, 0, "{w:?}");
    }
    assert_eq!(report.acked_writes_lost, 0);
    assert_eq!(report.plain_writes_lost, 0);
    // Every writer reached every shard, and every shard took every probe.
    for kind in WriterKind::ALL {
        for s in 0..rec.shards.len() {
            assert!(
                rec.writes
                    .iter()
                    .any(|w| w.writer == kind && shard_of(&rec, w) == s),
                "{kind:?} never wrote to shard {s}"
            );
        }
    }
    for s in 0..rec.shards.len() {
        let mine: Vec<_> = rec.probes.iter().filter(|p| p.shard == s).collect();
        assert!(mine.len() > 10, "shard {s}: {} probes", mine.len());
        assert!(mine.iter().all(|p| p.ok()), "shard {s}: {mine:?}");
    }
    assert!(report.faults.is_empty());
}

/// Resumes a frozen process however the test ends.
struct Frozen(Pid);

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

async fn admin(addr: &NodeAddr, tc: &TestCluster) -> redis::aio::MultiplexedConnection {
    let mut url = format!("redis://{addr}");
    if let Some(p) = &tc.password {
        url = format!("redis://:{}@{addr}", p.expose());
    }
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_replica_makes_wait_writes_unacknowledged_but_plain_writes_succeed() {
    let tc = TestCluster::start("drill-frozen-replica", SEED_MANIFEST)
        .await
        .unwrap();

    // Find a replica in dc-b and its master.
    let mut target = None;
    for inst in tc.state.instances.iter().filter(|i| i.zone == "dc-b") {
        let mut c = admin(&inst.addr(), &tc).await;
        let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut c).await.unwrap();
        if let [redis::Value::BulkString(r), redis::Value::BulkString(host), redis::Value::Int(port), ..] =
            role.as_slice()
        {
            if r == b"slave" {
                let master =
                    NodeAddr::new(String::from_utf8_lossy(host), u16::try_from(*port).unwrap());
                target = Some((inst.clone(), master));
                break;
            }
        }
    }
    let (replica, master) = target.expect("the seed layout has replicas in dc-b");
    let pid = Pid::from_raw(i32::try_from(replica.pid.unwrap()).unwrap());
    // This test is about classifying writes, not about the fence: make sure none is set.
    let mut m = admin(&master, &tc).await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("min-replicas-to-write")
        .arg(0)
        .query_async(&mut m)
        .await
        .unwrap();

    let mut cfg = config(&tc);
    // Short WAIT so that the frozen window holds many WAIT writes.
    cfg.wait_timeout_ms = 100;
    let wl = Workload::start(cfg.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;

    kill(pid, Signal::SIGSTOP).unwrap();
    let frozen = Frozen(pid);
    let frozen_at = wl.epoch().elapsed();
    wl.mark_fault("replica frozen");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    wl.mark("replica resumed");
    let resumed_at = wl.epoch().elapsed();
    drop(frozen);
    let since = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let live_rto = wl.wait_all_writable(since, Duration::from_secs(5)).await;
    let rec = wl.stop().await.unwrap();
    let mut report = verify(&rec, &cfg).await.unwrap();
    let (clean, summary) = cluster_check(&master, tc.password.as_ref()).await;
    report
        .cluster_check
        .push(("after resume".into(), clean, summary));
    println!("{report}");

    let shard = rec
        .shards
        .iter()
        .position(|s| s.master_at_start == master.to_string())
        .expect("the frozen replica's master owns a shard");
    let (from, to) = (
        u64::try_from(frozen_at.as_micros()).unwrap(),
        u64::try_from(resumed_at.as_micros()).unwrap(),
    );
    let during: Vec<_> = rec
        .writes
        .iter()
        .filter(|w| w.start_us >= from && w.end_us < to && shard_of(&rec, w) == shard)
        .collect();
    let wait_during: Vec<_> = during
        .iter()
        .filter(|w| w.writer == WriterKind::Wait)
        .collect();
    let plain_during: Vec<_> = during
        .iter()
        .filter(|w| w.writer == WriterKind::Plain)
        .collect();
    assert!(!wait_during.is_empty() && !plain_during.is_empty());
    // The shard's only replica is frozen: no WAIT can count it, so nothing is acknowledged...
    assert!(
        wait_during.iter().all(|w| w.outcome != WriteOutcome::Acked),
        "{wait_during:?}"
    );
    assert!(wait_during
        .iter()
        .any(|w| w.outcome == WriteOutcome::NotAcknowledged));
    // ...while the master itself keeps taking plain writes, and so does every other shard.
    assert!(
        plain_during
            .iter()
            .all(|w| w.outcome == WriteOutcome::Acked),
        "{plain_during:?}"
    );
    assert_eq!(report.writers[0].writer, WriterKind::Plain);
    assert_eq!(report.writers[0].failed, 0);
    // WAIT writes to the other shards were acknowledged throughout.
    assert!(rec.writes.iter().any(|w| w.writer == WriterKind::Wait
        && w.start_us >= from
        && w.end_us < to
        && shard_of(&rec, w) != shard
        && w.outcome == WriteOutcome::Acked));
    // Nothing acknowledged was lost, and the probe saw every shard writable all along.
    assert_eq!(report.acked_writes_lost, 0);
    assert_eq!(report.plain_writes_lost, 0);
    assert!(report.not_acknowledged > 0);
    assert_eq!(report.rto_ms, Some(0.0));
    assert_eq!(live_rto, Some(Duration::ZERO));
    assert!(clean, "{:?}", report.cluster_check);

    let svg = svg::render(&report);
    support::well_formed(&svg).unwrap();
    assert!(svg.contains("replica frozen") && svg.contains("replica resumed"));
    let out = std::env::temp_dir().join("redis-stretch-drill-frozen-replica.svg");
    std::fs::write(&out, &svg).unwrap();
    eprintln!("wrote {}", out.display());
}

/// `ROLE` of one instance: `Some(replicas)` for a master, `None` for a replica.
async fn replicas_if_master(addr: &NodeAddr, tc: &TestCluster) -> Option<Vec<NodeAddr>> {
    let mut c = admin(addr, tc).await;
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut c).await.unwrap();
    match role.as_slice() {
        [redis::Value::BulkString(r), _, redis::Value::Array(replicas)] if r == b"master" => Some(
            replicas
                .iter()
                .filter_map(|r| match r {
                    redis::Value::Array(f) => match f.as_slice() {
                        [redis::Value::BulkString(h), redis::Value::BulkString(p), ..] => {
                            Some(NodeAddr::new(
                                String::from_utf8_lossy(h),
                                String::from_utf8_lossy(p).parse().unwrap(),
                            ))
                        }
                        _ => None,
                    },
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

/// The hard way a shard goes dark: its master frozen (silence, not refused connections). Our
/// client must notice by timeouts alone and find the replica we promote by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_master_taken_over_is_measured_and_loses_no_acknowledged_write() {
    let tc = TestCluster::start("drill-frozen-master", SEED_MANIFEST)
        .await
        .unwrap();
    let mut target = None;
    for inst in tc.state.instances.iter().filter(|i| i.zone == "dc-b") {
        if let Some(replicas) = replicas_if_master(&inst.addr(), &tc).await {
            if let Some(r) = replicas.first() {
                target = Some((inst.clone(), r.clone()));
                break;
            }
        }
    }
    let (master, replica) = target.expect("the seed layout has a master in dc-b");
    let pid = Pid::from_raw(i32::try_from(master.pid.unwrap()).unwrap());

    let cfg = config(&tc);
    let wl = Workload::start(cfg.clone()).await.unwrap();
    let shard = wl
        .shards()
        .iter()
        .position(|s| s.master_at_start == master.addr().to_string())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;

    kill(pid, Signal::SIGSTOP).unwrap();
    let frozen = Frozen(pid);
    let fault = Instant::now();
    wl.mark_fault("master frozen");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut r = admin(&replica, &tc).await;
    let _: () = redis::cmd("CLUSTER")
        .arg("FAILOVER")
        .arg("TAKEOVER")
        .query_async(&mut r)
        .await
        .unwrap();
    wl.mark("takeover");
    let live_rto = wl.wait_all_writable(fault, Duration::from_secs(8)).await;
    drop(frozen);
    wl.mark("old master resumed");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let rec = wl.stop().await.unwrap();
    let mut report = verify(&rec, &cfg).await.unwrap();
    // The resumed master needs a moment to learn it was replaced and to follow the new one.
    let mut check = (false, String::new());
    for _ in 0..20 {
        check = cluster_check(&replica, tc.password.as_ref()).await;
        if check.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    report
        .cluster_check
        .push(("after resume".into(), check.0, check.1.clone()));
    println!("{report}");

    assert!(
        live_rto.is_some(),
        "the cluster client never found the promoted replica"
    );
    let f = &report.faults[0];
    assert!(f.rto_ms.is_some());
    // Only the frozen master's shard went dark.
    assert!(f.shards[shard].first_failure_ms.is_some(), "{f:?}");
    for (i, s) in f.shards.iter().enumerate() {
        if i != shard {
            assert_eq!(s.first_failure_ms, None, "{f:?}");
        }
    }
    assert!(rec.topology_refreshes > 0);
    assert_eq!(report.acked_writes_lost, 0, "{:?}", report.writers);
    assert!(check.0, "{}", check.1);

    let svg = svg::render(&report);
    support::well_formed(&svg).unwrap();
    let out = std::env::temp_dir().join("redis-stretch-drill-frozen-master.svg");
    std::fs::write(&out, &svg).unwrap();
    eprintln!("wrote {}", out.display());
}
