#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The failure engine against real redis-server processes: zones frozen with SIGSTOP (silence
//! and timeouts, as a dark DC looks), taken over, restored, failed back. No timing is
//! asserted: benchmarks measure; these prove behaviour.

use std::time::{Duration, Instant};

use redis_stretch_api::ServerFlavour;
use redis_stretch_engine::decide::{decide, Decision, Input, Intent, Policy};
use redis_stretch_engine::{
    act, observe, Engine, EngineConfig, EngineEvent, EngineStatus, Pass, Pool, Reporter, Snapshot,
};
use redis_stretch_engine::{Waiting, ZoneState, ZoneStates};
use redis_stretch_local::testing::{TestCluster, SEED_MANIFEST};
use redis_stretch_local::{kill_zone, restore_zone, server_binary_for, FaultSignal, LocalPlatform};
use tokio::sync::oneshot;

struct Quiet;
impl Reporter for Quiet {
    fn events(&self, _: &[EngineEvent]) {}
    fn status(&self, _: &EngineStatus, _: &Pass) {}
}

async fn snapshot(c: &TestCluster) -> Snapshot {
    let pool = Pool::new(c.password.clone(), Duration::from_millis(300));
    observe(&c.instances(), &c.state.zones, &pool).await
}

/// Poll until `ok` holds for the cluster, or fail after `limit` with the last snapshot.
async fn wait_until(c: &TestCluster, limit: Duration, what: &str, ok: impl Fn(&Snapshot) -> bool) {
    let start = Instant::now();
    loop {
        let s = snapshot(c).await;
        if ok(&s) {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "not {what} after {limit:?}:\n{}",
            brief(&s)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn brief(s: &Snapshot) -> String {
    s.nodes
        .iter()
        .map(|n| {
            format!(
                "{:?} {:?} {} id={:?} role={:?} master={:?} slots={:?} link={:?} fence={:?} sees={:?}",
                n.name,
                n.addr.as_ref().map(ToString::to_string),
                if n.reachable { "up" } else { "DOWN" },
                n.id.as_deref().map(|i| &i[..8]),
                n.role,
                n.master_id.as_deref().map(|i| &i[..8]),
                n.slots.iter().map(ToString::to_string).collect::<Vec<_>>(),
                n.link_up,
                n.fence,
                n.sees.iter().map(|x| format!("{}@{}{}", &x.id[..8], x.addr.as_ref().map(ToString::to_string).unwrap_or_default(), if x.fail {"!"} else {""})).collect::<Vec<_>>()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn masters_in(s: &Snapshot, zone: &str) -> usize {
    s.masters()
        .iter()
        .filter(|m| m.zone == zone && m.reachable)
        .count()
}

fn served_from(s: &Snapshot, zone: &str) -> usize {
    s.masters()
        .iter()
        .filter(|m| m.zone == zone && m.reachable)
        .flat_map(|m| m.slots.iter())
        .map(|r| r.len())
        .sum()
}

fn links_up(s: &Snapshot) -> bool {
    s.nodes.iter().all(|n| n.reachable)
        && s.nodes
            .iter()
            .filter(|n| n.role == Some(redis_stretch_topology::Role::Replica))
            .all(|n| n.link_up == Some(true))
}

/// Run the engine in the background until the returned sender is dropped or fired.
fn start_engine(c: &TestCluster, manifest: &str) -> oneshot::Sender<()> {
    let cluster = redis_stretch_api::load_manifest(manifest).unwrap();
    let mut engine = Engine::new(
        cluster.spec(),
        c.password.clone(),
        EngineConfig::for_spec(cluster.spec()),
    );
    let platform = LocalPlatform { dir: c.dir.clone() };
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        engine
            .run(&platform, &Quiet, async {
                let _ = rx.await;
            })
            .await;
    });
    tx
}

/// `redis-cli --cluster check`, until every node agrees on the configuration or 5 s have
/// passed: right after a failover the last nodes may not have heard the new epoch yet (gossip
/// takes a few hundred ms), and the check compares every node's view. The last output either way.
async fn cluster_check(c: &TestCluster, addr: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut cmd = std::process::Command::new("redis-cli");
        cmd.args(["--cluster", "check", addr]);
        if let Some(p) = &c.password {
            cmd.env("REDISCLI_AUTH", p.expose());
        }
        let out = String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned();
        if out.contains("[OK] All nodes agree") || std::time::Instant::now() >= deadline {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn majority_zone_frozen_is_taken_over_then_failed_back() {
    let c = TestCluster::start("majority", SEED_MANIFEST).await.unwrap();
    let _engine = start_engine(&c, SEED_MANIFEST);
    // Let the engine fence the healthy cluster first.
    wait_until(&c, Duration::from_secs(10), "fenced", |s| {
        s.nodes.iter().all(|n| n.fence == Some(1))
    })
    .await;

    kill_zone(&c.dir, "dc-a", FaultSignal::Stop).unwrap();
    wait_until(&c, Duration::from_secs(15), "served from dc-b", |s| {
        served_from(s, "dc-b") == 16384 && masters_in(s, "dc-b") == 3
    })
    .await;
    // Survivors were unfenced: each new master has no replica to satisfy a fence.
    let s = snapshot(&c).await;
    assert!(
        s.masters()
            .iter()
            .filter(|m| m.reachable)
            .all(|m| m.fence == Some(0)),
        "{s:#?}"
    );

    restore_zone(&c.dir, "dc-a", false, &server_binary_for(&c.dir).unwrap())
        .await
        .unwrap();
    // Failback restores 2 masters in dc-a, 1 in dc-b, every replica across and in sync.
    wait_until(&c, Duration::from_secs(40), "failed back", |s| {
        masters_in(s, "dc-a") == 2 && masters_in(s, "dc-b") == 1 && links_up(s)
    })
    .await;
    let s = snapshot(&c).await;
    for m in s.masters() {
        let replicas: Vec<_> = s.replicas_of(m.id.as_deref().unwrap()).collect();
        assert!(
            !replicas.is_empty() && replicas.iter().all(|r| r.zone != m.zone),
            "every master has a replica, each in the other zone: {s:#?}"
        );
    }
    let check = cluster_check(&c, &c.state.instances[0].addr().to_string()).await;
    assert!(check.contains("[OK] All 16384 slots covered"), "{check}");
    assert!(check.contains("[OK] All nodes agree"), "{check}");
}

/// Not a zone loss: the two masters of dc-a freeze while dc-a's replica keeps answering. The
/// survivors are below quorum all the same, so the engine must take over as for a lost zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_masters_frozen_while_their_zone_answers_are_taken_over() {
    let c = TestCluster::start("partial", SEED_MANIFEST).await.unwrap();
    let _engine = start_engine(&c, SEED_MANIFEST);
    wait_until(&c, Duration::from_secs(10), "fenced", |s| {
        s.nodes.iter().all(|n| n.fence == Some(1))
    })
    .await;
    let s = snapshot(&c).await;
    let frozen: Vec<String> = s
        .masters()
        .iter()
        .filter(|m| m.zone == "dc-a")
        .map(|m| m.name.clone().unwrap())
        .collect();
    assert_eq!(frozen.len(), 2);
    let signal = |sig: &str| {
        for i in c
            .state
            .instances
            .iter()
            .filter(|i| frozen.contains(&i.name))
        {
            let pid = i.pid.unwrap().to_string();
            assert!(std::process::Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success());
        }
    };
    signal("-STOP");
    let thawed = scopeguard(|| signal("-CONT"));
    wait_until(&c, Duration::from_secs(15), "served from dc-b", |s| {
        served_from(s, "dc-b") == 16384 && masters_in(s, "dc-b") == 3
    })
    .await;
    drop(thawed);
    wait_until(&c, Duration::from_secs(40), "failed back", |s| {
        masters_in(s, "dc-a") == 2 && masters_in(s, "dc-b") == 1 && links_up(s)
    })
    .await;
}

/// Runs `f` when dropped: frozen processes are thawed even when an assertion fails, so the
/// cluster guard can stop them.
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minority_zone_killed_is_failed_over_and_comes_back_as_replica() {
    let c = TestCluster::start("minority", SEED_MANIFEST).await.unwrap();
    let _engine = start_engine(&c, SEED_MANIFEST);
    kill_zone(&c.dir, "dc-b", FaultSignal::Kill).unwrap();
    wait_until(&c, Duration::from_secs(15), "served from dc-a", |s| {
        served_from(s, "dc-a") == 16384
    })
    .await;
    // dc-b comes back on new addresses (pods with new IPs): re-meshed, paired, failed back.
    restore_zone(&c.dir, "dc-b", true, &server_binary_for(&c.dir).unwrap())
        .await
        .unwrap();
    wait_until(&c, Duration::from_secs(40), "failed back", |s| {
        masters_in(s, "dc-a") == 2 && masters_in(s, "dc-b") == 1 && links_up(s)
    })
    .await;
    let check = cluster_check(&c, &c.state.instances[0].addr().to_string()).await;
    assert!(check.contains("[OK] All 16384 slots covered"), "{check}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_policy_takes_over_nothing_until_told() {
    let manifest = format!("{SEED_MANIFEST}  failover:\n    policy: Manual\n");
    let c = TestCluster::start("manual", &manifest).await.unwrap();
    let cluster = redis_stretch_api::load_manifest(&manifest).unwrap();
    let mut engine = Engine::new(
        cluster.spec(),
        c.password.clone(),
        EngineConfig::for_spec(cluster.spec()),
    );
    let platform = LocalPlatform { dir: c.dir.clone() };
    kill_zone(&c.dir, "dc-a", FaultSignal::Stop).unwrap();
    // Passes for well past confirmation: the engine reports what to run, promotes nobody.
    let start = Instant::now();
    let mut told = None;
    while start.elapsed() < Duration::from_secs(3) {
        let pass = engine.pass(&platform, Intent::Auto).await.unwrap();
        assert!(
            !pass.decision.actions().any(|a| a.kind() == "takeover"),
            "{:?}",
            pass.decision
        );
        told = pass.decision.waiting_for.clone();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(matches!(
        told,
        Some(Waiting::Human { ref command, .. }) if command == "redis-stretch takeover --zone dc-b"
    ));
    assert_eq!(served_from(&snapshot(&c).await, "dc-b"), 5462);

    // What `redis-stretch takeover --zone dc-b` runs.
    for _ in 0..10 {
        engine
            .pass(
                &platform,
                Intent::Takeover {
                    survivor: "dc-b".into(),
                },
            )
            .await
            .unwrap();
        if served_from(&snapshot(&c).await, "dc-b") == 16384 {
            break;
        }
    }
    assert_eq!(served_from(&snapshot(&c).await, "dc-b"), 16384);
}

async fn conn(
    c: &TestCluster,
    addr: &redis_stretch_admin::NodeAddr,
) -> redis::aio::MultiplexedConnection {
    let url = match &c.password {
        Some(p) => format!("redis://:{}@{addr}/", p.expose()),
        None => format!("redis://{addr}/"),
    };
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Issue 16, finding 1: a replica restarted empty and held in its first sync is the only copy
/// of M1's shard outside dc-a when dc-a goes dark. The engine refuses to promote it; Redis
/// must not elect it either (with `cluster-replica-validity-factor 0`, only
/// `cluster-replica-no-failover` stops it), or M1 comes back as its replica and is flushed:
/// every WAIT-acknowledged key of the shard gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_in_its_first_sync_is_never_elected_and_its_shard_keeps_every_key() {
    const KEYS: usize = 20_000;
    let c = TestCluster::start("stale", SEED_MANIFEST).await.unwrap();
    let _engine = start_engine(&c, SEED_MANIFEST);
    wait_until(&c, Duration::from_secs(10), "fenced", |s| {
        s.nodes.iter().all(|n| n.fence == Some(1))
    })
    .await;
    let s = snapshot(&c).await;
    let m1 = s
        .masters()
        .into_iter()
        .find(|m| m.zone == "dc-a")
        .cloned()
        .unwrap();
    let r1 = s
        .replicas_of(m1.id.as_deref().unwrap())
        .find(|r| r.zone == "dc-b")
        .cloned()
        .unwrap();
    let m1_addr = m1.addr.clone().unwrap();
    let mut m = conn(&c, &m1_addr).await;
    // A hash tag in M1's first slot, so that every key lives in that one shard.
    let first = m1.slots[0].start;
    let tag = (0..)
        .map(|i| format!("t{i}"))
        .find(|t| redis_stretch_drill::slots::slot_of(format!("{{{t}}}").as_bytes()) == first)
        .unwrap();
    let mut pipe = redis::pipe();
    for i in 0..KEYS {
        pipe.set(format!("{{{tag}}}:{i}"), i).ignore();
    }
    let () = pipe.query_async(&mut m).await.unwrap();
    let acked: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(5000)
        .query_async(&mut m)
        .await
        .unwrap();
    assert_eq!(acked, 1, "the {KEYS} keys are acknowledged by R1");

    // R1 restarts empty (persistence off), and dc-a goes dark before its first sync can
    // finish: a replica caught in its first sync when the DC holding its master is lost. (The
    // sync is not held by a long `repl-diskless-sync-delay` on M1 any more: the engine's live
    // config puts the spec's value back within a pass.)
    let r1_name = r1.name.clone().unwrap();
    redis_stretch_local::kill_instance(&c.dir, &r1_name, FaultSignal::Kill).unwrap();
    // Empty: without the RDB its last sync left on disk (a new pod, a lost volume); with it,
    // R1 would resume with a partial sync.
    let r1_dir = &c
        .state
        .instances
        .iter()
        .find(|i| i.name == r1_name)
        .unwrap()
        .data_dir;
    let _ = std::fs::remove_file(r1_dir.join("dump.rdb"));
    kill_zone(&c.dir, "dc-a", FaultSignal::Stop).unwrap();
    restore_zone(&c.dir, "dc-b", false, &server_binary_for(&c.dir).unwrap())
        .await
        .unwrap();
    wait_until(&c, Duration::from_secs(10), "R1 back, not synced", |s| {
        s.nodes
            .iter()
            .any(|n| n.name.as_deref() == Some(&r1_name) && n.reachable && n.is_stale_replica())
    })
    .await;

    // The engine takes over M2's shard; with M3 that is a majority again, so Redis marks M1
    // failed and would elect R1 within node-timeout plus its election delay.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8) {
        let s = snapshot(&c).await;
        let r1_now = s
            .nodes
            .iter()
            .find(|n| n.name.as_deref() == Some(&r1_name))
            .unwrap();
        assert!(
            !r1_now.owns_slots(),
            "R1, empty, was elected master at +{:?}:\n{}",
            start.elapsed(),
            brief(&s)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    restore_zone(&c.dir, "dc-a", false, &server_binary_for(&c.dir).unwrap())
        .await
        .unwrap();
    wait_until(&c, Duration::from_secs(40), "failed back, in sync", |s| {
        masters_in(s, "dc-a") == 2 && masters_in(s, "dc-b") == 1 && links_up(s)
    })
    .await;
    let s = snapshot(&c).await;
    let owner = s
        .masters()
        .into_iter()
        .find(|m| m.slots.iter().any(|r| r.start <= first && first <= r.end))
        .cloned()
        .unwrap();
    let mut o = conn(&c, owner.addr.as_ref().unwrap()).await;
    let kept: i64 = redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(first)
        .query_async(&mut o)
        .await
        .unwrap();
    assert_eq!(
        kept, KEYS as i64,
        "every acknowledged key of M1's shard is kept"
    );
}

/// Engine passes over `c` with `password` for `long`; the last one.
async fn passes(engine: &mut Engine, c: &TestCluster, long: Duration) -> Pass {
    let platform = LocalPlatform { dir: c.dir.clone() };
    let start = Instant::now();
    loop {
        let pass = engine.pass(&platform, Intent::Auto).await.unwrap();
        if start.elapsed() >= long {
            return pass;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Issue 16, finding 4: the servers' password changes and the engine still has the old one.
/// Every instance answers, with an error: no zone is dark (the engine is not cut off), status
/// says what they answer, and a real DC loss afterwards is seen as one. Given the servers'
/// password, the engine takes that DC over at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_that_refuse_the_engines_password_are_alive_and_say_why() {
    let c = TestCluster::start("password", SEED_MANIFEST).await.unwrap();
    let cluster = redis_stretch_api::load_manifest(SEED_MANIFEST).unwrap();
    let new = redis_stretch_admin::Secret::new("rotated-by-hand");
    for i in &c.state.instances {
        let admin = redis_stretch_admin::AdminClient::connect(
            &i.addr(),
            c.password.as_ref(),
            redis_stretch_admin::DEFAULT_TIMEOUT,
        )
        .await
        .unwrap();
        admin.config_set("masterauth", new.expose()).await.unwrap();
        admin.config_set("requirepass", new.expose()).await.unwrap();
    }
    let cfg = EngineConfig::for_spec(cluster.spec());
    let confirm = cfg.confirm;
    let mut old = Engine::new(cluster.spec(), c.password.clone(), cfg.clone());
    let pass = passes(&mut old, &c, confirm + Duration::from_millis(500)).await;
    assert!(pass.zones.all_healthy(), "{:?}", pass.zones);
    assert!(
        matches!(pass.decision.waiting_for, Some(Waiting::Refused { .. })),
        "{:?}",
        pass.decision
    );
    assert!(
        pass.snapshot.nodes.iter().all(|n| n.refuses),
        "{}",
        brief(&pass.snapshot)
    );
    let said = old.status(&pass).notes.join("\n");
    assert!(said.contains("password"), "{said}");
    assert!(
        said.contains("NOAUTH") || said.contains("WRONGPASS") || said.contains("uthentication"),
        "{said}"
    );

    kill_zone(&c.dir, "dc-a", FaultSignal::Stop).unwrap();
    let pass = passes(&mut old, &c, confirm + Duration::from_millis(500)).await;
    assert_eq!(pass.zones.dark(), vec!["dc-a"], "{:?}", pass.zones);
    assert!(pass.results.is_empty());

    // The engine given the servers' password takes the dark DC over.
    let mut right = Engine::new(cluster.spec(), Some(new.clone()), cfg);
    let platform = LocalPlatform { dir: c.dir.clone() };
    let start = Instant::now();
    loop {
        let pass = right.pass(&platform, Intent::Auto).await.unwrap();
        if served_from(&pass.snapshot, "dc-b") == 16384 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{}",
            brief(&pass.snapshot)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The engine killed between any two steps of a takeover: a new engine finishes the job and
/// nothing is done twice with harm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_killed_mid_takeover_converges_on_restart() {
    let c = TestCluster::start("crash", SEED_MANIFEST).await.unwrap();
    let cluster = redis_stretch_api::load_manifest(SEED_MANIFEST).unwrap();
    let policy = Policy::from_spec(cluster.spec());
    kill_zone(&c.dir, "dc-a", FaultSignal::Stop).unwrap();
    let pool = Pool::new(c.password.clone(), Duration::from_millis(250));
    let s = observe(&c.instances(), &c.state.zones, &pool).await;
    let zones = ZoneStates::of([
        ("dc-a".to_owned(), ZoneState::Dark { silent_ms: 1000 }),
        ("dc-b".to_owned(), ZoneState::Healthy),
    ]);
    let full = decide(&Input {
        snapshot: &s,
        zones: &zones,
        policy: &policy,
        intent: Intent::Auto,
        held_zone: None,
        hold_down: None,
        bumped: &[],
        failovers_pending: &[],
        silent: &[],
        now_ms: redis_stretch_engine::unix_ms(),
        partition: None,
        promoted: &[],
        stale: &[],
        healthy_for_ms: u64::MAX,
        rollout: None,
        migration: None,
    });
    // Crash after any steps before the takeovers (unfences, when fenced) and, within the
    // takeover step, after its first action.
    let t = full
        .steps
        .iter()
        .position(|st| st.iter().any(|a| a.kind() == "takeover"))
        .unwrap_or_else(|| panic!("no takeover in {full:?}"));
    assert!(full.steps[t].len() >= 2, "{full:?}");
    let mut steps: Vec<_> = full.steps[..t].to_vec();
    steps.push(full.steps[t][..1].to_vec());
    let partial = Decision {
        steps,
        ..Decision::default()
    };
    let platform = redis_stretch_local::LocalPlatform { dir: c.dir.clone() };
    let done = act(&partial, &pool, &platform).await;
    assert!(done.iter().all(|o| o.ok), "{done:?}");

    // A new engine (fresh memory, must confirm dark again) converges.
    let mut engine = Engine::new(
        cluster.spec(),
        c.password.clone(),
        EngineConfig::for_spec(cluster.spec()),
    );
    let platform = LocalPlatform { dir: c.dir.clone() };
    let promoted_before = full.steps[t][0].node.clone();
    let mut again = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        let pass = engine.pass(&platform, Intent::Auto).await.unwrap();
        again += pass
            .results
            .iter()
            .filter(|r| r.action.is_promotion() && r.action.node == promoted_before)
            .count();
        if served_from(&pass.snapshot, "dc-b") == 16384 && pass.decision.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(served_from(&snapshot(&c).await, "dc-b"), 16384);
    // The shard promoted before the crash is never promoted again. (The other one is either
    // promoted by the new engine, or elected by Redis itself once R1's takeover gave the
    // survivors a majority again — both fine.)
    assert_eq!(again, 0);
}

/// Valkey instances report the zone they run in as `availability-zone` (local mode writes it
/// into their config), and the engine puts it right when it is not (on Kubernetes it is the
/// only way a seed-compatible pod learns it). Runs on Valkey in both runs of the suite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valkey_instances_report_their_zone() {
    if redis_stretch_local::find_server(ServerFlavour::Valkey).is_err() {
        eprintln!("skipped: no valkey-server (scripts/deps.sh fetches it on x86_64)");
        return;
    }
    let c = TestCluster::start_on("az", SEED_MANIFEST, ServerFlavour::Valkey)
        .await
        .unwrap();
    let s = snapshot(&c).await;
    for n in &s.nodes {
        assert_eq!(n.server, Some(ServerFlavour::Valkey), "{n:?}");
        // `availability-zone` is Valkey 8.0+; the suite runs 8.1 and 9.1.
        let major = n
            .version
            .as_deref()
            .and_then(|v| v.split('.').next()?.parse::<u32>().ok());
        assert!(major.is_some_and(|m| m >= 8), "{n:?}");
        assert_eq!(
            n.availability_zone.as_deref(),
            Some(n.zone.as_str()),
            "{n:?}"
        );
    }
    // Told a wrong zone, an instance is corrected by the engine's next passes.
    let wrong = c.state.instances[0].clone();
    let admin = redis_stretch_admin::AdminClient::connect(
        &wrong.addr(),
        c.password.as_ref(),
        redis_stretch_admin::DEFAULT_TIMEOUT,
    )
    .await
    .unwrap();
    admin
        .config_set("availability-zone", "elsewhere")
        .await
        .unwrap();
    let cluster = redis_stretch_api::load_manifest(SEED_MANIFEST).unwrap();
    let mut engine = Engine::new(
        cluster.spec(),
        c.password.clone(),
        EngineConfig::for_spec(cluster.spec()),
    );
    let platform = LocalPlatform { dir: c.dir.clone() };
    let start = Instant::now();
    loop {
        engine.pass(&platform, Intent::Auto).await.unwrap();
        let zone = admin.config_get("availability-zone").await.unwrap();
        if zone.as_deref() == Some(wrong.zone.as_str()) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still {zone:?} on {}",
            wrong.name
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The engine dies, then the zone holding most masters dies with it (SIGKILL), and a new
/// engine starts 5 s later: it knows nothing of the loss but what Redis tells it, and that is
/// enough — the survivors' last PONGs date the loss, so the replicas whose links broke then
/// are current copies and are taken over. (The engine used to wait for dc-a forever.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_started_after_the_loss_takes_over() {
    let c = TestCluster::start("late", SEED_MANIFEST).await.unwrap();
    let cluster = redis_stretch_api::load_manifest(SEED_MANIFEST).unwrap();
    let platform = LocalPlatform { dir: c.dir.clone() };
    let engine = || {
        Engine::new(
            cluster.spec(),
            c.password.clone(),
            EngineConfig::for_spec(cluster.spec()),
        )
    };
    // The first engine settles the cluster (fences on), then is gone without a word.
    let mut first = engine();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        let pass = first.pass(&platform, Intent::Auto).await.unwrap();
        if pass.decision.is_settled() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(first);
    kill_zone(&c.dir, "dc-a", FaultSignal::Kill).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(served_from(&snapshot(&c).await, "dc-b") < 16384);

    let mut second = engine();
    let start = Instant::now();
    loop {
        let pass = second.pass(&platform, Intent::Auto).await.unwrap();
        if served_from(&pass.snapshot, "dc-b") == 16384 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no takeover: {:?} {:?}",
            pass.decision.waiting_for,
            pass.decision.notes
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
