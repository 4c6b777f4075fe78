#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Our cluster check against a real local cluster (127.0.0.0/8 only), with
//! `redis-cli --cluster check` as an independent oracle: both must call a healthy cluster
//! healthy, and both must see a slot left open.

use std::process::{Command, Stdio};

use redis_stretch_admin::{AdminClient, NodeAddr, ServerFlavour, DEFAULT_TIMEOUT};
use redis_stretch_drill::{check_cluster, cluster_check};
use redis_stretch_local::testing::{test_server, TestCluster, SEED_MANIFEST};

/// The oracle: `redis-cli --cluster check`, password through the environment.
fn redis_cli_check(addr: &NodeAddr, tc: &TestCluster) -> String {
    let mut cmd = Command::new(ServerFlavour::Redis.cli_binary());
    cmd.args(["--cluster", "check", &addr.to_string()])
        .stdin(Stdio::null());
    match &tc.password {
        Some(p) => cmd.env("REDISCLI_AUTH", p.expose()),
        None => cmd.env_remove("REDISCLI_AUTH"),
    };
    let out = cmd.output().expect("redis-cli runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn setslot(addr: &NodeAddr, tc: &TestCluster, args: &[&str]) {
    let mut url = format!("redis://{addr}");
    if let Some(p) = &tc.password {
        url = format!("redis://:{}@{addr}", p.expose());
    }
    let mut c = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(args)
        .query_async(&mut c)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_check_agrees_with_redis_cli_and_sees_open_slots() {
    let tc = TestCluster::start("drill-check", SEED_MANIFEST)
        .await
        .unwrap();
    let pw = tc.password.as_ref();
    let seed = tc.state.instances[0].addr();
    assert!(seed.host.starts_with("127."), "{seed}");

    // Healthy: both say so, from every node.
    let oracle = redis_cli_check(&seed, &tc);
    assert!(
        oracle.contains("[OK] All nodes agree about slots configuration")
            && oracle.contains("[OK] All 16384 slots covered")
            && !oracle.contains("[ERR]"),
        "{oracle}"
    );
    for i in &tc.state.instances {
        let check = check_cluster(&i.addr(), pw).await;
        assert!(check.is_clean(), "from {}: {check:?}", i.addr());
        assert_eq!(check.nodes_checked, tc.state.instances.len(), "{check:?}");
        assert!(check.notes.is_empty(), "{check:?}");
    }
    let (clean, summary) = cluster_check(&seed, pw).await;
    assert!(clean, "{summary}");
    assert_eq!(summary, "all 16384 slots covered; all nodes agree");

    // Every node says it is the server under test, with a version.
    for i in &tc.state.instances {
        let c = AdminClient::connect(&i.addr(), pw, DEFAULT_TIMEOUT)
            .await
            .unwrap();
        let s = c.info_server().await.unwrap();
        assert_eq!(s.flavour, test_server(), "{}: {s:?}", i.addr());
        assert!(s.version.starts_with(|c: char| c.is_ascii_digit()), "{s:?}");
    }

    // Slot 42 left migrating on its owner: both notice.
    let nodes = AdminClient::connect(&seed, pw, DEFAULT_TIMEOUT)
        .await
        .unwrap()
        .cluster_nodes()
        .await
        .unwrap();
    let owner = nodes
        .nodes
        .iter()
        .find(|n| n.slots.iter().any(|r| r.start <= 42 && 42 <= r.end))
        .unwrap();
    let other = nodes
        .nodes
        .iter()
        .find(|n| n.flags.master && n.id != owner.id)
        .unwrap();
    let owner_addr = owner.addr.clone().unwrap();
    setslot(&owner_addr, &tc, &["42", "MIGRATING", &other.id]).await;
    let check = check_cluster(&seed, pw).await;
    assert!(!check.is_clean(), "{check:?}");
    assert!(
        check
            .problems
            .iter()
            .any(|p| p.contains(&format!("{owner_addr}: open")) && p.contains("42")),
        "{check:?}"
    );
    let oracle = redis_cli_check(&seed, &tc);
    assert!(
        oracle.contains("slots are open") && oracle.contains("42"),
        "{oracle}"
    );

    // Closed again: clean again.
    setslot(&owner_addr, &tc, &["42", "STABLE"]).await;
    let check = check_cluster(&seed, pw).await;
    assert!(check.is_clean(), "{check:?}");

    // A node that is not there at all: the check says so instead of hanging.
    let check = check_cluster(&NodeAddr::new("127.0.0.1", 1), pw).await;
    assert!(!check.is_clean());
    assert!(
        check.problems[0].starts_with("cannot check via 127.0.0.1:1"),
        "{check:?}"
    );
}
