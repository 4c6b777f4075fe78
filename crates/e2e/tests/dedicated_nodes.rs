//! A dedicated node pool on a real control plane (issue 19): six of twelve nodes, three per
//! DC, are labelled `node-pool=redis` and tainted `dedicated=redis:NoSchedule`; the other six
//! are plain and could hold every pod. The resource's pod template tolerates the taint and
//! selects the pool (with a PriorityClass, pull secrets, a pull policy and a label of its own),
//! and the real scheduler puts every Redis pod on the pool only, still one per node and in its
//! own zone. The resource sets no `maxmemory`: every instance runs with 70% of the 1Gi memory
//! limit, and the engine keeps it (the derived value is the spec's live setting, never undone).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::PostParams;
use kube::Api;
use redis_stretch_admin::{AdminClient, NodeAddr};
use redis_stretch_e2e::env::{placement, seed_layout, zone_of_ip, ZONE_LABEL};
use redis_stretch_e2e::kubelet::{scale_nodes, taint};
use redis_stretch_e2e::{init_tracing, Env};
use serde_json::{json, Value};

const NS: &str = "redis";
const POOL: [&str; 6] = [
    "k8s-node-07",
    "k8s-node-08",
    "k8s-node-09",
    "k8s-node-10",
    "k8s-node-11",
    "k8s-node-12",
];

/// examples/k8s/zone-aware.yaml without persistence (no provisioner here), with a generated
/// password, no `maxmemory`, and the pod template for the pool.
fn manifest() -> Value {
    let path = redis_stretch_e2e::repo_root().join("examples/k8s/zone-aware.yaml");
    let cr = redis_stretch_k8s::cluster::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut m = serde_json::to_value(cr).unwrap();
    m.as_object_mut().unwrap().remove("status");
    m["spec"]["redis"]["persistence"] = json!({"enabled": false});
    m["spec"]["redis"]
        .as_object_mut()
        .unwrap()
        .remove("maxmemory");
    m["spec"]["auth"] = json!({"enabled": true});
    m["spec"]["kubernetes"]["pod"] = json!({
        "nodeSelector": {"node-pool": "redis"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "redis", "effect": "NoSchedule"}],
        "labels": {"team": "payments"},
        "priorityClassName": "redis-critical",
        "imagePullSecrets": [{"name": "mirror"}],
        "imagePullPolicy": "IfNotPresent",
    });
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tolerations_and_node_selector_put_every_pod_on_the_dedicated_pool() {
    init_tracing();
    let Some(mut env) = Env::start("dedicated-nodes", NS).await.unwrap() else {
        return;
    };
    let priority: PriorityClass = serde_json::from_value(json!({
        "metadata": {"name": "redis-critical"},
        "value": 1_000_000,
        "description": "Redis pods of the dedicated pool",
    }))
    .unwrap();
    Api::<PriorityClass>::all(env.client.clone())
        .create(&PostParams::default(), &priority)
        .await
        .unwrap();
    // scale_nodes: 01-06 are the seed's, 07-12 three more per DC; the latter are the pool.
    let nodes = scale_nodes(ZONE_LABEL)
        .into_iter()
        .map(|n| {
            if POOL.contains(&n.name.as_str()) {
                n.dedicated(
                    &[("node-pool", "redis")],
                    vec![taint("dedicated", "redis", "NoSchedule")],
                )
            } else {
                n
            }
        })
        .collect();
    env.start_kubelet_with(nodes).await.unwrap();
    env.start_operator().unwrap();
    env.apply(&manifest()).await.unwrap();
    let pods = env
        .ready_pods(NS, "orders", 6, Duration::from_secs(300))
        .await
        .unwrap();
    env.wait_condition(NS, "orders", "Ready", "True", Duration::from_secs(180))
        .await
        .unwrap();

    let placed = placement(&pods);
    eprintln!("dedicated-nodes: placement (spec.nodeName) {placed:?}");
    let zones = env.node_zones().await.unwrap();
    let used: BTreeSet<&String> = placed.values().collect();
    assert_eq!(used.len(), 6, "two pods share a node: {placed:?}");
    for (pod, node) in &placed {
        assert!(
            POOL.contains(&node.as_str()),
            "{pod} is on {node}, outside the pool"
        );
        let zone = &zones[node];
        assert!(
            pod.starts_with(&format!("orders-{zone}-")),
            "{pod} is on {node} in {zone}"
        );
    }
    for p in &pods {
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.priority, Some(1_000_000), "{:?}", p.metadata.name);
        assert_eq!(
            p.metadata
                .labels
                .as_ref()
                .unwrap()
                .get("team")
                .map(String::as_str),
            Some("payments")
        );
    }

    assert_eq!(
        env.masters_by_zone(NS, "orders", &pods).await.unwrap(),
        seed_layout()
    );
    let password = env.password(NS, "orders").await.unwrap();
    let zone_of = zone_of_ip(&pods, &zones);

    // maxmemory: 70% of 1Gi on every instance, in whole megabytes (716mb), and still so after
    // a few engine passes (the engine's live setting is that value, not "no limit").
    let want = (716u64 * 1024 * 1024).to_string();
    for round in 0..2 {
        for ip in zone_of.keys() {
            let admin = AdminClient::connect(
                &NodeAddr::new(ip, 6379),
                Some(&password),
                Duration::from_secs(2),
            )
            .await
            .unwrap();
            let got = admin.config_get("maxmemory").await.unwrap();
            assert_eq!(got.as_deref(), Some(want.as_str()), "{ip}, round {round}");
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}
