//! The ZoneAware placement on a real control plane: one StatefulSet per DC, each pod required
//! to its zone and never beside another Redis pod of the cluster. On the seed's six nodes every
//! pod gets its own node in its own DC, the operator forms 2 masters in dc-a and 1 in dc-b with
//! every replica across, and the time from `apply` to condition Ready is measured.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use redis_stretch_e2e::env::{placement, seed_layout};
use redis_stretch_e2e::{init_tracing, Env};
use serde_json::{json, Value};

const NS: &str = "redis";

/// examples/k8s/zone-aware.yaml, with two changes this control plane needs: no persistence (no
/// storage provisioner runs, so a claim would never bind) and the generated auth Secret.
fn manifest() -> Value {
    let path = redis_stretch_e2e::repo_root().join("examples/k8s/zone-aware.yaml");
    let mut m: Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    m["spec"]["redis"]["persistence"] = json!({"enabled": false});
    m["spec"]["auth"] = json!({"enabled": true});
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn zone_aware_one_pod_per_node_two_masters_in_dc_a() {
    init_tracing();
    let Some(mut env) = Env::start("zone-aware", NS).await.unwrap() else {
        return;
    };
    env.start_kubelet().await.unwrap();
    env.start_operator().unwrap();
    let applied = Instant::now();
    env.apply(&manifest()).await.unwrap();
    let pods = env
        .ready_pods(NS, "orders", 6, Duration::from_secs(300))
        .await
        .unwrap();
    let pods_ready = applied.elapsed();
    env.wait_condition(NS, "orders", "Ready", "True", Duration::from_secs(180))
        .await
        .unwrap();
    let ready = applied.elapsed();
    eprintln!(
        "zone-aware: 6 pods ready {:.1}s after apply, condition Ready after {:.1}s",
        pods_ready.as_secs_f64(),
        ready.as_secs_f64()
    );

    // One pod per node, each StatefulSet's pods in its own zone.
    let placed = placement(&pods);
    eprintln!("zone-aware: placement (spec.nodeName) {placed:?}");
    let nodes: BTreeSet<&String> = placed.values().collect();
    assert_eq!(nodes.len(), 6, "two pods share a node: {placed:?}");
    let zones = env.node_zones().await.unwrap();
    for (pod, node) in &placed {
        let zone = &zones[node];
        assert!(
            pod.starts_with(&format!("orders-{zone}-")),
            "{pod} is on {node} in {zone}"
        );
    }

    assert_eq!(
        env.masters_by_zone(NS, "orders", &pods).await.unwrap(),
        seed_layout()
    );
}
