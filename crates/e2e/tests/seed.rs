//! The recipe's cluster on a real control plane: the seed's six nodes (test kubelet), the real
//! scheduler places the SeedCompatible StatefulSets as the recipe says, read from the API's
//! `spec.nodeName`; the real StatefulSet controller creates the pods one by one as the test
//! kubelet reports them Ready; `redis-stretch operator` (the binary, outside the cluster, with
//! a kubeconfig) forms the cluster with every master's replica in the other DC.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use redis_stretch_e2e::env::{placement, seed_layout};
use redis_stretch_e2e::{init_tracing, Env};
use serde_json::Value;

const NS: &str = "redis";

/// The recipe's placement: leaders on the `az1` nodes 01, 02, 06, followers on the `az2`
/// nodes 03, 04, 05, one pod per node. Which ordinal lands where is not the recipe's weight
/// order: the default scheduler's system topology spreading (zone, then hostname) weighs in, so
/// leader-1 goes to the other DC's 06 (as `redis-stretch plan` predicts); only the sets are the
/// recipe's promise.
const LEADER_NODES: [&str; 3] = ["k8s-node-01", "k8s-node-02", "k8s-node-06"];
const FOLLOWER_NODES: [&str; 3] = ["k8s-node-03", "k8s-node-04", "k8s-node-05"];

fn seed_manifest() -> Value {
    let path = redis_stretch_e2e::repo_root().join("examples/k8s/seed.yaml");
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Nodes of the pods of one StatefulSet (`seed-leader-*`), sorted.
fn nodes_of(placed: &BTreeMap<String, String>, set: &str) -> Vec<String> {
    let mut n: Vec<String> = placed
        .iter()
        .filter(|(pod, _)| pod.starts_with(&format!("seed-{set}-")))
        .map(|(_, node)| node.clone())
        .collect();
    n.sort();
    n
}

/// The seed cluster, from `apply` to Ready, with the nodes registered before the resource
/// (`nodes_first`) or after it (pods wait Pending until the nodes come).
async fn seed(name: &str, nodes_first: bool) {
    init_tracing();
    let Some(mut env) = Env::start(name, NS).await.unwrap() else {
        return;
    };
    if nodes_first {
        env.start_kubelet().await.unwrap();
    }
    env.start_operator().unwrap();
    let applied = Instant::now();
    env.apply(&seed_manifest()).await.unwrap();
    if !nodes_first {
        // Let the operator apply and the scheduler find no node first.
        tokio::time::sleep(Duration::from_secs(3)).await;
        env.start_kubelet().await.unwrap();
    }

    let pods = env
        .ready_pods(NS, "seed", 6, Duration::from_secs(300))
        .await
        .unwrap();
    let all_ready = applied.elapsed();
    let placed = placement(&pods);
    eprintln!("{name}: placement (spec.nodeName) {placed:?}");
    assert_eq!(
        nodes_of(&placed, "leader"),
        LEADER_NODES,
        "leaders: {placed:?}"
    );
    assert_eq!(
        nodes_of(&placed, "follower"),
        FOLLOWER_NODES,
        "followers: {placed:?}"
    );

    env.wait_condition(NS, "seed", "Ready", "True", Duration::from_secs(180))
        .await
        .unwrap();
    eprintln!(
        "{name}: 6 pods ready {:.1}s after apply, condition Ready after {:.1}s; operator RSS {:?} KiB",
        all_ready.as_secs_f64(),
        applied.elapsed().as_secs_f64(),
        env.operator.as_ref().and_then(|o| o.rss_kib())
    );

    // Redis itself: 3 masters with slots, 2 in dc-a and 1 in dc-b as preferred, each with a
    // replica in the other DC.
    assert_eq!(
        env.masters_by_zone(NS, "seed", &pods).await.unwrap(),
        seed_layout()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_compatible_with_nodes_registered_first() {
    seed("seed-nodes-first", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_compatible_with_nodes_registered_after_the_resource() {
    seed("seed-nodes-after", false).await;
}
