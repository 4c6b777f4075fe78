#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Local mode against real redis-server processes.

use std::process::Command;
use std::time::Duration;

use redis_stretch_admin::{AdminClient, Secret};
use redis_stretch_api::load_manifest;
use redis_stretch_engine::{observe, Pool};
use redis_stretch_local::testing::{test_server, unique_state_dir, TestCluster, SEED_MANIFEST};
use redis_stretch_local::{
    down, find_server, is_running, up, LocalError, ProcessStatus, UpOptions, UpOutcome,
};
use redis_stretch_topology::{Role, Verdict};

fn cluster_check(addr: &str, password: Option<&Secret>) -> String {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["--cluster", "check", addr]);
    if let Some(p) = password {
        cmd.env("REDISCLI_AUTH", p.expose());
    }
    let out = cmd.output().expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn seed_cluster_comes_up_failover_ready_and_goes_down_cleanly() {
    let c = TestCluster::start("seed", SEED_MANIFEST).await.unwrap();
    let zones = c.state.zones.clone();
    let pool = Pool::new(c.password.clone(), Duration::from_secs(1));
    let snap = observe(&c.instances(), &zones, &pool).await;

    // Every node answers, agrees the cluster is ok, every replica's link is up.
    assert_eq!(snap.nodes.len(), 6);
    for n in &snap.nodes {
        assert!(n.reachable, "{n:?}");
        assert_eq!(n.cluster_state, Some(redis_stretch_admin::ClusterState::Ok));
        if n.role == Some(Role::Replica) {
            assert_eq!(n.link_up, Some(true), "{n:?}");
        }
    }
    // 2 masters in dc-a, 1 in dc-b, each master's replica in the other zone.
    let masters = snap.masters();
    let in_a = masters.iter().filter(|m| m.zone == "dc-a").count();
    assert_eq!((masters.len(), in_a), (3, 2));
    for m in &masters {
        let id = m.id.as_deref().unwrap();
        let replicas: Vec<_> = snap.replicas_of(id).collect();
        assert_eq!(replicas.len(), 1);
        assert_ne!(replicas[0].zone, m.zone);
    }
    assert_eq!(snap.slots_covered(), 16384);
    let v = snap.verdicts();
    assert_eq!(v[0].verdict, Verdict::NeedsTakeover);
    assert_eq!(v[1].verdict, Verdict::Automatic);

    // Independent check by Redis's own tool, from a replica.
    let replica = snap
        .nodes
        .iter()
        .find(|n| n.role == Some(Role::Replica))
        .unwrap();
    let check = cluster_check(
        &replica.addr.as_ref().unwrap().to_string(),
        c.password.as_ref(),
    );
    assert!(check.contains("[OK] All 16384 slots covered"), "{check}");
    assert!(
        check.contains("[OK] All nodes agree about slots configuration"),
        "{check}"
    );

    // Bootstrap ran at a short node-timeout to skip Redis's rejoin delay; the spec's is back.
    for i in &c.state.instances {
        let client = AdminClient::connect(&i.addr(), c.password.as_ref(), Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(
            client
                .config_get("cluster-node-timeout")
                .await
                .unwrap()
                .as_deref(),
            Some("2000")
        );
    }

    // Auth is on: a client without the password is refused.
    let first = c.state.instances[0].addr();
    let anon = AdminClient::connect(&first, None, Duration::from_secs(1)).await;
    let refused = match anon {
        Err(_) => true,
        Ok(client) => client.ping().await.is_err(),
    };
    assert!(refused, "a client without the password must be refused");

    let instances = c.state.instances.clone();
    let report = down(&c.dir, false).unwrap();
    assert_eq!(report.stopped.len(), 6);
    assert!(instances
        .iter()
        .all(|i| is_running(i) == ProcessStatus::Gone));
    assert!(!c.dir.exists());
}

#[tokio::test]
async fn two_clusters_live_side_by_side_and_up_adopts_a_running_one() {
    let (a, b) = tokio::join!(
        TestCluster::start("side-a", SEED_MANIFEST),
        TestCluster::start("side-b", SEED_MANIFEST)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let addrs = |c: &TestCluster| {
        c.state
            .instances
            .iter()
            .map(|i| i.addr())
            .collect::<Vec<_>>()
    };
    let (aa, ab) = (addrs(&a), addrs(&b));
    assert!(aa.iter().all(|x| !ab.contains(x)), "{aa:?} vs {ab:?}");

    // `up` on a state dir whose cluster runs adopts it and starts nothing.
    let cluster = load_manifest(SEED_MANIFEST).unwrap();
    let opts = UpOptions {
        state_dir: a.dir.clone(),
        redis_server: find_server(test_server()).unwrap(),
        ready_timeout: Duration::from_secs(10),
        manifest_yaml: SEED_MANIFEST.to_owned(),
    };
    match up(&cluster, &opts).await.unwrap() {
        UpOutcome::Adopted { state } => assert_eq!(state.instances, a.state.instances),
        other => panic!("expected adoption, got {other:?}"),
    }
}

#[tokio::test]
async fn a_failed_start_stops_everything_it_started() {
    // A redis-server stand-in that works for every instance but the last one.
    let dir = tempfile::tempdir().unwrap();
    let real = find_server(test_server()).unwrap();
    // Named as the real binary: `is_running` knows a server by its binary's name.
    let fake = dir.path().join(test_server().server_binary());
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\ncase \"$1\" in *dc-b-2*) echo 'refusing to start (test)'; exit 1;; esac\nexec {} \"$@\"\n",
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let state_dir = unique_state_dir("failed");
    let opts = UpOptions {
        state_dir: state_dir.clone(),
        redis_server: fake,
        ready_timeout: Duration::from_secs(10),
        manifest_yaml: SEED_MANIFEST.to_owned(),
    };
    let cluster = load_manifest(SEED_MANIFEST).unwrap();
    // Watch the state file to learn the PIDs that were started before the failure.
    let watcher = {
        let path = state_dir.path().join("state.json");
        tokio::spawn(async move {
            let mut last = String::new();
            for _ in 0..500 {
                if let Ok(t) = std::fs::read_to_string(&path) {
                    last = t;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            last
        })
    };
    let err = up(&cluster, &opts).await.unwrap_err();
    match &err {
        LocalError::StartFailed { name, tail, .. } => {
            assert_eq!(name, "dc-b-2");
            assert!(tail.contains("refusing to start"), "{tail}");
        }
        other => panic!("expected StartFailed, got {other}"),
    }
    assert!(!state_dir.exists(), "state dir must be removed");
    let seen: redis_stretch_local::State = serde_json::from_str(&watcher.await.unwrap()).unwrap();
    let started: Vec<_> = seen.instances.iter().filter(|i| i.pid.is_some()).collect();
    assert!(started.len() >= 5, "{started:?}");
    for i in started {
        assert_eq!(is_running(i), ProcessStatus::Gone, "{} still runs", i.name);
    }
}
