//! The Redis container's preStop hook, run for real: the script exactly as the StatefulSet
//! renders it, with `sh -c`, against a 3-master/3-replica Redis Cluster on loopback.

// Test-only file: helpers outside #[test] fns may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Output};

use redis_stretch_k8s::cluster::parse;
use redis_stretch_k8s::render;
use redis_stretch_local::testing::{TestCluster, SEED_MANIFEST};
use redis_stretch_local::{kill_zone, FaultSignal};

/// The hook's script, taken from a rendered StatefulSet rather than from the constant, so that
/// what runs here is what a pod runs.
fn rendered_script() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/k8s/zone-aware.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let r = render(&parse(&text).unwrap()).unwrap();
    let sts = serde_json::to_value(&r.stateful_sets[0]).unwrap();
    let command = &sts["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"]["exec"]
        ["command"];
    assert_eq!(command[0], "sh");
    assert_eq!(command[1], "-c");
    command[2].as_str().unwrap().to_owned()
}

fn password(c: &TestCluster) -> String {
    c.password
        .as_ref()
        .map(|p| p.expose().to_owned())
        .unwrap_or_default()
}

/// `redis-cli` against one instance; the password through the environment, as in a pod.
fn cli(c: &TestCluster, addr: &(String, u16), args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", &addr.0, "-p", &addr.1.to_string()])
        .args(args)
        .env("REDISCLI_AUTH", password(c))
        .output()
        .unwrap();
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn role(c: &TestCluster, addr: &(String, u16)) -> String {
    cli(c, addr, &["ROLE"])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// One line of `CLUSTER NODES`: the node's address and, for a replica, its master's id.
struct Node {
    id: String,
    addr: (String, u16),
    master_id: Option<String>,
    slots: Vec<String>,
}

fn cluster_nodes(c: &TestCluster, via: &(String, u16)) -> Vec<Node> {
    cli(c, via, &["CLUSTER", "NODES"])
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let hostport = f[1].split('@').next().unwrap();
            let (host, port) = hostport.rsplit_once(':').unwrap();
            Node {
                id: f[0].to_owned(),
                addr: (host.to_owned(), port.parse().unwrap()),
                master_id: (f[3] != "-").then(|| f[3].to_owned()),
                slots: f[8..].iter().map(|s| (*s).to_owned()).collect(),
            }
        })
        .collect()
}

/// A master in `zone` that serves slots, and its replica.
fn master_and_replica(c: &TestCluster, zone: &str) -> (Node, Node) {
    let inst = &c.state.instances[0];
    let nodes = cluster_nodes(c, &(inst.host.clone(), inst.port));
    let in_zone: Vec<(String, u16)> = c
        .state
        .instances
        .iter()
        .filter(|i| i.zone == zone)
        .map(|i| (i.host.clone(), i.port))
        .collect();
    let master_pos = nodes
        .iter()
        .position(|n| n.master_id.is_none() && !n.slots.is_empty() && in_zone.contains(&n.addr))
        .unwrap_or_else(|| panic!("no master serving slots in {zone}"));
    let mut nodes = nodes;
    let master = nodes.remove(master_pos);
    let replica_pos = nodes
        .iter()
        .position(|n| n.master_id.as_deref() == Some(master.id.as_str()))
        .unwrap_or_else(|| panic!("master {} has no replica", master.id));
    let replica = nodes.remove(replica_pos);
    (master, replica)
}

/// Run the hook as the kubelet would, for the instance at `addr`.
fn run_pre_stop(c: &TestCluster, addr: &(String, u16)) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(rendered_script())
        .env("REDIS_HOST", &addr.0)
        .env("REDIS_PORT", addr.1.to_string())
        .env("REDIS_PASSWORD", password(c))
        .env_remove("REDISCLI_AUTH")
        .env_remove("REDIS_TLS_CA_FILE")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_hands_its_slots_to_its_replica() {
    let c = TestCluster::start("prestop-handover", SEED_MANIFEST)
        .await
        .unwrap();
    let (master, replica) = master_and_replica(&c, "dc-a");
    assert_eq!(role(&c, &master.addr), "master");
    assert_eq!(role(&c, &replica.addr), "slave");

    let out = run_pre_stop(&c, &master.addr);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{out:?}");
    assert!(stderr.contains("handover done"), "{stderr}");

    // The former replica is the master now, with the slots; the hook's instance follows it.
    assert_eq!(role(&c, &replica.addr), "master", "{stderr}");
    assert_eq!(role(&c, &master.addr), "slave", "{stderr}");
    // Each as it sees itself: the others learn of the change by gossip, a moment later.
    let promoted = cluster_nodes(&c, &replica.addr)
        .into_iter()
        .find(|n| n.id == replica.id)
        .unwrap();
    assert_eq!(promoted.slots, master.slots);
    let demoted = cluster_nodes(&c, &master.addr)
        .into_iter()
        .find(|n| n.id == master.id)
        .unwrap();
    assert_eq!(demoted.master_id.as_deref(), Some(replica.id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_stops_at_once_without_a_handover() {
    let c = TestCluster::start("prestop-replica", SEED_MANIFEST)
        .await
        .unwrap();
    let (master, replica) = master_and_replica(&c, "dc-b");

    let out = run_pre_stop(&c, &replica.addr);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    assert_eq!(role(&c, &master.addr), "master");
    assert_eq!(role(&c, &replica.addr), "slave");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_without_a_healthy_replica_stops_without_waiting() {
    let c = TestCluster::start("prestop-no-replica", SEED_MANIFEST)
        .await
        .unwrap();
    // Every master in dc-a has its replica in dc-b; freezing dc-b leaves replicas that accept
    // connections in their kernel and never answer: the case the per-call watchdog is for.
    let (master, _replica) = master_and_replica(&c, "dc-a");
    kill_zone(&c.dir, "dc-b", FaultSignal::Stop).unwrap();

    let out = run_pre_stop(&c, &master.addr);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{out:?}");
    assert!(stderr.contains("no healthy replica"), "{stderr}");
    assert_eq!(role(&c, &master.addr), "master");
    // The guard stops the frozen processes too (SIGCONT, then SIGTERM).
}
